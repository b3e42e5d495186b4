"""What hash and nested-loop joins share: turning matched (left, right) row pairs into the
output of each join kind, NULL-extending unmatched rows for outer joins."""
from __future__ import annotations

import numpy as np
import pyarrow as pa


def take_rows(t: pa.Table, idx) -> list[pa.ChunkedArray]:
    return [c.take(idx) for c in t.columns]


def null_columns(t: pa.Table, n: int) -> list[pa.Array]:
    return [pa.nulls(n, f.type) for f in t.schema]


def finish_join(kind: str, left: pa.Table, right: pa.Table, lidx: np.ndarray, ridx: np.ndarray,
                schema: pa.Schema) -> pa.Table:
    """Build the join output from matched pairs (lidx[i], ridx[i])."""
    if kind in ("semi", "anti"):
        hit = np.zeros(left.num_rows, dtype=bool)
        hit[lidx] = True
        keep = np.nonzero(hit if kind == "semi" else ~hit)[0]
        return _table(take_rows(left, pa.array(keep)), schema, len(keep))
    li, ri = pa.array(lidx, pa.int64()), pa.array(ridx, pa.int64())
    cols = [pa.chunked_array(c.chunks if isinstance(c, pa.ChunkedArray) else [c], type=f.type)
            for c, f in zip(take_rows(left, li) + take_rows(right, ri), schema)]
    parts = [_table(cols, schema, len(lidx))]
    if kind in ("left", "full"):
        hit = np.zeros(left.num_rows, dtype=bool)
        hit[lidx] = True
        miss = np.nonzero(~hit)[0]
        if len(miss):
            c = take_rows(left, pa.array(miss)) + null_columns(right, len(miss))
            parts.append(_table([_as_chunked(x, f.type) for x, f in zip(c, schema)], schema, len(miss)))
    if kind in ("right", "full"):
        hit = np.zeros(right.num_rows, dtype=bool)
        hit[ridx] = True
        miss = np.nonzero(~hit)[0]
        if len(miss):
            c = null_columns(left, len(miss)) + take_rows(right, pa.array(miss))
            parts.append(_table([_as_chunked(x, f.type) for x, f in zip(c, schema)], schema, len(miss)))
    if len(schema) == 0:  # no columns on either side: only the row count is the answer
        return _table([], schema, sum(p.num_rows for p in parts))
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def _table(cols: list, schema: pa.Schema, n: int) -> pa.Table:
    """A table of ``cols``; with no columns, still ``n`` rows (from_arrays would give none)."""
    if len(schema) == 0:
        return pa.table({"__n": pa.nulls(n)}).select([])
    return pa.Table.from_arrays(cols, schema=schema)


def _as_chunked(x, t):
    if isinstance(x, pa.ChunkedArray):
        return x.cast(t) if x.type != t else x
    return pa.chunked_array([x], type=t) if x.type == t else pa.chunked_array([x.cast(t)], type=t)
