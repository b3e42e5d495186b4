"""SetOpExec: UNION [ALL], INTERSECT [ALL], EXCEPT [ALL] with SQL's NULL-equal row semantics.

Rows from both sides are tagged and grouped on all columns (grouping treats NULLs as equal),
then each group is kept, or repeated, according to its per-side counts.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.physical.evaluate import hash_key
from engine.physical.operator import Operator, collect, table_batches


class SetOpExec(Operator):
    def __init__(self, left: Operator, right: Operator, kind: str, all_: bool, schema: pa.Schema, **kw):
        super().__init__(schema, (left, right), **kw)
        self.kind = kind
        self.all = all_

    @property
    def name(self) -> str:
        return {"union": "UnionExec", "intersect": "IntersectExec", "except": "ExceptExec"}[self.kind]

    def params(self) -> str:
        return "all=true" if self.all else "distinct=true"

    def _execute(self, ctx):
        if self.kind == "union" and self.all:
            for child in self._children:
                for b in child.execute(ctx):
                    yield pa.RecordBatch.from_arrays(b.columns, schema=self._schema)
            return
        left = collect(self._children[0], ctx)
        left = pa.Table.from_arrays(left.columns, schema=self._schema)
        right = collect(self._children[1], ctx)
        right = pa.Table.from_arrays(right.columns, schema=self._schema)
        names = [f"c{i}" for i in range(len(self._schema))]
        left = pa.Table.from_arrays([hash_key(c) for c in left.columns], schema=self._schema)
        right = pa.Table.from_arrays([hash_key(c) for c in right.columns], schema=self._schema)
        both = pa.concat_tables([
            left.rename_columns(names).append_column("__l", pa.repeat(pa.scalar(1, pa.int64()), left.num_rows))
            .append_column("__r", pa.repeat(pa.scalar(0, pa.int64()), left.num_rows)),
            right.rename_columns(names).append_column("__l", pa.repeat(pa.scalar(0, pa.int64()), right.num_rows))
            .append_column("__r", pa.repeat(pa.scalar(1, pa.int64()), right.num_rows))])
        g = both.group_by(names, use_threads=False).aggregate([("__l", "sum"), ("__r", "sum")])
        nl = g.column("__l_sum").to_numpy()
        nr = g.column("__r_sum").to_numpy()
        if self.kind == "union":
            reps = np.ones(len(nl), dtype=np.int64)
        elif self.kind == "intersect":
            reps = np.minimum(nl, nr) if self.all else ((nl > 0) & (nr > 0)).astype(np.int64)
        else:
            reps = np.maximum(nl - nr, 0) if self.all else ((nl > 0) & (nr == 0)).astype(np.int64)
        idx = np.repeat(np.arange(len(reps)), reps)
        out = g.select(names).take(pa.array(idx, pa.int64()))
        yield from table_batches(pa.Table.from_arrays(out.columns, schema=self._schema))
