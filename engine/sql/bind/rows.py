"""Row values: ``(a, b) [NOT] IN (subquery | list)`` rewritten into forms the binder knows.
"""
from __future__ import annotations

from sqlglot import exp

from engine.errors import BindError
from engine.plan.expressions import next_id
from engine.sql.parser import location


def _row_in_match(node: exp.In, unknown: bool) -> exp.Exists:
    """EXISTS over the IN subquery's rows that equal the row value (``unknown``: whose comparison
    is TRUE or NULL, i.e. not definitely FALSE, as NOT IN needs)."""
    left = node.this.expressions
    q = node.args["query"]
    sub = q.this if isinstance(q, exp.Subquery) else q
    width = len(left)
    if isinstance(sub, exp.Select) and not sub.is_star and len(sub.expressions) != width:
        raise BindError(f"The IN subquery returns {len(sub.expressions)} columns, the row value "
                        f"{node.this.sql()} has {width}{location(q)}")
    alias = f"__row_in_{next_id()}"
    cols = [exp.to_identifier(f"c{i}") for i in range(width)]
    conds = []
    for i, a in enumerate(left):
        col = exp.column(f"c{i}", table=alias)
        eq = exp.EQ(this=col, expression=a.copy())
        conds.append(exp.or_(eq, exp.Is(this=col.copy(), expression=exp.Null()),
                             exp.Is(this=a.copy(), expression=exp.Null())) if unknown else eq)
    derived = exp.Subquery(this=sub.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias), columns=cols))
    return exp.Exists(this=exp.select("1").from_(derived).where(exp.and_(*conds)))


def _row_in(node: exp.In, negated: bool) -> exp.Expression:
    """A row-value IN. Against a subquery, as SQL defines it: TRUE if some row equals, NULL if
    none does but some comparison is NULL, else FALSE. Against a list of row values, as DuckDB
    does it: TRUE if one equals field by field with NULLs equal, else FALSE."""
    left = node.this.expressions
    q = node.args.get("query")
    if q is None:
        alts = []
        for v in node.expressions:
            items = v.expressions if isinstance(v, exp.Tuple) else [v]
            if len(items) != len(left):
                raise BindError(f"Row value {v.sql()} has {len(items)} fields, {node.this.sql()} has "
                                f"{len(left)}{location(v)}")
            # DuckDB compares a row value with a list of them as structs: a NULL field equals a
            # NULL field, so the answer is never NULL (its subquery form is three-valued, below)
            alts.append(exp.and_(*[exp.NullSafeEQ(this=a.copy(), expression=b.copy())
                                   for a, b in zip(left, items)]))
        test = exp.Paren(this=exp.or_(*alts)) if alts else exp.false()
    else:
        exact = _row_in_match(node, unknown=False)
        maybe = _row_in_match(node, unknown=True)
        test = exp.Case(ifs=[exp.If(this=exact, true=exp.true()),
                             exp.If(this=maybe, true=exp.Null())], default=exp.false())
    return exp.Not(this=exp.Paren(this=test)) if negated else test


def _row_in_conjuncts(node: exp.Expression) -> exp.Expression:
    """In WHERE/ON conjuncts, NULL and FALSE both drop the row: ``(a, b) IN (subquery)`` is then
    EXISTS of an equal row (a semi join) and NOT IN is NOT EXISTS of a not-unequal one (an anti
    join), instead of the three-valued CASE that other positions need."""
    def one(p: exp.Expression) -> exp.Expression:
        neg = isinstance(p, exp.Not)
        inner = p.this if neg else p
        if isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.In) and isinstance(inner.this, exp.Tuple) and inner.args.get("query"):
            e = _row_in_match(inner, unknown=neg)
            return exp.Not(this=e) if neg else e
        return p
    if not any(isinstance(x, exp.In) and isinstance(x.this, exp.Tuple) for x in node.find_all(exp.In)):
        return node
    parts = list(node.flatten()) if isinstance(node, exp.And) else [node]
    return exp.and_(*[one(p) for p in parts]) if len(parts) > 1 else one(parts[0])
