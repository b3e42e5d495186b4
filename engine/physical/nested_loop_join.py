"""NestedLoopJoinExec: joins without equality keys (cross joins, pure theta joins).

The cartesian product is enumerated in bounded chunks of row pairs, filtered by the condition
with vectorized kernels, and finished like any other join (outer kinds NULL-extend).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.physical.hash_join import filter_pairs
from engine.physical.join_common import finish_join
from engine.physical.operator import Operator, collect, table_batches


class NestedLoopJoinExec(Operator):
    def __init__(self, left: Operator, right: Operator, kind: str, condition, schema: pa.Schema, **kw):
        super().__init__(schema, (left, right), **kw)
        self.kind = kind
        self.condition = condition

    def params(self) -> str:
        return f"kind={self.kind}" + (f" condition={self.condition.sql()}" if self.condition is not None else "")

    def _execute(self, ctx):
        left = collect(self._children[0], ctx)
        right = collect(self._children[1], ctx)
        nl, nr = left.num_rows, right.num_rows
        pair_schema = pa.schema(list(left.schema) + list(right.schema))
        kind = "inner" if self.kind == "cross" else self.kind
        li_all, ri_all = [], []
        step = max(1, (1 << 20) // max(nr, 1))
        for s in range(0, nl, step):
            e = min(nl, s + step)
            li = np.repeat(np.arange(s, e, dtype=np.int64), nr)
            ri = np.tile(np.arange(nr, dtype=np.int64), e - s)
            if self.condition is not None:
                li, ri = filter_pairs(self.condition, left, right, li, ri, pair_schema, ctx)
            li_all.append(li)
            ri_all.append(ri)
        li = np.concatenate(li_all) if li_all else np.array([], dtype=np.int64)
        ri = np.concatenate(ri_all) if ri_all else np.array([], dtype=np.int64)
        yield from table_batches(finish_join(kind, left, right, li, ri, self._schema))
