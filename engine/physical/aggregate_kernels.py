"""How each aggregate family of ``engine.plan.aggregates`` is computed over groups, vectorized.

Two ways, chosen per call:

* ``arrow_plan``: the aggregate as Arrow hash-aggregation functions (``hash_sum``, ``hash_count``,
  ...) over prepared input columns, plus a finisher. The hash aggregation runs all such plans of a
  GROUP BY in one pass; this is the fast path (TPC-H's sums, counts, averages, min/max).
* ``grouped``: the aggregate over rows already labelled with a group id (0..ngroups-1) and already
  filtered by its FILTER clause. Every family has it; it is what DISTINCT, the order-dependent and
  multi-argument aggregates, exact quantiles, and windows over whole partitions use. Families with
  an Arrow plan run it on the group ids; the others sort by (group, value) once and read each
  group's segment through index arithmetic (numpy), never a Python loop over groups or rows.

Integer sums are exact, as DuckDB's HUGEINT sums: int64 sums where no overflow is possible
(rows x largest magnitude < 2**63, one min/max pass), else decimal128(38, 0) sums. Averages of
integers divide the exact sum in extended precision (long double, as DuckDB does).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, NotSupportedError
from engine.physical.evaluate import hash_key
from engine.physical.sort import nan_flag
from engine.plan import aggregates as R
from engine.plan import types as T
from engine.plan.expressions import AggCall

HUGEINT = R.HUGEINT
_I64_LIMIT = 2 ** 63


@dataclass
class ArrowPlan:
    """An aggregate as Arrow hash-aggregation functions over its own input columns."""
    columns: list                     # prepared input columns (Array or ChunkedArray)
    specs: list[tuple[int | None, str, object]]  # (column index | None for count_all, function, options)
    finish: Callable[[list[pa.Array]], pa.Array]  # the specs' outputs -> the result column


def opts(call: AggCall) -> dict:
    return dict(call.options)


# ---------------------------------------------------------------- numbers

def decimal_to_longdouble(arr: pa.Array) -> np.ndarray:
    """decimal128(38, 0) values as long doubles (NULLs as 0), from the two 64-bit halves."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if len(arr) == 0:
        return np.zeros(0, np.longdouble)
    words = np.frombuffer(arr.buffers()[1], dtype=np.uint64)[arr.offset * 2:(arr.offset + len(arr)) * 2]
    lo, hi = words[0::2], words[1::2].view(np.int64)
    out = hi.astype(np.longdouble) * np.longdouble(2.0 ** 64) + lo.astype(np.longdouble)
    if arr.null_count:
        out[~pc.is_valid(arr).to_numpy(zero_copy_only=False)] = 0
    return out


def as_longdouble(arr) -> np.ndarray:
    """Integer (or HUGEINT) sums as long doubles, NULLs as 0."""
    if arr.type == HUGEINT or pa.types.is_decimal(arr.type):
        return decimal_to_longdouble(arr)
    return pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype(np.longdouble)


def to_float64(arr) -> pa.Array:
    """Any numeric column as float64 (big integers rounded, never refused)."""
    if pa.types.is_float64(arr.type):
        return arr
    if pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type):
        return arr.cast(pa.float64())
    if arr.type == HUGEINT:
        valid = pc.is_valid(arr)
        return pa.array(decimal_to_longdouble(arr).astype(np.float64), pa.float64(),
                        mask=pc.invert(valid).to_numpy(zero_copy_only=False))
    return pc.cast(arr, pa.float64(), safe=False)


def int_sum_may_overflow(arr) -> bool:
    """True when an int64 sum of this column could leave int64: rows x largest |value| >= 2**63."""
    n = len(arr) - arr.null_count
    if n == 0:
        return False
    mm = pc.min_max(arr)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    if lo is None:
        return False
    return n * max(abs(lo), abs(hi)) >= _I64_LIMIT


