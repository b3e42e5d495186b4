"""WindowExec: window functions over partitions and frames, vectorized with numpy.

For each window specification the input is sorted once by (partition, order) keys; partition and
peer-group boundaries become index arrays, every frame becomes a [lo, hi] row range, and
aggregates over frames are answered from prefix sums (counts, integer sums: exact, HUGEINT as
DuckDB), running sums or a segment tree of partial sums (float sums: a frame's sum adds only
values of that frame, so it does not carry the rounding of a huge value outside it), or a sparse
table (min, max) — no per-row Python. Over whole partitions every aggregate (of the registry or
a user's) is computed by its accumulator (``engine.physical.accumulator``) on partition ids, the
same code as GROUP BY; a user aggregate over frames goes through its accumulator too
(``window_frames``). Ranking and offset functions are ``PartitionEvaluator``s
(``window_evaluators``). Results are scattered back to the input's row order.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, NotSupportedError
from engine.physical import aggregate_kernels as K
from engine.physical.accumulator import make_accumulator
from engine.physical.evaluate import evaluate_array
from engine.physical.operator import Operator, collect, table_batches, SINK
from engine.physical.sort import as_batch, key_columns
from engine.physical.window_evaluators import evaluator as window_evaluator
from engine.physical.window_frames import frame_values
from engine.plan import aggregates as R
from engine.plan import types as T
from engine.plan.expressions import AggCall, WindowCall
from udfs.accumulator import WindowRows


def _changes(arr: pa.Array) -> np.ndarray:
    """changes[i] is True where arr[i] differs from arr[i-1] (NULLs equal each other)."""
    n = len(arr)
    out = np.zeros(n, dtype=bool)
    if n <= 1 or pa.types.is_null(arr.type):  # an untyped NULL key: one peer group
        out[:1] = True
        return out
    a, b = arr.slice(1), arr.slice(0, n - 1)
    eq = pc.equal(a, b)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    same = pc.or_(pc.fill_null(eq, False), both_null)
    if pa.types.is_floating(arr.type):
        same = pc.or_(same, pc.and_(pc.fill_null(pc.is_nan(a), False), pc.fill_null(pc.is_nan(b), False)))
    out[1:] = ~same.to_numpy(zero_copy_only=False)
    out[0] = True
    return out


def _segment_starts(change: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row of its segment."""
    idx = np.where(change, np.arange(len(change)), 0)
    return np.maximum.accumulate(idx) if len(idx) else idx


def _segment_ends(change: np.ndarray) -> np.ndarray:
    """For each row, one past the index of the last row of its segment."""
    n = len(change)
    if n == 0:
        return np.array([], dtype=np.int64)
    starts = np.nonzero(change)[0]
    ends = np.append(starts[1:], n)
    seg = np.cumsum(change) - 1
    return ends[seg]


def _numeric(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, str]:
    """Values as numbers for frame arithmetic, validity mask, and how to convert back."""
    t = arr.type
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    if pa.types.is_boolean(t):
        return pc.fill_null(arr, False).cast(pa.int64()).to_numpy(), valid, "bool"
    if pa.types.is_unsigned_integer(t) and t.bit_width == 64:
        return pc.fill_null(arr, 0).to_numpy(), valid, "int"
    if pa.types.is_integer(t):
        return pc.fill_null(arr, 0).cast(pa.int64()).to_numpy(), valid, "int"
    if pa.types.is_floating(t):
        return pc.fill_null(arr, 0.0).cast(pa.float64()).to_numpy(), valid, "float"
    if pa.types.is_date(t):
        return pc.fill_null(arr.cast(pa.int32()), 0).cast(pa.int64()).to_numpy(), valid, "date"
    if pa.types.is_timestamp(t):
        return pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(), valid, "ts"
    if t == T.HUGEINT and _fits_int64(arr):  # e.g. sum(sum(x)) OVER (...): HUGEINT that fits
        return pc.fill_null(arr, 0).cast(pa.int64()).to_numpy(), valid, "int"
    raise NotSupportedError(f"Window aggregates over {T.sql_name(t)} values are not supported")


