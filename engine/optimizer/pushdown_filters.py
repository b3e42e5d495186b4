"""Rule: push filter conjuncts as far down as they can go.

Conjuncts move through projections (by substitution), sorts, DISTINCT, set operations and into
grouping keys; at an inner join they go to the side they read, or become join conditions (a
cross join with an equality becomes a hash join); at a scan they become scan filters, which the
source also uses to skip Parquet row groups. Outer joins only receive what keeps their meaning;
nothing passes a Sample (the sample is of the table, before WHERE).

Example: ``Filter(a.x = b.y AND a.z > 1, Join(cross, Scan a, Scan b))`` becomes
``Join(inner, a.x = b.y, Scan a filters=[a.z > 1], Scan b)``.
"""
from __future__ import annotations

from dataclasses import replace

from engine.plan.expressions import (Expr, SubqueryExpr, WindowCall, and_all,
                                     conjuncts, contains, substitute)
from engine.plan.nodes import (Aggregate, Distinct, Filter, Join, Node, Project, Sample, Scan,
                               SetOp, Sort)


def _ids(node: Node) -> set[int]:
    return {c.cid for c in node.columns}


def _movable(e: Expr) -> bool:
    """A predicate may move down unless it holds a window call or a correlated subquery (left
    for decorrelation); an uncorrelated subquery's value is one per statement wherever it runs,
    so ``o_orderkey IN (SELECT ...)`` can filter the orders scan before a join (TPC-H Q18)."""
    return (not contains(e, (WindowCall,)) and _deterministic(e)
            and not any(isinstance(x, SubqueryExpr) and x.outer for x in e.walk()))


def _deterministic(e: Expr) -> bool:
    """No non-deterministic UDF and no volatile built-in (random()): a filter on ``r`` from
    ``SELECT random() AS r`` must test the value the projection outputs, not a fresh draw, and
    one over a join must not draw per base row instead of per joined row."""
    from engine.plan.expressions import Call, UdfCall
    from engine.plan.functions.names import VOLATILE
    return all(not (isinstance(x, UdfCall) and not x.deterministic)
               and not (isinstance(x, Call) and x.fn in VOLATILE) for x in e.walk())


def _wrap(node: Node, preds: list[Expr]) -> Node:
    p = and_all(preds)
    return Filter(node, p) if p is not None else node


def push(node: Node, preds: list[Expr]) -> Node:
    if isinstance(node, Filter):
        return push(node.child, preds + conjuncts(node.predicate))
    stay = [p for p in preds if not _movable(p)]
    preds = [p for p in preds if _movable(p)]
    return _wrap(_push(node, preds), stay)


def _push(node: Node, preds: list[Expr]) -> Node:
    if isinstance(node, Scan):
        new = node.filters + tuple(p for p in preds if p not in node.filters)
        return replace(node, filters=new) if preds else node
    if isinstance(node, Project):
        mapping = {c.cid: e for c, e in node.exprs}
        down, up = [], []
        for p in preds:
            if all(mapping.get(i) is not None and _movable(mapping[i]) for i in p.columns()):
                down.append(substitute(p, mapping))
            else:
                up.append(p)
        return _wrap(replace(node, child=push(node.child, down)), up)
    if isinstance(node, (Sort,)) and node.limit is None:
        return replace(node, child=push(node.child, preds))
    if isinstance(node, Distinct):
        return replace(node, child=push(node.child, preds))
    if isinstance(node, Aggregate):
        gmap = {c.cid: e for c, e in node.groups}
        down, up = [], []
        for p in preds:
            if p.columns() and all(i in gmap for i in p.columns()):
                down.append(substitute(p, gmap))
            else:
                up.append(p)
        return _wrap(replace(node, child=push(node.child, down)), up)
    if isinstance(node, SetOp):
        lmap = {o.cid: c for o, c in zip(node.out, node.left.columns)}
        rmap = {o.cid: c for o, c in zip(node.out, node.right.columns)}
        return replace(node, left=push(node.left, [substitute(p, lmap) for p in preds]),
                       right=push(node.right, [substitute(p, rmap) for p in preds]))
    if isinstance(node, Join):
        return _push_join(node, preds)
    if isinstance(node, Sample):
        # TABLESAMPLE samples the table before WHERE (as DuckDB does): a filter below would
        # sample the rows that pass instead, another distribution (and other inclusion
        # probabilities), so filters stay above
        return _wrap(replace(node, child=push(node.child, [])), preds)
    # Limit, Window, Values and anything else: filters stay above, children optimized alone
    kids = tuple(push(c, []) for c in node.children)
    if kids:
        node = node.with_children(kids)
    return _wrap(node, preds)


def _push_join(node: Join, preds: list[Expr]) -> Node:
    lids, rids = _ids(node.left), _ids(node.right)
    cond = conjuncts(node.condition)
    to_left, to_right, on, above = [], [], [], []
    kind = node.kind

    def side(p: Expr) -> str:
        cols = p.columns()
        if cols <= lids:
            return "left"
        if cols <= rids:
            return "right"
        return "both"

    if kind in ("inner", "cross"):
        for p in preds + cond:
            if not _movable(p):
                (on if p in cond else above).append(p)
                continue
            s = side(p)
            if s == "left" and p.columns():
                to_left.append(p)
            elif s == "right" and p.columns():
                to_right.append(p)
            else:
                on.append(p)
        kind = "inner" if on else "cross"
    elif kind == "left":
        for p in preds:
            (to_left if _movable(p) and side(p) == "left" else above).append(p)
        for p in cond:
            (to_right if _movable(p) and side(p) == "right" and p.columns() else on).append(p)
    elif kind == "right":
        for p in preds:
            (to_right if _movable(p) and side(p) == "right" else above).append(p)
        for p in cond:
            (to_left if _movable(p) and side(p) == "left" and p.columns() else on).append(p)
    elif kind in ("semi", "anti"):
        for p in preds:
            (to_left if _movable(p) else above).append(p)
        for p in cond:
            s = side(p) if _movable(p) else "both"
            if s == "right" and p.columns():
                to_right.append(p)
            elif s == "left" and kind == "semi" and p.columns():
                to_left.append(p)
            else:
                on.append(p)
    else:  # full outer: nothing crosses it
        above = list(preds)
        on = cond
    new = Join(push(node.left, to_left), push(node.right, to_right), kind, and_all(on))
    return _wrap(new, above)


def pushdown_filters(plan: Node, ctx=None) -> Node:
    return push(plan, [])
