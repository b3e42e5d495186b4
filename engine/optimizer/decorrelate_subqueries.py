"""Rule: decorrelate every correlated subquery into joins.

A subquery that reads columns of its enclosing query is rewritten where it is used (a filter,
a select list, HAVING, a join condition, grouping keys and aggregate arguments, window
arguments): the enclosing operator's input is joined with the subquery's result and the
subquery becomes a column of that join. Subqueries nested inside the subquery are decorrelated
first (against the subquery's own rows); what they read further out stays a free column that
the enclosing level's decorrelation then carries along. Fast paths come first:

* ``[NOT] EXISTS (SELECT ... WHERE inner.k = outer.k AND ...)`` as a WHERE conjunct becomes a
  semi (anti) join whose condition is the correlated predicates; ``x [NOT] IN (SELECT y ...)``
  becomes one on ``x = y AND <correlated>`` (NOT IN keeps its NULL semantics: a NULL on either
  side excludes).
* A correlated scalar aggregate, ``(SELECT agg(v) FROM t WHERE t.k = outer.k)``, becomes an
  aggregate grouped by ``t.k`` left-joined on ``outer.k`` (COUNT's empty groups become 0); with
  non-equality correlations it is grouped by the distinct outer values joined to ``t``. A plain
  correlated scalar subquery is the aggregate ``first(v)``, checked to see at most one row;
  EXISTS and IN outside a WHERE conjunct are such aggregates (``count(*) > 0``, see
  ``_in_as_scalar``).

Everything else takes the general method of dependent_join (Neumann and Kemper's unnesting of
arbitrary queries): the subquery is computed for the distinct outer values it reads at once and
joined back on them. The scalar aggregates that the binder makes of one ``x > ANY (...)`` share
one plan and are computed in one aggregate (``_merged``).

Example: ``Filter(EXISTS(Filter(l.k = o.k, Scan l)), Scan o)`` becomes
``Join(semi, l.k = o.k, Scan o, Scan l)``. Uncorrelated subqueries are left for the executor,
which runs them once per statement.
"""
from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from engine.optimizer import dependent_join as general
from engine.optimizer.rewrite import map_node_expressions
from engine.optimizer.subquery_plans import (correlated, fresh_copy, reads, refuse_outer_aggregate,
                                             same_values, volatile)
from engine.plan.expressions import (AggCall, Call, Case, ColumnRef, Expr, Literal, SubqueryExpr,
                                     WindowCall, and_all, conjuncts, new_column)
from engine.plan.nodes import (Aggregate, Distinct, Filter, Join, Node, Project, SetOp, Window,
                               transform_up)


class _Unsupported(Exception):
    pass


def _available(child: Node, sq: SubqueryExpr, free: frozenset) -> bool:
    """Does ``child`` (or a query further out, ``free``) hold every column ``sq`` reads?"""
    return {c.cid for c in sq.outer} - {c.cid for c in child.columns} <= free


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
        if reads(c, outer):
            raise _Unsupported(f"outer column under {type(node).__name__}")
    return node, []


def _exists_join(child: Node, sq: SubqueryExpr, free: frozenset) -> Node | None:
    if not _available(child, sq, free):
        return None
    outer = {c.cid for c in sq.outer}
    try:
        body, corr = _pull(sq.plan, outer)
    except _Unsupported:
        return None
    if reads(body, outer):
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