def _fits_int64(arr: pa.Array) -> bool:
    mm = pc.min_max(arr)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    return lo is None or (-(2 ** 63) <= lo and hi < 2 ** 63)


def _is_numeric_like(t: pa.DataType) -> bool:
    return (pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t)
            or pa.types.is_date(t) or pa.types.is_timestamp(t))


def _ranked_extreme(arr: pa.Array, lo, hi, empty, is_min: bool) -> pa.Array:
    """min/max over frames of values with no numeric form (strings): take the extreme of their
    dense sort ranks, then map each rank back to a row holding that value."""
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    ranks = pc.rank(arr, sort_keys="ascending", tiebreaker="dense")  # NULLs rank last; masked below
    ranks = ranks.to_numpy(zero_copy_only=False).astype(np.int64)
    ext = _range_extreme(ranks, valid, lo, hi, is_min)
    cnt_prefix = np.concatenate([[0], np.cumsum(valid.astype(np.int64))])
    none = empty | (cnt_prefix[hi + 1] - cnt_prefix[lo] == 0)
    row_of_rank = np.zeros(int(ranks.max()) + 1 if len(ranks) else 1, dtype=np.int64)
    row_of_rank[ranks] = np.arange(len(ranks))
    src = row_of_rank[np.where(none, 0, ext)]
    return pc.if_else(pa.array(none), pa.scalar(None, arr.type), arr.take(pa.array(src)))


def _range_extreme(vals: np.ndarray, valid: np.ndarray, lo: np.ndarray, hi: np.ndarray, is_min: bool):
    """min/max of vals[lo..hi] (inclusive) for each row via a sparse table; invalid ignored."""
    n = len(vals)
    nan = None
    if vals.dtype.kind == "f":
        fill = np.inf if is_min else -np.inf
        v = np.where(valid, vals, fill)
        if is_min and np.isnan(v).any():  # NaN is above every number (DuckDB): min skips it
            nan = np.isnan(v)
            v = np.where(nan, np.inf, v)
    else:
        info = np.iinfo(np.int64)
        fill = info.max if is_min else info.min
        v = np.where(valid, vals, fill)
    op = np.minimum if is_min else np.maximum
    table = [v]
    k = 1
    while (1 << k) <= n:
        prev = table[-1]
        half = 1 << (k - 1)
        nxt = prev.copy()
        nxt[: n - half] = op(prev[: n - half], prev[half:])
        table.append(nxt)
        k += 1
    length = np.maximum(hi - lo + 1, 1)
    lev = np.floor(np.log2(length)).astype(np.int64)
    out = np.empty(n, dtype=v.dtype)
    for L in np.unique(lev):
        sel = lev == L
        a = table[L][lo[sel]]
        b = table[L][np.maximum(hi[sel] - (1 << L) + 1, 0)]
        out[sel] = op(a, b)
    if nan is not None:  # a frame of NaN (and NULLs) only: its min is NaN
        numbers = np.concatenate([[0], np.cumsum(valid & ~nan)])
        nans = np.concatenate([[0], np.cumsum(nan)])
        only_nan = (numbers[hi + 1] - numbers[lo] == 0) & (nans[hi + 1] - nans[lo] > 0)
        out = np.where(only_nan, np.nan, out)
    return out


def _back(vals: np.ndarray, mask: np.ndarray, kind: str, dtype: pa.DataType) -> pa.Array:
    """numpy results (mask True = NULL) back to an Arrow array of the call's type."""
    if kind == "date":
        return pa.array(vals.astype(np.int32), pa.int32(), mask=mask).cast(pa.date32())
    if kind == "ts":
        return pa.array(vals.astype(np.int64), pa.int64(), mask=mask).cast(dtype)
    if kind == "bool":
        return pa.array(vals.astype(bool), pa.bool_(), mask=mask)
    return pa.array(vals, mask=mask).cast(dtype)


