"""Binding expressions: sqlglot expression nodes to typed ``engine.plan.expressions`` trees.

``ExprBinder.bind`` dispatches on the node's class (``_Column``, ``_Case``, ...); aggregates, window
functions and function calls are bound by the mixins of their own modules.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from engine.errors import (
    DataError,
    BindError,
    NotSupportedError,
    ProgrammingError,
    TypeMismatchError,
)
from engine.plan import types as T
from engine.plan.expressions import (
    AggCall,
    Call,
    Case,
    Cast,
    ColumnRef,
    Expr,
    InList,
    Literal,
    SubqueryExpr,
    new_column,
)
from engine.plan.nodes import Aggregate, Node, Project
from engine.sql.parser import location

if TYPE_CHECKING:
    from engine.sql.bind.binder import Binder
from engine.sql.bind.aggregates import _AGG_CLASS, AggregateBinding
from engine.sql.bind.functions import FunctionBinding
from engine.sql.bind.rows import _row_in
from engine.sql.bind.scope import Scope
from engine.sql.bind.unnest import unnest_column
from engine.sql.bind.util import (
    _ARITH,
    _CMP,
    _cast_literal,
    cast_to,
    make_call,
    parse_interval,
)
from engine.sql.bind.windows import WindowBinding


# operators where an integer literal takes the other operand's integer type when it fits, as
# DuckDB's INTEGER_LITERAL does: TINYINT + 1 is TINYINT, TINYINT + 1000 INTEGER
_FITS_LITERAL = {"add", "subtract", "multiply", "intdiv", "mod", "eq", "neq", "lt", "lte", "gt", "gte",
                 "is_distinct", "is_not_distinct"}


def _number_node(node: exp.Expression) -> exp.Literal | None:
    """The numeric literal ``node`` is, through parentheses and minus signs, if it is one."""
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    return node if isinstance(node, exp.Literal) and not node.is_string else None


def _integer_literal(v: int, text: str, node: exp.Expression) -> Literal:
    t = T.literal_type(v)
    if t is None:
        raise NotSupportedError(f"The integer literal {text} is beyond HUGEINT's range (Dawn's "
                                f"HUGEINT holds 38 digits){location(node)}")
    return Literal(v, t)


def _fit_literal(e: Expr, node: exp.Expression, other: Expr) -> Expr:
    """An integer literal as the other operand's integer type where its value fits."""
    if not (isinstance(e, Literal) and isinstance(e.value, int) and not isinstance(e.value, bool)
            and _number_node(node) is not None and T.is_integer(e.dtype)):
        return e
    if isinstance(other, Literal) or not T.is_integer(other.dtype) or other.dtype == e.dtype:
        return e
    return Literal(e.value, other.dtype) if T.fits(e.value, other.dtype) else e


def _index_was_shifted(node: exp.Bracket) -> bool:
    """Did sqlglot subtract DuckDB's index offset from this subscript? It does when the base's
    type is unknown or an array and the index is an integer expression (apply_index_offset)."""
    from sqlglot.optimizer.annotate_types import annotate_types
    base_t = node.this.type
    if base_t is not None and base_t.this not in (exp.DataType.Type.UNKNOWN,
                                                  exp.DataType.Type.ARRAY):
        return False
    idx = annotate_types(node.expressions[0].copy(), dialect="duckdb")
    return idx.type is not None and idx.type.this in exp.DataType.INTEGER_TYPES


def _decimal_params(to: exp.DataType) -> tuple[int, int] | None:
    """(precision, scale) of a DECIMAL(p, s) / NUMERIC target type (DuckDB's default 18, 3)."""
    if not isinstance(to, exp.DataType) or to.this not in (exp.DataType.Type.DECIMAL,):
        return None
    params = [int(p.this.this) for p in to.expressions if isinstance(p.this, exp.Literal)]
    if not params:
        return 18, 3
    precision = params[0]
    scale = params[1] if len(params) > 1 else 0
    if not 1 <= precision <= 38 or not 0 <= scale <= precision:
        raise BindError(f"DECIMAL({precision}, {scale}): the width must be 1 to 38 and the scale 0 "
                        f"to the width")
    return precision, scale


