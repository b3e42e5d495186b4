"""FilterExec: keep rows whose predicate is TRUE (NULL and FALSE drop the row), batch by batch.

Conjuncts run in the order the optimizer chose (``order_predicates``), each only on the rows the
earlier ones let through, so an expensive model predicate sees only the survivors of cheap ones.
Per conjunct, rows tested and passed are counted (EXPLAIN ANALYZE; UDF selectivity statistics).
"""
from __future__ import annotations

import pyarrow as pa

from engine.physical.bound import BoundExpr
from engine.physical.evaluate import evaluate_mask
from engine.physical.operator import Operator, STREAM
from engine.plan.expressions import UdfCall, conjuncts


def udf_names(e) -> list[str]:
    return sorted({x.name for x in e.walk() if isinstance(x, UdfCall)})


def apply_conjuncts(batch: pa.RecordBatch, parts: list, counts: list[list[int]], ctx) -> pa.RecordBatch:
    """``batch`` filtered by each conjunct in turn (an Expr, or a BoundExpr bound once)."""
    for i, p in enumerate(parts):
        if not batch.num_rows:
            break
        counts[i][0] += batch.num_rows
        m = p.mask(batch, ctx) if isinstance(p, BoundExpr) else evaluate_mask(p, batch, ctx)
        if m is False:
            batch = batch.slice(0, 0)
        elif m is not True:
            batch = batch.filter(m)
        counts[i][1] += batch.num_rows
    return batch


def record_selectivity(parts: list, counts: list[list[int]], ctx) -> None:
    """Attribute each conjunct's pass rate to the UDFs it calls (for the optimizer's statistics)."""
    for p, (tested, passed) in zip(parts, counts):
        for name in udf_names(p):
            m = ctx.udf_runtime.metric(name)
            m.tested += tested
            m.passed += passed


def describe_conjuncts(parts: list, costs: dict | None = None) -> str:
    out = []
    for p in parts:
        s = p.sql()
        if costs and p in costs:
            cost, sel = costs[p]
            s += f" [cost={_fmt_cost(cost)}/row sel={sel:.2f}]"
        out.append(s)
    return "[" + ", ".join(out) + "]"


def _fmt_cost(c: float) -> str:
    if c >= 1e-3:
        return f"{c * 1000:.1f}ms"
    if c >= 1e-6:
        return f"{c * 1e6:.1f}us"
    return f"{c * 1e9:.0f}ns"


class FilterExec(Operator):
    ROLES = (STREAM,)
    def __init__(self, child: Operator, predicate, costs: dict | None = None, **kw):
        super().__init__(child.schema(), (child,), **kw)
        self.predicate = predicate
        self.parts = conjuncts(predicate)
        self.costs = costs or {}
        self.bound = [BoundExpr(p, child.schema()) for p in self.parts]

    def params(self) -> str:
        return "predicates=" + describe_conjuncts(self.parts, self.costs)

    def _execute(self, ctx):
        counts = [[0, 0] for _ in self.parts]
        ctx.metrics_for(self).extra["passed"] = counts
        emitted = False
        last = None
        for b in self._children[0].execute(ctx):
            last = b
            if not b.num_rows:
                continue
            out = apply_conjuncts(b, self.bound, counts, ctx)
            if out.num_rows:
                emitted = True
                yield out
        record_selectivity(self.parts, counts, ctx)
        if not emitted:
            yield self.empty_batch() if self._schema else (last.slice(0, 0) if last is not None else self.empty_batch())