def _scalar_join(child: Node, sq: SubqueryExpr, base: Node) -> tuple[Node, dict[int, Expr]] | None:
    """Decorrelate a scalar subquery: returns the new child and, per output column of
    ``sq.plan``, the expression that replaces it (an ungrouped aggregate may have several).

    An aggregate ``(SELECT f(agg) FROM t WHERE <corr>)`` is computed per correlation value and
    left-joined back; a plain ``(SELECT v FROM t WHERE <corr>)`` becomes ``first(v)`` checked to
    see at most one row. Equality correlations group by the inner keys; other correlations join
    the distinct outer values (the "domain", from ``base``: child's rows or a superset) to the
    inner rows first and group by them.
    """
    outer = {c.cid for c in sq.outer}
    if not outer <= {c.cid for c in child.columns}:
        return None  # e.g. it reads a column that a GROUP BY below has replaced
    plan = sq.plan
    top: Project | None = None
    if isinstance(plan, Project):
        top, plan = plan, plan.child
    if isinstance(plan, Aggregate) and not plan.groups:
        src, aggs = plan.child, plan.aggs
        exprs = top.exprs if top is not None else tuple((c, c) for c, _ in plan.aggs)
    elif top is not None and len(top.exprs) == 1 and not (top.exprs[0][1].columns() & outer):
        src = plan
        out, e = top.exprs[0]
        v, n = new_column("value", e.dtype), new_column("rows", pa.int64())
        aggs = ((v, AggCall("first", (e,), e.dtype)), (n, AggCall("count_star", (), pa.int64())))
        exprs = ((out, Call("single_row_value", (n, v), e.dtype)),)
    else:
        return None
    if not all(e.columns() <= {c.cid for c, _ in aggs} | outer for _, e in exprs):
        return None
    try:
        body, corr = _pull(src, outer)
    except _Unsupported:
        return None
    if reads(body, outer) or not corr:
        return None
    # aggregates over outer values (x IN (...) as a scalar, see _in_as_scalar) need those values
    # next to the inner rows: the domain path below provides them
    agg_outer = set().union(*(a.columns() for _, a in aggs)) & outer
    keys_inner, keys_outer = ([], []) if not agg_outer else (None, None)
    for p in (corr if keys_inner is not None else []):
        a, b = p.args if isinstance(p, Call) and p.fn == "eq" else (None, None)
        if a is not None and a.columns() & outer and not (b.columns() & outer):
            a, b = b, a
        if a is None or not a.columns() or not b.columns() or not (b.columns() <= outer) \
                or (a.columns() & outer):
            keys_inner = None
            break
        keys_inner.append(a)
        keys_outer.append(b)
    if keys_inner:
        groups = tuple((new_column(f"key{i}", k.dtype), k) for i, k in enumerate(keys_inner))
        agg = Aggregate(body, groups, aggs)
        cond = and_all([Call("eq", (o, g), pa.bool_()) for o, (g, _) in zip(keys_outer, groups)])
    else:
        if volatile(base):
            return None  # the domain would recompute the outer rows
        used = (set().union(*(p.columns() for p in corr)) & outer) | agg_outer
        ocols = [c for c in sq.outer if c.cid in used]
        dcols = [new_column(c.name, c.dtype) for c in ocols]
        domain = Distinct(Project(base, tuple(zip(dcols, ocols))))
        to_dom = {c.cid: d for c, d in zip(ocols, dcols)}
        corr_d = [p.transform(lambda x: to_dom.get(x.cid, x) if isinstance(x, ColumnRef) else x)
                  for p in corr]
        groups = tuple((new_column(f"key{i}", d.dtype), d) for i, d in enumerate(dcols))
        if agg_outer:
            aggs = tuple((c, a.transform(lambda x: to_dom.get(x.cid, x) if isinstance(x, ColumnRef) else x))
                         for c, a in aggs)
        agg = Aggregate(Join(domain, body, "inner", and_all(corr_d)), groups, aggs)
        cond = and_all(same_values(ocols, [g for g, _ in groups]))
    joined = Join(child, agg, "left", cond)
    counts = {c.cid: c for c, a in aggs if a.fn in general.COUNTS}
    # no inner rows: counts are 0, other aggregates NULL; the select expression is computed after
    values = {out.cid: e.transform(
        lambda x: Call("coalesce", (x, Literal(0, x.dtype)), x.dtype)
        if isinstance(x, ColumnRef) and x.cid in counts else x) for out, e in exprs}
    return joined, values


