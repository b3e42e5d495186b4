"""Helpers that subquery decorrelation (and the binder's GROUP BY mapping) share: which columns a
plan reads, renaming the enclosing query's columns inside a subquery's plan, NULL-safe equality
that a hash join can use, and the check for aggregates that belong to the enclosing query.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import re
from dataclasses import replace

import pyarrow as pa

from engine.errors import NotSupportedError
from engine.optimizer.rewrite import map_expressions
from engine.plan.expressions import (AggCall, Call, ColumnRef, Expr, Literal, SortKey,
                                     SubqueryExpr, new_column)
from engine.plan.nodes import (Aggregate, Filter, Join, Node, Project, RecursiveUnion, Sample, Scan,
                               SetOp, Sort, Values, Window, WorkTable)

BOOL = pa.bool_()


def correlated(e: Expr | None) -> bool:
    """Does ``e`` hold a subquery that reads columns of an enclosing query?"""
    return e is not None and any(isinstance(x, SubqueryExpr) and x.outer for x in e.walk())


_VOLATILE = {"random", "uuid", "gen_random_uuid"}


def volatile(node: Node) -> bool:
    """Does the plan compute values that differ between two runs (random(), a UDF declared
    non-deterministic)? Such rows cannot be recomputed to find the domain of outer values."""
    from engine.plan.expressions import UdfCall
    for n in node.walk():
        for e in n.expressions():
            for x in e.walk():
                if isinstance(x, Call) and x.fn in _VOLATILE or \
                        isinstance(x, UdfCall) and not x.deterministic:
                    return True
    return False


def reads(node: Node, ids: set[int]) -> bool:
    """Does any expression in the plan ``node`` read one of the columns ``ids``?"""
    for n in node.walk():
        for e in n.expressions():
            if e.columns() & ids:
                return True
    return False


def rename_columns(plan: Node, mapping: dict[int, ColumnRef]) -> Node:
    """Replace references to the columns ``mapping`` names everywhere in ``plan``, subqueries
    inside it included (their ``outer`` lists too). Used where the enclosing query's column a
    subquery reads is replaced, e.g. by a GROUP BY key's output after aggregation."""
    if not mapping:
        return plan
    return map_expressions(plan, lambda e: rename_in(e, mapping))


def rename_in(e: Expr, mapping: dict[int, ColumnRef]) -> Expr:
    def fn(x: Expr) -> Expr:
        if isinstance(x, ColumnRef):
            return mapping.get(x.cid, x)
        if isinstance(x, SubqueryExpr) and any(o.cid in mapping for o in x.outer):
            outer: list[ColumnRef] = []
            for o in x.outer:
                o = mapping.get(o.cid, o)
                if o not in outer:
                    outer.append(o)
            return SubqueryExpr(x.kind, rename_columns(x.plan, mapping), x.dtype, x.arg, x.negated,
                                tuple(outer))
        return x
    return e.transform(fn)


def fresh_copy(plan: Node) -> tuple[Node, dict[int, ColumnRef]]:
    """A copy of ``plan`` whose every column has a new id, and the new column of each of plan's
    output columns. A subquery decorrelated twice (an alias used in the select list and in
    HAVING) must not put the same column id into one batch twice."""
    new, out = _copy(plan)
    return new, out