class ExprBinder(AggregateBinding, WindowBinding, FunctionBinding):
    """Binds one expression tree against a scope (and, in a SELECT, its aggregates and windows)."""

    def __init__(self, binder: Binder, scope: Scope, agg, win, post, aliases):
        self.b = binder
        self.scope = scope
        self.agg = agg
        self.win = win
        self.post = post
        self.aliases = aliases
        self.in_agg = False
        self.pending_filter: Expr | None = None

    def bind(self, node: exp.Expression) -> Expr:
        m = getattr(self, "_" + type(node).__name__, None)
        if m is not None:
            return m(node)
        if type(node) in _CMP and isinstance(node.expression, (exp.Any, exp.All)):
            return self._quantified(_CMP[type(node)], node)
        if type(node) in _CMP:
            return self._binary(_CMP[type(node)], node)
        if type(node) in _ARITH:
            return self._binary(_ARITH[type(node)], node)
        if type(node) in _AGG_CLASS:
            return self._aggregate(_AGG_CLASS[type(node)], node)
        if isinstance(node, exp.Func):
            return self._function(node)
        raise NotSupportedError(f'Unsupported expression "{node.sql()}" ({type(node).__name__})'
                                f"{location(node)}")

    # -- leaves
    def _Column(self, node: exp.Column) -> Expr:
        if isinstance(node.this, exp.Star):
            raise BindError(f"* is not allowed here{location(node)}")
        qual = node.table or None
        if qual is None and self.aliases and node.name.lower() in self.aliases \
                and not self.scope.lookup(node.name, None):
            return self.aliases[node.name.lower()]
        if qual is not None and not node.args.get("catalog"):
            field = self._struct_field_column(node)
            if field is not None:
                return field
        if node.args.get("db") is not None or node.args.get("catalog") is not None:
            raise NotSupportedError(f'"{node.sql(dialect="duckdb")}": a schema-qualified column is not '
                                    f"supported{location(node)}")
        return self.scope.resolve(node.name, qual, node)

    def _Identifier(self, node) -> Expr:
        return self.scope.resolve(node.name, None, node)

    def _Literal(self, node: exp.Literal) -> Expr:
        if node.is_string:
            return Literal(node.this, pa.string())
        text = node.this
        try:
            v = int(text)
        except ValueError:
            return Literal(float(text), pa.float64())
        return _integer_literal(v, text, node)

    def _Boolean(self, node) -> Expr:
        return Literal(bool(node.this), pa.bool_())

    def _Null(self, node) -> Expr:
        return Literal(None, pa.null())

    def _Paren(self, node) -> Expr:
        return self.bind(node.this)

    def _Neg(self, node) -> Expr:
        inner = self.bind(node.this)
        if _number_node(node.this) is not None and isinstance(inner, Literal):
            v = -inner.value
            if isinstance(v, float):
                return Literal(v, inner.dtype)
            # DuckDB's parser negates the literal's text: -2147483647 is INTEGER, -2147483648
            # BIGINT (2147483648 is), -9223372036854775808 BIGINT although 9223372036854775808
            # is HUGEINT
            t = pa.int32() if inner.dtype == pa.int32() else \
                pa.int64() if T.fits(v, pa.int64()) else T.HUGEINT
            return Literal(v, t)
        return make_call("negate", [inner], node)

    def _Not(self, node) -> Expr:
        inner = node.this
        if isinstance(inner, exp.In):
            return self._In(inner, negated=True)
        if isinstance(inner, exp.Exists):
            return self._Exists(inner, negated=True)
        if isinstance(inner, exp.Like) and not inner.args.get("negate"):
            return self._like(inner, "not_like")
        if isinstance(inner, exp.ILike) and not inner.args.get("negate"):
            return self._like(inner, "not_ilike")
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            return make_call("is_not_null", [self.bind(inner.this)], node)
        e = self.bind(inner)
        return make_call("not", [e], node)

    def _And(self, node) -> Expr:
        return self._binary("and", node)

    def _Or(self, node) -> Expr:
        return self._binary("or", node)

    def _binary(self, op: str, node) -> Expr:
        a, b = self.bind(node.this), self.bind(node.expression)
        if op in _FITS_LITERAL:
            a, b = _fit_literal(a, node.this, b), _fit_literal(b, node.expression, a)
        if op in ("and", "or"):
            a = cast_to(a, pa.bool_()) if pa.types.is_null(a.dtype) else a
            b = cast_to(b, pa.bool_()) if pa.types.is_null(b.dtype) else b
        if op == "concat_op":
            if pa.types.is_null(a.dtype) or pa.types.is_null(b.dtype):
                return Literal(None, pa.string())
        return make_call(op, [a, b], node)

    def _Is(self, node) -> Expr:
        a = self.bind(node.this)
        rhs = node.expression
        if isinstance(rhs, exp.Null):
            return make_call("is_null", [a], node)
        if isinstance(rhs, exp.Boolean):
            return make_call("is_true" if rhs.this else "is_false", [cast_to(a, pa.bool_())], node)
        return make_call("is_not_distinct", [a, self.bind(rhs)], node)

    def _Like(self, node) -> Expr:
        return self._like(node, "not_like" if node.args.get("negate") else "like")

    def _ILike(self, node) -> Expr:
        return self._like(node, "not_ilike" if node.args.get("negate") else "ilike")

    def _like(self, node, op, escape: exp.Expression | None = None) -> Expr:
        args = [self.bind(node.this), self.bind(node.expression)]
        if escape is not None:
            args.append(self.bind(escape))
        return make_call(op, args, node)

    def _Escape(self, node) -> Expr:
        """``x [NOT] [I]LIKE pattern ESCAPE c``"""
        like = node.this
        if isinstance(like, exp.Not):
            like, flip = like.this, True
        else:
            flip = False
        if not isinstance(like, (exp.Like, exp.ILike)):
            raise NotSupportedError(f'Unsupported expression "{node.sql()}"{location(node)}')
        neg = bool(like.args.get("negate")) != flip
        op = ("not_" if neg else "") + ("ilike" if isinstance(like, exp.ILike) else "like")
        return self._like(like, op, node.expression)

    def _Between(self, node) -> Expr:
        x = self.bind(node.this)
        lo, hi = self.bind(node.args["low"]), self.bind(node.args["high"])
        return make_call("and", [make_call("gte", [x, lo], node), make_call("lte", [x, hi], node)], node)

    def _In(self, node, negated: bool = False) -> Expr:
        if isinstance(node.this, exp.Tuple):
            return self.bind(_row_in(node, negated))
        x = self.bind(node.this)
        q = node.args.get("query")
        if q is not None:
            plan, outer = self._subquery(q.this if isinstance(q, exp.Subquery) else q)
            if len(plan.columns) != 1:
                raise BindError(f"IN subquery must return one column, got {len(plan.columns)}{location(q)}")
            t = T.common_type(x.dtype, plan.columns[0].dtype, f'"{node.sql()}"')
            if plan.columns[0].dtype != t:
                c = plan.columns[0]
                plan = Project(plan, ((new_column(c.name, t), cast_to(c, t)),))
            return SubqueryExpr("in", plan, pa.bool_(), cast_to(x, t), negated, tuple(outer))
        if node.args.get("unnest") is not None:
            raise NotSupportedError(f"IN UNNEST is not supported{location(node)}")
        vals = [self.bind(v) for v in node.expressions]
        t = x.dtype
        what = None
        for v in vals:
            if t != v.dtype:  # printing the node costs more than binding it: only when needed
                what = what or f'"{node.sql()}"'
                t = T.common_type(t, v.dtype, what)
        return InList(cast_to(x, t), tuple(cast_to(v, t) for v in vals), negated)

    def _quantified(self, op: str, node) -> Expr:
        """``x op ANY|ALL (subquery)``: = ANY is IN and <> ALL is NOT IN; the others compare x with
        the subquery's min or max, and its row counts give SQL's NULL and empty-set answers."""
        q = node.expression
        is_all = isinstance(q, exp.All)
        sub = q.this.this if isinstance(q.this, exp.Subquery) else q.this
        if (op == "eq" and not is_all) or (op == "neq" and is_all):
            return self._In(exp.In(this=node.this, query=exp.Subquery(this=sub)), negated=is_all)
        x = self.bind(node.this)
        plan, outer = self._subquery(sub)
        if len(plan.columns) != 1:
            raise BindError(f"A subquery after ANY/ALL must return one column{location(q)}")
        t = T.common_type(x.dtype, plan.columns[0].dtype, f'"{node.sql()}"')
        y = cast_to(plan.columns[0], t)

        def agg(fn: str, dtype: pa.DataType) -> Expr:
            c = new_column(fn, dtype)
            call = AggCall(fn, () if fn == "count_star" else (y,), dtype)
            return SubqueryExpr("scalar", Aggregate(plan, (), ((c, call),)), dtype, None, False, tuple(outer))

        x = cast_to(x, t)
        n, nvalid = agg("count_star", pa.int64()), agg("count", pa.int64())
        lo, hi = agg("min", t), agg("max", t)
        if op == "neq" or op == "eq":
            differs = make_call("or", [make_call("neq", [x, lo]), make_call("neq", [x, hi])])
            decided = differs
        elif is_all:  # some y makes "x op y" false
            decided = make_call({"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}[op],
                                [x, hi if op in ("gt", "gte") else lo])
        else:  # some y makes "x op y" true
            decided = make_call(op, [x, lo if op in ("gt", "gte") else hi])
        unknown = make_call("or", [make_call("is_null", [x]), make_call("lt", [nvalid, n])])
        empty = make_call("eq", [n, Literal(0, pa.int64())])
        yes, no, null = Literal(True, pa.bool_()), Literal(False, pa.bool_()), Literal(None, pa.bool_())
        return Case(((empty, yes if is_all else no), (decided, no if is_all else yes), (unknown, null)),
                    yes if is_all else no, pa.bool_())

    def _Exists(self, node, negated: bool = False) -> Expr:
        q = node.this
        plan, outer = self._subquery(q.this if isinstance(q, exp.Subquery) else q)
        return SubqueryExpr("exists", plan, pa.bool_(), None, negated, tuple(outer))

    def _Subquery(self, node) -> Expr:
        plan, outer = self._subquery(node.this)
        if len(plan.columns) != 1:
            raise BindError(f"A scalar subquery must return one column, got {len(plan.columns)}"
                            f"{location(node)}")
        return SubqueryExpr("scalar", plan, plan.columns[0].dtype, None, False, tuple(outer))

    def _Select(self, node) -> Expr:
        return self._Subquery(exp.Subquery(this=node))

    def _subquery(self, q: exp.Expression) -> tuple[Node, list[ColumnRef]]:
        inner = Scope([], self.scope)
        plan = self.b.bind_query_in(q, inner)
        outer = [r for r in inner.outer_refs]
        return plan, outer

    def _Explode(self, node) -> Expr:
        """unnest(list) in a select list: the element column of the SELECT's Unnest node."""
        lists = getattr(self.b, "_unnest_lists", None)
        if lists is None or self.in_agg:
            raise BindError(f"unnest() is only allowed in a select list, outside aggregates{location(node)}")
        if node.expressions:
            raise NotSupportedError(f"unnest() with options is not supported{location(node)}")
        arg = self._post(self.bind(node.this), node.this)
        return unnest_column(lists, arg, node)

    def _Grouping(self, node) -> Expr:
        """GROUPING(key, ...): which of the keys the row's grouping set leaves out (grouping.py)."""
        if self.agg is None or self.in_agg:
            raise BindError(f"GROUPING() is only allowed in a SELECT with GROUP BY, outside aggregates"
                            f"{location(node)}")
        args = tuple(self.bind(a) for a in node.expressions)
        if not args:
            raise BindError(f"GROUPING() needs at least one GROUP BY expression{location(node)}")
        return self.agg.add_grouping(args, node)

    _GroupingId = _Grouping

    def _Case(self, node) -> Expr:
        operand = node.args.get("this")
        op = self.bind(operand) if operand is not None else None
        whens = []
        for w in node.args.get("ifs") or []:
            cond = self.bind(w.this)
            if op is not None:
                cond = make_call("eq", [op, cond], w)
            elif not (pa.types.is_boolean(cond.dtype) or pa.types.is_null(cond.dtype)):
                raise TypeMismatchError(f'CASE WHEN condition "{w.this.sql()}" must be BOOLEAN'
                                        f"{location(w)}")
            whens.append((cast_to(cond, pa.bool_()), self.bind(w.args["true"])))
        default = self.bind(node.args["default"]) if node.args.get("default") is not None else Literal(None, pa.null())
        t = default.dtype
        for _, v in whens:
            t = T.common_type(t, v.dtype, "CASE")
        if pa.types.is_null(t):  # every branch NULL: an untyped NULL, as in DuckDB
            return Literal(None, pa.null())
        return Case(tuple((c, cast_to(v, t)) for c, v in whens), cast_to(default, t), t)

    def _If(self, node) -> Expr:
        cond = self.bind(node.this)
        a = self.bind(node.args["true"])
        bnode = node.args.get("false")
        b = self.bind(bnode) if bnode is not None else Literal(None, pa.null())
        t = T.common_type(a.dtype, b.dtype, "IF")
        if pa.types.is_null(t):
            return Literal(None, pa.null())
        return Case(((cast_to(cond, pa.bool_()), cast_to(a, t)),), cast_to(b, t), t)

    def _Cast(self, node, safe: bool = False) -> Expr:
        to = node.args["to"]
        t = self._type(to)
        dec = _decimal_params(to)
        if dec is not None:
            # DECIMAL is computed as DOUBLE, but a cast to DECIMAL(p, s) still rounds to s digits
            # and refuses what does not fit in p, as DuckDB does
            inner = self.bind(node.this)
            if T.is_string(inner.dtype):  # text rounds by its decimal digits ('1.005' is 1.01)
                return make_call("to_decimal_text", [inner, Literal(dec[0], pa.int32()),
                                                     Literal(dec[1], pa.int32()), Literal(safe, pa.bool_())], node)
            plain = exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE"))
            value = self._Cast(plain, safe)
            return make_call("to_decimal", [value, Literal(dec[0], pa.int32()), Literal(dec[1], pa.int32()),
                                            Literal(safe, pa.bool_())], node)
        inner = self.bind(node.this)
        if isinstance(inner, Literal) and inner.value is not None and pa.types.is_string(inner.dtype):
            try:
                folded = _cast_literal(inner.value, t, node, safe)
            except DataError:
                # as in DuckDB, a cast that cannot succeed fails where it is computed, not here:
                # in a CASE branch no row takes, or over no rows, it never fails
                folded = None
            if folded is not None:
                return folded
        if pa.types.is_null(inner.dtype):
            return Literal(None, t)
        return Cast(inner, t, safe)

    def _TryCast(self, node) -> Expr:
        return self._Cast(node, safe=True)

    def _type(self, to: exp.DataType) -> pa.DataType:
        name = to.this.name if hasattr(to.this, "name") else str(to.this)
        text = to.sql(dialect="duckdb").upper()
        base = re.sub(r"\(.*\)", "", text).strip()
        if base in T.SQL_NAMES:
            return T.SQL_NAMES[base]
        return T.parse_sql_type(name)

    def _Interval(self, node) -> Expr:
        unit = node.args.get("unit")
        val = node.this
        u = unit.name if unit is not None else None
        if isinstance(val, exp.Literal) and val.is_string:
            text = val.this
            if node.args.get("fraction_in_string") and u:
                text, u = f"{text} {u}", None  # INTERVAL '1.5 days': fractions carry down
        else:
            v = self.bind(val)  # INTERVAL (x) DAY
            if not (isinstance(v, Literal) and isinstance(v.value, (int, float)) and not isinstance(v.value, bool)):
                if u is None:
                    raise BindError(f"INTERVAL of an expression needs a unit{location(node)}")
                return make_call("interval_of", [v, Literal(u.lower(), pa.string())], node)
            text = str(v.value)
        try:
            m, d, n = parse_interval(str(text), u)
        except (ValueError, ProgrammingError):
            raise ProgrammingError(f"Invalid interval '{text}'{location(node)}") from None
        return Literal(pa.MonthDayNano([m, d, n]), T.INTERVAL)

    def _post(self, e: Expr, node) -> Expr:
        return self.post(e, node) if self.post is not None else e

    # -- nested values: list and struct literals, x[i], s.a and s['a']
    def _struct_field_column(self, node: exp.Column) -> Expr | None:
        """``s.a`` where ``s`` is a struct column and no table is called ``s``: field access.
        ``t.s.a`` reads field ``a`` of column ``s`` of table ``t``."""
        qual, db = node.table, node.args.get("db")
        db_name = db.name if db is not None else None
        if db_name is None and any(e.qualifier == qual.lower() for e in self.scope._all()):
            return None  # a table called s: s.a is its column, as in DuckDB
        try:
            ref = self.scope.resolve(qual, db_name, node)
        except BindError:
            return None
        if not pa.types.is_struct(ref.dtype):
            return None
        return self._field(ref, node.name, node)

    def _field(self, s: Expr, name: str, node) -> Expr:
        from engine.plan.functions.structs import field_type
        if not pa.types.is_struct(s.dtype):
            raise TypeMismatchError(f'Cannot read field "{name}" of a {T.sql_name(s.dtype)} value'
                                    f"{location(node)}")
        try:
            _, t = field_type(s.dtype, name)
        except BindError as e:
            raise BindError(f"{e}{location(node)}") from None
        return Call("struct_extract", (s, Literal(name, pa.string())), t)

    def _Dot(self, node: exp.Dot) -> Expr:
        return self._field(self.bind(node.this), node.expression.name, node)

    def _StructExtract(self, node) -> Expr:
        key = node.expression
        if not (isinstance(key, exp.Literal) and key.is_string):
            raise NotSupportedError(f"struct_extract's field name must be a string constant"
                                    f"{location(node)}")
        return self._field(self.bind(node.this), key.this, node)

    def _Struct(self, node: exp.Struct) -> Expr:
        names, values = [], []
        for e in node.expressions:
            if not isinstance(e, exp.PropertyEQ):
                raise NotSupportedError(f"A struct field needs a name (name := value or "
                                        f"{{'name': value}}){location(e)}")
            key = e.this
            names.append(key.name if isinstance(key, (exp.Identifier, exp.Column)) else
                         key.this if isinstance(key, exp.Literal) else key.sql())
            values.append(self.bind(e.expression))
        if len({n.lower() for n in names}) != len(names):
            raise BindError(f"Duplicate struct entry name{location(node)}")
        t = pa.struct([pa.field(n, v.dtype) for n, v in zip(names, values)])
        return Call("struct_pack", tuple(values), t)

    def _Bracket(self, node: exp.Bracket) -> Expr:
        if len(node.expressions) != 1 or any(node.args.get(k) for k in
                                             ("offset", "safe", "json_access")):
            raise NotSupportedError(f'Unsupported subscript "{node.sql(dialect="duckdb")}"'
                                    f"{location(node)}")
        idx_node = node.expressions[0]
        if isinstance(idx_node, exp.Slice):
            raise NotSupportedError(f'List slices ("{node.sql(dialect="duckdb")}") are not '
                                    f"supported{location(node)}")
        base = self.bind(node.this)
        if pa.types.is_struct(base.dtype):
            if not (isinstance(idx_node, exp.Literal) and idx_node.is_string):
                raise NotSupportedError(f"A struct field name must be a string constant"
                                        f"{location(node)}")
            return self._field(base, idx_node.this, node)
        idx = self.bind(idx_node)
        if _index_was_shifted(node):
            # sqlglot made DuckDB's 1-based integer index 0-based: put the 1 back
            idx = Literal(idx.value + 1, idx.dtype) if isinstance(idx, Literal) and \
                isinstance(idx.value, int) else make_call("add", [idx, Literal(1, pa.int32())], node)
        return make_call("list_extract", [base, idx], node)
