"""Rule: turn correlated subqueries in filters into joins.

* ``[NOT] EXISTS (SELECT ... WHERE inner.k = outer.k AND ...)`` becomes a semi (anti) join whose
  condition is the correlated predicates.
* ``x [NOT] IN (SELECT y ... WHERE <correlated>)`` becomes a semi (anti) join on
  ``x = y AND <correlated>`` (NOT IN keeps its NULL semantics: a NULL on either side excludes).
* A correlated scalar aggregate, ``(SELECT agg(v) FROM t WHERE t.k = outer.k)``, becomes an
  aggregate grouped by ``t.k`` left-joined on ``outer.k`` (COUNT's empty groups become 0).

Example: ``Filter(EXISTS(Filter(l.k = o.k, Scan l)), Scan o)`` becomes
``Join(semi, l.k = o.k, Scan o, Scan l)``. Uncorrelated subqueries are left for the executor,
which runs them once per statement.
"""
from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from engine.errors import NotSupportedError
from engine.plan.expressions import (AggCall, Call, ColumnRef, Expr, Literal, SubqueryExpr,
                                     and_all, conjuncts, new_column)
from engine.plan.nodes import (Aggregate, Filter, Join, Node, Project, Scan, transform_up)


class _Unsupported(Exception):
    pass


def _pull(node: Node, outer: set[int]) -> tuple[Node, list[Expr]]:
    """Remove predicates that read outer columns from ``node``; return them for the join."""
    if isinstance(node, Filter):
        child, pulled = _pull(node.child, outer)
        keep, corr = [], []
        for p in conjuncts(node.predicate):
            (corr if p.columns() & outer else keep).append(p)
        new = Filter(child, and_all(keep)) if keep else child
        return new, pulled + corr
    if isinstance(node, Project):
        child, pulled = _pull(node.child, outer)
        if any(e.columns() & outer for _, e in node.exprs):
            raise _Unsupported("outer column in a subquery's select list")
        if not pulled:
            return replace(node, child=child), []
        have = {c.cid for c, _ in node.exprs}
        extra = []
        for p in pulled:
            for cid in p.columns() - outer:
                if cid not in have:
                    ref = next(c for c in child.columns if c.cid == cid)
                    extra.append((ref, ref))
                    have.add(cid)
        return Project(child, node.exprs + tuple(extra)), pulled
    if isinstance(node, Join) and node.kind in ("inner", "cross"):
        left, lp = _pull(node.left, outer)
        right, rp = _pull(node.right, outer)
        if node.condition is not None and node.condition.columns() & outer:
            raise _Unsupported("outer column in a join condition")
        return replace(node, left=left, right=right), lp + rp
    if any(c.columns() & outer for c in node.expressions()):
        raise _Unsupported(f"outer column under {type(node).__name__}")
    for c in node.children:
        if _reads(c, outer):
            raise _Unsupported(f"outer column under {type(node).__name__}")
    return node, []


def _reads(node: Node, outer: set[int]) -> bool:
    for n in node.walk():
        for e in n.expressions():
            if e.columns() & outer:
                return True
    return False


def _exists_join(child: Node, sq: SubqueryExpr) -> Node | None:
    outer = {c.cid for c in sq.outer}
    try:
        body, corr = _pull(sq.plan, outer)
    except _Unsupported:
        return None
    if _reads(body, outer):
        return None
    kind = "anti" if sq.negated else "semi"
    if sq.kind == "exists":
        return Join(child, body, kind, and_all(corr))
    # x [NOT] IN (subquery)
    y = body.columns[0]
    eq = Call("eq", (sq.arg, y), pa.bool_())
    if sq.negated:
        eq = Call("or", (Call("or", (eq, Call("is_null", (sq.arg,), pa.bool_())), pa.bool_()),
                         Call("is_null", (y,), pa.bool_())), pa.bool_())
    return Join(child, body, kind, and_all([eq] + corr))


def _scalar_join(child: Node, sq: SubqueryExpr) -> tuple[Node, Expr] | None:
    """Decorrelate a scalar aggregate subquery: returns (new child, replacement expression)."""
    outer = {c.cid for c in sq.outer}
    plan = sq.plan
    top: Project | None = None
    if isinstance(plan, Project):
        top, plan = plan, plan.child
    if not isinstance(plan, Aggregate) or plan.groups:
        return None
    try:
        body, corr = _pull(plan.child, outer)
    except _Unsupported:
        return None
    if _reads(body, outer):
        return None
    keys_inner, keys_outer = [], []
    for p in corr:
        if not (isinstance(p, Call) and p.fn == "eq"):
            return None
        a, b = p.args
        if a.columns() & outer and not (b.columns() & outer):
            a, b = b, a
        if not (b.columns() <= outer) or (a.columns() & outer):
            return None
        keys_inner.append(a)
        keys_outer.append(b)
    if not keys_inner:
        return None
    groups = tuple((new_column(f"key{i}", k.dtype), k) for i, k in enumerate(keys_inner))
    agg = Aggregate(body, groups, plan.aggs)
    counts = {c.cid for c, a in plan.aggs if a.fn in ("count", "count_star", "count_if")}
    exprs = top.exprs if top is not None else tuple((c, c) for c, _ in plan.aggs)
    if len(exprs) != 1:
        return None
    out_ref, out_expr = exprs[0]
    proj = Project(agg, tuple((g, g) for g, _ in groups) + ((out_ref, out_expr),))
    cond = and_all([Call("eq", (o, g), pa.bool_()) for o, (g, _) in zip(keys_outer, groups)])
    joined = Join(child, proj, "left", cond)
    value: Expr = out_ref
    if isinstance(out_expr, ColumnRef) and out_expr.cid in counts:
        value = Call("coalesce", (out_ref, Literal(0, out_ref.dtype)), out_ref.dtype)
    return joined, value


def _rewrite_filter(node: Filter) -> Node:
    child = node.child
    keep: list[Expr] = []
    changed = False
    for p in conjuncts(node.predicate):
        if isinstance(p, SubqueryExpr) and p.outer and p.kind in ("exists", "in"):
            j = _exists_join(child, p)
            if j is not None:
                child, changed = j, True
                continue
        subs = [x for x in p.walk() if isinstance(x, SubqueryExpr) and x.outer and x.kind == "scalar"]
        for sq in subs:
            r = _scalar_join(child, sq)
            if r is None:
                continue
            child, value = r
            p = p.transform(lambda x, sq=sq, value=value: value if x is sq else x)
            changed = True
        keep.append(p)
    if not changed:
        return node
    out = Filter(child, and_all(keep)) if keep else child
    if [c.cid for c in out.columns] != [c.cid for c in node.columns]:
        out = Project(out, tuple((c, c) for c in node.columns))
    return out


def decorrelate_subqueries(plan: Node, ctx=None) -> Node:
    return transform_up(plan, lambda n: _rewrite_filter(n) if isinstance(n, Filter) else n)