def sum_input(arr):
    """An integer/boolean column prepared for hash_sum: int64 when the sum cannot overflow,
    else decimal128(38, 0), whose sums are exact."""
    t = arr.type
    if t == HUGEINT:
        return arr
    if pa.types.is_boolean(t):
        return arr.cast(pa.int64())
    if int_sum_may_overflow(arr):
        return arr.cast(HUGEINT)
    return arr if t == pa.int64() else arr.cast(pa.int64())


def _sum_opts():
    return pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)


def _cast_out(dtype: pa.DataType) -> Callable[[list[pa.Array]], pa.Array]:
    return lambda outs: as_type(outs[0], dtype)


def as_type(arr, t: pa.DataType):
    """An output column as its planned type (untyped NULL results, list<null>)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == t:
        return arr
    if pa.types.is_null(t):
        return pa.nulls(len(arr), t)
    if pa.types.is_list(t) and pa.types.is_null(t.value_type) and pa.types.is_list(arr.type):
        values = pa.nulls(len(arr.values), pa.null())
        return pa.ListArray.from_arrays(arr.offsets, values, mask=pc.is_null(arr))
    try:
        return arr.cast(t)
    except pa.ArrowInvalid:
        raise DataError(f"Out of range: an aggregate's value does not fit in {T.sql_name(t)}") from None


# ---------------------------------------------------------------- the Arrow fast path

def arrow_plan(call: AggCall, entry: R.AggregateFunction, args: list, mask, grouped: bool) -> ArrowPlan | None:
    """The call as Arrow hash functions, or None when it needs ``grouped``. ``mask`` is its FILTER
    (a boolean column, NULL = false) or None; ``grouped`` says whether there are group keys (Arrow
    has some functions only as hash kernels)."""
    fam, dtype = entry.family, call.dtype
    if call.distinct and not (fam == "count" and entry.variant == ""):
        return None
    if "order" in opts(call):
        return None
    arg = args[0] if args else None

    def nulled(a):  # FILTER as NULLed arguments: right for functions that skip NULLs
        if mask is None:
            return a
        return pc.if_else(mask, a, pa.scalar(None, a.type))

    if fam == "count":
        if entry.variant == "star":
            if mask is None:
                return ArrowPlan([], [(None, "count_all", None)], _cast_out(dtype))
            m = pc.if_else(mask, pa.scalar(1, pa.int8()), pa.scalar(None, pa.int8()))
            return ArrowPlan([m], [(0, "count", pc.CountOptions(mode="only_valid"))], _cast_out(dtype))
        if isinstance(arg.type, pa.BaseExtensionType) or pa.types.is_nested(arg.type):
            # counting needs validity only: do not push tensors through the hash aggregation
            arg = pc.if_else(pc.is_valid(arg), pa.scalar(1, pa.int8()), pa.scalar(None, pa.int8()))
        fn = "count_distinct" if call.distinct or entry.variant == "distinct" else "count"
        a = hash_key(arg) if fn == "count_distinct" else arg
        return ArrowPlan([nulled(a)], [(0, fn, pc.CountOptions(mode="only_valid"))], _cast_out(dtype))
    if fam in ("count_if", "sum"):
        a = sum_input(nulled(arg)) if (R.is_int(arg.type) or pa.types.is_boolean(arg.type)) \
            else to_float64(nulled(arg))
        return ArrowPlan([a], [(0, "sum", _sum_opts())], _cast_out(dtype))
    if fam == "avg":
        a = nulled(arg)
        # a sum and a count, not Arrow's mean: states that merge (chunks, window frames)
        s = to_float64(a) if pa.types.is_floating(a.type) else sum_input(a)
        return ArrowPlan([s], [(0, "sum", _sum_opts()), (0, "count", pc.CountOptions(mode="only_valid"))],
                         _finish_avg)
    if fam == "minmax":
        if pa.types.is_floating(arg.type) and pc.any(pc.is_nan(arg)).as_py():
            return None  # DuckDB orders NaN above every number; Arrow's min/max skip it
        if pa.types.is_null(arg.type):
            return None
        return ArrowPlan([nulled(arg)], [(0, entry.variant, _sum_opts())], _cast_out(dtype))
    if fam == "bool":
        return ArrowPlan([nulled(arg)], [(0, "all" if entry.variant == "and" else "any", _sum_opts())],
                         _cast_out(dtype))
    if fam == "product":
        return ArrowPlan([nulled(arg)], [(0, "product", _sum_opts())], _cast_out(dtype))
    if fam == "first" and entry.variant == "any":
        return ArrowPlan([nulled(arg)], [(0, "first", _sum_opts())], _cast_out(dtype))
    if fam == "first" and grouped and mask is None:
        return ArrowPlan([arg], [(0, entry.variant, pc.ScalarAggregateOptions(skip_nulls=False))],
                         _cast_out(dtype))
    if fam == "list" and grouped and mask is None:
        return ArrowPlan([arg], [(0, "list", None)], _finish_list(dtype))
    if fam == "string_agg" and grouped:
        sep = opts(call).get("separator")
        return ArrowPlan([nulled(arg)], [(0, "list", None)], lambda outs: _join(outs[0], sep))
    return None


def _finish_avg(outs: list[pa.Array]) -> pa.Array:
    s, n = outs
    cnt = pc.fill_null(n, 0).to_numpy(zero_copy_only=False)
    with np.errstate(all="ignore"):
        v = (as_longdouble(s) / np.maximum(cnt, 1).astype(np.longdouble)).astype(np.float64)
    return pa.array(v, pa.float64(), mask=cnt == 0)


def _finish_list(dtype: pa.DataType):
    def fin(outs):
        lists = outs[0]
        # an all-filtered or empty group has no list: NULL, as DuckDB
        empty = pc.equal(pc.list_value_length(lists), 0)
        if pc.any(empty).as_py():
            lists = pc.if_else(empty, pa.scalar(None, lists.type), lists)
        return as_type(lists, dtype)
    return fin


def _join(lists: pa.Array, sep) -> pa.Array:
    """string_agg: each list's non-NULL strings joined; NULL for none (or a NULL separator)."""
    if sep is None:
        return pa.nulls(len(lists), pa.string())
    lists = _drop_null_items(lists)
    joined = pc.binary_join(lists, sep)
    empty = pc.equal(pc.list_value_length(lists), 0)
    return pc.if_else(empty, pa.scalar(None, pa.string()), joined)


