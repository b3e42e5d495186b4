"""Table, column and UDF statistics for the cost model: one ``Statistics`` object per session.

Per table: the row count. Per column: NULL count, min, max and distinct count, from the
cheapest place that knows them:

- Parquet files: the footer's row-group statistics (min of the mins, max of the maxes, summed
  NULL counts), read without touching data pages; distinct counts from ``catalog.stats`` (a
  sampled GEE estimate).
- Arrow tables (registered frames, CSV files): NULL counts are free; min/max are one vectorized
  pass over the column, done once for the columns a predicate reads and cached.
- Tables stored in the database: the values ``ANALYZE`` stored in ``dawn_meta.column_stats``;
  without them, as an Arrow table.
- ``ANALYZE [table]`` computes exact values (distinct counts included) for any source and keeps
  them here for the session (stored tables also persist them, engine/ddl.py).

UDFs: seconds per row and measured pass rate from ``dawn_meta.udf_stats`` (measured whenever a
UDF runs, engine/physical/udf_runtime.py), else the profile taken on first use by the cost phase
(``run_on_sample``), else the UDF's declared cost; the defaults apply only when nothing is known.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import weakref
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class ColumnStats:
    row_count: float | None = None
    null_count: float | None = None
    min: Any = None
    max: Any = None
    distinct: float | None = None

    @property
    def null_fraction(self) -> float:
        if not self.row_count or self.null_count is None:
            return 0.0
        return min(1.0, self.null_count / self.row_count)


def _plain(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            return None
    return v


def _parse_stored(text: str | None, dtype: pa.DataType) -> Any:
    """A min/max value that ANALYZE stored as text, back as its column's Python value."""
    if text is None:
        return None
    try:
        if pa.types.is_integer(dtype):
            return int(text)
        if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
            return float(text)
        if pa.types.is_date(dtype):
            return _dt.date.fromisoformat(text[:10])
        if pa.types.is_timestamp(dtype):
            return _dt.datetime.fromisoformat(text)
        if pa.types.is_string(dtype):
            return text
    except ValueError:
        return None
    return None


def column_stats_of(col: pa.ChunkedArray | pa.Array, exact_distinct: bool) -> ColumnStats:
    """Statistics of one Arrow column: NULLs and min/max always, distinct count if asked."""
    st = ColumnStats(row_count=float(len(col)), null_count=float(col.null_count))
    t = col.type
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
            or pa.types.is_temporal(t) or pa.types.is_string(t) or pa.types.is_boolean(t)):
        try:
            mm = pc.min_max(col)
            st.min, st.max = _plain(mm["min"].as_py()), _plain(mm["max"].as_py())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    if exact_distinct:
        try:
            st.distinct = float(pc.count_distinct(col).as_py())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            pass
    return st


