"""SetOpExec: UNION [ALL], INTERSECT [ALL], EXCEPT [ALL] with SQL's NULL-equal row semantics.

Rows from both sides are tagged and grouped on all columns (grouping treats NULLs as equal),
then each group is kept, or repeated, according to its per-side counts.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.physical.evaluate import hash_key
from engine.physical.operator import Operator, collect, table_batches, SINK, STREAM


class SetOpExec(Operator):
    def child_roles(self) -> tuple[str, ...]:
        # UNION ALL passes both inputs through; the others group the rows of both sides
        return (STREAM, STREAM) if self.kind == "union" and self.all else (SINK, SINK)

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
        right = collect(self._children[1], ctx)
        rows, (nl, nr) = distinct_with_counts([left, right], self._schema)
        if self.kind == "union":
            reps = np.ones(len(nl), dtype=np.int64)
        elif self.kind == "intersect":
            reps = np.minimum(nl, nr) if self.all else ((nl > 0) & (nr > 0)).astype(np.int64)
        else:
            reps = np.maximum(nl - nr, 0) if self.all else ((nl > 0) & (nr == 0)).astype(np.int64)
        idx = np.repeat(np.arange(len(reps)), reps)
        yield from table_batches(rows.take(pa.array(idx, pa.int64())))


def distinct_with_counts(parts: list[pa.Table], schema: pa.Schema) -> tuple[pa.Table, list[np.ndarray]]:
    """The distinct rows of ``parts`` (NULLs equal, -0.0 = 0.0), and for each part how many times
    each distinct row occurs in it: one grouped pass over the tagged, concatenated parts."""
    names = [f"c{i}" for i in range(len(schema))]
    tagged = []
    for i, t in enumerate(parts):
        cols = [hash_key(c) for c in t.columns]
        for j in range(len(parts)):
            cols.append(pa.repeat(pa.scalar(int(i == j), pa.int64()), t.num_rows))
        tagged.append(pa.Table.from_arrays(cols, names=names + [f"__n{j}" for j in range(len(parts))]))
    g = pa.concat_tables(tagged).group_by(names, use_threads=False).aggregate(
        [(f"__n{j}", "sum") for j in range(len(parts))])
    counts = [g.column(f"__n{j}_sum").to_numpy() for j in range(len(parts))]
    return pa.Table.from_arrays(g.select(names).columns, schema=schema), counts
