"""Rule (cost phase, statement-wide): compute a CTE that the statement reads several times once.

Each reference to a CTE the statement names more than once arrives as a ``CteRef`` over its own
copy of the body (engine/plan/ctes.py). With ``k`` references, a body costing ``C`` (rows
touched) and yielding ``R`` rows, materialising costs ``C + R`` to compute and store plus ``k * R``
to read, against ``k * C`` inlined; the rule materialises when that is cheaper and the body reads
nothing from outside itself (a CTE inside a correlated subquery is computed per outer row).
A materialised CTE becomes one ``MaterializedCte`` at the top of the statement and every
reference, subqueries included, a ``CteScan`` of its rows; otherwise the references are inlined.

Example (TPC-H Q15): ``WITH revenue AS (SELECT ... GROUP BY supplier_no) SELECT ... FROM
supplier, revenue WHERE total_revenue = (SELECT max(total_revenue) FROM revenue)`` scans and
aggregates lineitem once instead of twice.
"""
from __future__ import annotations

from engine.plan.ctes import CteRef, CteScan, MaterializedCte
from engine.plan.expressions import SubqueryExpr
from engine.plan.nodes import Node, transform_up


def _plans(plan: Node):
    """``plan`` and the plans of all subqueries inside it."""
    yield plan
    for n in plan.walk():
        for e in n.expressions():
            for x in e.walk():
                if isinstance(x, SubqueryExpr):
                    yield from _plans(x.plan)


def _refs(plan: Node) -> dict[int, list[CteRef]]:
    out: dict[int, list[CteRef]] = {}
    for p in _plans(plan):
        for n in p.walk():
            if isinstance(n, CteRef):
                out.setdefault(n.key, []).append(n)
    return out


def _self_contained(body: Node) -> bool:
    """Whether ``body`` reads only columns it produces (no outer references)."""
    produced: set[int] = set()
    used: set[int] = set()
    for p in _plans(body):
        for n in p.walk():
            produced |= {c.cid for c in n.columns}
            for e in n.expressions():
                used |= e.columns()
    return used <= produced


def worth_materialising(cost, body: Node, k: int) -> bool:
    est = cost.estimate(body)
    return est.cost + (k + 1) * est.rows < k * est.cost


def materialize_ctes(plan: Node, ctx=None) -> Node:
    refs = _refs(plan)
    if not refs:
        return plan
    cost = getattr(ctx, "cost", None)
    chosen: dict[int, Node] = {}
    for key, rs in refs.items():
        body = rs[0].child
        if len(rs) >= 2 and _self_contained(body) and (cost is None or worth_materialising(cost, body, len(rs))):
            chosen[key] = body

    def replace_refs(n: Node) -> Node:
        if isinstance(n, CteRef):
            if n.key in chosen:
                return CteScan(n.key, n.name, n.columns, chosen[n.key])
            return n.child
        return n

    def rewrite(p: Node) -> Node:
        from engine.optimizer import each_subquery
        p = each_subquery(p, rewrite)
        return transform_up(p, replace_refs)

    plan = rewrite(plan)
    bodies = {key: rewrite(body) for key, body in chosen.items()}
    # a body that reads another materialised CTE needs that one computed first (further out)
    order: list[int] = []

    def place(key: int, seen: frozenset = frozenset()) -> None:
        if key in order or key in seen:
            return
        for q in _plans(bodies[key]):
            for n in q.walk():
                if isinstance(n, CteScan) and n.key in bodies:
                    place(n.key, seen | {key})
        order.append(key)
    for key in bodies:
        place(key)
    for key in reversed(order):
        plan = MaterializedCte(bodies[key], plan, key, refs[key][0].name)
    return plan


materialize_ctes.statement_wide = True
