"""The registry of aggregate functions: every aggregate Dawn knows, listed once, under DuckDB's names.

An ``AggregateFunction`` says what the binder and the operators need to know about one aggregate:
its name and aliases, the sqlglot node classes that stand for it, how many value arguments and
which constant parameters it takes (a quantile, a separator), its result-type rule (DuckDB's
``typeof``), what its arguments are cast to, whether DISTINCT / ORDER BY / FILTER apply, how a
window computes it (over any frame, or only over whole partitions), and how the hash aggregation
computes it: ``family`` names a kernel family of ``engine.physical.aggregate_kernels`` (``variant``
picks the member: the quantile kind, the regression statistic), so the physical layer dispatches
on the entry, never on the function's name. An accumulator (update/merge/finalize/retract) for a
family hangs on the same entries.

Semantics are DuckDB's (checked against python ``duckdb``), with Dawn's type system: DECIMAL is
computed as DOUBLE, so ``sum`` over a DECIMAL column is DOUBLE where DuckDB keeps a DECIMAL(38, s);
``sum`` over integers is HUGEINT (exact), as in DuckDB (see ``integer_sum_type``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

from engine.errors import NotSupportedError, TypeMismatchError
from engine.plan import types as T

HUGEINT = T.HUGEINT


def is_int(t: pa.DataType) -> bool:
    """Integer types, HUGEINT included."""
    return pa.types.is_integer(t) or t == HUGEINT


def is_num(t: pa.DataType) -> bool:
    return is_int(t) or pa.types.is_floating(t)


def is_orderable(t: pa.DataType) -> bool:
    """Types min/max/arg_max/quantile_disc can order (not lists, structs, tensors)."""
    return (is_num(t) or pa.types.is_boolean(t) or T.is_string(t) or pa.types.is_binary(t)
            or pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t)
            or pa.types.is_null(t))


Rule = Callable[[list[pa.DataType], dict], pa.DataType]


@dataclass(frozen=True)
class AggregateFunction:
    name: str                                # DuckDB's name, the one plans and messages use
    result: Rule                             # argument types (+ parameters) -> result type
    family: str                              # kernel family in engine.physical.aggregate_kernels
    variant: str = ""                        # member of the family
    aliases: tuple[str, ...] = ()
    nodes: tuple[type, ...] = ()             # sqlglot classes that parse to this function
    nargs: tuple[int, int] = (1, 1)          # value arguments (columns), min and max
    params: tuple[str, ...] = ()             # constant parameters after the value arguments
    cast: tuple[pa.DataType | None, ...] = ()  # value arguments are cast to these (None: kept)
    null_as: pa.DataType = pa.int32()        # what an untyped NULL argument is computed as
    distinct: bool = True                    # DISTINCT is allowed (single-argument only)
    ordered: bool = False                    # ORDER BY inside the call matters (else ignored)
    filter: bool = True                      # FILTER (WHERE ...) applies
    window: str | None = "partition"         # "frame": any frame; "partition": whole partitions
    empty_zero: bool = False                 # over no rows it is 0, not NULL (count)
    idempotent: bool = False                 # DISTINCT changes nothing (min, max, ...)
    spelled: tuple[tuple[type, str], ...] = ()  # DuckDB's name of a node that is an alias's


def _same(types, params) -> pa.DataType:
    return types[0]


def _need(pred: Callable[[pa.DataType], bool], what: str) -> Callable[[str, pa.DataType], None]:
    def check(name: str, t: pa.DataType) -> None:
        if not (pred(t) or pa.types.is_null(t)):
            raise TypeMismatchError(f"{name} expects {what}, got {T.sql_name(t)}")
    return check


_numeric = _need(is_num, "a numeric argument")
_boolean = _need(pa.types.is_boolean, "a BOOLEAN argument")
_integer = _need(is_int, "an integer argument")
_ordered = _need(is_orderable, "an argument with an order")


def _listed(t: pa.DataType, params: dict) -> pa.DataType:
    """A quantile aggregate returns a list when it was given a list of quantiles."""
    return pa.list_(t) if params.get("list") else t


def _count(types, params):
    return pa.int64()


def integer_sum_type() -> pa.DataType:
    """The type of a sum of integers: HUGEINT, as DuckDB, once expressions compute with HUGEINT
    values (``engine.plan.types.is_integer`` counts it as an integer); until then BIGINT, whose
    overflow raises a DataError instead of wrapping around. Computed exactly either way."""
    return HUGEINT if T.is_integer(HUGEINT) else pa.int64()


def _count_if(types, params):
    _boolean("count_if", types[0])
    return integer_sum_type()


def _sum(types, params):
    t = types[0]
    if t == HUGEINT:
        return HUGEINT
    if pa.types.is_boolean(t) or is_int(t) or pa.types.is_null(t):
        return integer_sum_type()
    _numeric("sum", t)
    return pa.float64()


def _double(name: str) -> Rule:
    def rule(types, params):
        for t in types:
            if name == "avg" and (T.is_temporal(t) or t == T.INTERVAL):
                raise NotSupportedError(f"avg over {T.sql_name(t)} values is not supported")
            _numeric(name, t)
        return pa.float64()
    return rule


def _minmax(name: str) -> Rule:
    def rule(types, params):
        _ordered(name, types[0])
        return types[0]
    return rule


def _cont(name: str) -> Rule:
    """median / quantile_cont: interpolated, so DOUBLE for integers, TIMESTAMP for dates; median
    of a type that cannot be interpolated (strings, booleans) is its lower middle value."""
    def rule(types, params):
        t = types[0]
        if pa.types.is_floating(t):
            return _listed(t, params)
        if is_int(t) or pa.types.is_null(t):
            return _listed(pa.float64(), params)
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            return _listed(T.TIMESTAMP if pa.types.is_date(t) else t, params)
        if name == "median" and is_orderable(t):
            return t
        raise TypeMismatchError(f"{name} expects a numeric or temporal argument, got {T.sql_name(t)}")
    return rule


def _disc(types, params):
    _ordered("quantile_disc", types[0])
    return _listed(types[0], params)


# DuckDB's approx_quantile keeps most types but widens some integers (its t-digest's own choice)
_APPROX_Q = {pa.int8(): pa.int64(), pa.uint8(): pa.int64(), pa.uint16(): pa.int64(),
             pa.uint32(): pa.int64(), pa.uint64(): HUGEINT, pa.null(): pa.int64(),
             pa.float32(): pa.float64()}


def _approx_quantile(types, params):
    t = types[0]
    if not (is_num(t) or pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_null(t)):
        raise TypeMismatchError(f"approx_quantile expects a numeric or temporal argument, got {T.sql_name(t)}")
    return _listed(_APPROX_Q.get(t, t), params)


def _hashable(name: str) -> Rule:
    def rule(types, params):
        t = types[0]
        if pa.types.is_nested(t) or isinstance(t, pa.BaseExtensionType):
            raise TypeMismatchError(f"{name} expects a scalar argument, got {T.sql_name(t)}")
        return t
    return rule


def _bool(name: str) -> Rule:
    def rule(types, params):
        _boolean(name, types[0])
        return pa.bool_()
    return rule


def _bits(name: str) -> Rule:
    def rule(types, params):
        _integer(name, types[0])
        return pa.int64() if pa.types.is_null(types[0]) else types[0]
    return rule


def _arg(name: str) -> Rule:
    def rule(types, params):
        _ordered(name, types[1])
        return types[0]
    return rule


def _list(types, params):
    return pa.list_(types[0])


def _string(types, params):
    return pa.string()


def _regr_count(types, params):
    for t in types:
        _numeric("regr_count", t)
    return pa.uint32()


_F64 = pa.float64()
_STATS = [  # (name, variant, aliases, nodes)
    ("stddev_samp", "stddev_samp", ("stddev",), (exp.Stddev, exp.StddevSamp)),
    ("stddev_pop", "stddev_pop", (), (exp.StddevPop,)),
    ("var_samp", "var_samp", ("variance",), (exp.Variance,)),
    ("var_pop", "var_pop", (), (exp.VariancePop,)),
]
_BIVARIATE = [  # (name, node): statistics of (y, x) pairs where both are non-NULL
    ("corr", exp.Corr), ("covar_pop", exp.CovarPop), ("covar_samp", exp.CovarSamp),
    ("regr_slope", exp.RegrSlope), ("regr_intercept", exp.RegrIntercept), ("regr_r2", exp.RegrR2),
    ("regr_avgx", exp.RegrAvgx), ("regr_avgy", exp.RegrAvgy), ("regr_sxx", exp.RegrSxx),
    ("regr_syy", exp.RegrSyy), ("regr_sxy", exp.RegrSxy),
]

AGGREGATES: list[AggregateFunction] = [
    AggregateFunction("count", _count, "count", nodes=(exp.Count,), window="frame", empty_zero=True),
    AggregateFunction("count_star", _count, "count", "star", nargs=(0, 0), window="frame",
                      empty_zero=True, distinct=False),
    AggregateFunction("count_if", _count_if, "count_if", nodes=(exp.CountIf,), null_as=pa.bool_(),
                      window="frame"),
    AggregateFunction("sum", _sum, "sum", nodes=(exp.Sum,), window="frame"),
    AggregateFunction("avg", _double("avg"), "avg", aliases=("mean",), nodes=(exp.Avg,), window="frame"),
    AggregateFunction("min", _minmax("min"), "minmax", "min", nodes=(exp.Min,), window="frame",
                      idempotent=True),
    AggregateFunction("max", _minmax("max"), "minmax", "max", nodes=(exp.Max,), window="frame",
                      idempotent=True),
    AggregateFunction("product", _double("product"), "product", cast=(_F64,)),
    *[AggregateFunction(n, _double(n), "variance", v, aliases=a, nodes=nd, cast=(_F64,), window="frame",
                        spelled=((nd[0], a[0]),) if a else ())
      for n, v, a, nd in _STATS],
    *[AggregateFunction(n, _double(n), "bivariate", n, nodes=(nd,), nargs=(2, 2), cast=(_F64, _F64),
                        distinct=False)
      for n, nd in _BIVARIATE],
    AggregateFunction("regr_count", _regr_count, "bivariate", "regr_count", nodes=(exp.RegrCount,),
                      nargs=(2, 2), cast=(_F64, _F64), distinct=False, empty_zero=True),
    AggregateFunction("median", _cont("median"), "quantile", "median", nodes=(exp.Median,)),
    AggregateFunction("quantile_cont", _cont("quantile_cont"), "quantile", "cont",
                      nodes=(exp.PercentileCont,), params=("quantile",)),
    AggregateFunction("quantile_disc", _disc, "quantile", "disc", aliases=("quantile",),
                      nodes=(exp.PercentileDisc, exp.Quantile), params=("quantile",)),
    AggregateFunction("approx_quantile", _approx_quantile, "quantile", "approx",
                      nodes=(exp.ApproxQuantile,), params=("quantile",), null_as=pa.int64()),
    AggregateFunction("mode", _hashable("mode"), "mode", nodes=(exp.Mode,)),
    AggregateFunction("approx_count_distinct", _count, "hll", nodes=(exp.ApproxDistinct,),
                      empty_zero=True),
    AggregateFunction("arg_max", _arg("arg_max"), "arg", "max", aliases=("argmax", "max_by"),
                      nodes=(exp.ArgMax,), nargs=(2, 2), distinct=False),
    AggregateFunction("arg_min", _arg("arg_min"), "arg", "min", aliases=("argmin", "min_by"),
                      nodes=(exp.ArgMin,), nargs=(2, 2), distinct=False),
    AggregateFunction("any_value", _same, "first", "any", nodes=(exp.AnyValue,), ordered=True,
                      idempotent=True),
    AggregateFunction("first", _same, "first", "first", aliases=("arbitrary",), nodes=(exp.First,),
                      ordered=True, window="frame", distinct=False),
    AggregateFunction("last", _same, "first", "last", nodes=(exp.Last,), ordered=True, window="frame",
                      distinct=False),
    AggregateFunction("bit_and", _bits("bit_and"), "bits", "and", nodes=(exp.BitwiseAndAgg,),
                      null_as=pa.int64(), idempotent=True),
    AggregateFunction("bit_or", _bits("bit_or"), "bits", "or", nodes=(exp.BitwiseOrAgg,),
                      null_as=pa.int64(), idempotent=True),
    AggregateFunction("bit_xor", _bits("bit_xor"), "bits", "xor", nodes=(exp.BitwiseXorAgg,),
                      null_as=pa.int64()),
    AggregateFunction("bool_and", _bool("bool_and"), "bool", "and", aliases=("every",),
                      nodes=(exp.LogicalAnd,), null_as=pa.bool_(), window="frame", idempotent=True),
    AggregateFunction("bool_or", _bool("bool_or"), "bool", "or", nodes=(exp.LogicalOr,),
                      null_as=pa.bool_(), window="frame", idempotent=True),
    AggregateFunction("list", _list, "list", aliases=("array_agg",), nodes=(exp.ArrayAgg,),
                      ordered=True, spelled=((exp.ArrayAgg, "array_agg"),)),
    AggregateFunction("string_agg", _string, "string_agg", aliases=("group_concat", "listagg"),
                      nodes=(exp.GroupConcat,), params=("separator",), cast=(pa.string(),),
                      null_as=pa.string(), ordered=True),
]

BY_NAME: dict[str, AggregateFunction] = {}
for _a in AGGREGATES:
    for _n in (_a.name, *_a.aliases):
        BY_NAME[_n] = _a
BY_NODE: dict[type, AggregateFunction] = {n: a for a in AGGREGATES for n in a.nodes}
# aggregates that are 0, not NULL, over no rows (what a decorrelated scalar subquery fills in)
ZERO_WHEN_EMPTY = frozenset(a.name for a in AGGREGATES if a.empty_zero)

# aggregates DuckDB has and Dawn does not: named in a NotSupportedError rather than "no such function"
UNSUPPORTED = {"kurtosis", "kurtosis_pop", "skewness", "entropy", "fsum", "sumkahan", "kahan_sum",
               "favg", "geomean", "geometric_mean", "histogram", "mad", "bitstring_agg",
               "reservoir_quantile", "approx_top_k", "arg_max_null", "arg_min_null", "list_agg",
               "weighted_avg", "wavg"}
UNSUPPORTED_NODES = (exp.Kurtosis, exp.Skewness)


# how DuckDB names a result column computed by a typed node (``sum(x)``), for the nodes whose
# call is the function and its value argument (string_agg's separator is written after it)
COLUMN_NAMES: dict[type, str] = {
    n: dict(a.spelled).get(n, a.name) for a in AGGREGATES for n in a.nodes
    if a.nargs[1] == 1 and (not a.params or a.family == "string_agg")}


def lookup(name: str) -> AggregateFunction | None:
    """The aggregate a function name (any case, any alias) stands for, or None."""
    return BY_NAME.get(name.lower())


def get(name: str) -> AggregateFunction:
    """The entry of a bound aggregate call's function name (``AggCall.fn``)."""
    return BY_NAME[name]