def _drop_null_items(lists: pa.Array) -> pa.Array:
    flat = pc.list_flatten(lists)
    if flat.null_count == 0:
        return lists
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    keep = pc.is_valid(flat).to_numpy(zero_copy_only=False)
    lens = np.bincount(parents[keep], minlength=len(lists))
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(keep)))


# ---------------------------------------------------------------- over group ids

def grouped(call: AggCall, entry: R.AggregateFunction, gid: np.ndarray, ngroups: int,
            args: list[pa.Array]) -> pa.Array:
    """The call's value for each of ``ngroups`` groups; row i belongs to group gid[i] and has
    already passed the call's FILTER."""
    args = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in args]
    gid = np.asarray(gid, dtype=np.int64)
    if call.distinct:
        gid, args = _distinct_rows(gid, args, keep_null=entry.family == "list")
    plan = arrow_plan(_plain(call), entry, args, None, True)
    if plan is not None:
        return _run_plan(plan, gid, ngroups, entry.empty_zero)
    fn = _FAMILIES.get(entry.family)
    if fn is None:
        raise NotSupportedError(f"Aggregate {entry.name} is not supported here")
    return as_type(fn(call, entry, gid, ngroups, args), call.dtype)


def _plain(call: AggCall) -> AggCall:
    if not call.distinct:
        return call
    return AggCall(call.fn, call.args, call.dtype, False, call.filter, call.options)


def _distinct_rows(gid: np.ndarray, args: list[pa.Array], keep_null: bool = False):
    """The first row of each distinct (group, first argument) (-0.0 and 0.0 are one value), with
    all its arguments (an ORDER BY key of a DISTINCT aggregate is a function of the value). NULLs
    are dropped unless the aggregate keeps them (list)."""
    v = args[0]
    t = pa.table({"g": pa.array(gid, pa.int64()), "v": hash_key(v),
                  "r": pa.array(np.arange(len(v), dtype=np.int64))})
    if not keep_null and v.null_count:
        t = t.filter(pc.is_valid(v))
    u = t.group_by(["g", "v"], use_threads=False).aggregate([("r", "min")])
    rows = np.sort(u.column("r_min").to_numpy())
    idx = pa.array(rows)
    return gid[rows], [a.take(idx) for a in args]


