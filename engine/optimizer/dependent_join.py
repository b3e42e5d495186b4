"""The general decorrelation of a correlated subquery, after Neumann and Kemper, "Unnesting
Arbitrary Queries" (BTW 2015), as DuckDB does it.

A subquery that reads columns D of the enclosing query is a *dependent join*: for every enclosing
row, the subquery runs with D fixed to that row's values. Let the *domain* be DISTINCT D over the
enclosing rows. ``DomainPush.push`` moves the dependent join down the subquery's plan, operator
by operator, until no operator below reads D; there the domain is joined in (a cross join), and
on the way up every operator carries the domain value along: filters and projections keep it,
aggregates group by it (one without GROUP BY then joins the domain back so that a domain value
without rows still gets its row: COUNT 0, other aggregates NULL), windows partition by it, LIMIT
becomes a per-domain-value row_number, set operations and DISTINCT include it in their rows,
joins push it into the side(s) that read D (both sides are then joined on it). The result is the
subquery's rows for every domain value at once, next to that value; the enclosing query joins it
back on D with NULL-safe equality (IS NOT DISTINCT FROM), so a NULL outer value finds its rows.

Example: ``(SELECT count(*) FROM l WHERE l.v > o.v)`` over ``Scan o`` becomes
``Join(left, o.v = d, Scan o, Project(Join(left, d' = d, Domain, Aggregate(group=[d],
Filter(l.v > d, Join(cross, Scan l, Domain)))), coalesce(count, 0)))`` with
``Domain = Distinct(Project(Scan o, o.v AS d))``.

The rule module (decorrelate_subqueries) tries its fast paths first and calls ``scalar_join``,
``exists_join`` and ``semi_join`` here where they do not apply.
"""
from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from engine.optimizer.subquery_plans import BOOL, same_values, volatile
from engine.plan.aggregates import ZERO_WHEN_EMPTY
from engine.plan.expressions import (AggCall, Call, ColumnRef, Expr, Literal, SortKey, SubqueryExpr,
                                     WindowCall, and_all, conjuncts, new_column)
from engine.plan.nodes import (Aggregate, Distinct, Filter, Join, Limit, Node, Project, Scan, SetOp,
                               Sort, Values, Window)

I64 = pa.int64()
# aggregates whose value over no rows is 0, not NULL (count_if is NULL there, as in DuckDB)
COUNTS = ZERO_WHEN_EMPTY


class Unsupported(Exception):
    """The plan holds something the push-down cannot carry the domain through."""


def project(node: Node, cols) -> Node:
    cols = tuple(cols)
    if [c.cid for c in node.columns] == [c.cid for c in cols]:
        return node
    return Project(node, tuple((c, c) for c in cols))


def _fresh(cols) -> list[ColumnRef]:
    return [new_column(c.name, c.dtype) for c in cols]