def compute_window(batch: pa.RecordBatch, call: WindowCall, ctx) -> pa.Array:
    n = batch.num_rows
    if n == 0:
        if call.fn in ("udf:label_model", "udf:majority_vote"):
            raise DataError(f"{call.fn[4:].upper()} over zero rows: there are no votes to learn from")
        return pa.array([], call.dtype)
    parts = [evaluate_array(p, batch, ctx) for p in call.partition]
    orders = [evaluate_array(k.expr, batch, ctx) for k in call.order]
    if parts or orders:
        cols, spec = {}, []
        for i, a in enumerate(parts):
            cols[f"p{i}"] = a
            spec.append((f"p{i}", "ascending", "at_end"))
        for i, (a, k) in enumerate(zip(orders, call.order)):
            c, s = key_columns(f"o{i}", a, k.ascending, k.nulls_first)
            cols.update(c)
            spec.extend(s)
        perm = pc.sort_indices(pa.table(cols), sort_keys=spec).to_numpy()
    else:
        perm = np.arange(n)
    pa_perm = pa.array(perm)
    pchange = np.zeros(n, dtype=bool)
    pchange[0] = True
    for a in parts:
        pchange |= _changes(a.take(pa_perm))
    peer_change = pchange.copy()
    for a in orders:
        peer_change |= _changes(a.take(pa_perm))
    pos = np.arange(n)
    pstart = _segment_starts(pchange)
    pend = _segment_ends(pchange)
    peer_start = _segment_starts(peer_change)
    peer_end = _segment_ends(peer_change)
    args = [evaluate_array(a, batch, ctx).take(pa_perm) for a in call.args]
    rows = WindowRows(pstart, pend, peer_start, peer_end)

    result: pa.Array
    ev = window_evaluator(call)
    udf = call.fn.startswith("udf:")
    entry = None if udf else R.lookup(call.fn)
    if ev is not None:
        result = ev.evaluate_all(args, n, rows)
    elif (udf or entry is not None) and _whole_partition(call):
        # one value per partition, through the call's accumulator: the same code as GROUP BY
        pid = np.cumsum(pchange) - 1
        acc = make_accumulator(_as_agg(call), ctx)
        acc.update(args, pid, int(pid[-1]) + 1)
        if getattr(acc, "per_row", False):  # LABEL_MODEL: one value per row from its partition's fit
            result = acc.evaluate_rows(args, pid)
        else:
            result = acc.finalize().take(pa.array(pid))
    else:
        lo, hi = _frame_bounds(call, pos, pstart, pend, peer_start, peer_end,
                               orders[0].take(pa_perm) if orders else None)
        if udf:  # a user aggregate over frames: its accumulator, one group per row
            agg = _as_agg(call)
            result = frame_values(lambda: make_accumulator(agg, ctx), args, lo, hi)
        else:
            result = _frame_aggregate(_frame_kind(call.fn, entry), args, lo, hi, call.dtype, pstart, pend)
    inverse = np.empty(n, dtype=np.int64)
    inverse[perm] = pos
    return result.take(pa.array(inverse))


def _as_agg(call: WindowCall) -> AggCall:
    return AggCall(call.fn, call.args, call.dtype, False, None, call.options)


def _frame_kind(fn: str, entry: R.AggregateFunction | None) -> str:
    """What ``_frame_aggregate`` computes for a function: a window-only frame function by name,
    an aggregate by its registry family (the names below are DuckDB's, read from the entry)."""
    if entry is None:
        return fn  # first_value, last_value, nth_value
    fam, v = entry.family, entry.variant
    if fam == "count":
        return "count_star" if v == "star" else "count" if v == "" else entry.name
    if fam == "bool":
        return "min" if v == "and" else "max"
    if fam in ("minmax", "variance", "first"):
        return v  # min, max; stddev_samp, ...; first, last
    return fam  # sum, avg, count_if


def _whole_partition(call: WindowCall) -> bool:
    f = call.frame
    if f is None:
        return not call.order
    return f.start is None and f.end is None


def _frame_bounds(call: WindowCall, pos, pstart, pend, peer_start, peer_end, key: pa.Array | None):
    f = call.frame
    if f is None:
        if call.order:
            return pstart, peer_end - 1
        return pstart, pend - 1
    if f.mode == "range":
        return _range_bounds(f, call, pstart, pend, peer_start, peer_end, key)
    lo = pstart if f.start is None else np.maximum(pstart, pos - f.start)
    hi = pend - 1 if f.end is None else np.minimum(pend - 1, pos + f.end)
    return lo, hi


