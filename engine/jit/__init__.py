"""The JIT: scan -> filter -> projection -> aggregate pipelines compiled into one LLVM loop.

``lower`` finds the pipelines it can fuse in a physical plan (engine/jit/lower.py), ``codegen``
writes their IR, ``runtime`` compiles it with llvmlite (imported there only, when a pipeline is
first compiled, so ``import engine`` stays fast) and caches the machine code in memory and on disk,
and ``execute`` runs a compiled pipeline over Arrow buffers (engine/jit/execute.py). The physical
operator is ``JitPipelineExec`` (engine/physical/jit_pipeline.py). ``SET jit = on | off | auto``
(default auto, or the ``DAWN_JIT`` environment variable) chooses; the decision for auto is the
optimizer's (engine/optimizer/cost/compile_choice.py).
"""
from __future__ import annotations

import os

MODES = ("on", "off", "auto")


def mode(settings: dict) -> str:
    """The JIT mode for a session: ``SET jit``, else ``$DAWN_JIT``, else auto."""
    v = settings.get("jit")
    if v is None:
        v = os.environ.get("DAWN_JIT", "auto")
    return normalize_mode(v, strict=False)


def normalize_mode(v, strict: bool = True) -> str:
    """``on``/``off``/``auto`` from what a user wrote (true/false/1/0 too)."""
    s = str(v).strip().lower()
    if s in ("on", "true", "1", "yes"):
        return "on"
    if s in ("off", "false", "0", "no"):
        return "off"
    if s == "auto":
        return "auto"
    if strict:
        from engine.errors import ProgrammingError
        raise ProgrammingError(f"SET jit takes on, off or auto, not {v!r}")
    return "auto"
