"""UnnestExec: unnest(list) — each input row repeated once per element of its lists.

Vectorized per batch: list lengths give each row's output count (the longest of its lists); the
input columns are gathered with one ``take`` and each element column is taken from the flattened
list values at ``offset + position``, NULL where that row's list is shorter.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.physical.evaluate import evaluate_array
from engine.physical.operator import Operator, STREAM


class UnnestExec(Operator):
    ROLES = (STREAM,)
    def __init__(self, child: Operator, lists, schema: pa.Schema, **kw):
        super().__init__(schema, (child,), **kw)
        self.lists = lists  # [(element ColumnRef, list Expr)]

    def params(self) -> str:
        return ", ".join(f"{e.sql()} AS {c.sql()}" for c, e in self.lists)

    def _execute(self, ctx) -> Iterator[pa.RecordBatch]:
        emitted = False
        for b in self._children[0].execute(ctx):
            out = self._unnest(b, ctx)
            if out.num_rows or not emitted:
                emitted = True
                yield out

    def _unnest(self, b: pa.RecordBatch, ctx) -> pa.RecordBatch:
        n = b.num_rows
        arrays = [evaluate_array(e, b, ctx) for _, e in self.lists]
        lens = [pc.fill_null(pc.list_value_length(a), 0).to_numpy(zero_copy_only=False).astype(np.int64)
                if n else np.zeros(0, np.int64) for a in arrays]
        count = np.maximum.reduce(lens) if lens else np.zeros(n, np.int64)
        total = int(count.sum())
        rows = np.repeat(np.arange(n, dtype=np.int64), count)
        starts = np.cumsum(count) - count
        pos = np.arange(total, dtype=np.int64) - np.repeat(starts, count)
        cols = [c.take(pa.array(rows)) for c in b.columns]
        for (ref, _), arr, ln in zip(self.lists, arrays, lens):
            if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
                arr = arr.cast(pa.list_(arr.type.value_type))
            # a sliced list array's offsets already index its whole values buffer
            offsets = arr.offsets.to_numpy()[:-1].astype(np.int64) if n else np.zeros(0, np.int64)
            values = arr.values
            have = pos < ln[rows]
            idx = np.where(have, offsets[rows] + pos, 0)
            taken = values.take(pa.array(idx)) if len(values) else pa.nulls(total, values.type)
            elem = pc.if_else(pa.array(have), taken, pa.scalar(None, taken.type)) if total else taken
            cols.append(elem.cast(ref.dtype) if elem.type != ref.dtype else elem)
        if not cols:
            return pa.record_batch({"__n": pa.nulls(total)}).select([])
        return pa.RecordBatch.from_arrays(cols, schema=self._schema)