def _run_plan(plan: ArrowPlan, gid: np.ndarray, ngroups: int, empty_zero: bool) -> pa.Array:
    out, groups = _plan_specs(plan, gid)
    return scatter(plan.finish(out), groups, ngroups, 0 if empty_zero else None)


def plan_outputs(plan: ArrowPlan, gid: np.ndarray, ngroups: int) -> list[pa.Array]:
    """The outputs of the plan's specs (its partial states) for each of ``ngroups`` groups,
    NULL for a group without rows."""
    outs, groups = _plan_specs(plan, gid)
    return [scatter(o, groups, ngroups) for o in outs]


def _plan_specs(plan: ArrowPlan, gid: np.ndarray) -> tuple[list[pa.Array], np.ndarray]:
    cols = {"__g": pa.array(gid, pa.int64())}
    specs, names = [], []
    for j, c in enumerate(plan.columns):
        cols[f"c{j}"] = c
    for col, fn, o in plan.specs:
        specs.append(([], fn, o) if col is None else (f"c{col}", fn, o))
        names.append("count_all" if col is None else f"c{col}_{fn}")
    res = pa.table(cols).group_by(["__g"], use_threads=False).aggregate(specs)
    return [res.column(n).combine_chunks() for n in names], res.column("__g").to_numpy()


def scatter(values: pa.Array, groups: np.ndarray, ngroups: int, empty=None) -> pa.Array:
    """values[i] belongs to group groups[i]; the groups with no value get ``empty`` (NULL)."""
    if len(groups) == ngroups and np.array_equal(groups, np.arange(ngroups)):
        return values
    pos = np.full(ngroups, -1, dtype=np.int64)
    pos[groups] = np.arange(len(groups))
    out = values.take(pa.array(pos, mask=pos < 0))
    if empty is not None:
        out = pc.fill_null(out, pa.scalar(empty, out.type))
    return out


def _segments(gid: np.ndarray, ngroups: int):
    """(counts, starts) of each group's rows in an array sorted by group."""
    counts = np.bincount(gid, minlength=ngroups).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if ngroups else counts
    return counts, starts


def sort_key(arr: pa.Array) -> list[np.ndarray]:
    """numpy keys (least significant first, for np.lexsort) that order ``arr``'s non-NULL values
    as DuckDB does: NaN above every number; strings and other types by their sort rank."""
    t = arr.type
    if pa.types.is_floating(t):
        v = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        nan = np.isnan(v)
        if not nan.any():
            return [v]
        return [np.where(nan, 0.0, v), nan.astype(np.int8)]
    if pa.types.is_integer(t):
        return [pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)]
    if pa.types.is_boolean(t):
        return [pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(np.int8)]
    if pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t):
        return [pc.fill_null(arr.cast(pa.int64()) if not pa.types.is_date(t) else
                             arr.cast(pa.int32()).cast(pa.int64()), 0).to_numpy(zero_copy_only=False)]
    ranks = pc.rank(arr, sort_keys="ascending", tiebreaker="dense")
    return [ranks.to_numpy(zero_copy_only=False).astype(np.int64)]


def _sorted_by(gid: np.ndarray, keys: list[np.ndarray], descending: bool = False) -> np.ndarray:
    """Stable permutation sorting rows by (group, keys)."""
    if descending:
        keys = [-k if k.dtype.kind in "if" else -(k.astype(np.int64)) for k in keys]
    one_group = len(gid) == 0 or gid.min() == gid.max()
    keys = list(keys) if one_group else list(keys) + [gid]
    if not keys:
        return np.arange(len(gid))
    if len(keys) == 1:
        return np.argsort(keys[0], kind="stable")
    return np.lexsort(tuple(keys))