def _as_scalar(sq: SubqueryExpr) -> SubqueryExpr | None:
    """A correlated [NOT] EXISTS outside a WHERE conjunct, as ``(SELECT count(*) ...) > 0``."""
    plan = sq.plan.child if isinstance(sq.plan, Project) else sq.plan
    n = new_column("rows", pa.int64())
    agg = Aggregate(plan, (), ((n, AggCall("count_star", (), pa.int64())),))
    out = new_column("exists", pa.bool_())
    test = Call("eq" if sq.negated else "gt", (n, Literal(0, pa.int64())), pa.bool_())
    return SubqueryExpr("scalar", Project(agg, ((out, test),)), pa.bool_(), outer=sq.outer)


def _in_as_scalar(sq: SubqueryExpr) -> SubqueryExpr:
    """A correlated ``x [NOT] IN (SELECT y ...)`` outside a WHERE conjunct, as a scalar subquery
    over the outer value x: TRUE when some y = x; FALSE when there are no rows; NULL when x is
    NULL or some y is NULL; else FALSE."""
    x, y = sq.arg, sq.plan.columns[0]
    b, i64 = pa.bool_(), pa.int64()
    n, nn, hit = new_column("rows", i64), new_column("values", i64), new_column("hit", b)
    agg = Aggregate(sq.plan, (), ((n, AggCall("count_star", (), i64)),
                                  (nn, AggCall("count", (y,), i64)),
                                  (hit, AggCall("bool_or", (Call("eq", (x, y), b),), b))))
    null = Literal(None, b)
    test = Case(((Call("eq", (n, Literal(0, i64)), b), Literal(False, b)),
                 (hit, Literal(True, b)),
                 (Call("or", (Call("is_null", (x,), b), Call("gt", (n, nn), b)), b), null)),
                Literal(False, b), b)
    if sq.negated:
        test = Call("not", (test,), b)
    out = new_column("in", b)
    outer = sq.outer + tuple(c for c in _refs(x) if c not in sq.outer)
    return SubqueryExpr("scalar", Project(agg, ((out, test),)), b, outer=outer)


def _refs(e: Expr) -> list[ColumnRef]:
    out: list[ColumnRef] = []
    for x in e.walk():
        if isinstance(x, ColumnRef) and x not in out:
            out.append(x)
    return out


def _merged(e: Expr) -> dict[int, tuple[SubqueryExpr, list[SubqueryExpr]]]:
    """Correlated scalar subqueries in ``e`` that are ungrouped aggregates over one shared plan
    (the binder's ``x > ANY (...)`` reads count(*), count(y), min(y) and max(y) of one
    subquery), as one subquery computing all their aggregates: per member id, (merged, members).
    """
    groups: dict[tuple, list[SubqueryExpr]] = {}
    for x in e.walk():
        if isinstance(x, SubqueryExpr) and x.outer and x.kind == "scalar" \
                and isinstance(x.plan, Aggregate) and not x.plan.groups and len(x.plan.aggs) == 1:
            members = groups.setdefault((id(x.plan.child), tuple(c.cid for c in x.outer)), [])
            if not any(m is x for m in members):
                members.append(x)
    out: dict[int, tuple[SubqueryExpr, list[SubqueryExpr]]] = {}
    for members in groups.values():
        if len(members) > 1:
            agg = Aggregate(members[0].plan.child, (), tuple(m.plan.aggs[0] for m in members))
            merged = SubqueryExpr("scalar", agg, members[0].dtype, outer=members[0].outer)
            for m in members:
                out[id(m)] = (merged, members)
    return out


def _fresh(sq: SubqueryExpr) -> tuple[SubqueryExpr, dict[int, ColumnRef]]:
    plan, outmap = fresh_copy(sq.plan)
    return replace(sq, plan=plan), outmap