class DomainPush:
    """Pushes the dependent join with the domain of the columns ``dcols`` down a plan.

    ``push(node)`` returns ``(node', m)``: node' holds node's rows for every domain value, its
    columns are node's columns followed by ``m``, the domain value (one column per D column).
    """

    def __init__(self, dcols: list[ColumnRef], domain: Node):
        self.ids = [c.cid for c in dcols]
        self.idset = set(self.ids)
        self.domain = domain
        self._memo: dict[int, tuple[Node, bool]] = {}

    def fresh_domain(self) -> tuple[Node, list[ColumnRef]]:
        """A copy of the domain with its own column ids (the domain's plan is shared)."""
        cols = _fresh(self.domain.columns)
        return Project(self.domain, tuple(zip(cols, self.domain.columns))), cols

    def depends(self, node: Node) -> bool:
        hit = self._memo.get(id(node))
        if hit is None or hit[0] is not node:
            r = any(e.columns() & self.idset for e in node.expressions()) or \
                any(self.depends(c) for c in node.children)
            hit = self._memo[id(node)] = (node, r)
        return hit[1]

    def sub(self, e: Expr, m: list[ColumnRef]) -> Expr:
        """``e`` with the D columns read from the domain value ``m``."""
        mapping = dict(zip(self.ids, m))

        def fn(x: Expr) -> Expr:
            if isinstance(x, ColumnRef):
                return mapping.get(x.cid, x)
            if isinstance(x, SubqueryExpr) and any(o.cid in self.idset for o in x.outer):
                raise Unsupported("a subquery reading D is left inside the plan")
            return x
        return e.transform(fn)

    def push(self, node: Node) -> tuple[Node, list[ColumnRef]]:
        if not self.depends(node):
            d, cols = self.fresh_domain()
            return Join(node, d, "cross"), cols
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise Unsupported(type(node).__name__)
        return method(node)

    # ---- one method per operator

    def _Filter(self, node: Filter):
        c, m = self.push(node.child)
        return Filter(c, self.sub(node.predicate, m)), m

    def _Project(self, node: Project):
        c, m = self.push(node.child)
        exprs = tuple((col, self.sub(e, m)) for col, e in node.exprs)
        return Project(c, exprs + tuple((x, x) for x in m)), m

    def _Aggregate(self, node: Aggregate):
        c, m = self.push(node.child)
        aggs = tuple((col, self.sub(a, m)) for col, a in node.aggs)
        keys = _fresh(m)
        if node.groups:
            groups = tuple((col, self.sub(g, m)) for col, g in node.groups) + tuple(zip(keys, m))
            return project(Aggregate(c, groups, aggs), node.columns + tuple(keys)), keys
        # no GROUP BY: one row per domain value, also for a value that has no input rows
        inner = tuple((new_column(col.name, col.dtype), a) for col, a in aggs)
        agg = Aggregate(c, tuple(zip(keys, m)), inner)
        d, dcols = self.fresh_domain()
        joined = Join(d, agg, "left", and_all(same_values(dcols, keys)))
        out = []
        for (col, a), (icol, _) in zip(node.aggs, inner):
            v: Expr = icol
            if a.fn in COUNTS:
                v = Call("coalesce", (icol, Literal(0, icol.dtype)), icol.dtype)
            out.append((col, v))
        return Project(joined, tuple(out) + tuple((x, x) for x in dcols)), dcols

    def _Distinct(self, node: Distinct):
        c, m = self.push(node.child)
        return Distinct(c), m

    def _Sort(self, node: Sort):
        if node.limit is not None:
            return self._limited(node, Sort(node.child, node.keys), node.limit, 0)
        c, m = self.push(node.child)
        keys = tuple(SortKey(self.sub(k.expr, m), k.ascending, k.nulls_first) for k in node.keys)
        return Sort(c, keys), m

    def _Limit(self, node: Limit):
        return self._limited(node, node.child, node.limit, node.offset)

    def _limited(self, node: Node, child: Node, limit: int | None, offset: int):
        """LIMIT/OFFSET per domain value: row_number() OVER (PARTITION BY d ORDER BY the keys of
        the sort below, if any)."""
        keys: tuple[SortKey, ...] = ()
        if isinstance(child, Sort):
            if child.limit is not None:
                raise Unsupported("a top-N sort under a LIMIT")
            keys, child = child.keys, child.child
        c, m = self.push(child)
        rn = new_column("row_number", I64)
        order = tuple(SortKey(self.sub(k.expr, m), k.ascending, k.nulls_first) for k in keys)
        w = Window(c, ((rn, WindowCall("row_number", (), tuple(m), order, None, I64)),))
        conds = [Call("gt", (rn, Literal(offset, I64)), BOOL)]
        if limit is not None:
            conds.append(Call("lte", (rn, Literal(offset + limit, I64)), BOOL))
        return project(Filter(w, and_all(conds)), node.columns + tuple(m)), m

    def _Window(self, node: Window):
        c, m = self.push(node.child)
        funcs = []
        for col, f in node.funcs:
            f = self.sub(f, m)
            funcs.append((col, replace(f, partition=f.partition + tuple(m))))
        return project(Window(c, tuple(funcs)), node.columns + tuple(m)), m

    def _SetOp(self, node: SetOp):
        left, _ = self.push(node.left)
        right, _ = self.push(node.right)
        keys = _fresh(self.domain.columns)
        return SetOp(node.kind, node.all, left, right, node.out + tuple(keys)), keys

    def _Join(self, node: Join):
        kind = node.kind
        dl, dr = self.depends(node.left), self.depends(node.right)
        if kind in ("inner", "cross", "left", "semi", "anti") and not dr:
            left, m = self.push(node.left)
            cond = self.sub(node.condition, m) if node.condition is not None else None
            j = Join(left, node.right, kind, cond)
            return project(j, node.columns + tuple(m)), m
        if kind in ("inner", "cross", "right") and not dl:
            right, m = self.push(node.right)
            cond = self.sub(node.condition, m) if node.condition is not None else None
            return Join(node.left, right, kind, cond), m
        # both sides read D (or a FULL join, whose unmatched rows belong to every domain value)
        left, ml = self.push(node.left)
        right, mr = self.push(node.right)
        cond = conjuncts(self.sub(node.condition, ml)) if node.condition is not None else []
        j = Join(left, right, "inner" if kind == "cross" else kind,
                 and_all(cond + same_values(ml, mr)))
        if kind == "right":
            return project(j, node.columns + tuple(mr)), mr
        if kind != "full":
            return project(j, node.columns + tuple(ml)), ml
        keys = _fresh(ml)
        # an unmatched row has all of the other side's domain columns NULL
        merged = tuple((k, Call("coalesce", (a, b), k.dtype)) for k, a, b in zip(keys, ml, mr))
        return Project(j, tuple((c, c) for c in node.columns) + merged), keys

    def _Scan(self, node: Scan):
        # filters pushed into the scan read D: apply them above the domain's cross join
        c, m = self.push(replace(node, filters=()))
        return Filter(c, self.sub(and_all(list(node.filters)), m)), m

    def _Values(self, node: Values):
        branches = []
        for i, row in enumerate(node.rows):
            d, dcols = self.fresh_domain()
            out = node.out if len(node.rows) == 1 else tuple(_fresh(node.out))
            exprs = tuple(zip(out, (self.sub(e, dcols) for e in row)))
            branches.append((Project(d, exprs + tuple((x, x) for x in dcols)), dcols))
        plan, m = branches[0]
        for i, (b, _) in enumerate(branches[1:], start=2):
            last = i == len(branches)
            m = _fresh(m)
            out = (node.out if last else tuple(_fresh(node.out))) + tuple(m)
            plan = SetOp("union", True, plan, b, out)
        return plan, m


