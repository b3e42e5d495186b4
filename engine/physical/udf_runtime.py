"""Calling UDFs during a statement: batching, result reuse, validation and measurement.

For each call site and batch: compute a key per row (the input's identity), answer rows already
seen from the statement's memo or the stored result cache, call the function only on the rest,
in chunks of its ``batch_size``, check that it returned one value of the declared type per row,
and record calls, rows, seconds and cache hits (EXPLAIN ANALYZE and catalog statistics).
A failing function is re-run row by row on the failing chunk to name the row that broke it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
from engine.physical.udf_memo import BatchKeys, Memo, int_keys, key_domain
from engine.plan import types as T
from udfs.core import AUTO_CACHE_SECONDS

_MULT = None
_I64 = pa.int64()


@dataclass
class UdfMetrics:
    batches: int = 0         # function calls (each on up to batch_size rows)
    rows: int = 0            # rows the function computed
    seconds: float = 0.0
    cache_hits: int = 0      # rows answered from the stored cache
    memo_hits: int = 0       # rows answered from earlier calls in this statement
    tested: int = 0          # rows a predicate containing this function tested
    passed: int = 0          # ... and let through
    bookkeeping: float = 0.0  # seconds keying rows, looking them up and keeping results

    def describe(self) -> str:
        per = f" cost={self.seconds / self.rows * 1000:.3f}ms/row" if self.rows else ""
        return (f"calls={self.batches} rows_computed={self.rows} cache_hits={self.cache_hits} "
                f"reused={self.memo_hits} time={self.seconds * 1000:.1f}ms{per}")


def _content_keys(args: list[pa.Array], n: int) -> pa.Array:
    """A digest per row of the argument values (inputs with no better identity)."""
    global _MULT
    parts = []
    for a in args:
        if isinstance(a, pa.ChunkedArray):
            a = a.combine_chunks()
        if isinstance(a.type, pa.FixedShapeTensorType):
            data = np.ascontiguousarray(a.to_numpy_ndarray()).reshape(n, -1)
            pad = (-data.shape[1]) % 8
            if pad:
                data = np.concatenate([data, np.zeros((n, pad), np.uint8)], axis=1)
            words = data.view(np.uint64)
            if _MULT is None or len(_MULT[0]) < words.shape[1]:
                rng = np.random.default_rng(0x5eed)
                m = words.shape[1]
                _MULT = (rng.integers(1, 2 ** 63, m, dtype=np.uint64) | np.uint64(1),
                         rng.integers(1, 2 ** 63, m, dtype=np.uint64) | np.uint64(1))
            m = words.shape[1]
            with np.errstate(over="ignore"):
                # einsum accumulates without the n x m temporary that (words * mult).sum makes:
                # 0.23 instead of 0.84 ms a 720p frame, and the same wrapping sums (same keys)
                h1 = np.einsum("ij,j->i", words, _MULT[0][:m])
                h2 = np.einsum("ij,j->i", words, _MULT[1][:m])
            parts.append(pa.array([f"t{x:016x}{y:016x}" for x, y in zip(h1.tolist(), h2.tolist())]))
            continue
        try:
            s = pc.cast(a, pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            s = pa.array([repr(v) for v in a.to_pylist()], pa.string())
        parts.append(pc.fill_null(s, "\x00N"))
    if not parts:
        return pa.array([""] * n, pa.string())
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "\x1f")


def _identity_keys(identity: list, n: int, rows: np.ndarray | None = None) -> pa.Array:
    ident = identity[0]
    prefix = ident.as_py() if isinstance(ident, pa.Scalar) else str(ident[0])
    ids = identity[1]
    ids = pa.repeat(ids, n) if isinstance(ids, pa.Scalar) else ids
    if rows is not None:
        ids = ids.take(pa.array(rows))
    return pc.binary_join_element_wise(pa.scalar(prefix + ":"), pc.cast(ids, pa.string()), "")


def batch_keys(identity: list, arrays: list[pa.Array], n: int) -> BatchKeys:
    """Each row's key: its identity (video and frame id) or its argument values."""
    if identity:
        ident = identity[0]
        prefix = ident.as_py() if isinstance(ident, pa.Scalar) else str(ident[0])
        ids = identity[1]
        ids = pa.repeat(ids, n) if isinstance(ids, pa.Scalar) else ids
        if pa.types.is_integer(ids.type) and not ids.null_count:
            ints = (ids if ids.type == _I64 else ids.cast(_I64)).to_numpy()
            return BatchKeys(n, "i:" + prefix, ints,
                             strings=lambda rows: _identity_keys(identity, n, rows))
        return BatchKeys(n, text=_identity_keys(identity, n))
    if len(arrays) == 1:
        got = int_keys(arrays[0])
        if got is not None:
            return BatchKeys(n, key_domain(arrays[0].type), got[0], got[1],
                             strings=lambda rows: _content_keys(
                                 [a if rows is None else a.take(pa.array(rows)) for a in arrays],
                                 n if rows is None else len(rows)))
    return BatchKeys(n, text=_content_keys(arrays, n))