def _values_join(child: Node, sq: SubqueryExpr, free: frozenset, base: Node
                 ) -> tuple[Node, dict[int, Expr]] | None:
    """A correlated scalar subquery joined to ``child``: the new child and the value of each of
    ``sq.plan``'s output columns (by their ids)."""
    fresh, outmap = _fresh(sq)
    back = {v.cid: k for k, v in outmap.items()}
    r = _scalar_join(child, fresh, base)
    if r is None:
        r = general.scalar_join(child, fresh, free, base)
    if r is None:
        return None
    child, values = r
    return child, {back[k]: v for k, v in values.items()}


def _value_join(child: Node, sq: SubqueryExpr, free: frozenset, base: Node
                ) -> tuple[Node, Expr] | None:
    """Any correlated subquery as a value computed by a join on ``child``."""
    if sq.kind == "scalar":
        r = _values_join(child, sq, free, base)
        return None if r is None else (r[0], r[1][sq.plan.columns[0].cid])
    if sq.kind == "exists":
        fresh, _ = _fresh(sq)
        r = _values_join(child, _as_scalar(fresh), free, base) if _plain(fresh) else None
        if r is not None:
            return r[0], next(iter(r[1].values()))
        return general.exists_join(child, fresh, free, base)
    if sq.kind == "in":
        scalar = _in_as_scalar(_fresh(sq)[0])
        r = _values_join(child, scalar, free, base)
        return None if r is None else (r[0], r[1][scalar.plan.columns[0].cid])
    return None


def _plain(sq: SubqueryExpr) -> bool:
    """Would the fast path of _scalar_join take this EXISTS (its correlations pull up)?"""
    try:
        body, corr = _pull(sq.plan, {c.cid for c in sq.outer})
    except _Unsupported:
        return False
    return bool(corr) and not reads(body, {c.cid for c in sq.outer})


def _decorrelate_values(child: Node, exprs: list[Expr], free: frozenset, base: Node | None = None
                        ) -> tuple[Node, list[Expr], bool]:
    """Replace the correlated subqueries inside ``exprs`` by joins on ``child``; ``base`` gives
    the domain of the outer values (child's rows or a superset; default child)."""
    base = child if base is None else base
    done: dict[int, Expr] = {}  # by identity: one subquery may appear twice (it is joined once)
    changed = False
    out = []
    for e in exprs:
        merged = _merged(e)

        def visit(x: Expr) -> Expr:
            nonlocal child, changed
            if not (isinstance(x, SubqueryExpr) and x.outer):
                return x
            if id(x) in done:
                return done[id(x)]
            if id(x) in merged:
                msq, members = merged.pop(id(x))
                for m in members:
                    merged.pop(id(m), None)
                r = _values_join(child, msq, free, base)
                if r is not None:
                    child, values = r
                    for m in members:
                        done[id(m)] = values[m.plan.aggs[0][0].cid]
                    changed = True
                    return done[id(x)]
            r = _value_join(child, x, free, base)
            if r is None:
                return x
            child, done[id(x)] = r
            changed = True
            return done[id(x)]
        out.append(e.transform(visit))
    return child, out, changed


def _same_columns(out: Node, like: Node) -> Node:
    return general.project(out, like.columns)


def _rewrite_filter(node: Filter, free: frozenset) -> Node:
    parts = conjuncts(node.predicate)
    plain = [p for p in parts if not correlated(p)]
    # the other conjuncts first: fewer outer rows, so a smaller domain for the subqueries
    child = Filter(node.child, and_all(plain)) if plain else node.child
    base = child
    keep: list[Expr] = []
    changed = False
    for p in parts:
        if not correlated(p):
            continue
        if isinstance(p, SubqueryExpr) and p.outer and p.kind in ("exists", "in") \
                and not correlated(p.arg):
            fresh, _ = _fresh(p)
            j = _exists_join(child, fresh, free) or general.semi_join(child, fresh, free, base)
            if j is not None:
                child, changed = j, True
                continue
        child, (p,), did = _decorrelate_values(child, [p], free, base)
        changed = changed or did
        keep.append(p)
    if not changed:
        return node
    out = Filter(child, and_all(keep)) if keep else child
    return _same_columns(out, node)


