"""Binding aggregate calls: sqlglot's aggregate nodes (and anonymous calls that name an aggregate)
to ``AggCall`` through the registry in ``engine.plan.aggregates``, and the collection of one
SELECT's aggregates (``AggContext``).

The registry says which names and node classes are aggregates, their result types, their constant
parameters, and whether DISTINCT / ORDER BY / FILTER apply; this module reads a call's parts from
the parse tree (``call_parts``, shared with window functions), checks them against the entry and
builds the call. Nothing in the call is dropped: an argument or clause the entry does not take is
an error.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, NotSupportedError, TypeMismatchError
from engine.plan import aggregates as R
from engine.plan import functions as F
from engine.plan.expressions import AggCall, ColumnRef, Expr, new_column
from engine.sql.bind.util import cast_to, sort_key
from engine.sql.parser import location

# what the rest of the binder asks: is this name / node class an aggregate (derived, not listed)
_AGGS = set(R.BY_NAME)
_AGG_CLASS = {node: a.name for node, a in R.BY_NODE.items()}

# sqlglot flags that carry no meaning of their own for Dawn (count's BIGINT result is the default)
_IGNORED_ARGS = {"big_int"}
# argument keys of aggregate nodes, in the order DuckDB's call lists them
_POSITIONAL = ("this", "expression", "expressions", "quantile", "separator")


class _AggContext:
    """Collects aggregates of one SELECT while its expressions are bound."""

    def __init__(self) -> None:
        self.aggs: list[tuple[ColumnRef, AggCall]] = []
        # GROUPING(...) calls: (output column, bound arguments, node); see grouping.py
        self.groupings: list[tuple[ColumnRef, tuple, exp.Expression]] = []

    def add_grouping(self, args: tuple, node: exp.Expression) -> ColumnRef:
        for ref, a, _ in self.groupings:
            if a == args:
                return ref
        ref = new_column("grouping", pa.int64())
        self.groupings.append((ref, args, node))
        return ref

    def add(self, call: AggCall, name: str) -> ColumnRef:
        for ref, a in self.aggs:
            if a == call:
                return ref
        ref = new_column(name, call.dtype)
        self.aggs.append((ref, call))
        return ref


@dataclass
class CallParts:
    """An aggregate call as written: value arguments, constant parameters, DISTINCT, ORDER BY."""
    values: list[exp.Expression]
    params: list[exp.Expression]
    distinct: bool
    order: list[exp.Ordered]
    star: bool = False  # count(*)


_WITHIN_NAMES = {"quantile_cont": "percentile_cont", "quantile_disc": "percentile_disc"}


def _written(node: exp.Expression, entry: R.AggregateFunction | None = None, within: bool = False) -> str:
    """How the user wrote the call, for messages. An anonymous call keeps the name as typed;
    sqlglot regenerates its own classes under its own spelling (LISTAGG for string_agg), so
    those are shown under the registry's (DuckDB's) name."""
    text = node.sql(dialect="duckdb")
    if entry is not None and not isinstance(node, exp.Anonymous) and "(" in text:
        name = _WITHIN_NAMES.get(entry.name, entry.name) if within else entry.name
        text = name + text[text.index("("):]
    return text if len(text) <= 80 else text[:77] + "..."


class _Written:
    """The call's text for a message, generated only when a message needs it."""

    def __init__(self, node: exp.Expression, entry: R.AggregateFunction | None = None,
                 within: bool = False) -> None:
        self.node, self.entry, self.within = node, entry, within

    def __str__(self) -> str:
        return _written(self.node, self.entry, self.within)


