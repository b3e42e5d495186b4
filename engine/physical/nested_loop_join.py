"""NestedLoopJoinExec: joins without equality keys (cross joins, pure theta joins).

The cartesian product is enumerated in blocks of about ``BLOCK_PAIRS`` row pairs: each block pairs a
slice of left rows with every right row, is filtered by the condition with vectorized kernels, and
is emitted at once, so a join that produces many pairs streams in bounded memory instead of
materialising every pair (10k x 10k rows is 10^8 pairs). Outer, semi and anti joins track which
rows matched: a left row is finished with its block, unmatched right rows are emitted at the end.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from engine.physical.hash_join import filter_pairs
from engine.physical.join_common import finish_join
from engine.physical.operator import Operator, collect, table_batches

BLOCK_PAIRS = 1 << 17


def _empty_batch(n: int) -> pa.RecordBatch:
    return pa.record_batch({"__n": pa.nulls(n)}).select([])


class NestedLoopJoinExec(Operator):
    def __init__(self, left: Operator, right: Operator, kind: str, condition, schema: pa.Schema, **kw):
        super().__init__(schema, (left, right), **kw)
        self.kind = kind
        self.condition = condition

    def params(self) -> str:
        return f"kind={self.kind}" + (f" condition={self.condition.sql()}" if self.condition is not None else "")

    def _execute(self, ctx) -> Iterator[pa.RecordBatch]:
        left = collect(self._children[0], ctx)
        right = collect(self._children[1], ctx)
        nl, nr = left.num_rows, right.num_rows
        kind = "inner" if self.kind == "cross" else self.kind
        if kind == "inner" and self.condition is None:
            yield from self._product(left, right)
            return
        pair_schema = pa.schema(list(left.schema) + list(right.schema))
        right_hit = np.zeros(nr, dtype=bool) if kind in ("right", "full") else None
        # the block's left rows meet every right row, so left-side outcomes are final per block
        block_kind = {"right": "inner", "full": "left"}.get(kind, kind)
        step = max(1, BLOCK_PAIRS // max(nr, 1))
        emitted = False
        for s in range(0, nl, step):
            e = min(nl, s + step)
            li = np.repeat(np.arange(s, e, dtype=np.int64), nr)
            ri = np.tile(np.arange(nr, dtype=np.int64), e - s)
            if self.condition is not None:
                li, ri = filter_pairs(self.condition, left, right, li, ri, pair_schema, ctx)
            if right_hit is not None:
                right_hit[ri] = True
            out = finish_join(block_kind, left.slice(s, e - s), right, li - s, ri, self._schema)
            if out.num_rows or not emitted:
                yield from table_batches(out)
                emitted = True
        if right_hit is not None and not right_hit.all():
            miss = np.nonzero(~right_hit)[0]
            out = finish_join("right", left.slice(0, 0), right.take(pa.array(miss)),
                              np.array([], np.int64), np.array([], np.int64), self._schema)
            yield from table_batches(out)
            emitted = True
        if not emitted:
            yield self.empty_batch() if len(self._schema) else _empty_batch(0)

    def _product(self, left: pa.Table, right: pa.Table) -> Iterator[pa.RecordBatch]:
        """Every (left, right) pair, in blocks; without columns only the counts are produced."""
        nl, nr = left.num_rows, right.num_rows
        if nl == 0 or nr == 0:
            yield self.empty_batch() if len(self._schema) else _empty_batch(0)
            return
        if len(self._schema) == 0:
            total = nl * nr
            for s in range(0, total, BLOCK_PAIRS * 8):
                yield _empty_batch(min(BLOCK_PAIRS * 8, total - s))
            return
        lcols = [c.combine_chunks() for c in left.columns]
        rcols = [c.combine_chunks() for c in right.columns]
        if nr >= BLOCK_PAIRS:  # each left row against the right side in slices
            for i in range(nl):
                for s in range(0, nr, BLOCK_PAIRS):
                    n = min(BLOCK_PAIRS, nr - s)
                    cols = [pa.repeat(c[i], n) if not pa.types.is_extension_type(c.type)
                            else c.take(pa.array(np.full(n, i, np.int64))) for c in lcols]
                    cols += [c.slice(s, n) for c in rcols]
                    yield pa.RecordBatch.from_arrays(cols, schema=self._schema)
            return
        step = max(1, BLOCK_PAIRS // nr)
        ri = pa.array(np.tile(np.arange(nr, dtype=np.int64), step))
        rblock = [c.take(ri) for c in rcols]
        for s in range(0, nl, step):
            k = min(step, nl - s)
            li = pa.array(np.repeat(np.arange(s, s + k, dtype=np.int64), nr))
            cols = [c.take(li) for c in lcols]
            cols += rblock if k == step else [c.slice(0, k * nr) for c in rblock]
            yield pa.RecordBatch.from_arrays(cols, schema=self._schema)