def _valid_rows(gid: np.ndarray, *cols: pa.Array):
    keep = None
    for c in cols:
        if c.null_count:
            v = pc.is_valid(c)
            keep = v if keep is None else pc.and_(keep, v)
    if keep is None:
        return gid, list(cols)
    k = keep.to_numpy(zero_copy_only=False)
    return gid[k], [c.filter(keep) for c in cols]


# ---------------------------------------------------------------- families without an Arrow plan

def _minmax(call, entry, gid, ngroups, args):
    """min/max where Arrow's kernels do not apply (NaN present, untyped): by sorting."""
    gid, (v,) = _valid_rows(gid, args[0])
    order = _sorted_by(gid, sort_key(v))
    counts, starts = _segments(gid, ngroups)
    pick = starts if entry.variant == "min" else starts + counts - 1
    return _take_segments(v, order, pick, counts > 0)


def _take_segments(v: pa.Array, order: np.ndarray, pick: np.ndarray, ok: np.ndarray) -> pa.Array:
    idx = np.where(ok, order[np.clip(pick, 0, max(len(order) - 1, 0))] if len(order) else 0, 0)
    return v.take(pa.array(idx, pa.int64(), mask=~ok)) if len(v) else pa.nulls(len(ok), v.type)


def _first(call, entry, gid, ngroups, args):
    """first / last (NULLs included) / any_value (first non-NULL), in input order or in the
    call's ORDER BY."""
    v, keys = args[0], args[1:]
    if entry.variant == "any":
        keep = pc.is_valid(v)
        gid, v = gid[keep.to_numpy(zero_copy_only=False)], v.filter(keep)
        keys = [k.filter(keep) for k in keys]
    order = _order_by_keys(gid, keys, opts(call).get("order", ()))
    counts, starts = _segments(gid, ngroups)
    pick = starts + counts - 1 if entry.variant == "last" else starts
    return _take_segments(v, order, pick, counts > 0)


def _order_by_keys(gid: np.ndarray, keys: list[pa.Array], dirs: tuple) -> np.ndarray:
    """Stable permutation by (group, ORDER BY keys with their directions and NULL placement)."""
    if not keys:
        return np.argsort(gid, kind="stable")
    cols, spec = {"__g": pa.array(gid)}, [("__g", "ascending")]
    for j, (k, (asc, nulls_first)) in enumerate(zip(keys, dirs)):
        cols[f"k{j}"] = k
        spec.append((f"k{j}", "ascending" if asc else "descending"))
    # Arrow places NULLs once for all keys; per-key placement goes through a NULL-flag key
    fixed = {}
    final_spec = [spec[0]]
    for j, (k, (asc, nulls_first)) in enumerate(zip(keys, dirs)):
        flag = pc.is_null(k).cast(pa.int8())
        fixed[f"n{j}"] = flag
        final_spec.append((f"n{j}", "descending" if nulls_first else "ascending"))
        nan = nan_flag(k)  # DuckDB orders NaN above every number, Arrow beside the NULLs
        if nan is not None:
            fixed[f"f{j}"] = pc.fill_null(nan, 0)
            final_spec.append((f"f{j}", spec[j + 1][1]))
        final_spec.append(spec[j + 1])
    cols.update(fixed)
    return pc.sort_indices(pa.table(cols), sort_keys=final_spec).to_numpy()


def _list(call, entry, gid, ngroups, args):
    v, keys = args[0], args[1:]
    order = _order_by_keys(gid, keys, opts(call).get("order", ()))
    counts, _ = _segments(gid, ngroups)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    values = v.take(pa.array(order, pa.int64()))
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(counts == 0))


def _string_agg(call, entry, gid, ngroups, args):
    return _join(_list(call, entry, gid, ngroups, args), opts(call).get("separator"))


