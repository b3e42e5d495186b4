"""Rule: drop columns nobody reads, down to the scans (which then read fewer Parquet columns).

Example: ``SELECT sum(a) FROM t`` over a ten-column ``t`` scans only ``a``; through a Sample
too, whose ``__inclusion_prob`` column goes when nothing reads it. Stacked projections
are merged on the way (an expression used once is substituted into the one above), and a
projection that passes its input through unchanged disappears.
"""
from __future__ import annotations

from dataclasses import replace

from engine.plan.expressions import (ColumnRef, Literal, SubqueryExpr, WindowCall, contains,
                                     substitute)
from engine.plan.nodes import (Aggregate, Distinct, Filter, Join, Limit, Node, Project, Sample,
                               Scan, SetOp, Sort, Window)


def _used(exprs) -> set[int]:
    out: set[int] = set()
    for e in exprs:
        out |= e.columns()
    return out


def prune(node: Node, required: set[int]) -> Node:
    if isinstance(node, Scan):
        need = required | _used(node.filters)
        keep = [i for i, c in enumerate(node.out) if c.cid in need]
        if not keep and node.out:
            keep = [0]  # keep one column so the row count survives
        if len(keep) == len(node.out):
            return node
        return replace(node, out=tuple(node.out[i] for i in keep),
                       source_columns=tuple(node.source_columns[i] for i in keep))
    if isinstance(node, Project):
        exprs = tuple((c, e) for c, e in node.exprs if c.cid in required)
        return _merge(replace(node, exprs=exprs, child=prune(node.child, _used(e for _, e in exprs))))
    if isinstance(node, Filter):
        return replace(node, child=prune(node.child, required | node.predicate.columns()))
    if isinstance(node, Join):
        need = required | (node.condition.columns() if node.condition is not None else set())
        left, right = prune(node.left, need), prune(node.right, need)
        if node.kind in ("inner", "cross"):
            # a side nobody reads still multiplies the rows: keep only its row count, so a
            # count(*) over a cross join pairs no values at all
            if not need & {c.cid for c in left.columns} and left.columns:
                left = Project(left, ())
            if not need & {c.cid for c in right.columns} and right.columns:
                right = Project(right, ())
        return replace(node, left=left, right=right)
    if isinstance(node, Aggregate):
        aggs = tuple((c, a) for c, a in node.aggs if c.cid in required)
        if not aggs and not node.groups and node.aggs:
            aggs = node.aggs[:1]  # a global aggregate still yields its one row
        need = _used(e for _, e in node.groups) | _used(a for _, a in aggs)
        return replace(node, aggs=aggs, child=prune(node.child, need))
    if isinstance(node, Window):
        funcs = tuple((c, f) for c, f in node.funcs if c.cid in required)
        if not funcs:
            return prune(node.child, required)
        return replace(node, funcs=funcs, child=prune(node.child, required | _used(f for _, f in funcs)))
    if isinstance(node, Sort):
        return replace(node, child=prune(node.child, required | _used(k.expr for k in node.keys)))
    if isinstance(node, Limit):
        return replace(node, child=prune(node.child, required))
    if isinstance(node, Sample):
        # the sample is of rows, so the scan below reads only what is used; the inclusion
        # probability is computed only when someone reads it
        prob = node.prob if node.prob is not None and node.prob.cid in required else None
        return replace(node, child=prune(node.child, required), prob=prob)
    if isinstance(node, (Distinct, SetOp)):
        kids = tuple(prune(c, {x.cid for x in c.columns}) for c in node.children)
        return node.with_children(kids)
    kids = node.children
    if kids:
        return node.with_children(tuple(prune(c, {x.cid for x in c.columns}) for c in kids))
    return node


def _merge(node: Project) -> Node:
    """Fold a projection into the projection below it; drop projections that change nothing."""
    child = node.child
    if isinstance(child, Project):
        mapping = {c.cid: e for c, e in child.exprs}
        uses: dict[int, int] = {}
        for _, e in node.exprs:
            for x in e.walk():
                if isinstance(x, ColumnRef):
                    uses[x.cid] = uses.get(x.cid, 0) + 1
        cheap = all(isinstance(e, (ColumnRef, Literal)) or uses.get(c.cid, 0) <= 1
                    for c, e in child.exprs)
        if cheap and not any(contains(e, (WindowCall, SubqueryExpr)) for _, e in child.exprs):
            node = Project(child.child, tuple((c, substitute(e, mapping)) for c, e in node.exprs))
            child = node.child
    if all(isinstance(e, ColumnRef) and e.cid == c.cid for c, e in node.exprs) and \
            [c.cid for c in child.columns] == [c.cid for c, _ in node.exprs]:
        return child
    return node


def prune_columns(plan: Node, ctx=None) -> Node:
    return prune(plan, {c.cid for c in plan.columns})
