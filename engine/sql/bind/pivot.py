"""PIVOT and UNPIVOT, in DuckDB's statement form and the SQL-standard FROM-clause form, rewritten
into the SELECTs they stand for before binding.

``PIVOT t ON k [IN (...)] USING agg [AS name], ... [GROUP BY g]`` is
``SELECT g, agg FILTER (WHERE k = v1) AS "v1", ... FROM t GROUP BY g``: one column per value of k
(its distinct non-NULL values in order, read from the data when no IN list is given, as DuckDB
does), named ``value`` or ``value_aggregate`` when the aggregate is named or there are several;
with several ON columns, one per combination of their values. Without GROUP BY the other columns
of t that no aggregate reads are the groups; without USING the aggregate is count(*).

``UNPIVOT t ON a, b INTO NAME n VALUE v`` is the UNION ALL over a and b of
``SELECT <other columns>, 'a' AS n, a AS v FROM t WHERE a IS NOT NULL``.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

from sqlglot import exp

from engine.errors import BindError, NotSupportedError
from engine.sql.bind.names import duckdb_name
from engine.sql.parser import location

# runs a query AST and returns its rows (the binder's window onto execution, for distinct values)
Runner = Callable[[exp.Expression], list[tuple]]


def _col(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _source_query(source: exp.Expression) -> exp.Expression:
    """The pivoted input as a FROM item."""
    if isinstance(source, (exp.Select, exp.Union, exp.Intersect, exp.Except)):
        return exp.Subquery(this=source.copy(), alias=exp.TableAlias(this=exp.to_identifier("__pivot_source")))
    return source.copy()


def _column_name(e: exp.Expression, node: exp.Expression) -> str:
    if isinstance(e, exp.Column) and not isinstance(e.this, exp.Star):
        return e.name
    raise NotSupportedError(f"PIVOT/UNPIVOT on an expression ({e.sql(dialect='duckdb')}) is not supported; "
                            f"name a column{location(node)}")


def rewrite_pivot(node: exp.Pivot, source: exp.Expression, columns: list[str], run: Runner | None
                  ) -> exp.Expression:
    """The SELECT (or UNION ALL of SELECTs) a PIVOT / UNPIVOT over ``source`` stands for;
    ``columns`` are the source's column names."""
    if node.args.get("unpivot"):
        return _unpivot(node, source, columns)
    return _pivot(node, source, columns, run)


def _pivot(node: exp.Pivot, source: exp.Expression, columns: list[str], run: Runner | None):
    statement_form = node.args.get("this") is not None
    if statement_form:
        ons, aggs = list(node.expressions), list(node.args.get("using") or [])
    else:  # t PIVOT (agg [AS n], ... FOR k IN (...) [GROUP BY g])
        ons, aggs = list(node.args.get("fields") or []), list(node.expressions)
    if not aggs:
        aggs = [exp.Count(this=exp.Star())]
    keys: list[tuple[str, list[tuple[exp.Expression, str]] | None]] = []
    for on in ons:
        if isinstance(on, exp.In):
            values = []
            for v in on.expressions:
                text = v.this if isinstance(v, exp.Literal) else v.sql(dialect="duckdb")
                values.append((v, text))
            keys.append((_column_name(on.this, node), values))
        else:
            keys.append((_column_name(on, node), None))
    for name, _ in keys:
        if name.lower() not in (c.lower() for c in columns):
            raise BindError(f'PIVOT column "{name}" does not exist{location(node)}')
    resolved = []
    for name, values in keys:
        if values is None:
            if run is None:
                raise NotSupportedError(f"PIVOT without an IN list needs its values read from the data"
                                        f"{location(node)}")
            q = exp.select(_col(name), exp.cast(_col(name), "VARCHAR")).distinct() \
                .from_(_source_query(source)).where(exp.Not(this=exp.Is(this=_col(name), expression=exp.Null()))) \
                .order_by(_col(name))
            rows = run(q)
            values = [(exp.cast(_col(name), "VARCHAR").eq(exp.Literal.string(text)), text)
                      for _, text in rows]
            resolved.append((name, values, True))
        else:
            resolved.append((name, values, False))
    group = node.args.get("group")
    if group is not None:
        groups = list(group.expressions)
    else:
        used = {c.name.lower() for a in aggs for c in a.find_all(exp.Column)}
        pivoted = {name.lower() for name, _ in keys}
        groups = [_col(c) for c in columns if c.lower() not in pivoted and c.lower() not in used]
    named = len(aggs) > 1 or any(isinstance(a, exp.Alias) for a in aggs)
    select = [g.copy() for g in groups]
    for combo in itertools.product(*[values for _, values, _ in resolved]):
        conds, parts = [], []
        for (name, _, computed), (v, text) in zip(resolved, combo):
            conds.append(v.copy() if computed else _col(name).eq(v.copy()))
            parts.append(text)
        cond = exp.and_(*conds)
        for a in aggs:
            body = a.this if isinstance(a, exp.Alias) else a
            label = "_".join(parts)
            if named:
                label += "_" + (a.alias if isinstance(a, exp.Alias) else duckdb_name(body))
            select.append(exp.alias_(exp.Filter(this=body.copy(), expression=exp.Where(this=cond.copy())),
                                     exp.to_identifier(label, quoted=True)))
    if len(select) == len(groups):
        raise BindError(f"PIVOT found no values to make columns of{location(node)}")
    q = exp.Select(expressions=select).from_(_source_query(source))
    if groups:
        q = q.group_by(*[g.copy() for g in groups])
    return q


def _unpivot(node: exp.Pivot, source: exp.Expression, columns: list[str]):
    if node.args.get("this") is not None:  # UNPIVOT t ON a, b [INTO NAME n VALUE v]
        ons = list(node.expressions)
        into = node.args.get("into")
        name_col, value_col = "name", "value"
        if into is not None:
            name_col = into.this.name
            if len(into.expressions) != 1:
                raise NotSupportedError(f"UNPIVOT into several value columns is not supported{location(node)}")
            value_col = into.expressions[0].name
    else:  # t UNPIVOT (v FOR n IN (a, b))
        fields = node.args.get("fields") or []
        if len(fields) != 1 or len(node.expressions) != 1:
            raise NotSupportedError(f"UNPIVOT with several value columns is not supported{location(node)}")
        ons = list(fields[0].expressions)
        name_col, value_col = fields[0].this.name, node.expressions[0].name
    names = [_column_name(o, node) for o in ons]
    lower = {c.lower() for c in columns}
    for n in names:
        if n.lower() not in lower:
            raise BindError(f'UNPIVOT column "{n}" does not exist{location(node)}')
    others = [c for c in columns if c.lower() not in {n.lower() for n in names}]
    parts = []
    for n in names:
        sel = exp.Select(expressions=[_col(c) for c in others]
                         + [exp.alias_(exp.Literal.string(n), exp.to_identifier(name_col, quoted=True)),
                            exp.alias_(_col(n), exp.to_identifier(value_col, quoted=True))])
        parts.append(sel.from_(_source_query(source))
                     .where(exp.Not(this=exp.Is(this=_col(n), expression=exp.Null()))))
    q = parts[0]
    for p in parts[1:]:
        q = exp.Union(this=q, expression=p, distinct=False)
    return q