def _range_bounds(f, call: WindowCall, pstart, pend, peer_start, peer_end, key: pa.Array | None):
    """[lo, hi] of RANGE frames: CURRENT ROW means the peer group, an offset n means the rows whose
    ORDER BY value lies within n of the current row's (found by a vectorized binary search inside
    the partition's non-NULL keys); a NULL key's offset bounds are its peers, as in DuckDB."""
    lo = pstart if f.start is None else peer_start
    hi = pend - 1 if f.end is None else peer_end - 1
    if not {f.start, f.end} - {None, 0}:
        return lo, hi
    n = len(pstart)
    vals, valid, _ = _numeric(key)
    vals = vals.astype(np.float64)
    if not call.order[0].ascending:
        vals = -vals  # search descending keys as ascending ones; PRECEDING stays "before"
    # the non-NULL keys of each partition are contiguous: NULLs sort first or last
    cvalid = np.concatenate([[0], np.cumsum(valid)])
    nvalid = cvalid[pend] - cvalid[pstart]
    if call.order[0].nulls_first:
        seg_lo, seg_hi = pend - nvalid, pend
    else:
        seg_lo, seg_hi = pstart, pstart + nvalid

    def first_at_least(target, strict: bool):
        a, b = seg_lo.copy(), seg_hi.copy()
        while True:
            active = a < b
            if not active.any():
                return a
            mid = (a + b) // 2
            v = vals[np.minimum(mid, n - 1)]
            below = (v <= target) if strict else (v < target)
            a = np.where(active & below, mid + 1, a)
            b = np.where(active & ~below, mid, b)

    with np.errstate(invalid="ignore"):
        if f.start not in (None, 0):
            lo = np.where(valid, first_at_least(vals - f.start, False), peer_start)
        if f.end not in (None, 0):
            hi = np.where(valid, first_at_least(vals + f.end, True) - 1, peer_end - 1)
    return lo, hi


def _segmented_cumsum(v: np.ndarray, pstart: np.ndarray, reverse: bool = False) -> np.ndarray:
    """Running sums that restart at each partition (forward, or from the partition's end), added
    in order with no subtraction: the sum of a frame that starts (or ends) at its partition's
    edge is then as exact as a plain sum, whatever came before it in other partitions."""
    import pandas as pd  # its grouped cumsum restarts per group in C; numpy's cannot
    odd = ~np.isfinite(v) if v.dtype.kind == "f" else None
    if odd is not None and odd.any():
        # pandas' grouped cumsum skips NaN and compensates (Kahan), which turns inf + 1 into NaN;
        # the finite values are summed on their own and NaN / +inf / -inf counted beside them
        sums = _segmented_cumsum(np.where(odd, 0.0, v), pstart, reverse)
        seen = [_segmented_cumsum(m.astype(np.int64), pstart, reverse)
                for m in (np.isnan(v), v == np.inf, v == -np.inf)]
        nan, pos, neg = (c > 0 for c in seen)
        out = np.where(pos, np.inf, np.where(neg, -np.inf, sums))
        return np.where(nan | (pos & neg), np.nan, out)
    if reverse:
        return pd.Series(v[::-1]).groupby(pstart[::-1], sort=False).cumsum().to_numpy()[::-1]
    return pd.Series(v).groupby(pstart, sort=False).cumsum().to_numpy()


_DIRECT_WIDTH = 16  # frames spanning at most this many offsets are summed value by value