# ---------------------------------------------------------------- joining the result back

def domain_of(child: Node, sq: SubqueryExpr, free: frozenset) -> list[ColumnRef] | None:
    """The columns of ``child`` the subquery reads (D), or None when it reads a column that is
    neither there nor among ``free`` (columns of a query further out, decorrelated later)."""
    avail = {c.cid for c in child.columns}
    if not ({c.cid for c in sq.outer} - avail) <= free:
        return None
    return [c for c in sq.outer if c.cid in avail]


def subquery_rows(base: Node, plan: Node, dcols: list[ColumnRef]) -> tuple[Node, list[ColumnRef]]:
    """``plan`` for every value of D over ``base``: its columns, then the value's columns."""
    if not dcols:
        return plan, []
    if volatile(base):
        raise Unsupported("the outer rows cannot be recomputed for the domain")
    keys = _fresh(dcols)
    domain = Distinct(Project(base, tuple(zip(keys, dcols))))
    return DomainPush(dcols, domain).push(plan)


def at_most_one_row(plan: Node) -> bool:
    while isinstance(plan, (Project, Filter, Sort, Distinct, Window)):
        plan = plan.child
    if isinstance(plan, Aggregate):
        return not plan.groups
    if isinstance(plan, Limit):
        return plan.limit is not None and plan.limit <= 1
    return isinstance(plan, Values) and len(plan.rows) <= 1


def exactly_one_row(plan: Node) -> bool:
    while isinstance(plan, (Project, Sort, Window)):
        plan = plan.child
    if isinstance(plan, Aggregate):
        return not plan.groups
    return isinstance(plan, Values) and len(plan.rows) == 1