def call_parts(entry: R.AggregateFunction, node: exp.Expression, within: exp.Order | None = None) -> CallParts:
    """Read an aggregate call's parts from its parse tree and check them against the registry."""
    what = _Written(node, entry, within is not None)
    if isinstance(node, exp.Anonymous):
        positional = list(node.expressions)
    else:
        positional = []
        for key in node.arg_types:
            v = node.args.get(key)
            if v is None or v is False or (isinstance(v, list) and not v) or key in _IGNORED_ARGS:
                continue
            if key not in _POSITIONAL:
                if key == "count" and entry.family in ("minmax", "arg"):
                    raise NotSupportedError(f'The top-n form of {entry.name} ("{what}") is not '
                                            f"supported{location(node)}")
                raise NotSupportedError(f'"{what}": the {key} argument is not supported{location(node)}')
            positional.extend(v if isinstance(v, list) else [v])
    distinct, order, star = False, [], False
    if positional and isinstance(positional[0], exp.Order):  # string_agg(x, ',' ORDER BY y)
        order, positional[0] = list(positional[0].expressions), positional[0].this
        for o in order:  # as DuckDB: a constant that is not an integer orders nothing
            k = o.this
            while isinstance(k, (exp.Paren, exp.Neg)):
                k = k.this
            if isinstance(k, (exp.Boolean, exp.Null)) or (isinstance(k, exp.Literal) and not k.this.isdigit()):
                raise BindError(f'ORDER BY non-integer literal "{o.this.sql(dialect="duckdb")}" has no '
                                f"effect{location(o)}")
    if positional and isinstance(positional[0], exp.Distinct):
        d = positional[0]
        if d.args.get("on") is not None:
            raise NotSupportedError(f"DISTINCT ON inside an aggregate is not supported{location(node)}")
        if len(d.expressions) != 1:
            written = ", ".join(e.sql(dialect="duckdb") for e in d.expressions)
            raise BindError(f'"{entry.name}(DISTINCT {written})": {entry.name} takes one argument, '
                            f"got {len(d.expressions)}{location(node)}. To count distinct "
                            "combinations of several columns, count the rows of a SELECT DISTINCT")
        distinct, positional = True, [d.expressions[0]] + positional[1:]
    if within is not None:
        # percentile_cont(q) WITHIN GROUP (ORDER BY x): x is the value, q the parameter
        keys = list(within.expressions)
        if len(keys) != 1:
            raise BindError(f'"{what}" WITHIN GROUP takes exactly one ORDER BY key{location(node)}')
        positional = [keys[0].this] + positional
        order = [keys[0]]
    if entry.name == "count" and (not positional or isinstance(positional[0], exp.Star)):
        if distinct:
            raise BindError(f"count(DISTINCT *) is not allowed{location(node)}")
        positional, star = positional[1:], True
    lo, hi = entry.nargs
    nv = min(len(positional), hi)
    values, params = positional[:nv], positional[nv:]
    if star:
        values = []
    if not star and (len(values) < lo or len(params) > len(entry.params)):
        want = f"{lo}" if lo == hi else f"{lo} to {hi}"
        total = f"{want} argument(s)" + (f" and its {', '.join(entry.params)}" if entry.params else "")
        raise TypeMismatchError(f'"{what}": {entry.name} takes {total}, got {len(positional)}'
                                f"{location(node)}")
    if "quantile" in entry.params and not params:
        raise TypeMismatchError(f'"{what}": {entry.name} needs a quantile{location(node)}')
    if distinct and not entry.distinct:
        raise NotSupportedError(f'DISTINCT is not supported in {entry.name} ("{what}"){location(node)}')
    return CallParts(values, params, distinct, order, star)


def constant_param(node: exp.Expression, what: str, entry: R.AggregateFunction, pname: str):
    """A constant parameter's value: numbers as exact Fractions of the text written, strings,
    None for NULL, lists of those."""
    if isinstance(node, exp.Paren):
        return constant_param(node.this, what, entry, pname)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Neg):
        v = constant_param(node.this, what, entry, pname)
        if isinstance(v, Fraction):
            return -v
    elif isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        return Fraction(node.this)
    elif isinstance(node, exp.Cast) and isinstance(node.this, (exp.Literal, exp.Neg, exp.Null)):
        return constant_param(node.this, what, entry, pname)
    elif isinstance(node, exp.Array):
        return [constant_param(e, what, entry, pname) for e in node.expressions]
    raise BindError(f'The "{pname}" argument of {entry.name} ("{what}") must be a constant'
                    f"{location(node)}")