def _rewrite_project(node: Project, free: frozenset) -> Node:
    child, exprs, changed = _decorrelate_values(node.child, [e for _, e in node.exprs], free)
    if not changed:
        return node
    return Project(child, tuple((c, e) for (c, _), e in zip(node.exprs, exprs)))


def _rewrite_window(node: Window, free: frozenset) -> Node:
    """Correlated subqueries in window arguments, partitions or orders: computed on the input."""
    child, funcs, changed = _decorrelate_values(node.child, [f for _, f in node.funcs], free)
    if not changed:
        return node
    return _same_columns(Window(child, tuple((c, f) for (c, _), f in zip(node.funcs, funcs))), node)


def _rewrite_join(node: Join, free: frozenset) -> Node:
    """Correlated subqueries in a join condition: one that reads a single side is computed on
    that side (its value is fixed per row of that side, whatever the join kind); one that reads
    both sides of an inner join moves to a filter above it."""
    left, (cond,), dl = _decorrelate_values(node.left, [node.condition], free)
    right, (cond,), dr = _decorrelate_values(node.right, [cond], free)
    kind, above = node.kind, []
    if node.kind in ("inner", "cross") and correlated(cond):
        parts = conjuncts(cond)
        above = [p for p in parts if correlated(p)]
        cond = and_all([p for p in parts if not correlated(p)])
        kind = "inner" if cond is not None else "cross"
    if kind in ("left", "right", "full") and correlated(cond):
        return _outer_join_on_pairs(node, left, right, kind, cond, free)
    if not (dl or dr or above):
        return node
    out: Node = Join(left, right, kind, cond)
    if above:
        out = _rewrite_filter(Filter(out, and_all(above)), free)
    return _same_columns(out, node)


def _outer_join_on_pairs(node: Join, left: Node, right: Node, kind: str, cond: Expr,
                         free: frozenset) -> Node:
    """An outer join whose condition has a subquery reading both sides.

    The subquery's value depends on the pair, so it is computed on the pairs: number the rows of
    each preserved side, outer-join the sides on the plain conjuncts, decorrelate the subquery
    over that pair relation (a ``hit`` per pair), then keep the hits and, per preserved row
    without one, a single row NULL-extended (found with window functions over its row number).
    A FULL join takes the right side's unmatched rows in a second branch of a UNION ALL.
    """
    b, i64 = pa.bool_(), pa.int64()
    parts = conjuncts(cond)
    plain = and_all([p for p in parts if not correlated(p)]) or Literal(True, b)
    corr = and_all([p for p in parts if correlated(p)])

    def numbered(side: Node, name: str) -> tuple[Node, ColumnRef, ColumnRef]:
        rid, mark = new_column(f"{name}_row", i64), new_column(f"{name}_present", b)
        w = Window(side, ((rid, WindowCall("row_number", (), (), (), None, i64)),))
        return Project(w, tuple((c, c) for c in w.columns) + ((mark, Literal(True, b)),)), rid, mark

    left, lrid, lmark = numbered(left, "left")
    right, rrid, rmark = numbered(right, "right")
    pairs: Node = Join(left, right, kind, plain)
    test = Call("and", (Call("and", (lmark, rmark), b), corr), b)
    pairs, (test,), _ = _decorrelate_values(pairs, [test], free)
    if correlated(test):
        return node  # the executor will say it cannot be decorrelated
    hit = new_column("hit", i64)
    pairs = Project(pairs, tuple((c, c) for c in pairs.columns) +
                    ((hit, Case(((Call("coalesce", (test, Literal(False, b)), b), Literal(1, i64)),),
                                Literal(0, i64), i64)),))
    funcs = []
    reps = {}
    for rid in ((lrid,) if kind in ("left", "full") else ()) + ((rrid,) if kind in ("right", "full") else ()):
        hits, rn = new_column("hits", i64), new_column("rn", i64)
        funcs += [(hits, WindowCall("sum", (hit,), (rid,), (), None, i64)),
                  (rn, WindowCall("row_number", (), (rid,), (), None, i64))]
        reps[rid.cid] = and_all([Call("is_not_null", (rid,), b),
                                 Call("eq", (hits, Literal(0, i64)), b),
                                 Call("eq", (rn, Literal(1, i64)), b)])
    pairs = Window(pairs, tuple(funcs))
    is_hit = Call("eq", (hit, Literal(1, i64)), b)

    def nulled(cols, keep: Expr) -> tuple:
        return tuple((c, Case(((keep, c),), Literal(None, c.dtype), c.dtype)) for c in cols)

    lcols, rcols = node.left.columns, node.right.columns
    if kind == "right":
        keep = Filter(pairs, Call("or", (is_hit, reps[rrid.cid]), b))
        return Project(keep, nulled(lcols, is_hit) + tuple((c, c) for c in rcols))
    first = Filter(pairs, Call("or", (is_hit, reps[lrid.cid]), b))
    first = Project(first, tuple((c, c) for c in lcols) + nulled(rcols, is_hit))
    if kind == "left":
        return first
    # FULL: the right rows without a hit come from a second pass over the pairs
    lnew = [new_column(c.name, c.dtype) for c in lcols + rcols]
    rnew = [new_column(c.name, c.dtype) for c in lcols + rcols]
    a = Project(first, tuple((n, c) for n, c in zip(lnew, lcols + rcols)))
    only_right = Filter(pairs, reps[rrid.cid])
    bb = Project(only_right, tuple((n, Literal(None, c.dtype)) for n, c in zip(rnew, lcols)) +
                 tuple((n, c) for n, c in zip(rnew[len(lcols):], rcols)))
    return SetOp("union", True, a, bb, tuple(lcols + rcols))