def _join_back(child: Node, right: Node, dcols, m) -> Node:
    if not dcols:
        return Join(child, right, "cross")
    return Join(child, right, "left", and_all(same_values(list(dcols), list(m))))


def scalar_join(child: Node, sq: SubqueryExpr, free: frozenset, base: Node
                ) -> tuple[Node, dict[int, Expr]] | None:
    """A correlated scalar subquery (one column; or an ungrouped aggregate with several, see
    decorrelate_subqueries._merged) joined to ``child``: the new child and, per output column
    of ``sq.plan``, its value there. ``base`` gives the domain (rows of child or a superset).
    The caller gives ``sq.plan`` fresh column ids (subquery_plans.fresh_copy)."""
    dcols = domain_of(child, sq, free)
    if dcols is None:
        return None
    plan = sq.plan
    try:
        rows, m = subquery_rows(base, plan, dcols)
    except Unsupported:
        return None
    cols = plan.columns
    if exactly_one_row(plan) or (dcols and at_most_one_row(plan)):
        return _join_back(child, rows, dcols, m), {c.cid: c for c in cols}
    if len(cols) != 1:
        return None
    v = cols[0]
    val, n = new_column("value", v.dtype), new_column("rows", I64)
    keys = _fresh(m)
    agg = Aggregate(rows, tuple(zip(keys, m)), ((val, AggCall("first", (v,), v.dtype)),
                                               (n, AggCall("count_star", (), I64))))
    # more than one row for an outer row is an error, as in DuckDB
    value = Call("single_row_value", (n, val), v.dtype)
    return _join_back(child, agg, dcols, keys), {cols[0].cid: value}


def _strip(plan: Node) -> Node:
    """The rows of ``plan`` without its projections (EXISTS only counts rows)."""
    while isinstance(plan, Project):
        plan = plan.child
    return plan


def exists_join(child: Node, sq: SubqueryExpr, free: frozenset, base: Node
                ) -> tuple[Node, Expr] | None:
    """A correlated [NOT] EXISTS as a value: a left join with the distinct domain values that
    have rows, marked TRUE."""
    dcols = domain_of(child, sq, free)
    if dcols is None:
        return None
    plan = _strip(sq.plan)
    try:
        rows, m = subquery_rows(base, plan, dcols)
    except Unsupported:
        return None
    if not dcols:
        n = new_column("rows", I64)
        agg = Aggregate(rows, (), ((n, AggCall("count_star", (), I64)),))
        test = Call("eq" if sq.negated else "gt", (n, Literal(0, I64)), BOOL)
        return Join(child, agg, "cross"), test
    keys, mark = _fresh(m), new_column("exists", BOOL)
    marks = Project(Distinct(Project(rows, tuple(zip(keys, m)))),
                    tuple((k, k) for k in keys) + ((mark, Literal(True, BOOL)),))
    value = Call("is_null" if sq.negated else "is_not_null", (mark,), BOOL)
    return _join_back(child, marks, dcols, keys), value


def semi_join(child: Node, sq: SubqueryExpr, free: frozenset, base: Node) -> Node | None:
    """A correlated [NOT] EXISTS or [NOT] IN that is a WHERE conjunct: a semi (anti) join of
    ``child`` with the subquery's rows for every domain value, on D and, for IN, ``x = y``
    (NOT IN: a NULL on either side also excludes the row)."""
    dcols = domain_of(child, sq, free)
    if not dcols:
        return None
    plan = sq.plan if sq.kind == "in" else _strip(sq.plan)
    try:
        rows, m = subquery_rows(base, plan, dcols)
    except Unsupported:
        return None
    cond = same_values(list(dcols), list(m))
    if sq.kind == "in":
        x, y = sq.arg, sq.plan.columns[0]
        eq = Call("eq", (x, y), BOOL)
        if sq.negated:
            eq = Call("or", (Call("or", (eq, Call("is_null", (x,), BOOL)), BOOL),
                             Call("is_null", (y,), BOOL)), BOOL)
        cond = [eq] + cond
    return Join(child, rows, "anti" if sq.negated else "semi", and_all(cond))
