"""Column statistics for the optimizer: distinct-value estimates, computed lazily and cached.

A distinct count is the one ANALYZE stored for the column when there is one; otherwise it comes
from a sample (the first row group of a Parquet file, or up to
``SAMPLE_ROWS`` rows of an in-memory table) scaled to the whole table with the GEE estimator
(Charikar et al., PODS 2000): ``sqrt(N/n) * f1 + (d - f1)``, where ``d`` is the sample's distinct
count and ``f1`` the number of values seen exactly once. Values are cached per source and column.
"""
from __future__ import annotations

import math
import weakref

import pyarrow as pa
import pyarrow.compute as pc

SAMPLE_ROWS = 200_000

_cache: "weakref.WeakKeyDictionary[object, dict[str, float]]" = weakref.WeakKeyDictionary()


def _sample(source, column: str) -> pa.Array | None:
    kind = getattr(source, "kind", "")
    if kind == "parquet":
        if source.meta.num_row_groups == 0:
            return None
        t = source.file.read_row_group(0, columns=[column], use_threads=False)
        col = t.column(0)
    elif hasattr(source, "table"):
        col = source.table.column(column)
        if len(col) > SAMPLE_ROWS:
            col = col.slice(0, SAMPLE_ROWS)
    else:
        return None
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _analyzed(source, column: str) -> float | None:
    """The distinct count ANALYZE stored for a stored table's column, if any."""
    store = getattr(source, "store", None)
    if store is None or getattr(source, "kind", "") != "stored":
        return None
    st = store.column_stats(source.name).get(column)
    if not st or st.get("distinct_count") is None:
        return None
    return float(max(1, st["distinct_count"]))


def distinct_count(source, column: str) -> float | None:
    """Estimated number of distinct non-NULL values of ``column`` in ``source``."""
    try:
        per = _cache.setdefault(source, {})
    except TypeError:
        per = {}
    if column in per:
        return per[column]
    total = source.row_count()
    if not total:
        return None
    analyzed = _analyzed(source, column)
    if analyzed is not None:
        per[column] = analyzed
        return analyzed
    try:
        sample = _sample(source, column)
    except Exception:
        sample = None
    if sample is None or len(sample) == 0:
        return None
    n = len(sample)
    counts = pc.value_counts(sample.drop_null() if sample.null_count else sample)
    d = len(counts)
    if n >= total:
        est = float(d)
    else:
        f1 = pc.sum(pc.equal(counts.field("counts"), 1)).as_py() or 0
        est = math.sqrt(total / n) * f1 + (d - f1)
    est = max(1.0, min(est, float(total)))
    per[column] = est
    return est