def _same(seen: list, now: list) -> bool:
    """Whether two calls' inputs are the very same Arrow data: the same buffers (kept alive by
    the memo, so not reused), offset and type. Not ``equals``: that holds -0.0 equal to 0.0,
    which a function may tell apart."""
    if len(seen) != len(now):
        return False
    for a, b in zip(seen, now):
        if a is b:
            continue
        if type(a) is not type(b):
            return False
        if isinstance(a, pa.Scalar):
            if pa.types.is_floating(a.type) or not a.equals(b):
                return False
            continue
        if len(a) != len(b) or a.offset != b.offset or a.type != b.type:
            return False
        for x, y in zip(a.buffers(), b.buffers()):
            if x is not y and (x is None or y is None or x.address != y.address or x.size != y.size):
                return False
    return True


def _rows_of(a: pa.Array, rows: np.ndarray) -> pa.Array:
    """``a.take(rows)`` (ascending rows), without Arrow's take where a slice or numpy does."""
    m = len(rows)
    lo, hi = rows[::m - 1].tolist() if m > 1 else (int(rows[0]),) * 2
    if hi - lo == m - 1:  # consecutive rows: a zero-copy slice
        return a.slice(lo, m)
    if not a.null_count and (pa.types.is_integer(a.type) or pa.types.is_floating(a.type)):
        return pa.array(a.to_numpy()[rows], type=a.type)
    return a.take(pa.array(rows))


