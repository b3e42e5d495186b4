"""PositionalJoinExec: ``a POSITIONAL JOIN b`` pairs the i-th row of each side, as DuckDB does; the
shorter side is padded with NULLs."""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from engine.physical.operator import Operator, collect, table_batches, SINK


class PositionalJoinExec(Operator):
    ROLES = (SINK, SINK)
    def __init__(self, left: Operator, right: Operator, schema: pa.Schema, **kw):
        super().__init__(schema, (left, right), **kw)

    def params(self) -> str:
        return "kind=positional"

    def _execute(self, ctx) -> Iterator[pa.RecordBatch]:
        left = collect(self._children[0], ctx)
        right = collect(self._children[1], ctx)
        n = max(left.num_rows, right.num_rows)
        cols = []
        for t in (left, right):
            pad = n - t.num_rows
            for c in t.columns:
                cols.append(pa.concat_arrays(c.chunks + [pa.nulls(pad, c.type)]) if pad else c)
        if not cols:
            yield pa.record_batch({"__n": pa.nulls(n)}).select([])
            return
        yield from table_batches(pa.Table.from_arrays(cols, schema=self._schema))
