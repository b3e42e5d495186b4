"""Binding function calls: sqlglot's function nodes to Dawn's built-in names, UDF lookup, and the
special forms (COALESCE, NULLIF, EXTRACT, TRIM, CURRENT_DATE, typeof).

sqlglot parses many functions into typed nodes (``instr`` into StrPosition, ``log2`` into Log with
a base of 2). A node built by sqlglot's default builder holds the call's arguments in the order
written, so it binds like any other call under the name the user wrote (the Dawn dialect records
it). Nodes built by a custom builder or a special syntax (``position(a IN s)``, ``trim(BOTH x
FROM s)``) have a form in ``_FORMS`` that puts their arguments back into DuckDB's positional
order. Every argument sqlglot parsed is consumed that way or refused with NotSupportedError naming
it: nothing the user wrote is dropped.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, DataError, NotSupportedError, TypeMismatchError, did_you_mean
from engine.plan import aggregates as R
from engine.plan import functions as F
from engine.plan import types as T
from engine.plan.expressions import Expr, Literal
from engine.plan.functions.names import user_function_names
from engine.plan.functions.structs import type_name
from engine.sql.bind.aggregates import _AGGS
from engine.sql.bind.util import _cast_literal, cast_to, make_call
from engine.sql.bind.weak import is_weak
from engine.sql.bind.windows import _WINDOW_ONLY
from engine.sql.dialect import Dawn
from engine.sql.parser import location

# sqlglot node keys -> Dawn names, for nodes whose name is not recorded (special syntaxes) and
# for the aggregate lookup of typed nodes
_FUNC_KEYS = {"strposition": "strpos", "dpipe": "concat_op", "pow": "power",
              "timetostr": "strftime", "timestamptrunc": "date_trunc", "datetrunc": "date_trunc",
              "stddev": "stddev", "variance": "variance", "startswith": "starts_with",
              "endswith": "ends_with", "regexplike": "regexp_matches", "datediff": "date_diff",
              "chr": "chr", "log": "log", "currentdate": "current_date",
              "currenttimestamp": "current_timestamp", "dayofmonth": "dayofmonth",
              "dayofweek": "dayofweek", "dayofyear": "dayofyear", "weekofyear": "week",
              "lower": "lower", "upper": "upper", "arraycontains": "list_contains",
              "stringtoarray": "string_split", "splitpart": "split_part", "split": "string_split",
              "regexpextract": "regexp_extract", "regexpreplace": "regexp_replace",
              "sha2": "sha256", "strtotime": "strptime", "timetounix": "epoch",
              "datefromparts": "make_date", "timestampfromparts": "make_timestamp",
              "lastday": "last_day", "isnan": "isnan", "isinf": "isinf", "rand": "random",
              "arraysort": "list_sort", "arraydistinct": "list_distinct", "array": "list_value",
              "arraysize": "len", "concatws": "concat_ws", "unixtotime": "to_timestamp"}

_NAME_KEY = Dawn.ORIGINAL_NAME_META_KEY
_DEFAULT_BUILDER = exp.Func.from_arg_list.__func__


def _written(node: exp.Func) -> str | None:
    """The function's name as the user wrote it, where the parser recorded it."""
    if isinstance(node, exp.Anonymous):
        return node.name
    name = node.meta.get(_NAME_KEY) if node._meta else None
    return name if isinstance(name, str) else None


def _default_built(name: str) -> bool:
    builder = Dawn.Parser.FUNCTIONS.get(name.upper())
    return getattr(builder, "__func__", None) is _DEFAULT_BUILDER


def _positional(node: exp.Func) -> list[exp.Expression]:
    """The arguments of a node made by sqlglot's default builder, in the order written."""
    out: list[exp.Expression] = []
    for k in type(node).arg_types:
        v = node.args.get(k)
        if isinstance(v, list):
            out.extend(v)
        elif isinstance(v, exp.Expression):
            out.append(v)
    return out


def _flag_text(v) -> str:
    return v.sql(dialect="duckdb") if isinstance(v, exp.Expression) else str(v)


def _take(node: exp.Func, who: str, keys: tuple[str, ...], ok: dict | None = None
          ) -> list[exp.Expression]:
    """The node's arguments under ``keys``, in that order (lists spliced in). Any other argument
    sqlglot parsed is refused, unless ``ok`` names it (with the one value allowed, or None for
    any value): parser flags such as Concat's ``safe`` are set by the dialect, not the user."""
    ok = ok or {}
    for k, v in node.args.items():
        if k in keys or v is None or v is False or (isinstance(v, list) and not v):
            continue
        if k in ok and (ok[k] is None or v == ok[k]
                        or (isinstance(v, exp.Expression) and v.sql() == str(ok[k]))):
            continue
        raise NotSupportedError(f'{who}(): the argument "{k}" ({_flag_text(v)}) is not supported'
                                f"{location(node)}")
    out: list[exp.Expression] = []
    for k in keys:
        v = node.args.get(k)
        if isinstance(v, list):
            out.extend(v)
        elif isinstance(v, exp.Expression):
            out.append(v)
    return out