def _copy(node: Node) -> tuple[Node, dict[int, ColumnRef]]:
    kids = [_copy(c) for c in node.children]
    scope: dict[int, ColumnRef] = {}
    for _, m in kids:
        scope.update(m)
    if kids:
        node = node.with_children(tuple(k for k, _ in kids))

    def rn(e: Expr) -> Expr:
        return rename_in(e, scope)

    def fresh(cols) -> tuple[ColumnRef, ...]:
        return tuple(new_column(c.name, c.dtype) for c in cols)

    def named(old, new) -> dict[int, ColumnRef]:
        return {a.cid: b for a, b in zip(old, new)}

    if isinstance(node, Scan):
        out = fresh(node.out)
        own = named(node.out, out)
        filters = tuple(rename_in(f, own) for f in node.filters)
        return replace(node, out=out, filters=filters), own
    if isinstance(node, Values):
        out = fresh(node.out)
        return replace(node, rows=tuple(tuple(rn(e) for e in r) for r in node.rows), out=out), \
            named(node.out, out)
    if isinstance(node, (WorkTable, RecursiveUnion, SetOp)):
        out = fresh(node.out)
        return replace(node, out=out), named(node.out, out)
    if isinstance(node, Filter):
        return replace(node, predicate=rn(node.predicate)), scope
    if isinstance(node, Sample) and node.prob is not None:
        prob = new_column(node.prob.name, node.prob.dtype)
        return replace(node, prob=prob), {**scope, node.prob.cid: prob}
    if isinstance(node, Project):
        exprs = tuple((new_column(c.name, c.dtype), rn(e)) for c, e in node.exprs)
        return replace(node, exprs=exprs), named((c for c, _ in node.exprs), (c for c, _ in exprs))
    if isinstance(node, Aggregate):
        groups = tuple((new_column(c.name, c.dtype), rn(e)) for c, e in node.groups)
        aggs = tuple((new_column(c.name, c.dtype), rn(a)) for c, a in node.aggs)
        return replace(node, groups=groups, aggs=aggs), named(node.columns, Aggregate(
            node.child, groups, aggs).columns)
    if isinstance(node, Window):
        funcs = tuple((new_column(c.name, c.dtype), rn(f)) for c, f in node.funcs)
        own = dict(scope)
        own.update(named((c for c, _ in node.funcs), (c for c, _ in funcs)))
        return replace(node, funcs=funcs), own
    if isinstance(node, Join):
        cond = rn(node.condition) if node.condition is not None else None
        own = scope if node.kind not in ("semi", "anti") else kids[0][1]
        return replace(node, condition=cond), own
    if isinstance(node, Sort):
        keys = tuple(SortKey(rn(k.expr), k.ascending, k.nulls_first) for k in node.keys)
        return replace(node, keys=keys), scope
    return node, scope  # Limit, Distinct: rows pass through


def user_text(e: Expr) -> str:
    """An expression as the user would recognise it: without the plan's column ids."""
    return re.sub(r"#\d+", "", e.sql())


def outer_aggregate(plan: Node, outer: set[int]) -> AggCall | None:
    """An aggregate in the subquery ``plan`` whose arguments read only the enclosing query's
    columns ``outer``. SQL (and DuckDB) computes such an aggregate over the enclosing query's rows
    (``SELECT (SELECT sum(t.x)) FROM t`` is one sum over t), not once per row."""
    for n in plan.walk():
        if isinstance(n, Aggregate):
            for _, a in n.aggs:
                cols = set().union(*(x.columns() for x in a.args)) if a.args else set()
                if cols and cols <= outer:
                    return a
    return None


def refuse_outer_aggregate(plan: Node, outer: set[int]) -> None:
    a = outer_aggregate(plan, outer)
    if a is not None:
        raise NotSupportedError(
            f'Aggregate "{user_text(a)}" inside a subquery reads only columns of the enclosing '
            "query; such an aggregate belongs to the enclosing query, which Dawn does not support: "
            "compute it in the enclosing query instead")


_STANDIN = (
    (pa.types.is_boolean, False),
    (pa.types.is_integer, 0),
    (pa.types.is_floating, 0.0),
    (pa.types.is_decimal, decimal.Decimal(0)),
    (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), ""),
    (lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t), b""),
    (pa.types.is_date, _dt.date(1970, 1, 1)),
    (pa.types.is_timestamp, _dt.datetime(1970, 1, 1)),
    (pa.types.is_time, _dt.time(0, 0)),
    (pa.types.is_duration, _dt.timedelta(0)),
)


def same_value(a: Expr, b: Expr) -> list[Expr]:
    """``a IS NOT DISTINCT FROM b`` as equalities a hash join can use: the NULL-ness, and the
    value with NULL replaced by a stand-in (so a NULL outer value finds its own domain row)."""
    t = a.dtype
    fill = next((v for test, v in _STANDIN if test(t)), None)
    if fill is None:
        return [Call("is_not_distinct", (a, b), BOOL)]
    lit = Literal(fill, t)
    return [Call("eq", (Call("is_null", (a,), BOOL), Call("is_null", (b,), BOOL)), BOOL),
            Call("eq", (Call("coalesce", (a, lit), t), Call("coalesce", (b, lit), t)), BOOL)]


def same_values(a: list[Expr], b: list[Expr]) -> list[Expr]:
    return [p for x, y in zip(a, b) for p in same_value(x, y)]
