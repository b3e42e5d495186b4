"""Rule: evaluate constant subexpressions once at plan time and simplify boolean logic.

Example: ``l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY`` becomes
``l_shipdate <= DATE '1998-09-02'`` (a DATE compared with a midnight TIMESTAMP is compared as
DATE, so the column is not cast row by row), and ``x AND TRUE`` becomes ``x``.
"""
from __future__ import annotations

import datetime as _dt

import pyarrow as pa

from engine.errors import Error
from engine.plan.expressions import (TRUE, Call, Case, Cast, ColumnRef, Expr, InList, Literal,
                                     SubqueryExpr)
from engine.plan.nodes import Node, Scan, transform_up
from engine.optimizer.rewrite import map_expressions

_CMP = {"eq", "neq", "lt", "lte", "gt", "gte"}


def _foldable(e: Expr) -> bool:
    if isinstance(e, (Call, Cast, Case, InList)) and not isinstance(e, SubqueryExpr):
        if isinstance(e, Call):
            from engine.plan import functions as F
            if e.fn not in F.FUNCTIONS:
                return False  # user functions may be non-deterministic or costly
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
        if isinstance(x, Call) and x.fn in _CMP:
            x = _date_vs_midnight(x)
        if _foldable(x):
            try:
                v = evaluate(x, one, None)
            except Error:
                return x  # leave the error to execution, where only selected rows count
            if isinstance(v, pa.Array):
                v = v[0]
            val = v.as_py()
            return Literal(val, x.dtype)
        return x
    return e.transform(fn)


def _date_vs_midnight(x: Call) -> Expr:
    a, b = x.args
    for col, lit, flip in ((a, b, False), (b, a, True)):
        if isinstance(col, Cast) and pa.types.is_date(col.arg.dtype) and \
                pa.types.is_timestamp(col.dtype) and isinstance(lit, Literal) and \
                isinstance(lit.value, _dt.datetime) and lit.value.time() == _dt.time(0):
            d = Literal(lit.value.date(), pa.date32())
            return Call(x.fn, (d, col.arg) if flip else (col.arg, d), x.dtype)
    return x


def fold_constants(plan: Node, ctx=None) -> Node:
    return map_expressions(plan, fold_expr)