def _rewrite_aggregate(node: Aggregate, free: frozenset) -> Node:
    """Correlated subqueries in grouping keys or aggregate arguments are computed on the
    aggregate's input rows."""
    n = len(node.groups)
    child, exprs, changed = _decorrelate_values(node.child, list(node.expressions()), free)
    if not changed:
        return node
    return Aggregate(child, tuple((c, e) for (c, _), e in zip(node.groups, exprs[:n])),
                     tuple((c, a) for (c, _), a in zip(node.aggs, exprs[n:])))


def _inner_first(node: Node) -> Node:
    """Decorrelate the subqueries nested in ``node``'s correlated subqueries against their own
    rows first; what they read further out stays free (decorrelated with them at this level)."""
    def visit(x: Expr) -> Expr:
        if isinstance(x, SubqueryExpr) and x.outer:
            ids = frozenset(c.cid for c in x.outer)
            refuse_outer_aggregate(x.plan, ids)
            plan = _decorrelate(x.plan, ids)
            if plan is not x.plan:
                return replace(x, plan=plan)
        return x
    return map_node_expressions(node, lambda e: e.transform(visit))


_HOSTS = {Filter: _rewrite_filter, Project: _rewrite_project, Join: _rewrite_join,
          Aggregate: _rewrite_aggregate, Window: _rewrite_window}


def _decorrelate(plan: Node, free: frozenset) -> Node:
    """Decorrelate the subqueries in ``plan``; ``free`` are the columns of queries further out
    that ``plan`` may read (it is itself a subquery's plan), empty for a statement."""
    def rewrite(n: Node) -> Node:
        host = _HOSTS.get(type(n))
        if host is None or not any(correlated(e) for e in n.expressions()):
            return n
        return host(_inner_first(n), free)
    return transform_up(plan, rewrite)


def decorrelate_subqueries(plan: Node, ctx=None) -> Node:
    return _decorrelate(plan, frozenset())
