"""What every binding module shares: operator tables, constant folding of literals and intervals,
casts, sort keys, and ``make_call`` (type-check a built-in call and coerce its arguments).
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, ProgrammingError, TypeMismatchError, did_you_mean
from engine.plan import functions as F
from engine.plan import types as T
from engine.plan.expressions import Call, Cast, Expr, Literal, SortKey
from engine.plan.functions.names import user_function_names
from engine.plan.intervals import parse_interval  # noqa: F401 (used by the binder modules)
from engine.sql.parser import location

_CMP = {exp.EQ: "eq", exp.NEQ: "neq", exp.LT: "lt", exp.LTE: "lte", exp.GT: "gt", exp.GTE: "gte",
        exp.NullSafeEQ: "is_not_distinct", exp.NullSafeNEQ: "is_distinct"}
_ARITH = {exp.Add: "add", exp.Sub: "subtract", exp.Mul: "multiply", exp.Div: "divide",
          exp.IntDiv: "intdiv", exp.Mod: "mod", exp.DPipe: "concat_op"}


def _lit(v: Any, t: pa.DataType) -> Literal:
    return Literal(v, t)


def _ident(node) -> str:
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    return node.name if hasattr(node, "name") else str(node)


def _is_all(node: exp.Expression) -> bool:
    return isinstance(node, exp.Var) and node.name.upper() == "ALL"


def _const_int(node: exp.Expression | None, what: str) -> int | None:
    if node is None:
        return None
    if isinstance(node, (exp.Limit, exp.Offset)):
        node = node.expression
    neg = False
    if isinstance(node, exp.Neg):
        neg, node = True, node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            v = int(node.this)
        except ValueError:
            v = None
        if v is not None:
            return -v if neg else v
    if isinstance(node, exp.Null):
        return None
    raise ProgrammingError(f"{what} must be an integer constant{location(node)}, got {node.sql()}")


def cast_to(e: Expr, t: pa.DataType) -> Expr:
    if e.dtype == t:
        return e
    if isinstance(e, Literal) and e.value is None:
        return Literal(None, t)
    return Cast(e, t)




def sort_key(e: Expr, o: exp.Ordered) -> SortKey:
    desc = bool(o.args.get("desc"))
    # the Dawn dialect parses with DuckDB's null ordering (NULLS LAST in both directions), so
    # sqlglot's flag already holds the effective placement, explicit or default; o.sql() would
    # print with the default dialect's ordering and drop an explicit ASC NULLS FIRST
    return SortKey(e, not desc, bool(o.args.get("nulls_first")))


def make_call(name: str, args: list[Expr], node: exp.Expression | None = None,
              written: str | None = None) -> Expr:
    """Type-check a built-in function call, coerce its arguments, and build the Call.
    ``written``: the call as the user wrote it, for messages (default: the node's SQL)."""
    f = F.lookup(name)
    if f is None:
        raise BindError(f'Function "{name}" does not exist{location(node)}.'
                        + did_you_mean(name, user_function_names()))
    if not f.min_args <= len(args) <= f.max_args:
        want = str(f.min_args) if f.min_args == f.max_args else f"{f.min_args} to {f.max_args}"
        raise TypeMismatchError(f'Function "{name}" takes {want} argument(s), got {len(args)}'
                                f"{location(node)}")
    types = [a.dtype for a in args]
    # the call's text, for messages only: printing the node with sqlglot costs more than binding it
    what = _Written(written, node, name)
    try:
        if f.coerce == "common" and args:
            t = types[0]
            for x in types[1:]:
                t = T.common_type(t, x, _Written(written, node, name, quoted=True))
            args = [cast_to(a, t) for a in args]
            types = [t] * len(args)
        rt = f.rtype(types)
    except TypeMismatchError as e:
        typed = [t for t in types if not pa.types.is_null(t)]
        if typed and len(typed) < len(types):
            # an untyped NULL takes its typed sibling's type (DuckDB: NULL - DATE is DATE - DATE)
            return make_call(name, [cast_to(a, typed[0]) if pa.types.is_null(a.dtype) else a
                                    for a in args], node, written)
        msg = str(e)
        what = str(what)
        if not msg.startswith("Cannot"):
            msg = f"{what.split('(')[0] if written else f.name} {msg}"
        raise TypeMismatchError(f'Type error in "{what}"{location(node)}: {msg}') from None
    if rt is None:
        rt = types[0] if types else pa.null()
    return Call(f.name, tuple(args), rt)



class _Written:
    """A call's SQL text, printed only when a message needs it."""
    __slots__ = ("written", "node", "name", "quoted")

    def __init__(self, written, node, name: str, quoted: bool = False) -> None:
        self.written, self.node, self.name, self.quoted = written, node, name, quoted

    def __str__(self) -> str:
        s = self.written or (self.node.sql(dialect="duckdb") if self.node is not None else self.name)
        return f'"{s}"' if self.quoted else s


def _cast_literal(value: str, t: pa.DataType, node, safe: bool) -> Literal | None:
    """Fold CAST('text' AS type) at bind time, so typed literals (DATE '...') cost nothing.
    Text is read by the same rules as at run time (engine.plan.functions.textcast)."""
    from engine.errors import DataError
    from engine.plan.functions.textcast import from_text
    if pa.types.is_string(t):
        return Literal(value, t)
    try:
        out = from_text(pa.scalar(value, pa.string()), t, safe)
    except DataError as e:
        raise DataError(f"{e}{location(node)}") from None
    if out is not None:
        return Literal(out.as_py(), t)
    try:
        if pa.types.is_binary(t):
            return Literal(bytes.fromhex(value), t)
        if pa.types.is_interval(t):
            m, d, n = parse_interval(value, None)
            return Literal(pa.MonthDayNano([m, d, n]), t)
    except ValueError:
        if safe:
            return Literal(None, t)
        raise DataError(f"Cannot cast '{value}' to {T.sql_name(t)}{location(node)}") from None
    return None


def position_of(node: exp.Expression, what: str, n: int) -> int | None:
    """The select-list position an ORDER BY / DISTINCT ON / GROUP BY term names (1..n), as DuckDB
    reads it: an integer literal, in parentheses or not, is a position (out of range is an error);
    other literal constants in ORDER BY and DISTINCT ON are an error (they order nothing); any other
    expression is not a position (None)."""
    while isinstance(node, exp.Paren):
        node = node.this
    neg = isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string
    lit = node.this if neg else node
    if isinstance(lit, exp.Literal) and not lit.is_string and lit.this.isdigit():
        i = -int(lit.this) if neg else int(lit.this)
        if not 1 <= i <= n:
            raise BindError(f"{what} term out of range: {i} is not between 1 and {n}{location(node)}")
        return i
    if what != "GROUP BY" and isinstance(node, (exp.Literal, exp.Boolean, exp.Null)):
        raise BindError(f'{what} non-integer literal "{node.sql(dialect="duckdb")}" has no effect'
                        f"{location(node)}")
    return None
