"""Rule: order each filter's conjuncts (and the operands of AND/OR) by rank, cheapest and most
selective first: rank = (selectivity - 1) / cost per row.

Costs come from the functions a predicate calls: a user/model function's measured seconds per
row (catalog statistics or a profile on a sample, else its declared hint), built-in operators a
few nanoseconds. Selectivity is the measured pass rate of a function's predicate when known,
else the estimate from column statistics (engine/optimizer/cost). A cost-phase rule. Filters evaluate conjuncts in this order on surviving rows only, and AND/OR skip their
expensive operand where the cheap one decides, so a model runs only where it has to, whatever
order the query was written in.

Example: ``WHERE people_count(frame) > 0 AND frame_id % 10 = 0`` becomes
``WHERE frame_id % 10 = 0 AND people_count(frame) > 0``.
"""
from __future__ import annotations

from dataclasses import replace

from engine.optimizer.cost import selectivity
from engine.plan.expressions import Call, Expr, UdfCall, conjuncts
from engine.plan.nodes import Filter, Node, Scan, transform_up

BUILTIN_COST = 5e-9  # seconds per row and operator


def predicate_cost(e: Expr, udf_cost) -> float:
    total = 0.0
    for x in e.walk():
        if isinstance(x, UdfCall):
            total += udf_cost(x.udf)[0] if udf_cost is not None else 1e-3
        elif x.children():
            total += BUILTIN_COST
    return total


def predicate_selectivity(e: Expr, udf_cost) -> float:
    if udf_cost is not None:
        measured = [udf_cost(x.udf)[1] for x in e.walk() if isinstance(x, UdfCall)]
        measured = [m for m in measured if m is not None]
        if measured:
            return min(measured)
    return selectivity(e)


def rank(e: Expr, udf_cost, sel=None) -> float:
    s = sel(e) if sel is not None else predicate_selectivity(e, udf_cost)
    return (s - 1.0) / max(predicate_cost(e, udf_cost), 1e-12)


def _order_operands(e: Expr, udf_cost) -> Expr:
    def fn(x: Expr) -> Expr:
        if isinstance(x, Call) and x.fn in ("and", "or"):
            a, b = x.args
            if predicate_cost(a, udf_cost) > predicate_cost(b, udf_cost):
                return Call(x.fn, (b, a), x.dtype)
        return x
    return e.transform(fn)


def order(parts: list[Expr], udf_cost, sel=None) -> list[Expr]:
    parts = [_order_operands(p, udf_cost) for p in parts]
    return sorted(parts, key=lambda p: rank(p, udf_cost, sel))


def order_predicates(plan: Node, ctx=None) -> Node:
    udf_cost = getattr(ctx, "udf_cost", None)
    cm = getattr(ctx, "cost", None)

    def selectivity_over(base: Node):
        """Selectivities from the statistics of ``base``'s columns, when there is a cost model."""
        return None if cm is None else (lambda p: cm.selectivity(p, base))

    def fn(n: Node) -> Node:
        if isinstance(n, Filter):
            parts = conjuncts(n.predicate)
            new = order(parts, udf_cost, selectivity_over(n.child))
            if new != parts:
                from engine.plan.expressions import and_all
                return Filter(n.child, and_all(new))
        if isinstance(n, Scan) and len(n.filters) > 0:
            new = tuple(order(list(n.filters), udf_cost, selectivity_over(n)))
            if new != n.filters:
                return replace(n, filters=new)
        return n
    return transform_up(plan, fn)
