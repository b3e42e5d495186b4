"""GROUP BY GROUPING SETS, ROLLUP and CUBE, and the GROUPING() function.

``GROUP BY a, ROLLUP (b, c)`` is the cross product of its factors: ``(a, b, c), (a, b), (a)``.
Each grouping set is aggregated on its own, the keys it leaves out are NULL, and the sets' rows are
concatenated (UNION ALL, so a set listed twice yields its groups twice, as in DuckDB).
``GROUPING(x, y)`` is a bit mask with the first argument as the most significant bit: a bit is 1
where that key is not grouped in the row's set.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError
from engine.plan.expressions import ColumnRef, Expr, Literal, new_column, user_sql
from engine.plan.nodes import Aggregate, Node, Project, SetOp
from engine.sql.parser import location

Sets = list[tuple[int, ...]]


def _elements(node: exp.Expression) -> list[exp.Expression]:
    """A composite element ``(a, b)`` of ROLLUP/CUBE/GROUPING SETS as its expressions."""
    if isinstance(node, exp.Tuple):
        return list(node.expressions)
    if isinstance(node, exp.Paren) and not isinstance(node.this, exp.Tuple):
        return [node.this]
    return [node]


def _factor(node: exp.Expression) -> list[list[exp.Expression]] | None:
    """The grouping sets one GROUP BY item stands for, or None for a plain expression."""
    if isinstance(node, exp.GroupingSets):
        out = []
        for s in node.expressions:
            if isinstance(s, (exp.Rollup, exp.Cube, exp.GroupingSets)):
                out.extend(_factor(s))
            else:
                out.append(_elements(s))
        return out
    if isinstance(node, exp.Rollup):
        parts = [_elements(e) for e in node.expressions]
        return [sum(parts[:i], []) for i in range(len(parts), -1, -1)]
    if isinstance(node, exp.Cube):
        parts = [_elements(e) for e in node.expressions]
        out = []
        for r in range(len(parts), -1, -1):
            for combo in itertools.combinations(range(len(parts)), r):
                out.append(sum((parts[i] for i in combo), []))
        return out
    return None


def has_grouping_sets(group_exprs: list[exp.Expression]) -> bool:
    return any(isinstance(g, (exp.GroupingSets, exp.Rollup, exp.Cube)) for g in group_exprs)


def expand(group_exprs: list[exp.Expression],
           bind: Callable[[exp.Expression], Expr]) -> tuple[list[Expr], Sets | None]:
    """The distinct bound GROUP BY expressions, and the grouping sets as index tuples into them
    (None when the GROUP BY is one plain set)."""
    factors: list[list[list[exp.Expression]]] = []
    for g in group_exprs:
        f = _factor(g)
        factors.append(f if f is not None else [[g]])
    bound: list[Expr] = []

    def index(node: exp.Expression) -> int:
        e = bind(node)
        for i, x in enumerate(bound):
            if x == e:
                return i
        bound.append(e)
        return len(bound) - 1

    sets: Sets = []
    for combo in itertools.product(*factors):
        idx: list[int] = []
        for part in combo:
            for node in part:
                i = index(node)
                if i not in idx:
                    idx.append(i)
        sets.append(tuple(sorted(idx)))
    if not has_grouping_sets(group_exprs):
        return bound, None
    return bound, sets


def grouping_value(args: tuple[Expr, ...], keys: list[Expr], grouped: tuple[int, ...], node) -> int:
    value = 0
    for a in args:
        hits = [i for i, k in enumerate(keys) if k == a]
        if not hits:
            raise BindError(f'GROUPING() arguments must be GROUP BY expressions, "{user_sql(a)}" is not'
                            f"{location(node)}")
        value = (value << 1) | (0 if hits[0] in grouped else 1)
    return value


def plan_grouping(child: Node, groups: list[tuple[ColumnRef, Expr]], sets: Sets | None,
                  aggs: list[tuple[ColumnRef, object]], groupings: list) -> Node:
    """The aggregation of ``child``: one Aggregate, or the UNION ALL of one per grouping set, whose
    output columns are the group outputs, the aggregate outputs and the GROUPING() values."""
    keys = [e for _, e in groups]
    if sets is None:
        plan: Node = Aggregate(child, tuple(groups), tuple(aggs))
        if groupings:
            plan = Project(plan, tuple((c, c) for c in plan.columns)
                           + tuple((ref, Literal(0, pa.int64())) for ref, _, _ in groupings))
        return plan
    branches = []
    for s in sets:
        g_out = [(new_column(c.name, c.dtype), e) for j, (c, e) in enumerate(groups) if j in s]
        a_out = [(new_column(r.name, r.dtype), call) for r, call in aggs]
        agg = Aggregate(child, tuple(g_out), tuple(a_out))
        by_index = dict(zip([j for j in range(len(groups)) if j in s], (c for c, _ in g_out)))
        exprs = [(new_column(c.name, c.dtype), by_index[j] if j in by_index else Literal(None, c.dtype))
                 for j, (c, _) in enumerate(groups)]
        exprs += [(new_column(r.name, r.dtype), o) for (r, _), (o, _) in zip(aggs, a_out)]
        exprs += [(new_column(ref.name, ref.dtype), Literal(grouping_value(args, keys, s, node), pa.int64()))
                  for ref, args, node in groupings]
        branches.append(Project(agg, tuple(exprs)))
    out = tuple(c for c, _ in groups) + tuple(r for r, _ in aggs) + tuple(ref for ref, _, _ in groupings)
    plan = branches[0]
    for i, b in enumerate(branches[1:], start=2):
        cols = out if i == len(branches) else tuple(new_column(c.name, c.dtype) for c in out)
        plan = SetOp("union", True, plan, b, cols)
    if len(branches) == 1:
        plan = Project(plan, tuple(zip(out, plan.columns)))
    return plan