def _unit(v: exp.Expression | None) -> exp.Expression | None:
    """A date part written as a keyword (``month``) or string, as the string literal it means."""
    if isinstance(v, exp.Var):
        return exp.Literal.string(v.name.lower())
    if isinstance(v, exp.Literal) and v.is_string:
        return exp.Literal.string(v.this.lower())
    return v


Form = Callable[[exp.Func, str], tuple[str, list[exp.Expression]]]


def _simple(name: str, *keys: str, **ok) -> Form:
    return lambda node, who: (name, _take(node, who, keys, ok))


def _log(node, who):
    args = _take(node, who, ("this", "expression"))
    low = who.lower()
    if low in ("log2", "log10"):  # sqlglot wrote the base in: log2(x) is Log(2, x)
        return low, args[1:]
    return "log", args


def _date_diff(node, who):
    unit, start, end = node.args.get("unit"), node.expression, node.this
    _take(node, who, ("unit", "this", "expression"), {"date_part_boundary": None})
    return "date_diff", [a for a in (_unit(unit), start, end) if a is not None]


def _date_trunc(node, who):
    _take(node, who, ("unit", "this"))
    return "date_trunc", [a for a in (_unit(node.args.get("unit")), node.this) if a is not None]


def _unix_to_time(node, who):
    low = who.lower()
    scale = {"epoch_ms": "3", "make_timestamp": "6", "to_timestamp": None}
    if low not in scale:
        raise NotSupportedError(f"{who}() is not supported{location(node)}")
    s = node.args.get("scale")
    if (s.sql() if s is not None else None) != scale[low]:
        raise NotSupportedError(f'{who}(): the argument "scale" ({_flag_text(s)}) is not '
                                f"supported{location(node)}")
    return low, _take(node, who, ("this",), {"scale": None})


def _list_sort(node, who):
    this = _take(node, who, ("this",), {"asc": None, "nulls_first": None})
    asc = node.args.get("asc")
    nulls_first = node.args.get("nulls_first")
    order = "DESC" if isinstance(asc, exp.Boolean) and not asc.this else "ASC"
    nulls = "NULLS FIRST" if isinstance(nulls_first, exp.Boolean) and nulls_first.this else "NULLS LAST"
    return "list_sort", this + [exp.Literal.string(order), exp.Literal.string(nulls)]


def _array(node, who):
    if len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Query):
        raise NotSupportedError(f"ARRAY(subquery) is not supported{location(node)}")
    return "list_value", _take(node, who, ("expressions",), {"value_constructor": None})


def _pad(node, who):
    args = _take(node, who, ("this", "expression", "fill_pattern"), {"is_left": None})
    return ("lpad" if node.args.get("is_left") else "rpad"), args