def _bits(call, entry, gid, ngroups, args):
    gid, (v,) = _valid_rows(gid, args[0])
    result_type = v.type
    if v.type == HUGEINT:
        mm = pc.min_max(v)
        if mm["min"].is_valid and not (-(2 ** 63) <= mm["min"].as_py() and mm["max"].as_py() < 2 ** 63):
            raise NotSupportedError(f"{entry.name} over HUGEINT values beyond BIGINT's range is not supported")
        v = v.cast(pa.int64())  # two's complement bits agree within BIGINT's range
    vals = v.to_numpy(zero_copy_only=False)
    order = np.argsort(gid, kind="stable")
    counts, starts = _segments(gid, ngroups)
    ufunc = {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}[entry.variant]
    out = np.zeros(ngroups, dtype=vals.dtype)
    nz = counts > 0
    if len(vals):
        out[nz] = ufunc.reduceat(vals[order], starts[nz])
    return pa.array(out, v.type, mask=~nz).cast(result_type)


def _bool(call, entry, gid, ngroups, args):
    gid, (v,) = _valid_rows(gid, args[0])
    b = v.to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.bincount(gid, minlength=ngroups)
    trues = np.bincount(gid, weights=b, minlength=ngroups)
    out = trues == counts if entry.variant == "and" else trues > 0
    return pa.array(out, pa.bool_(), mask=counts == 0)


def _mode(call, entry, gid, ngroups, args):
    """The most frequent non-NULL value of each group; among equally frequent values the one
    seen first."""
    gid, (v,) = _valid_rows(gid, args[0])
    t = pa.table({"g": pa.array(gid, pa.int64()), "v": hash_key(v),
                  "r": pa.array(np.arange(len(v), dtype=np.int64))})
    c = t.group_by(["g", "v"], use_threads=False).aggregate([("r", "count"), ("r", "min")])
    g = c.column("g").to_numpy()
    order = np.lexsort((c.column("r_min").to_numpy(), -c.column("r_count").to_numpy(), g))
    gs = g[order]
    first = np.ones(len(gs), dtype=bool)
    first[1:] = gs[1:] != gs[:-1]
    rows = order[first]
    return scatter(c.column("v").combine_chunks().take(pa.array(rows)), gs[first], ngroups)


def _arg(call, entry, gid, ngroups, args):
    """arg_max / arg_min: the first argument at the row where the second is largest / smallest
    (rows where either is NULL are skipped, as DuckDB; the first such row among ties)."""
    gid, (a, b) = _valid_rows(gid, args[0], args[1])
    keys = sort_key(b)
    order = _sorted_by(gid, keys, descending=entry.variant == "max")
    counts, starts = _segments(gid, ngroups)
    return _take_segments(a, order, starts, counts > 0)


def _quantile(call, entry, gid, ngroups, args):
    """Exact quantiles (DuckDB's rules): quantile_disc takes the value at index
    max(1, ceil(n*q)) - 1 of the group's sorted values; quantile_cont interpolates between the
    values around (n-1)*q; median is quantile_cont(0.5), or quantile_disc(0.5) for values that
    cannot be interpolated. approx_quantile answers exactly (cont for floats, disc otherwise)."""
    o = opts(call)
    qs, is_list, desc = o.get("quantile", (Fraction(1, 2),)), o.get("list", False), o.get("descending", False)
    gid, (v,) = _valid_rows(gid, args[0])
    order = _sorted_by(gid, sort_key(v))
    counts, starts = _segments(gid, ngroups)
    t = v.type
    interpolate = entry.variant in ("cont", "median") and (R.is_num(t) or pa.types.is_date(t)
                                                           or pa.types.is_timestamp(t))
    if entry.variant == "approx":
        interpolate = pa.types.is_floating(t)
    out_t = call.dtype.value_type if is_list else call.dtype
    results = []
    for q in qs:
        if interpolate:
            results.append(_cont(v, order, counts, starts, float(q), desc, out_t))
        else:
            idx = _disc_index(counts, q)
            pos = starts + (counts - 1 - idx if desc else idx)
            results.append(as_type(_take_segments(v, order, pos, counts > 0), out_t))
    if not is_list:
        return results[0]
    k = len(qs)
    if k == 0:
        values = pa.array([], out_t)
    else:
        # interleave: group i's list is [r0[i], r1[i], ...]
        stacked = pa.concat_arrays(results)
        values = stacked.take(pa.array((np.arange(ngroups)[:, None] + np.arange(k)[None, :] * ngroups).ravel()))
    offsets = pa.array(np.arange(ngroups + 1, dtype=np.int32) * k)
    return pa.ListArray.from_arrays(offsets, values, mask=pa.array(counts == 0))


