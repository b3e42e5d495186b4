"""Compile or not: which aggregate pipelines the JIT compiles (the cost phase's last choice).

With ``SET jit = on`` every pipeline the JIT can fuse is compiled; with ``off`` none; with
``auto`` (the default, or ``$DAWN_JIT``) one is compiled when the rows it reads pay for compiling:
a cold compile costs ~10-30 ms and a compiled loop saves ~20-100 ns a row over the vectorized
path, so from ``AUTO_MIN_ROWS`` estimated input rows on (a warm cache makes it free, but the
estimate is made before knowing). The decision is left on the Aggregate node as the annotation
``jit = (compile, why)`` for the physical planner; whether a pipeline *can* be compiled is the
JIT's to say (engine/jit/lower.py).
"""
from __future__ import annotations

from engine.jit import mode

AUTO_MIN_ROWS = 100_000


def choose(input_rows: float | None, settings: dict) -> tuple[bool, str]:
    """(compile?, why) for an aggregate reading ``input_rows`` estimated rows."""
    m = mode(settings)
    if m == "off":
        return False, "jit = off"
    if m == "on":
        return True, "jit = on"
    if input_rows is not None and input_rows >= AUTO_MIN_ROWS:
        return True, f"jit = auto: ~{int(input_rows):,} rows >= {AUTO_MIN_ROWS:,}"
    return False, f"jit = auto: ~{int(input_rows or 0):,} rows < {AUTO_MIN_ROWS:,}"