def _frame_sums(v: np.ndarray, lo, hi, lo_c, hi_c, pstart, pend) -> np.ndarray:
    """sum(v[lo..hi]) per row of float values, adding only values inside each frame: a running
    sum per partition when frames start or end at the partition's edge; left to right, offset by
    offset, for narrow sliding frames (DuckDB's order); else a segment tree of partial sums."""
    if np.array_equal(lo, pstart):
        return _segmented_cumsum(v, pstart)[hi_c]
    if np.array_equal(hi, pend - 1):
        return _segmented_cumsum(v, pstart, reverse=True)[lo_c]
    n = len(v)
    pos = np.arange(n)
    nonempty = hi >= lo
    if not nonempty.any():
        return np.zeros(n)
    first, last = int((lo - pos)[nonempty].min()), int((hi - pos)[nonempty].max())
    if last - first + 1 <= _DIRECT_WIDTH:
        out = np.zeros(n)
        for j in range(first, last + 1):
            src = pos + j
            inside = (src >= lo) & (src <= hi)
            out += np.where(inside, v[np.clip(src, 0, n - 1)], 0.0)
        return out
    return _tree_sums(v, np.where(nonempty, lo, 0), np.where(nonempty, hi + 1, 0))


def _tree_sums(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """sum(v[lo:hi]) (half-open) for every row at once: a bottom-up segment tree, climbed one
    level per step for all rows together (O(n log n), each frame summing O(log n) nodes that lie
    inside it)."""
    levels = [v.astype(np.float64)]
    while len(levels[-1]) > 1:
        p = levels[-1]
        if len(p) % 2:
            p = np.append(p, 0.0)
        levels.append(p[0::2] + p[1::2])
    out = np.zeros(len(lo))
    a, b = lo.astype(np.int64).copy(), hi.astype(np.int64).copy()
    for lev in levels:
        left = (a < b) & (a & 1 == 1)
        out[left] += lev[a[left]]
        a = a + left
        right = (a < b) & (b & 1 == 1)
        b = b - right
        out[right] += lev[b[right]]
        if not (a < b).any():
            break
        a >>= 1
        b >>= 1
    return out


def _int_frame_sums(v: np.ndarray, lo_c, hi_c, empty, dtype: pa.DataType) -> pa.Array:
    """Exact integer frame sums: int64 prefix sums when no prefix can overflow, else prefix sums
    of the values' high and low 32-bit halves, combined in decimal128 (HUGEINT)."""
    n = len(v)
    mx = max(abs(int(v.min())), abs(int(v.max()))) if n else 0
    if n * mx < 2 ** 63:
        pre = np.concatenate([[0], np.cumsum(v.astype(np.int64))])
        return pa.array(pre[hi_c + 1] - pre[lo_c], pa.int64(), mask=empty).cast(dtype)
    if v.dtype == np.uint64:
        high, low = (v >> np.uint64(32)).astype(np.int64), (v & np.uint64(0xFFFFFFFF)).astype(np.int64)
    else:
        high, low = v >> 32, v & 0xFFFFFFFF
    ph = np.concatenate([[0], np.cumsum(high)])
    pl = np.concatenate([[0], np.cumsum(low)])
    d19 = pa.decimal128(19, 0)
    h = pa.array(ph[hi_c + 1] - ph[lo_c], pa.int64(), mask=empty).cast(d19)
    lw = pa.array(pl[hi_c + 1] - pl[lo_c], pa.int64(), mask=empty).cast(d19)
    import decimal
    s = pc.add(pc.multiply(h, pa.scalar(decimal.Decimal(2 ** 32), pa.decimal128(10, 0))), lw)
    return K.as_type(s.cast(K.HUGEINT), dtype)


def _frame_aggregate(fn: str, args, lo: np.ndarray, hi: np.ndarray, dtype: pa.DataType,
                     pstart: np.ndarray, pend: np.ndarray) -> pa.Array:
    n = len(lo)
    empty = hi < lo
    lo_c = np.clip(lo, 0, max(n - 1, 0))
    hi_c = np.clip(hi, 0, max(n - 1, 0))
    if fn == "count_star":
        return pa.array(np.where(empty, 0, hi - lo + 1), pa.int64())
    if fn in ("first_value", "last_value", "nth_value", "first", "last"):  # see _frame_kind
        if fn in ("first_value", "first"):
            src = lo_c
        elif fn in ("last_value", "last"):
            src = hi_c
        else:
            k = int(args[1][0].as_py())
            src = lo + k - 1
            empty = empty | (src > hi)
            src = np.clip(src, 0, max(n - 1, 0))
        taken = args[0].take(pa.array(src))
        return pc.if_else(pa.array(empty), pa.scalar(None, dtype), taken)
    if fn in ("min", "max") and not _is_numeric_like(args[0].type):
        return _ranked_extreme(args[0], lo_c, hi_c, empty, fn == "min")
    if fn == "count_if":  # DuckDB's count_if is the sum of its true values: NULL without values
        fn, args = "sum", [args[0].cast(pa.int64())]
    vals, valid, kind = _numeric(args[0])
    cnt_prefix = np.concatenate([[0], np.cumsum(valid.astype(np.int64))])
    cnt = np.where(empty, 0, cnt_prefix[hi_c + 1] - cnt_prefix[lo_c])
    if fn == "count":
        return pa.array(cnt, pa.int64())
    if fn in ("min", "max"):
        ext = _range_extreme(vals, valid, lo_c, hi_c, fn == "min")
        return _back(ext, cnt == 0, kind, dtype)
    if kind in ("date", "ts"):
        raise NotSupportedError(f"{fn} over dates in a window is not supported")
    v = np.where(valid, vals, 0)
    if fn == "sum":
        if kind in ("int", "bool"):
            return _int_frame_sums(v, lo_c, hi_c, cnt == 0, dtype)
        s = _frame_sums(v, lo, hi, lo_c, hi_c, pstart, pend)
        return _back(s, cnt == 0, "float", dtype)
    vf = v.astype(np.float64)
    if fn == "avg":
        with np.errstate(all="ignore"):
            if kind in ("int", "bool"):  # the exact sum, divided in extended precision
                s = K.as_longdouble(_int_frame_sums(v, lo_c, hi_c, cnt == 0, K.HUGEINT))
                return pa.array((s / np.maximum(cnt, 1)).astype(np.float64), pa.float64(), mask=cnt == 0)
            s = _frame_sums(vf, lo, hi, lo_c, hi_c, pstart, pend)
            return pa.array(s / np.maximum(cnt, 1), pa.float64(), mask=cnt == 0)
    if fn in ("stddev_pop", "var_pop", "stddev_samp", "var_samp"):
        # variance is shift-invariant: centring each partition on one of its values keeps the
        # sums small, so equal values give exactly 0 instead of a cancellation residue
        last_valid = np.maximum.accumulate(np.where(valid, np.arange(n), -1))[pend - 1]
        ref = np.where(last_valid >= pstart, vf[np.maximum(last_valid, 0)], 0.0)  # per partition
        vf = np.where(valid, vf - ref, 0.0)
        s = _frame_sums(vf, lo, hi, lo_c, hi_c, pstart, pend)
        s2 = _frame_sums(vf * vf, lo, hi, lo_c, hi_c, pstart, pend)
        ddof = 0 if fn.endswith("_pop") else 1
        with np.errstate(all="ignore"):
            var = (s2 - s * s / np.maximum(cnt, 1)) / np.maximum(cnt - ddof, 1)
        var = np.maximum(var, 0.0)
        if ddof == 0:  # DuckDB: the population variance of one value is 0, even of NaN or inf
            var = np.where(cnt == 1, 0.0, var)
        out = np.sqrt(var) if fn.startswith("stddev") else var
        return pa.array(out, pa.float64(), mask=cnt <= ddof)
    raise NotSupportedError(f"Window function {fn} is not supported")


class WindowExec(Operator):
    ROLES = (SINK,)
    def __init__(self, child: Operator, funcs, schema: pa.Schema, **kw):
        super().__init__(schema, (child,), **kw)
        self.funcs = funcs  # [(out ColumnRef, WindowCall)]

    def params(self) -> str:
        return ", ".join(f"{f.sql()} AS {c.sql()}" for c, f in self.funcs)

    def _execute(self, ctx):
        t = collect(self._children[0], ctx)
        b = as_batch(t)
        cols = list(b.columns)
        for c, f in self.funcs:
            cols.append(K.as_type(compute_window(b, f, ctx), c.dtype))
        if not cols:
            yield from table_batches(t)
            return
        yield from table_batches(pa.Table.from_arrays(cols, schema=self._schema))
