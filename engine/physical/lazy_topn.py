"""LazyTopNExec: ORDER BY ... LIMIT k over an expensive predicate, evaluated in sort order.

The planner chooses it when a top-N sort reads a filter whose conjuncts include one that costs
at least ``LAZY_PREDICATE_SECONDS`` a row (a model or an oracle UDF, by the cost model's
estimate): the input is read and sorted without that predicate, which then runs on the sorted
rows in small batches that grow (the first sized by its estimated selectivity to yield k rows),
until k rows have passed. A 50 ms oracle thus sees a few hundred rows instead of the whole table.

The answer is the one of filtering first and sorting after: the sort is stable, so rows that
pass keep the relative order they would have had.
"""
from __future__ import annotations

import math

import pyarrow as pa

from engine.physical.filter import apply_conjuncts, describe_conjuncts, record_selectivity
from engine.physical.operator import Operator, collect, table_batches, SINK
from engine.physical.sort import as_batch, sort_indices

LAZY_PREDICATE_SECONDS = 1e-5  # per row: above this, evaluating only where needed pays
FIRST_BATCH_MIN = 64
MAX_BATCH = 1 << 17


class LazyTopNExec(Operator):
    ROLES = (SINK,)
    def __init__(self, child: Operator, keys, limit: int, predicates: list, costs: dict | None = None, **kw):
        super().__init__(child.schema(), (child,), **kw)
        self.keys = keys
        self.limit = limit
        self.predicates = predicates
        self.costs = costs or {}

    def params(self) -> str:
        return ("keys=[" + ", ".join(k.sql() for k in self.keys) + f"] limit={self.limit} "
                "lazy=" + describe_conjuncts(self.predicates, self.costs))

    def first_batch(self) -> int:
        """Rows to test first: enough to pass ``limit`` twice over at the estimated selectivity."""
        sel = math.prod(self.costs[p][1] for p in self.predicates if p in self.costs)
        return max(FIRST_BATCH_MIN, min(MAX_BATCH, math.ceil(2 * self.limit / max(sel, 1e-6))))

    def _execute(self, ctx):
        counts = [[0, 0] for _ in self.predicates]
        ctx.metrics_for(self).extra["passed"] = counts
        t = collect(self._children[0], ctx)
        if not self.limit or not t.num_rows:
            yield self.empty_batch()
            return
        b = as_batch(t)
        order = sort_indices(b, self.keys, ctx)
        kept, got, start, size = [], 0, 0, self.first_batch()
        while start < len(order) and got < self.limit:
            rows = b.take(order.slice(start, size))
            passed = apply_conjuncts(rows, self.predicates, counts, ctx)
            if passed.num_rows:
                kept.append(passed)
                got += passed.num_rows
            start += size
            size = min(size * 2, MAX_BATCH)
        record_selectivity(self.predicates, counts, ctx)
        if not kept:
            yield self.empty_batch()
            return
        yield from table_batches(pa.Table.from_batches(kept).slice(0, self.limit))
