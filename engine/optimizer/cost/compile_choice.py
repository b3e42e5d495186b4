"""Compile or not: which aggregate pipelines the JIT compiles (the cost phase's last choice).

With ``SET jit = on`` every pipeline the JIT can fuse is compiled; with ``off`` none; with
``auto`` (the default, or ``$DAWN_JIT``) one is compiled when the rows it reads pay for compiling:
a cold compile costs ~10-30 ms and a compiled loop saves ~20-100 ns a row over the vectorized
path, so from ``AUTO_MIN_ROWS`` estimated input rows on (a warm cache makes it free, but the
estimate is made before knowing). Group keys whose statistics show more dense slots than the
JIT keeps (``dense_slots``) are refused in every mode but off. The decision is left on the Aggregate node as the annotation
``jit = (compile, why, refused)`` for the physical planner; whether a pipeline *can* be compiled is the
JIT's to say (engine/jit/lower.py).
"""
from __future__ import annotations

from engine.jit import mode

AUTO_MIN_ROWS = 100_000


def choose(input_rows: float | None, settings: dict, slots: float | None = None) -> tuple:
    """(compile?, why, refused) for an aggregate reading ``input_rows`` estimated rows whose
    group keys span ``slots`` dense accumulator slots (None: unknown); ``refused``: the JIT
    cannot take it (EXPLAIN says why), rather than it not paying or being switched off."""
    from engine.jit.execute import MAX_SLOTS
    m = mode(settings)
    if m == "off":
        return False, "jit = off", False
    if slots is not None and slots > MAX_SLOTS:
        # known before reading (the keys' min and max): compiling would fall back after work
        # done for nothing (Q18's 6M order keys, read in order, widened chunk by chunk)
        return False, f"group keys span ~{int(slots):,} dense slots, more than {MAX_SLOTS:,}", True
    if m == "on":
        return True, "jit = on", False
    if input_rows is not None and input_rows >= AUTO_MIN_ROWS:
        return True, f"jit = auto: ~{int(input_rows):,} rows >= {AUTO_MIN_ROWS:,}", False
    return False, f"jit = auto: ~{int(input_rows or 0):,} rows < {AUTO_MIN_ROWS:,}", False


def dense_slots(agg, cm) -> float | None:
    """The dense slots the aggregate's group keys would span (the product of each key's domain:
    its min-max range for integers and dates, its distinct count for strings, 3 for a
    boolean), from the statistics of the columns they read; None where one is unknown."""
    import datetime
    import pyarrow as pa
    total = 1.0
    for _, e in agg.groups:
        st = cm.column_stats(e, agg.child)
        t = e.dtype
        if pa.types.is_boolean(t):
            total *= 3
            continue
        if st is None:
            return None
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            if st.distinct is None:
                return None
            total *= st.distinct + 1
            continue
        lo, hi = st.min, st.max
        if isinstance(lo, datetime.date) and isinstance(hi, datetime.date):
            lo, hi = lo.toordinal(), hi.toordinal()
        if not isinstance(lo, int) or not isinstance(hi, int) or isinstance(lo, bool):
            return None
        total *= hi - lo + 2
    return total