def quantile_options(entry: R.AggregateFunction, parts: CallParts, node, within: exp.Order | None) -> tuple:
    """(("quantile", qs), ("list", bool), ("descending", bool)) of a quantile aggregate. As in
    DuckDB, a negative quantile -q is q over the values in descending order, and so is
    ``WITHIN GROUP (ORDER BY x DESC)``."""
    if entry.family != "quantile":
        return ()
    what = _Written(node, entry, within is not None)
    desc = within is not None and bool(within.expressions[0].args.get("desc"))
    if entry.variant == "median":
        return (("quantile", (Fraction(1, 2),)), ("list", False), ("descending", False))
    v = constant_param(parts.params[0], what, entry, "quantile")
    is_list = isinstance(v, list)
    qs = tuple(v) if is_list else (v,)
    lo = 0 if within is not None else -1
    for q in qs:
        if q is None:
            raise BindError(f'The quantile of {entry.name} ("{what}") must not be NULL{location(node)}')
        if not isinstance(q, Fraction) or not lo <= q <= 1:
            raise BindError(f'The quantile of {entry.name} ("{what}") must be a number between '
                            f"{lo} and 1{location(node)}")
    if any(q < 0 for q in qs):
        if any(q > 0 for q in qs):
            raise BindError(f'The quantiles of {entry.name} ("{what}") must have one sign{location(node)}')
        qs, desc = tuple(-q for q in qs), True
    return (("quantile", qs), ("list", is_list), ("descending", desc))


def agg_type(name: str, types: list[pa.DataType], node=None, params: dict | None = None) -> pa.DataType:
    """The result type of aggregate ``name`` over arguments of ``types`` (DuckDB's typeof)."""
    entry = R.lookup(name)
    what = _Written(node, entry) if node is not None else name
    if entry is None:
        raise BindError(f'Aggregate "{what}" does not exist{location(node)}')
    try:
        return entry.result(list(types), params or {})
    except TypeMismatchError as e:
        raise TypeMismatchError(f'Type error in "{what}"{location(node)}: {e}') from None
    except NotSupportedError as e:
        raise NotSupportedError(f'"{what}": {e}{location(node)}') from None


def udf_aggregate_call(binder, u, args: list[Expr], flt, node) -> AggCall:
    """The call of a user aggregate (any number of arguments), type-checked as a UDF call; the
    physical layer computes it through its accumulator (``engine.physical.accumulator``)."""
    args, dtype = binder.udf_arguments(u, list(args), node)
    return AggCall(f"udf:{u.name}", tuple(args), dtype, False, flt, (("udf", u),))


def coerce_args(entry: R.AggregateFunction, args: list[Expr]) -> list[Expr]:
    """Untyped NULL arguments as the type the kernel computes them in, then the entry's casts."""
    out = []
    for i, a in enumerate(args):
        if pa.types.is_null(a.dtype):
            a = cast_to(a, entry.null_as)
        want = entry.cast[i] if i < len(entry.cast) else None
        if want is not None and a.dtype != want:
            a = cast_to(a, want)
        out.append(a)
    return out