class UdfRuntime:
    """Per-statement state for every UDF call: memo, result caches, metrics."""

    def __init__(self, caches=None, use_cache: bool = True, cost=None):
        self.caches = caches            # callable (udf) -> catalog.udf_cache.ResultCache | None
        self.use_cache = use_cache
        self.cost = cost                # callable (udf) -> (seconds per row, selectivity)
        self._reuse: dict[tuple, bool] = {}
        self.metrics: dict[str, UdfMetrics] = {}
        self._memo: dict[tuple, Memo] = {}
        self._stores: dict[tuple, object] = {}

    def metric(self, name: str) -> UdfMetrics:
        m = self.metrics.get(name)
        if m is None:
            m = self.metrics[name] = UdfMetrics()
        return m

    def reusable(self, u) -> bool:
        """Whether results of ``u`` are worth keeping (memo and stored cache): a deterministic
        model UDF or one declared ``cache=True``; with ``cache=None``, one whose cost per row
        (measured, else its hint) reaches AUTO_CACHE_SECONDS."""
        key = (u.name, u.version)
        got = self._reuse.get(key)
        if got is None:
            if not u.deterministic or u.cache is False:
                got = False
            elif u.cache or u.model:
                got = True
            else:
                per_row = self.cost(u)[0] if self.cost is not None else (u.cost or 0.0)
                got = per_row >= AUTO_CACHE_SECONDS
            self._reuse[key] = got
        return got

    def _cache(self, u, dtype):
        if not (self.use_cache and self.caches is not None and self.reusable(u)):
            return None
        key = (u.name, u.version)
        if key not in self._stores:
            self._stores[key] = self.caches(u, dtype)
        return self._stores[key]

    def call(self, expr, args: list, identity: list, n: int) -> pa.Array:
        u = expr.udf
        arrays = [a if not isinstance(a, pa.Scalar) else pa.repeat(a, n) if a.type != pa.null()
                  else pa.nulls(n) for a in args]
        arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
        m = self.metric(u.name)
        if n == 0:
            return pa.array([], expr.dtype)
        if not self.reusable(u):
            out = self._compute(expr, arrays, n, m)  # cheap or order-dependent: just call it
            if u.cache is None and u.deterministic and m.rows and \
                    m.seconds / m.rows >= AUTO_CACHE_SECONDS:
                # measured expensive on its first use: keep what was computed, reuse from now on
                self._reuse[(u.name, u.version)] = True
                self._remember(u, expr.dtype, batch_keys(identity, arrays, n), out)
            return out
        t0 = time.perf_counter()
        memo = self._memo_for(u, expr.dtype)
        if memo.last is not None and _same(memo.last[0], arrays) and _same(memo.last[1], identity):
            # the function again on the batch it just saw (``f(x), f(x) + 1``): its last answer
            m.memo_hits += n
            m.bookkeeping += time.perf_counter() - t0
            return memo.last[2]
        keys = batch_keys(identity, arrays, n)
        cache = self._cache(u, expr.dtype)
        cpos = None
        if cache is None:
            # each row's position, the rows of new keys claiming the next ones (one row per key)
            pos, first = memo.find(keys)
            m.memo_hits += n - len(first)
        else:
            pos, first, cpos = self._find_cached(memo, cache, keys, m)
        if len(first):
            m.bookkeeping += time.perf_counter() - t0
            whole = len(first) == n  # every row is new and distinct: no copies of (large) inputs
            try:
                computed = self._compute(expr, arrays if whole else [_rows_of(a, first) for a in arrays],
                                         len(first), m)
            except BaseException:
                self._memo.pop((u.name, u.version), None)  # its claimed positions stay empty
                raise
            t0 = time.perf_counter()
            memo.fill(computed)
            if cache is not None:
                cache.add(keys.cache_keys(None if whole else first), computed)
            if whole:
                memo.saw(keys, arrays, identity, computed)
                m.bookkeeping += time.perf_counter() - t0
                return computed
        if cpos is None:
            result = memo.take(pos)
        else:
            have = pos >= 0
            if not np.count_nonzero(have):
                result = cache.get(cpos)
            else:
                result = pc.if_else(pa.array(have), memo.take(np.where(have, pos, 0)),
                                    cache.get(np.where(have, 0, cpos)))
        memo.saw(keys, arrays, identity, result)
        m.bookkeeping += time.perf_counter() - t0
        return result

    @staticmethod
    def _find_cached(memo: Memo, cache, keys: BatchKeys, m: UdfMetrics):
        """``Memo.find`` with the stored cache asked about the rows the memo does not know:
        positions in the memo (-1 for rows the cache answers), the rows to compute, and the
        positions in the cache (None if it answers none)."""
        n = keys.n
        pos = memo.lookup(keys)                        # -1: not computed in this statement
        miss = (pos < 0).nonzero()[0]
        m.memo_hits += n - len(miss)
        cpos = None
        if len(miss):
            got = cache.lookup(keys.cache_keys(miss if len(miss) != n else None))
            found = got >= 0
            hits = np.count_nonzero(found)
            if hits:
                m.cache_hits += hits
                cpos = np.full(n, -1, dtype=np.int64)
                cpos[miss[found]] = got[found]
                miss = miss[~found]
        if not len(miss):
            return pos, miss, cpos
        claimed, first = memo.claim(keys, None if len(miss) == n else miss)
        pos[miss] = claimed
        m.memo_hits += len(miss) - len(first)
        return pos, first, cpos

    def _memo_for(self, u, dtype) -> Memo:
        memo_key = (u.name, u.version)
        memo = self._memo.get(memo_key)
        if memo is None:
            memo = self._memo[memo_key] = Memo(dtype)
        return memo

    def _remember(self, u, dtype, keys: BatchKeys, values: pa.Array) -> None:
        """Keep a batch's results, computed before the function was known to be worth keeping,
        for the rest of the statement (once per key) and in the stored cache."""
        memo = self._memo_for(u, dtype)
        _, first = memo.claim(keys, None)
        memo.fill(values if len(first) == len(values) else values.take(pa.array(first)))
        cache = self._cache(u, dtype)
        if cache is not None:
            cache.add(keys.cache_keys(None), values)

    def _compute(self, expr, arrays: list[pa.Array], n: int, m: UdfMetrics) -> pa.Array:
        u = expr.udf
        size = u.batch_size or n or 1
        pieces = []
        for s in range(0, n, size):
            chunk = [a.slice(s, size) for a in arrays]
            k = min(size, n - s)
            t0 = time.perf_counter()
            try:
                out = u.fn(*chunk) if not u.row else self._rows(u, chunk, k)
            except Exception as e:
                m.seconds += time.perf_counter() - t0
                raise self._locate(u, chunk, k, s, e) from None
            m.seconds += time.perf_counter() - t0
            m.batches += 1
            m.rows += k
            pieces.append(self._check(u, out, k, expr.dtype))
        return pa.concat_arrays(pieces) if len(pieces) != 1 else pieces[0]

    @staticmethod
    def _rows(u, chunk, k):
        cols = [c.to_pylist() for c in chunk]
        return [u.fn(*[c[i] for c in cols]) for i in range(k)]

    def _locate(self, u, chunk, k, offset, err) -> DataError:
        """Find the first row on which the function fails (only on the error path)."""
        for i in range(k):
            one = [c.slice(i, 1) for c in chunk]
            try:
                u.fn(*one) if not u.row else self._rows(u, one, 1)
            except Exception as e:  # noqa: PERF203 - error path
                vals = ", ".join(_short(c[i]) for c in chunk)
                return DataError(f'UDF "{u.name}" failed on row {offset + i} of its input '
                                 f"(arguments: {vals}): {type(e).__name__}: {e}")
        return DataError(f'UDF "{u.name}" failed on a batch of {k} rows (rows {offset}..{offset + k - 1}) '
                         f"but not on any row alone: {type(err).__name__}: {err}")

    @staticmethod
    def _check(u, out, k: int, dtype: pa.DataType) -> pa.Array:
        if isinstance(out, pa.ChunkedArray):
            out = out.combine_chunks()
        if isinstance(out, np.ndarray) and out.ndim > 1 and isinstance(dtype, pa.FixedShapeTensorType):
            out = pa.FixedShapeTensorArray.from_numpy_ndarray(np.ascontiguousarray(out))
        if not isinstance(out, pa.Array):
            try:
                out = pa.array(out if not isinstance(out, np.ndarray) else out, type=None)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
                raise DataError(f'UDF "{u.name}" returned values Arrow cannot read '
                                f"({type(out).__name__}): {e}") from None
        if len(out) != k:
            raise DataError(f'UDF "{u.name}" returned {len(out)} values for {k} input rows; a '
                            "vectorized UDF must return exactly one value per row")
        if out.type != dtype:
            try:
                if pa.types.is_null(out.type):
                    return pa.nulls(k, dtype)
                bad_kind = (T.is_string(out.type) != T.is_string(dtype)) and not pa.types.is_null(dtype)
                if bad_kind:
                    raise pa.ArrowInvalid("different kind")
                out = out.cast(dtype)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                raise DataError(f'UDF "{u.name}" returned {T.sql_name(out.type)} values but declares '
                                f"{T.sql_name(dtype)}") from None
        if getattr(u, "labels", None) is not None and out.null_count < len(out):
            known = pc.is_in(out, value_set=pa.array(list(u.labels), out.type))
            bad = pc.and_(pc.invert(known), pc.is_valid(out))
            if pc.any(bad).as_py():
                first = out.filter(bad)[0].as_py()
                raise DataError(f'Labeling function "{u.name}" voted {first!r}, which is not one of its '
                                f"labels {list(u.labels)} (return None to abstain)")
        return out


def _short(v) -> str:
    s = repr(v.as_py()) if not isinstance(v.type, pa.ExtensionType) else f"<{v.type.extension_name}>"
    return s if len(s) <= 60 else s[:57] + "..."
