"""Rule: evaluate constant subexpressions once at plan time and simplify boolean logic.

A filter that folds to FALSE becomes LIMIT 0, so what is below it never runs, and so does one
with a conjunct that folds to FALSE or NULL; one that folds to TRUE disappears. A comparison with
a NULL constant is NULL (as DuckDB folds it, whatever the other side); a CASE drops the branches
whose condition is a constant FALSE or NULL and ends at the first constant TRUE.

Example: ``l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY`` becomes
``l_shipdate <= DATE '1998-09-02'`` (a DATE compared with a midnight TIMESTAMP is compared as
DATE, so the column is not cast row by row), ``x AND TRUE`` becomes ``x``, and conjuncts common
to every branch of an OR are factored out (``(k = j AND a) OR (k = j AND b)`` becomes
``k = j AND (a OR b)``, which exposes the join key).
"""
from __future__ import annotations

import datetime as _dt

import pyarrow as pa

from engine.errors import Error
from engine.plan.expressions import (Call, Case, Cast, Expr, InList, Literal, SubqueryExpr,
                                     and_all, conjuncts)
from engine.plan.nodes import Filter, Limit, Node, transform_up
from engine.optimizer.rewrite import map_expressions
from engine.plan.functions.names import VOLATILE

_CMP = {"eq", "neq", "lt", "lte", "gt", "gte"}


def _foldable(e: Expr) -> bool:
    if isinstance(e, (Call, Cast, Case, InList)) and not isinstance(e, SubqueryExpr):
        if isinstance(e, Call):
            from engine.plan import functions as F
            if e.fn not in F.FUNCTIONS or e.fn in VOLATILE:
                return False  # user functions may be non-deterministic or costly; random()
        if pa.types.is_nested(e.dtype):
            return False  # list and struct values stay expressions (a Literal holds scalars)
        return all(isinstance(c, Literal) for c in e.children())
    return False


def fold_expr(e: Expr) -> Expr:
    from engine.physical.evaluate import evaluate
    one = pa.record_batch({"__n": pa.nulls(1)}).select([])

    def fn(x: Expr) -> Expr:
        if isinstance(x, Call) and x.fn in ("and", "or"):
            a, b = x.args
            for p, q in ((a, b), (b, a)):
                if isinstance(p, Literal) and p.value is not None:
                    if x.fn == "and":
                        return q if p.value else Literal(False, pa.bool_())
                    return Literal(True, pa.bool_()) if p.value else q
        if isinstance(x, Call) and x.fn == "or":
            x = _factor_or(x)
        if isinstance(x, Call) and x.fn in _CMP:
            if any(isinstance(a, Literal) and a.value is None for a in x.args):
                return Literal(None, x.dtype)
            x = _date_vs_midnight(x)
        if isinstance(x, Case):
            x = _fold_case(x)
        if _foldable(x):
            try:
                v = evaluate(x, one, None)
            except Error:
                return x  # leave the error to execution, where only selected rows count
            if isinstance(v, pa.Array):
                v = v[0]
            try:
                val = v.as_py()
            except (OverflowError, ValueError):
                return x  # a date past Python's year 9999: a Literal holds Python values
            return Literal(val, x.dtype)
        return x
    return e.transform(fn)


def _factor_or(x: Call) -> Expr:
    """``(a AND b) OR (a AND c)`` -> ``a AND (b OR c)``: exposes join keys hidden in ORs."""
    branches = _disjuncts(x)
    sets = [conjuncts(b) for b in branches]
    common = [c for c in sets[0] if all(c in s for s in sets[1:])]
    if not common:
        return x
    rest = []
    for s in sets:
        r = [c for c in s if c not in common]
        if not r:  # one branch is just the common part: the OR is implied by it
            return and_all(common)
        rest.append(and_all(r))
    ored = rest[0]
    for r in rest[1:]:
        ored = Call("or", (ored, r), pa.bool_())
    return and_all(common + [ored])


def _disjuncts(e: Expr) -> list[Expr]:
    if isinstance(e, Call) and e.fn == "or":
        return _disjuncts(e.args[0]) + _disjuncts(e.args[1])
    return [e]


def _date_vs_midnight(x: Call) -> Expr:
    a, b = x.args
    for col, lit, flip in ((a, b, False), (b, a, True)):
        if isinstance(col, Cast) and pa.types.is_date(col.arg.dtype) and \
                pa.types.is_timestamp(col.dtype) and isinstance(lit, Literal) and \
                isinstance(lit.value, _dt.datetime) and lit.value.time() == _dt.time(0):
            d = Literal(lit.value.date(), pa.date32())
            return Call(x.fn, (d, col.arg) if flip else (col.arg, d), x.dtype)
    return x


def _fold_case(x: Case) -> Expr:
    """Branches whose condition is a constant FALSE or NULL never run; a constant TRUE condition
    makes its value the result and ends the CASE there."""
    whens = [w for w in x.whens if not (isinstance(w[0], Literal) and not w[0].value)]
    default = x.default
    for i, (cond, value) in enumerate(whens):
        if isinstance(cond, Literal) and cond.value is True:
            whens, default = whens[:i], value
            break
    if not whens:
        return default if default.dtype == x.dtype else x
    if len(whens) == len(x.whens) and default is x.default:
        return x
    return Case(tuple(whens), default, x.dtype)


def _never(node: Node) -> Node:
    """A filter that is never TRUE (``WHERE FALSE``, a conjunct that folded to FALSE or NULL)
    passes no rows: its input is not computed at all (LIMIT 0 pulls nothing), as DuckDB prunes
    such a plan, so nothing below it can fail or cost. One that is always TRUE is dropped."""
    if isinstance(node, Filter):
        if any(isinstance(c, Literal) and not c.value for c in conjuncts(node.predicate)):
            return Limit(node.child, 0, 0)
        if isinstance(node.predicate, Literal) and node.predicate.value is True:
            return node.child
    return node


def fold_constants(plan: Node, ctx=None) -> Node:
    return transform_up(map_expressions(plan, fold_expr), _never)