class AggregateBinding:
    """Aggregate calls inside expressions (mixed into the expression binder)."""

    def _Anonymous(self, node: exp.Anonymous) -> Expr:
        entry = R.lookup(node.name)
        if entry is not None:
            return self._aggregate(entry.name, node)
        name = node.name.lower()
        if name in R.UNSUPPORTED and F.lookup(name) is None and self.b.lookup_udf(name, node) is None:
            raise NotSupportedError(f'Aggregate function "{node.name}" is not supported{location(node)}')
        return self._function(node)

    def _unsupported_aggregate(self, node) -> Expr:
        raise NotSupportedError(f'Aggregate function "{node.key}" is not supported{location(node)}')

    _Kurtosis = _Skewness = _unsupported_aggregate

    def _IgnoreNulls(self, node) -> Expr:
        # DuckDB's any_value ignores NULLs, and sqlglot says so with this wrapper
        if isinstance(node.this, exp.AnyValue):
            return self.bind(node.this)
        raise NotSupportedError(f'IGNORE NULLS is not supported here ("{_written(node)}"){location(node)}')

    def _RespectNulls(self, node) -> Expr:
        raise NotSupportedError(f'RESPECT NULLS is not supported here ("{_written(node)}"){location(node)}')

    def _WithinGroup(self, node) -> Expr:
        f = node.this
        entry = R.BY_NODE.get(type(f))
        if entry is None or entry.name not in ("quantile_cont", "quantile_disc", "mode"):
            raise NotSupportedError(f'WITHIN GROUP is not supported for "{_written(f)}"{location(node)}')
        return self._aggregate(entry.name, f, within=node.expression)

    def _aggregate(self, name: str, node, within: exp.Order | None = None) -> Expr:
        entry = R.get(name)
        if self.agg is None:
            raise BindError(f'Aggregate "{_written(node, entry)}" is not allowed here{location(node)}')
        if self.in_agg:
            raise BindError(f"Aggregate calls cannot be nested{location(node)}")
        flt, self.pending_filter = self.pending_filter, None
        parts = call_parts(entry, node, within)
        if parts.star:
            entry = R.get("count_star")
        self.in_agg = True
        try:
            args = [self.bind(a) for a in parts.values]
            keys = [sort_key(self.bind(o.this), o) for o in parts.order] if entry.ordered else []
        finally:
            self.in_agg = False
        options = quantile_options(entry, parts, node, within)
        if entry.family == "string_agg":
            sep = constant_param(parts.params[0], _Written(node, entry), entry, "separator") \
                if parts.params else ","
            options = (("separator", sep),)
        # DISTINCT changes nothing in these: skip its extra pass
        distinct = parts.distinct and not entry.idempotent
        if keys and distinct and any(k.expr != args[0] for k in keys):
            raise BindError(f'"{_written(node, entry)}": in a DISTINCT aggregate, ORDER BY may only '
                            f"order by the aggregated value{location(node)}")
        return self._make_agg(entry, args, distinct, flt, options, node, tuple(keys))

    def _bind_in_aggregate(self, argn, node) -> list[Expr]:
        """An aggregate's arguments, bound where aggregates are allowed and not nested."""
        if self.agg is None:
            raise BindError(f'Aggregate "{node.sql()}" is not allowed here{location(node)}')
        self.in_agg = True
        try:
            return [self.bind(a) for a in argn]
        finally:
            self.in_agg = False

    def _weak_aggregate(self, node: exp.Anonymous) -> Expr:
        """LF_SUMMARY (engine.sql.bind.weak); LABEL_MODEL / MAJORITY_VOTE without OVER are refused."""
        from engine.sql.bind.weak import PER_ROW, weak_aggregate
        if self.agg is None and node.name.lower() not in PER_ROW:
            raise BindError(f'Aggregate "{node.sql()}" is not allowed here{location(node)}')
        self.in_agg = True
        try:
            call = weak_aggregate(self, node, None)
        finally:
            self.in_agg = False
        flt, self.pending_filter = self.pending_filter, None
        if flt is not None:
            call = AggCall(call.fn, call.args, call.dtype, False, flt, call.options)
        return self.agg.add(call, node.name.lower())

    def _udf_aggregate(self, u, argn, node) -> Expr:
        if isinstance(node, exp.Anonymous) and node.expressions and \
                isinstance(node.expressions[0], (exp.Distinct, exp.Order)):
            what = "DISTINCT" if isinstance(node.expressions[0], exp.Distinct) else "ORDER BY"
            raise NotSupportedError(f'{what} in a call of the aggregate UDF "{u.name}" is not '
                                    f"supported{location(node)}")
        args = self._bind_in_aggregate(argn, node)
        flt, self.pending_filter = self.pending_filter, None
        call = udf_aggregate_call(self.b, u, args, flt, node)
        return self.agg.add(call, u.name)

    def _make_agg(self, entry, args, distinct, flt, options, node, order=()) -> Expr:
        if isinstance(entry, str):  # the scalar-function binder's path for anonymous aggregates
            entry = R.get(entry)
        params = dict(options)
        dtype = agg_type(entry.name, [a.dtype for a in args], node, params)
        args = coerce_args(entry, list(args))
        if order:
            args = list(args) + [k.expr for k in order]
            options = options + (("order", tuple((k.ascending, k.nulls_first) for k in order)),)
        call = AggCall(entry.name, tuple(args), dtype, distinct, flt, options)
        return self.agg.add(call, entry.name)

    def _Filter(self, node) -> Expr:
        f = node.this
        if self.agg is None:
            raise BindError(f"FILTER is only allowed on aggregates{location(node)}")
        self.in_agg = True
        try:
            cond = self.bind(node.expression.this)
        finally:
            self.in_agg = False
        self.pending_filter = cast_to(cond, pa.bool_())
        try:
            return self.bind(f)
        finally:
            self.pending_filter = None