class Statistics:
    """What the cost model knows about the data and the functions of one session."""

    def __init__(self, store=None, functions=None) -> None:
        self.store = store          # catalog.store.ConnectionStore (UDF and ANALYZE statistics)
        self.functions = functions  # catalog.functions.FunctionRegistry
        # per source: column -> ColumnStats; ANALYZE results replace the cheap ones
        self._columns: "weakref.WeakKeyDictionary[object, dict[str, ColumnStats]]" = \
            weakref.WeakKeyDictionary()
        self._analyzed: "weakref.WeakKeyDictionary[object, dict[str, ColumnStats]]" = \
            weakref.WeakKeyDictionary()
        self.profiles: dict[tuple[str, str], tuple[float, float | None]] = {}

    # ---- tables and columns
    def row_count(self, source) -> float | None:
        try:
            n = source.row_count()
        except Exception:
            return None
        return None if n is None else float(n)

    def column(self, source, column: str) -> ColumnStats | None:
        """Statistics of ``column`` in ``source``, or None when the source offers none."""
        try:
            done = self._analyzed.get(source)
        except TypeError:
            done = None
        if done is not None and column in done:
            return done[column]
        try:
            per = self._columns.setdefault(source, {})
        except TypeError:
            per = {}
        if column in per:
            return per[column]
        try:
            st = self._compute(source, column)
        except Exception:  # statistics are an estimate: a source that cannot say gets defaults
            st = None
        per[column] = st
        return st

    def _compute(self, source, column: str) -> ColumnStats | None:
        kind = getattr(source, "kind", "")
        if kind == "parquet":
            st = self._parquet(source, column)
        elif kind == "stored":
            st = self._stored(source, column)
        elif hasattr(source, "table") and isinstance(getattr(source, "table"), pa.Table):
            t = source.table
            if column not in t.column_names:
                return None
            st = column_stats_of(t.column(column), exact_distinct=False)
        else:
            return None
        if st is not None and st.distinct is None:
            from catalog.stats import distinct_count
            st.distinct = distinct_count(source, column)
        return st

    def _parquet(self, source, column: str) -> ColumnStats | None:
        meta = source.meta
        idx = getattr(source, "_col_index", {}).get(column)
        if idx is None:
            return None
        st = ColumnStats(row_count=float(meta.num_rows), null_count=0.0)
        lo = hi = None
        for rg in range(meta.num_row_groups):
            s = meta.row_group(rg).column(idx).statistics
            if s is None:
                st.null_count = None
                return st
            if s.has_null_count and st.null_count is not None:
                st.null_count += s.null_count
            else:
                st.null_count = None
            if not s.has_min_max:
                lo = hi = None
                break
            a, b = _plain(s.min), _plain(s.max)
            try:
                lo = a if lo is None or a < lo else lo
                hi = b if hi is None or b > hi else hi
            except TypeError:
                lo = hi = None
                break
        st.min, st.max = lo, hi
        return st

    def _stored(self, source, column: str) -> ColumnStats | None:
        stored = source.store.column_stats(source.name).get(column)
        if stored:
            f = source.schema.field(column) if column in source.schema.names else None
            dtype = f.type if f is not None else pa.null()
            return ColumnStats(row_count=_f(stored["row_count"]), null_count=_f(stored["null_count"]),
                               min=_parse_stored(stored["min"], dtype),
                               max=_parse_stored(stored["max"], dtype),
                               distinct=_f(stored["distinct_count"]))
        t = source.table
        if column not in t.column_names:
            return None
        return column_stats_of(t.column(column), exact_distinct=False)

    def analyze(self, source) -> dict[str, ColumnStats]:
        """Exact statistics of every column of ``source`` (one pass per column), kept for the
        session; what ``ANALYZE`` runs for registered tables and files."""
        if hasattr(source, "table") and isinstance(getattr(source, "table"), pa.Table):
            t = source.table
        elif getattr(source, "kind", "") == "parquet":
            from catalog.sources import normalize_table
            t = normalize_table(source.file.read(use_threads=False), source.schema)
        else:  # video frames, run logs: nothing a predicate's estimate would gain from
            return {}
        out = {name: column_stats_of(t.column(name), exact_distinct=True) for name in t.column_names}
        self._analyzed[source] = out
        self._columns.pop(source, None)
        return out

    # ---- UDFs
    def udf(self, u) -> tuple[float, float | None]:
        """(seconds per row, pass rate as a predicate or None) of the UDF ``u``."""
        if self.store is not None:
            from catalog.udf_cache import read_stats
            st = read_stats(self.store).get((u.name, u.version))
            if st and st["rows"]:
                sel = st["passed"] / st["tested"] if st["tested"] else None
                return st["seconds"] / st["rows"], sel
        prof = self.profiles.get((u.name, u.version))
        if prof is not None:
            return prof
        if u.cost is not None:
            return float(u.cost), None
        return 1e-6 if not u.model else 1e-2, None

    def udf_known(self, u) -> bool:
        """Whether ``u``'s cost was measured (in the catalog or by a profile)."""
        if (u.name, u.version) in self.profiles:
            return True
        if self.store is not None:
            from catalog.udf_cache import read_stats
            st = read_stats(self.store).get((u.name, u.version))
            return bool(st and st["rows"])
        return False

    def record_profile(self, u, seconds_per_row: float, selectivity: float | None) -> None:
        self.profiles[(u.name, u.version)] = (seconds_per_row, selectivity)


def _f(v) -> float | None:
    return None if v is None else float(v)


@dataclass
class SampleRun:
    """What ``run_on_sample(subplan, n_rows)`` returns: the subplan's rows on the sample, the
    UDF measurements taken (name -> engine.physical.udf_runtime.UdfMetrics) and the time."""
    table: pa.Table
    udf_metrics: dict
    seconds: float