def _trim(node, who):
    pos = str(node.args.get("position") or "BOTH").upper()
    args = _take(node, who, ("this", "expression"), {"position": None})
    return {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(pos, "trim"), args


def _sha2(node, who):
    length = node.args.get("length")
    if who.lower() != "sha256" or length is None or length.sql() != "256":
        raise NotSupportedError(f"{who}() is not supported; use sha256(){location(node)}")
    return "sha256", _take(node, who, ("this",), {"length": None})


def _make_timestamp(node, who):
    return "make_timestamp", _take(node, who, ("year", "month", "day", "hour", "min", "sec"))


def _extract(node, who):
    part = node.this
    name = part.name if isinstance(part, (exp.Var, exp.Identifier, exp.Column)) else part.sql()
    _take(node, who, ("this", "expression"))
    return "date_part", [exp.Literal.string(name.lower()), node.expression]


_FORMS: dict[type, Form] = {
    exp.Round: _simple("round", "this", "decimals"),
    exp.Ceil: _simple("ceil", "this"),
    exp.Floor: _simple("floor", "this"),
    exp.Log: _log,
    exp.Pow: _simple("power", "this", "expression"),
    exp.Mod: _simple("mod", "this", "expression", safe=None),
    exp.Greatest: _simple("greatest", "this", "expressions", ignore_nulls=True),
    exp.Least: _simple("least", "this", "expressions", ignore_nulls=True),
    exp.Concat: _simple("concat", "expressions", safe=None, coalesce=None),
    exp.ConcatWs: _simple("concat_ws", "expressions", safe=None, coalesce=None),
    exp.Lower: _simple("lower", "this"),
    exp.Upper: _simple("upper", "this"),
    exp.Pad: _pad,
    exp.Trim: _trim,
    exp.Substring: _simple("substring", "this", "start", "length"),
    exp.StrPosition: _simple("strpos", "this", "substr"),
    exp.Chr: _simple("chr", "expressions"),
    exp.RegexpExtract: _simple("regexp_extract", "this", "expression", "group", "parameters",
                               null_if_pos_overflow=None),
    exp.RegexpReplace: _simple("regexp_replace", "this", "expression", "replacement",
                               "modifiers", single_replace=None),
    exp.SHA2: _sha2,
    exp.DateDiff: _date_diff,
    exp.TimestampTrunc: _date_trunc,
    exp.DateTrunc: _date_trunc,
    exp.UnixToTime: _unix_to_time,
    exp.TimestampFromParts: _make_timestamp,
    exp.TimeToStr: _simple("strftime", "this", "format"),
    exp.StrToTime: _simple("strptime", "this", "format"),
    exp.ArraySort: _list_sort,
    exp.ArrayDistinct: _simple("list_distinct", "this", check_null=None),
    exp.Array: _array,
    exp.Extract: _extract,
}

# the argument a date function reads as a date or timestamp: a string literal there is one
_TEMPORAL_ARG = {"date_part": 1, "date_trunc": 1, "date_diff": (1, 2), "date_sub": (1, 2),
                 "strftime": 0, "year": 0, "month": 0, "day": 0, "hour": 0, "minute": 0,
                 "second": 0, "dayofmonth": 0, "last_day": 0, "dayname": 0, "monthname": 0, "epoch": 0}


class FunctionBinding:
    """Function calls: built-ins, UDFs and the sqlglot nodes that stand for functions."""

    def _Coalesce(self, node) -> Expr:
        args = [self.bind(node.this)] + [self.bind(e) for e in node.expressions]
        return make_call("coalesce", args, node)

    def _Nullif(self, node) -> Expr:
        return make_call("nullif", [self.bind(node.this), self.bind(node.expression)], node)

    def _CurrentDate(self, node) -> Expr:
        return Literal(_dt.date.today(), pa.date32())

    def _CurrentTimestamp(self, node) -> Expr:
        now = _dt.datetime.now(_dt.timezone.utc)
        return Literal(now, pa.timestamp("us", tz="UTC"))

    def _call_parts(self, node: exp.Func) -> tuple[str, str, list[exp.Expression]]:
        """(the name as written, the registry name, the arguments in DuckDB's order)."""
        written = _written(node)
        if isinstance(node, exp.Anonymous):
            return written, written.lower(), list(node.expressions)
        form = _FORMS.get(type(node))
        key = type(node).key.lower()
        who = written or _FUNC_KEYS.get(key, key)
        if form is not None:
            name, args = form(node, who)
            argc = node.meta.get("dawn_argc") if node._meta else None
            if argc is not None and argc > len(args):
                # a custom builder kept fewer arguments than were written
                raise TypeMismatchError(f'Function "{who}" does not take {argc} arguments'
                                        f"{location(node)}")
            return who, name, args
        if written is not None and _default_built(written):
            return written, written.lower(), _positional(node)
        raise NotSupportedError(f"{who}() is not supported in this form{location(node)}")

    def _function(self, node: exp.Func) -> Expr:
        key = type(node).key.lower()
        agg_name = node.name.lower() if isinstance(node, exp.Anonymous) else _FUNC_KEYS.get(key, key)
        written = _written(node)
        if written is not None and written.lower() in _AGGS:
            agg_name = written.lower()
        if agg_name in _AGGS:
            return self._bind_aggregate(agg_name, node)
        who, name, argn = self._call_parts(node)
        if name in _WINDOW_ONLY:
            raise BindError(f"{who}() needs an OVER clause{location(node)}")
        if name in ("current_date", "today"):
            return self._CurrentDate(node)
        if name in ("current_timestamp", "now", "get_current_timestamp", "transaction_timestamp"):
            if argn:
                raise TypeMismatchError(f'Function "{who}" takes no arguments{location(node)}')
            return self._CurrentTimestamp(node)
        if is_weak(name) and isinstance(node, exp.Anonymous):
            return self._weak_aggregate(node)
        udf = self.b.lookup_udf(name, node) if F.lookup(name) is None else None
        if udf is not None:
            if udf.kind == "aggregate":
                return self._udf_aggregate(udf, argn, node)
            return self.b.udf_call(udf, [self.bind(a) for a in argn], node)
        f = F.lookup(name)
        if f is None and name.lower() == "fcount":
            raise NotSupportedError(f"FCOUNT{location(node)} is an approximate aggregate: end the query "
                                    "with ERROR WITHIN e AT CONFIDENCE p% (for an exact answer, use "
                                    "AVG of the per-frame count)")
        if f is None:
            raise BindError(f'Function "{who}" does not exist{location(node)}.'
                            + did_you_mean(who, self._callable_names()))
        if not f.min_args <= len(argn) <= f.max_args:
            want = str(f.min_args) if f.min_args == f.max_args else f"{f.min_args} to {f.max_args}"
            raise TypeMismatchError(f'Function "{who}" takes {want} argument(s), got {len(argn)}'
                                    f"{location(node)}")
        args = [self.bind(a) for a in argn]
        if f.name == "typeof":
            return Literal(type_name(args[0].dtype), pa.string())
        if f.name in ("strftime", "strptime", "try_strptime"):
            from engine.plan.functions.datefmt import validate_format
            for a in args:
                if isinstance(a, Literal) and isinstance(a.value, str) and "%" in a.value:
                    try:
                        validate_format(a.value)
                    except DataError as e:
                        raise DataError(f"{e}{location(node)}") from None
        if f.name == "date_part":
            null = _date_part_of_null(args, who, node)
            if null is not None:
                return null
        if f.name == "date_part" and isinstance(args[0], Literal) and \
                str(args[0].value).lower() in ("epoch", "julian", "jd"):
            # these parts are DOUBLE, the others BIGINT: a function of their own
            f = F.lookup("julian" if str(args[0].value).lower() != "epoch" else "epoch")
            args = args[1:]
        where = _TEMPORAL_ARG.get(f.name)
        if f.name == "strftime" and len(args) == 2 and T.is_temporal(args[1].dtype):
            where = None  # strftime(format, value)
        for i in (where,) if isinstance(where, int) else where or ():
            a = args[i] if i < len(args) else None
            if isinstance(a, Literal) and pa.types.is_string(a.dtype) and a.value is not None:
                args[i] = _cast_literal(a.value, T.TIMESTAMP, node, False)
        shown = f"{who}({', '.join(a.sql(dialect='duckdb') for a in argn)})"
        return make_call(f.name, args, node, written=shown)

    def _bind_aggregate(self, name: str, node: exp.Func) -> Expr:
        if isinstance(node, exp.Anonymous):
            argn = list(node.expressions)
        else:
            argn = _positional(node)
        if name == "count":
            return self._aggregate("count", exp.Count(this=argn[0] if argn else exp.Star()))
        args = self._bind_in_aggregate(argn, node)
        options = ()
        if R.lookup(name).family == "string_agg":
            sep = args[1] if len(args) > 1 else Literal(",", pa.string())
            if not isinstance(sep, Literal):
                raise NotSupportedError("string_agg's separator must be a constant")
            options = (("separator", sep.value),)
            # DuckDB joins any value as its text (1.0, not 1): the implicit VARCHAR cast
            args = [cast_to(a, pa.string()) if args and not pa.types.is_string(a.dtype)
                    and not pa.types.is_null(a.dtype) else a for a in args[:1]]
            name = "string_agg"
        flt, self.pending_filter = self.pending_filter, None
        return self._make_agg(name, args, False, flt, options, node)

    def _callable_names(self) -> list[str]:
        """What a misspelt function name may have meant: built-ins, aggregates, UDFs."""
        names = user_function_names() + sorted(_AGGS) + sorted(_WINDOW_ONLY)
        reg = getattr(self.b, "functions", None)
        if reg is not None:
            names += list(reg.names())
        return names


def _date_part_of_null(args: list[Expr], who: str, node: exp.Expression) -> Expr | None:
    """date_part (extract, datepart) of a constant NULL part or value: DuckDB folds a call with a
    constant NULL argument to NULL of the function's declared type before choosing the overload
    by its part, and date_part is declared DOUBLE (BIGINT only once the part is known). None when
    no argument is a constant NULL."""
    from engine.optimizer.fold_constants import fold_expr
    part, value = args
    if pa.types.is_list(part.dtype) or pa.types.is_large_list(part.dtype):
        raise NotSupportedError(f"{who} with a list of parts{location(node)}")
    if isinstance(value, Literal) and pa.types.is_null(value.dtype):
        raise TypeMismatchError(f'Could not choose a best candidate function for "{who}" of an untyped '
                                f"NULL: cast it to DATE, TIMESTAMP or INTERVAL{location(node)}")
    for a in args:
        folded = fold_expr(a)
        if isinstance(folded, Literal) and folded.value is None:
            make_call("date_part", args, node, written=who)  # the argument types must still fit
            return Literal(None, pa.float64())
    return None

