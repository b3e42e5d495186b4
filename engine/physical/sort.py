"""SortExec: a full sort, or a top-N when ``limit`` is set, with per-key NULL placement."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.physical.evaluate import evaluate_array
from engine.physical.operator import Operator, collect, table_batches, SINK


def as_batch(t: pa.Table) -> pa.RecordBatch:
    """One record batch holding a whole table (columns combined into single chunks)."""
    if t.num_columns == 0:
        return pa.record_batch({"__n": pa.nulls(t.num_rows)}).select([])
    t = t.combine_chunks()
    if t.num_rows == 0:
        return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in t.schema], schema=t.schema)
    bs = t.to_batches()
    return bs[0] if len(bs) == 1 else pa.RecordBatch.from_arrays(
        [pa.concat_arrays([b.column(i) for b in bs]) for i in range(t.num_columns)], schema=t.schema)


def nan_flag(arr) -> pa.Array | None:
    """1 for NaN, 0 for other numbers, NULL for NULL, where a float key holds NaN (else None).
    DuckDB orders NaN above every number; Arrow sorts NaN beside the NULLs, so a key with NaN
    sorts on this flag first (same direction and NULL placement), then on its value."""
    if not pa.types.is_floating(arr.type) or len(arr) == 0 or not pc.any(pc.is_nan(arr)).as_py():
        return None
    return pc.is_nan(arr).cast(pa.int8())


def key_columns(name: str, arr, ascending: bool, nulls_first: bool) -> tuple[dict, list]:
    """One ORDER BY key as sort columns and their sort_keys entries (NaN ordered as DuckDB)."""
    order = "ascending" if ascending else "descending"
    placement = "at_start" if nulls_first else "at_end"
    cols, spec = {}, []
    flag = nan_flag(arr)
    if flag is not None:
        cols[name + "_nan"] = flag
        spec.append((name + "_nan", order, placement))
    cols[name] = arr
    spec.append((name, order, placement))
    return cols, spec


def sort_indices(batch: pa.RecordBatch, keys, ctx) -> pa.Array:
    cols, spec = {}, []
    for i, k in enumerate(keys):
        c, s = key_columns(f"k{i}", evaluate_array(k.expr, batch, ctx), k.ascending, k.nulls_first)
        cols.update(c)
        spec.extend(s)
    return pc.sort_indices(pa.table(cols), sort_keys=spec)


class SortExec(Operator):
    ROLES = (SINK,)
    def __init__(self, child: Operator, keys, limit: int | None = None, **kw):
        super().__init__(child.schema(), (child,), **kw)
        self.keys = keys
        self.limit = limit

    @property
    def name(self) -> str:
        return "TopNExec" if self.limit is not None else "SortExec"

    def params(self) -> str:
        s = "keys=[" + ", ".join(k.sql() for k in self.keys) + "]"
        return s + (f" limit={self.limit}" if self.limit is not None else "")

    def _execute(self, ctx):
        t = collect(self._children[0], ctx)
        if t.num_rows <= 1:
            yield from table_batches(t)
            return
        b = as_batch(t)
        idx = sort_indices(b, self.keys, ctx)
        if self.limit is not None:
            idx = idx.slice(0, self.limit)
        yield from table_batches(pa.Table.from_batches([b.take(idx)]) if b.num_columns else t.take(idx))