def _disc_index(counts: np.ndarray, q: Fraction) -> np.ndarray:
    """max(1, ceil(n*q)) - 1, exactly for quantiles written as decimals (DuckDB computes decimal
    quantiles in integer arithmetic and DOUBLE ones in floating point)."""
    num, den = q.numerator, q.denominator
    if den <= 10 ** 9 and num <= 10 ** 9:
        up = (counts * num + den - 1) // den
    else:
        n = counts.astype(np.float64)
        up = counts - np.floor(n - n * float(q)).astype(np.int64)
    return np.maximum(up, 1) - 1


def _cont(v: pa.Array, order, counts, starts, q: float, desc: bool, out_t: pa.DataType) -> pa.Array:
    ok = counts > 0
    rn = (np.maximum(counts, 1) - 1).astype(np.float64) * q
    lo_i, hi_i = np.floor(rn).astype(np.int64), np.ceil(rn).astype(np.int64)
    d = rn - lo_i
    if desc:
        lo_i, hi_i = counts - 1 - lo_i, counts - 1 - hi_i
    n = max(len(order) - 1, 0)
    lo_r = order[np.clip(starts + lo_i, 0, n)] if len(order) else np.zeros(len(counts), np.int64)
    hi_r = order[np.clip(starts + hi_i, 0, n)] if len(order) else np.zeros(len(counts), np.int64)
    t = v.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        us = (v.cast(pa.timestamp("us")) if pa.types.is_date(t) else v).cast(pa.int64())
        x = pc.fill_null(us, 0).to_numpy(zero_copy_only=False)
        lo, hi = x[lo_r] if len(x) else lo_r, x[hi_r] if len(x) else hi_r
        step = (hi - lo).astype(np.float64) * d
        res = lo + (np.sign(step) * np.floor(np.abs(step) + 0.5)).astype(np.int64)  # llround
        return pa.array(res, pa.int64(), mask=~ok).cast(out_t)
    x = to_float64(v)
    x = pc.fill_null(x, 0.0).to_numpy(zero_copy_only=False)
    if not len(x):
        return pa.nulls(len(counts), out_t)
    lo, hi = x[lo_r], x[hi_r]
    with np.errstate(invalid="ignore"):
        res = np.where(lo_i == hi_i, lo, lo + (hi - lo) * d)
    return pa.array(res, pa.float64(), mask=~ok).cast(out_t)


def _moments(gid: np.ndarray, ngroups: int, x: np.ndarray):
    """Per group: count, and the sum of squared deviations from the mean, computed on values
    shifted by the group's first value (so equal values give exactly 0, as DuckDB's Welford
    updates do) in two passes (no cancellation between sum and sum of squares)."""
    n = np.bincount(gid, minlength=ngroups).astype(np.float64)
    if not len(x):
        return n, np.zeros(ngroups), np.zeros(ngroups), np.zeros(ngroups)
    first = np.full(ngroups, -1, dtype=np.int64)
    first[gid[::-1]] = np.arange(len(gid))[::-1]
    ref = x[np.maximum(first, 0)]
    with np.errstate(all="ignore"):
        d = x - ref[gid]
        mean_d = np.bincount(gid, weights=d, minlength=ngroups) / np.maximum(n, 1)
        e = d - mean_d[gid]
        return n, e, ref + mean_d, np.bincount(gid, weights=e * e, minlength=ngroups)


def _variance(call, entry, gid, ngroups, args):
    gid, (v,) = _valid_rows(gid, args[0])
    x = to_float64(v).to_numpy(zero_copy_only=False)
    n, _, _, m2 = _moments(gid, ngroups, x)
    samp = entry.variant.endswith("_samp")
    with np.errstate(all="ignore"):
        var = m2 / (n - 1) if samp else m2 / n
    var = np.maximum(var, 0.0)
    if not samp:  # DuckDB: the population variance of one value is 0, even of NaN or inf
        var = np.where(n == 1, 0.0, var)
    out = np.sqrt(var) if entry.variant.startswith("stddev") else var
    return pa.array(out, pa.float64(), mask=n <= (1 if samp else 0))


def _bivariate(call, entry, gid, ngroups, args):
    """corr, covar_*, regr_* over (y, x) pairs where both are non-NULL, with DuckDB's rules for
    degenerate groups (NULL without rows, NaN for zero variance in corr/regr_slope)."""
    gid, (yv, xv) = _valid_rows(gid, args[0], args[1])
    y = to_float64(yv).to_numpy(zero_copy_only=False)
    x = to_float64(xv).to_numpy(zero_copy_only=False)
    n, ex, mean_x, sxx = _moments(gid, ngroups, x)
    _, ey, mean_y, syy = _moments(gid, ngroups, y)
    sxy = np.bincount(gid, weights=ex * ey, minlength=ngroups) if len(x) else np.zeros(ngroups)
    v = entry.variant
    none = n == 0
    with np.errstate(all="ignore"):
        nn = np.maximum(n, 1)
        cov = sxy / nn
        var_x = np.where(n > 1, sxx / nn, 0.0)
        var_y = np.where(n > 1, syy / nn, 0.0)
        if v == "regr_count":
            return pa.array(n.astype(np.uint32), pa.uint32())
        if v == "covar_pop":
            return pa.array(cov, pa.float64(), mask=none)
        if v == "covar_samp":
            return pa.array(sxy / np.maximum(n - 1, 1), pa.float64(), mask=n < 2)
        if v == "corr":
            sd = np.sqrt(var_x) * np.sqrt(var_y)
            return pa.array(np.where(sd == 0, np.nan, cov / sd), pa.float64(), mask=none)
        slope = cov / var_x
        if v == "regr_slope":
            return pa.array(slope, pa.float64(), mask=none)
        if v == "regr_intercept":
            return pa.array(mean_y - slope * mean_x, pa.float64(), mask=none | np.isnan(slope))
        if v == "regr_r2":
            sd = np.sqrt(var_x) * np.sqrt(var_y)
            r2 = np.where(var_y == 0, 1.0, (cov / sd) ** 2)
            return pa.array(r2, pa.float64(), mask=none | (var_x == 0))
        stat = {"regr_avgx": mean_x, "regr_avgy": mean_y, "regr_sxx": sxx, "regr_syy": syy,
                "regr_sxy": sxy}[v]
        return pa.array(stat, pa.float64(), mask=none)


def _count(call, entry, gid, ngroups, args):
    if entry.variant == "star":
        return pa.array(np.bincount(gid, minlength=ngroups).astype(np.int64))
    gid, _ = _valid_rows(gid, args[0])
    if entry.variant == "distinct":
        gid, _ = _distinct_rows(gid, args[:1])
    return pa.array(np.bincount(gid, minlength=ngroups).astype(np.int64))


def _hll(call, entry, gid, ngroups, args):
    """approx_count_distinct: DuckDB's HyperLogLog over DuckDB's hash, so the estimates agree;
    the exact count for the types whose hash Dawn does not reproduce (HUGEINT, lists)."""
    from engine.physical.hyperloglog import estimate
    from engine.plan.functions.hashing import hash_values
    gid, (arr,) = _valid_rows(gid, args[0])
    hashes = hash_values(arr)
    if hashes is None:
        gid, _ = _distinct_rows(gid, [arr])
        return pa.array(np.bincount(gid, minlength=ngroups).astype(np.int64))
    return estimate(gid, hashes, ngroups)


_FAMILIES = {"hll": _hll, "minmax": _minmax, "first": _first, "list": _list, "string_agg": _string_agg,
             "bits": _bits, "bool": _bool, "mode": _mode, "arg": _arg, "quantile": _quantile,
             "variance": _variance, "bivariate": _bivariate, "count": _count}
