"""Running a compiled pipeline: Arrow chunks in, the aggregate's result table out.

Per chunk (a Parquet row group read in its stored types, so decimals stay decimal128 and
low-cardinality strings stay dictionaries; a batch of an in-memory table; any other source's
batches) the columns' physical forms make the signature that picks the kernel; strings without a
dictionary are dictionary-encoded (for an in-memory table once, kept with the table); each
dictionary use gets its table (a predicate evaluated on the dictionary values by Dawn's own
kernels, or the dictionary's group codes); the kernel runs over the buffers' addresses through
ctypes, which releases the GIL. Group keys are dense: each key's codes (dictionary entries seen so
far, an integer range, a boolean) multiply into one slot of the accumulator arrays; when a chunk
widens a key's range the arrays are re-laid out. Anything found only now that the kernel cannot
take (a type, more than ``MAX_SLOTS`` groups, an overflow) raises ``Unsupported``: the caller then
runs the vectorized path from the start (nothing has been emitted).
"""
from __future__ import annotations

import ctypes
import math
import datetime as _dt
import struct
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.jit.codegen import plan_kernel
from engine.jit.kernel import DICT_BITS, ColSig, KernelPlan, Template, Unsupported
from engine.plan.expressions import Literal

MAX_SLOTS = 1 << 20   # accumulator slots (product of the keys' domains) before falling back
MAX_DICT = 1 << 16    # dictionary entries a string key may have (its remap is a Python loop)
_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                       ctypes.c_void_p)


kernel_plan = plan_kernel


@dataclass
class RunStats:
    """What EXPLAIN ANALYZE shows for a compiled pipeline."""
    compile_s: float = 0.0
    kernel_s: float = 0.0
    chunks: int = 0
    rows: int = 0
    kernels: dict = field(default_factory=dict)  # kernel key -> how it was obtained
    replayed: bool = False  # the calls of an earlier identical run, made again (_replay)

    def describe(self) -> str:
        hows = sorted(set(self.kernels.values()))
        cache = "hit" if hows and all(h != "compiled" for h in hows) else "miss"
        return (f"compile={self.compile_s * 1000:.1f}ms cache={cache}({','.join(hows)}) "
                f"kernels={len(self.kernels)} chunks={self.chunks} loop={self.kernel_s * 1000:.1f}ms"
                + (" replayed" if self.replayed else ""))


# ---------------------------------------------------------------------------- chunks

def _chunks(scan, columns: list[str], stats):
    """Batches of ``columns`` (source names) in the types the source stores them."""
    src = scan.source
    if getattr(src, "kind", "") == "parquet":
        n = src.meta.num_row_groups
        stats.row_groups_total = n
        stats.columns_read = list(columns)
        for rg in range(n):
            if scan.prune and not src._keep(rg, scan.prune):
                continue
            stats.row_groups_read += 1
            src._account(stats, src.meta.row_group(rg), columns)
            t = src.file.read_row_group(rg, columns=list(dict.fromkeys(columns)), use_threads=False)
            for b in t.to_batches():
                yield b, None
        return
    if getattr(src, "kind", "") == "arrow":
        t = src.table.select(list(dict.fromkeys(columns)))
        stats.columns_read = list(columns)
        stats.bytes_read += t.nbytes
        for i, b in enumerate(t.to_batches()):
            yield b, (src, i)
        return
    for b in src.scan(list(dict.fromkeys(columns)), scan.prune, stats):
        yield b, None


@dataclass
class _Chunk:
    """A chunk ready for a kernel: its columns' forms and the buffers' addresses."""
    n: int
    prepared: list
    sig: list
    c_data: object
    c_valid: object
    c_offs: object
    # what a run reads of the chunk's columns and is the same every run (a key column's min and
    # max, a dictionary's values), kept with a cached chunk: Q1 read them 53 times a run
    facts: dict = field(default_factory=dict)


def _ready(n: int, prepared: list) -> _Chunk:
    data, valid, offs = [], [], []
    for s, arr, _ in prepared:
        bufs = arr.buffers()
        data.append(bufs[1].address)
        valid.append(bufs[0].address if s.nulls else 0)
        offs.append(arr.offset)
    nc = max(len(prepared), 1)
    return _Chunk(n, prepared, [p[0] for p in prepared], (ctypes.c_void_p * nc)(*data),
                  (ctypes.c_void_p * nc)(*valid), (ctypes.c_int64 * nc)(*offs))


def _chunk_cache(src, columns: list[str]) -> tuple[dict, tuple] | tuple[None, None]:
    """(an in-memory table's cache of prepared chunks, the key of ``columns`` in it)."""
    if getattr(src, "kind", "") != "arrow":
        return None, None
    return src.__dict__.setdefault("_jit_chunks", {}), (id(src.table), tuple(columns))


def _expected_calls(scan, columns: list[str], threads: int) -> int | None:
    """The kernel calls a run will make, when an in-memory table's chunks are cached already."""
    cache, key = _chunk_cache(scan.source, columns)
    hit = cache.get(key) if cache is not None and threads > 1 else None
    return None if hit is None else sum(-(-ch.n // MORSEL) for ch in hit[0])


def _prepared_chunks(scan, columns: list[str]):
    """The scan's non-empty chunks, ready. An in-memory table's are prepared once and kept with
    it (its buffers do not move), so a repeated query pays only for its kernels."""
    src = scan.source
    uniq = list(dict.fromkeys(columns))
    cache, key = _chunk_cache(src, columns)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            out, nbytes = hit
            scan.stats.columns_read = list(columns)
            scan.stats.bytes_read += nbytes
            yield from out
            return
    out = []
    for batch, where in _chunks(scan, columns, scan.stats):
        if not batch.num_rows:
            continue
        by_name = {c: batch.column(batch.schema.get_field_index(c)) for c in uniq}
        ch = _ready(batch.num_rows, [_prepare(by_name[c], where, c) for c in columns])
        out.append(ch)
        yield ch
    if cache is not None:
        cache[key] = (out, src.table.select(uniq).nbytes)


def _encoded(arr: pa.Array, where, name: str) -> pa.Array:
    """A string column as a dictionary array; an in-memory table's encoding is kept with it."""
    if where is None:
        return pc.dictionary_encode(arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr)
    src, i = where
    cache = src.__dict__.setdefault("_jit_dictionaries", {})
    data = arr.buffers()[1]
    ident = (name, i, data.address if data is not None else 0, arr.offset, len(arr))
    hit = cache.get(ident)
    if hit is not None:
        return hit
    enc = pc.dictionary_encode(arr if pa.types.is_string(arr.type) else arr.cast(pa.string()))
    if len(enc.dictionary) <= 127:   # one byte an index: a quarter of the bytes to read
        enc = pa.DictionaryArray.from_arrays(enc.indices.cast(pa.int8()), enc.dictionary)
    elif len(enc.dictionary) <= 32767:
        enc = pa.DictionaryArray.from_arrays(enc.indices.cast(pa.int16()), enc.dictionary)
    cache[ident] = enc
    return enc


_KINDS = {pa.int8(): "i8", pa.int16(): "i16", pa.int32(): "i32", pa.int64(): "i64",
          pa.float64(): "f64", pa.bool_(): "bool", pa.date32(): "date"}


def _prepare(arr, where, name: str):
    """(ColSig, the array whose buffers the kernel reads, the dictionary or None)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        arr = _encoded(arr, where, name)
        t = arr.type
    if pa.types.is_dictionary(t):
        bits = t.index_type.bit_width
        if not pa.types.is_signed_integer(t.index_type) or f"dict{bits}" not in DICT_BITS:
            raise Unsupported(f"dictionary indices of type {t.index_type}")
        d = arr.dictionary
        if not pa.types.is_string(d.type):
            if pa.types.is_large_string(d.type) or pa.types.is_string_view(d.type):
                d = d.cast(pa.string())
            else:
                raise Unsupported(f"dictionary of {d.type}")
        ind = arr.indices
        return ColSig(f"dict{bits}", 0, ind.null_count > 0), ind, d
    kind = _KINDS.get(t)
    if kind is None and pa.types.is_decimal128(t) and t.precision <= 18:
        return ColSig("dec", t.scale, arr.null_count > 0), arr, None
    if kind is None:
        raise Unsupported(f"column type {t}")
    return ColSig(kind, 0, arr.null_count > 0), arr, None


def _param_value(lit) -> int:
    v, t = lit.value, lit.dtype
    if t == pa.float64():
        return struct.unpack("<q", struct.pack("<d", float(v)))[0]
    if pa.types.is_date32(t):
        if isinstance(v, _dt.datetime):
            raise Unsupported("a timestamp as a date")
        return (v - _dt.date(1970, 1, 1)).days
    if pa.types.is_boolean(t):
        return int(bool(v))
    return int(v)


# ---------------------------------------------------------------------------- group domains

class _Keys:
    """The dense key space: per key its domain (dictionary values seen, an integer range, a
    boolean), strides, and the accumulator arrays laid out over the product."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds
        self.values: list[list] = [[] for _ in kinds]       # dict: values in code order
        self.index: list[dict] = [{} for _ in kinds]
        self.lo: list[int | None] = [None for _ in kinds]   # int: lowest value
        self.hi: list[int | None] = [None for _ in kinds]

    def sizes(self) -> list[int]:
        out = []
        for k, kind in enumerate(self.kinds):
            if kind == "dict":
                out.append(len(self.values[k]) + 1)
            elif kind == "bool":
                out.append(3)
            else:
                out.append(1 if self.lo[k] is None else self.hi[k] - self.lo[k] + 2)
        return out

    def strides(self, sizes: list[int]) -> list[int]:
        out, s = [], 1
        for n in sizes:
            out.append(s)
            s *= n
        return out

    def remap(self, k: int, d: pa.Array, facts: dict, j: int) -> np.ndarray:
        """Group codes of a chunk's dictionary (last entry: a NULL row)."""
        vals = facts.get(("values", j))
        if vals is None:
            vals = facts[("values", j)] = d.to_pylist()
        if len(vals) > MAX_DICT:
            raise Unsupported("a dictionary too large for dense keys")
        idx, out = self.index[k], np.zeros(len(vals) + 1, dtype=np.int32)
        for i, v in enumerate(vals):
            if v is None:
                continue
            c = idx.get(v)
            if c is None:
                self.values[k].append(v)
                c = idx[v] = len(self.values[k])
            out[i] = c
        return out

    def widen(self, k: int, arr: pa.Array, facts: dict, j: int) -> None:
        got = facts.get(("range", j))
        if got is None:
            if pa.types.is_date32(arr.type):
                arr = arr.view(pa.int32())
            mm = pc.min_max(arr)
            got = facts[("range", j)] = (mm["min"].as_py(), mm["max"].as_py())
        lo, hi = got
        if lo is None:
            return
        if self.lo[k] is None:
            self.lo[k], self.hi[k] = lo, hi
        else:
            self.lo[k], self.hi[k] = min(lo, self.lo[k]), max(hi, self.hi[k])
        if self.hi[k] - self.lo[k] + 2 > MAX_SLOTS:
            raise Unsupported("an integer key range too wide for dense keys")


def _new_state(kind: str, n: int) -> np.ndarray:
    if kind == "i128":
        return _padded((n, 2), np.uint64)
    return _padded((n,), np.int64 if kind == "i64" else np.float64)


_LINE = 128  # bytes kept free around each accumulator array (two cache lines)


def _padded(shape: tuple, dtype) -> np.ndarray:
    """A zeroed array that shares no cache line with any other: small accumulator arrays sat side
    by side in numpy's allocator, so two threads updating their own sets wrote the same lines
    (false sharing): Q1's grouped kernel ran ~35% slower per call on two threads."""
    dt = np.dtype(dtype)
    size = int(np.prod(shape)) * dt.itemsize
    buf = np.zeros(size + 3 * _LINE, dtype=np.uint8)
    start = _LINE + (-buf.ctypes.data) % _LINE
    return buf[start:start + size].view(dt).reshape(shape)


def _relayout(states: list[np.ndarray], old_sizes, old_lo, keys: _Keys, new_sizes) -> list[np.ndarray]:
    """The accumulator arrays moved to a wider key space (codes of a key keep their meaning)."""
    n_old = int(np.prod(old_sizes))
    n_new = int(np.prod(new_sizes))
    slots = np.arange(n_old, dtype=np.int64)
    new_slot = np.zeros(n_old, dtype=np.int64)
    old_strides, new_strides = keys.strides(old_sizes), keys.strides(new_sizes)
    for k, kind in enumerate(keys.kinds):
        code = (slots // old_strides[k]) % old_sizes[k]
        if kind == "int" and old_lo[k] is not None:
            code = np.where(code > 0, code + (old_lo[k] - keys.lo[k]), 0)
        new_slot += code * new_strides[k]
    out = []
    for s in states:
        t = _padded((n_new,) + s.shape[1:], s.dtype)
        t[new_slot] = s[:n_old]
        out.append(t)
    return out


# ---------------------------------------------------------------------------- the run

MORSEL = 1 << 17   # rows a kernel call takes when a pipeline runs on several threads
BATCH = 8          # kernel calls a pool task makes when how many there will be is not known


def threads_of(ctx) -> int:
    """``SET threads = N``: how many threads run a compiled pipeline's kernel calls."""
    try:
        return max(1, int(str((getattr(ctx, "settings", None) or {}).get("threads", 1)).strip()))
    except (TypeError, ValueError):
        return 1


def _morsels(ch: _Chunk, threads: int):
    """``ch`` as morsels of about ``MORSEL`` rows (slices: each column keeps its buffers, and its
    offset grows, which the kernel adds to the row index for values and validity bits alike)."""
    if threads <= 1 or ch.n <= MORSEL + MORSEL // 2:
        yield ch
        return
    for a in range(0, ch.n, MORSEL):
        m = min(MORSEL, ch.n - a)
        if ch.n - (a + m) < MORSEL // 2:   # no small tail
            m = ch.n - a
        yield _ready(m, [(sg, arr.slice(a, m), d) for sg, arr, d in ch.prepared])
        if a + m >= ch.n:
            return


_POOLS: dict = {}
_POOL_LOCK = threading.Lock()


def _pool(threads: int):
    """The process's pool of ``threads`` kernel threads (started once, shared by statements: each
    statement's calls take only its own accumulator sets)."""
    from concurrent.futures import ThreadPoolExecutor
    with _POOL_LOCK:
        p = _POOLS.get(threads)
        if p is None:
            p = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dawn-jit")
        return p



class _Calls:
    """Kernel calls, on the caller's thread (threads=1) or on a pool of threads, each call taking
    one of ``threads`` sets of accumulator arrays (the ungrouped kernels load their registers from
    their set and store them back, so a set is any number of calls' partial result); ``merged``
    combines the sets exactly: counts and integer/decimal sums add (i128 with carry), MIN/MAX by
    their seen-counts, float sums add (their order is unspecified even on one thread).

    On a pool, calls go in batches, one pool task each: a task per call cost Q6 (53 chunks)
    ~1.5 ms of futures and GIL hand-offs on two threads, a fifth of its time, and workers pulling
    single calls from a queue were no better. ``expected`` calls known (a cached in-memory
    table): two batches per thread, so the threads end together; else ``BATCH`` calls a task."""

    def __init__(self, threads: int, states: list[np.ndarray], stats: RunStats,
                 expected: int | None = None) -> None:
        import queue
        self.threads, self.stats = threads, stats
        self.sets = [states] + [[_padded(s.shape, s.dtype) for s in states] for _ in range(threads - 1)]
        self.pool = None
        self.pending: list = []
        self.batch: list = []     # calls not yet handed to the pool
        self.c_states: dict = {}  # id of an accumulator set -> its arrays' addresses (ctypes)
        self.flushed = 0          # batches made
        self.per_task = BATCH if not expected else max(1, -(-expected // (2 * threads)))
        if threads > 1:
            self.pool = _pool(threads - 1)  # the calling thread is the N-th
            self.free = queue.SimpleQueue()
            for st in self.sets:
                self.free.put(st)

    def _call(self, fn, m: _Chunk, c_aux, params, gparams, st) -> tuple[int, float]:
        c_states = self.c_states.get(id(st))
        if c_states is None:  # the set's addresses, made once (again after a relayout)
            c_states = self.c_states[id(st)] = (ctypes.c_void_p * len(st))(*[s.ctypes.data for s in st])
        t0 = time.perf_counter()
        rc = fn(m.n, ctypes.addressof(m.c_data), ctypes.addressof(m.c_valid), ctypes.addressof(m.c_offs),
                ctypes.addressof(c_aux), params.ctypes.data, gparams.ctypes.data,
                ctypes.addressof(c_states))
        return rc, time.perf_counter() - t0

    def _pooled(self, batch: list) -> list[tuple[int, float, int]]:
        st = self.free.get()
        try:
            return [self._call(*args, st) + (args[1].n,) for args in batch]
        finally:
            self.free.put(st)

    def _account(self, rc: int, secs: float, n: int) -> None:
        self.stats.kernel_s += secs
        self.stats.chunks += 1
        self.stats.rows += n
        if rc:
            raise Unsupported("an integer or decimal overflow (the vectorized path decides)")

    def submit(self, fn, m: _Chunk, c_aux, params, gparams) -> None:
        if self.pool is None:
            self._account(*self._call(fn, m, c_aux, params, gparams, self.sets[0]), m.n)
            return
        self.batch.append((fn, m, c_aux, params, gparams))
        if len(self.batch) >= self.per_task:
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            batch, self.batch = self.batch, []
            self.flushed += 1
            if self.flushed % self.threads == 0:  # every N-th batch: on the calling thread,
                for r in self._pooled(batch):      # while the pool's N-1 run theirs
                    self._account(*r)
            else:
                self.pending.append(self.pool.submit(self._pooled, batch))
        while len(self.pending) > 2 * self.threads:   # bounded: a streamed source stays streamed
            for r in self.pending.pop(0).result():
                self._account(*r)

    def drain(self) -> None:
        if self.pool is None:
            return
        self._flush()
        while self.pending:
            for r in self.pending.pop(0).result():
                self._account(*r)

    def relayout(self, old_sizes, old_lo, keys: _Keys, sizes) -> None:
        self.drain()
        self.c_states = {}  # the sets get new arrays
        for st in self.sets:
            st[:] = _relayout(st, old_sizes, old_lo, keys, sizes)

    def close(self) -> None:
        """Waits for every call in flight (their arrays must outlive them); the pool stays."""
        self.batch = []
        while self.pending:
            f = self.pending.pop(0)
            f.cancel() or f.exception()

    def merged(self, kp: KernelPlan) -> list[np.ndarray]:
        out = [s.copy() for s in self.sets[0]]
        merge = kp.meta.get("merge", {})
        for other in self.sets[1:]:
            # MIN/MAX first: they read the seen-counts before those add
            for s, (fn, seen) in merge.items():
                a, b = out[s], other[s]
                sa, sb = out[seen] > 0, other[seen] > 0
                if a.dtype == np.float64:
                    an, bn = np.isnan(a), np.isnan(b)
                    with np.errstate(invalid="ignore"):
                        better = (b < a) | (an & ~bn) if fn == "min" else (b > a) | (bn & ~an)
                else:
                    better = b < a if fn == "min" else b > a
                take = sb & (~sa | better)
                out[s] = np.where(take, b, a)
            for s, (st, o) in enumerate(zip(out, other)):
                if s in merge:
                    continue
                if st.ndim == 2:   # i128 as (lo, hi) words: add with carry, wrapping like the kernel
                    lo = st[:, 0] + o[:, 0]
                    carry = (lo < st[:, 0]).astype(np.uint64)
                    st[:, 1] = st[:, 1] + o[:, 1] + carry
                    st[:, 0] = lo
                else:
                    st += o
        return out


def run(t: Template, scan, agg, ctx, stats: RunStats) -> pa.Table:
    """The aggregate's result over the scan, computed by compiled kernels."""
    threads = threads_of(ctx)
    names = {k: c for c, k in scan.keys.items()}
    columns = [names[k] for k in t.columns]
    nodes = t.nodes()
    scan.stats = type(scan.stats)()
    runs, run_key = _kept_runs(scan, columns, t, threads)
    if runs is not None and run_key in runs:
        return _replay(runs[run_key], t, scan, agg, threads, stats)
    record: list | None = [] if runs is not None else None  # the calls, to keep for a rerun
    grouped = bool(t.groups)
    keys: _Keys | None = None
    sizes: list[int] = [1]
    calls: _Calls | None = None
    plan0: KernelPlan | None = None
    fns: dict[str, tuple] = {}   # kernel key -> (the function, its parameter array)
    plans: dict[tuple, KernelPlan] = {}
    alive: list = []   # what calls still in flight read
    try:
        for ch in _prepared_chunks(scan, columns):
            n, prepared, sig = ch.n, ch.prepared, ch.sig
            scan.stats.rows_read += n
            sig_key = tuple(sig)
            kp = plans.get(sig_key)
            if kp is None:
                kp = plans[sig_key] = kernel_plan(t, sig)
            if plan0 is None:
                plan0 = kp
                if grouped:
                    keys = _Keys([k for k, _ in kp.keys])
                    sizes = keys.sizes()
                calls = _Calls(threads, [_new_state(s.kind, math.prod(sizes)) for s in kp.states],
                               stats, _expected_calls(scan, columns, threads))
            elif [s.kind for s in kp.states] != [s.kind for s in plan0.states] or \
                    [k for k, _ in kp.keys] != [k for k, _ in plan0.keys] or \
                    [(o.rep, o.scale) for o in kp.outs] != [(o.rep, o.scale) for o in plan0.outs] or \
                    kp.meta.get("merge") != plan0.meta.get("merge"):
                raise Unsupported("chunks of different physical types")
            if kp.key not in fns:
                fns[kp.key] = load_kernel(kp, nodes, stats)
            fn, params = fns[kp.key]
            # group codes and the key space
            remaps = {}
            if grouped:
                old_sizes, old_lo = sizes, list(keys.lo)
                for k, (kind, j) in enumerate(kp.keys):
                    if kind == "int":
                        keys.widen(k, prepared[j][1], ch.facts, j)
                for (what, node, j) in kp.aux:
                    if what == "group":
                        k = next(i for i, (kind, jj) in enumerate(kp.keys) if jj == j and kind == "dict")
                        remaps[node] = keys.remap(k, prepared[j][2], ch.facts, j)
                sizes = keys.sizes()
                if math.prod(sizes) > MAX_SLOTS:
                    raise Unsupported(f"more than {MAX_SLOTS} dense group slots")
                if sizes != old_sizes or old_lo != keys.lo:
                    calls.relayout(old_sizes, old_lo, keys, sizes)
            aux_arrays, gparams = chunk_args(t, kp, ch, nodes, ctx, remaps, keys, sizes)
            c_aux = pointers(aux_arrays)
            same = (aux_arrays, c_aux, gparams)
            alive.append(same)
            for m in _morsels(ch, threads):
                calls.submit(fn, m, c_aux, params, gparams)
                if record is not None:  # with what its pointers point at
                    record.append(((fn, m, c_aux, params, gparams), sizes, same))
        if calls is not None:
            calls.drain()
    finally:
        if calls is not None:
            calls.close()
    if plan0 is None:  # no rows: the plan-typed kernel's layout, empty
        from engine.jit.lower import plan_signature
        plan0 = kernel_plan(t, [plan_signature(ty) for ty in t.types])
        if grouped:
            keys = _Keys([k for k, _ in plan0.keys])
            sizes = keys.sizes()
        states = [_new_state(s.kind, int(np.prod(sizes))) for s in plan0.states]
    else:
        states = calls.merged(plan0)
        if record is not None and all(sz == sizes for _, sz, _ in record):
            _keep_run(runs, run_key, _Kept([c for c, _, _ in record], [a for _, _, a in record],
                                           plan0, keys, sizes, scan.stats, dict(stats.kernels)))
    return _finalize(t, plan0, states, keys, sizes, agg)


def load_kernel(kp: KernelPlan, nodes: list, stats) -> tuple:
    """(the callable kernel of ``kp``, its parameter array: the template's literals), its compile
    time and cache outcome noted in ``stats`` (a RunStats, or anything with those fields)."""
    from engine.jit.runtime import compile_kernel
    c = compile_kernel(kp.key, kp.ir)
    stats.compile_s += c.seconds
    stats.kernels[kp.key] = c.how
    return _FN(c.address), np.array([_param_value(nodes[i]) for i in kp.params] or [0], dtype=np.int64)


def chunk_args(t: Template, kp: KernelPlan, ch: _Chunk, nodes: list, ctx, remaps=None, keys=None,
               sizes=None) -> tuple[list[np.ndarray], np.ndarray]:
    """A chunk's auxiliary arrays (group remaps, truth tables of string predicates) and group
    parameters (per key its stride and lowest value, then each column's dictionary length)."""
    aux = [remaps[node] if what == "group" else
           _truth_table(nodes[node], t.columns[j], ch.prepared[j][2], ctx) for what, node, j in kp.aux]
    gp = []
    if t.groups:
        strides = keys.strides(sizes)
        for k in range(len(t.groups)):
            gp += [strides[k], keys.lo[k] if keys.lo[k] is not None else 0]
    gp += [len(p[2]) if p[2] is not None else 0 for p in ch.prepared]
    return aux, np.array(gp or [0], dtype=np.int64)


def pointers(arrays: list[np.ndarray]):
    """The arrays' addresses as a C array of pointers (at least one entry)."""
    return (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])


# ---------------------------------------------------------------------------- kept runs

@dataclass
class _Kept:
    """A run over an in-memory table, kept to be replayed: its kernel calls (with their
    arguments), the key space they were made for, and what the scan read."""
    calls: list
    alive: list   # the arrays the calls' ctypes pointers point into (they must outlive them)
    plan: KernelPlan
    keys: "_Keys | None"
    sizes: list
    stats: object
    kernels: dict


KEPT_RUNS = 16  # per in-memory table: the latest runs kept


def _kept_runs(scan, columns: list[str], t: Template, threads: int):
    """(the in-memory table's kept runs, this run's key), or (None, None) for other sources.
    The key is the template's shape with its literal values (they are the kernels' parameters
    and decide the truth tables) and the threads: the same query again makes the same calls, so
    the Python around them (dictionary remaps, per-chunk arguments: ~1 ms for Q1) is skipped."""
    src = scan.source
    if getattr(src, "kind", "") != "arrow":
        return None, None
    lits = tuple((str(n.dtype), repr(n.value)) for n in t.nodes() if isinstance(n, Literal))
    return src.__dict__.setdefault("_jit_runs", {}), (id(src.table), tuple(columns), t.shape(),
                                                       lits, threads)


def _keep_run(runs: dict, key, kept: _Kept) -> None:
    runs[key] = kept
    while len(runs) > KEPT_RUNS:
        runs.pop(next(iter(runs)))


def _replay(kept: _Kept, t: Template, scan, agg, threads: int, stats: RunStats) -> pa.Table:
    s = kept.stats
    scan.stats.columns_read = list(s.columns_read)
    scan.stats.bytes_read += s.bytes_read
    scan.stats.rows_read += s.rows_read
    for k in kept.kernels:
        stats.kernels[k] = "memory"
    stats.replayed = True
    calls = _Calls(threads, [_new_state(st.kind, math.prod(kept.sizes)) for st in kept.plan.states],
                   stats, len(kept.calls))
    try:
        for c in kept.calls:
            calls.submit(*c)
        calls.drain()
    finally:
        calls.close()
    return _finalize(t, kept.plan, calls.merged(kept.plan), kept.keys, kept.sizes, agg)


def _truth_table(e, key: str, d: pa.Array, ctx) -> np.ndarray:
    """``e`` (a boolean over one string column) on each dictionary value and on NULL: two bytes
    an entry, value and validity."""
    from engine.errors import Error
    from engine.physical.evaluate import evaluate, to_array
    vals = pa.concat_arrays([d, pa.nulls(1, pa.string())])
    batch = pa.RecordBatch.from_arrays([vals], names=[key])
    try:
        r = to_array(evaluate(e, batch, ctx), len(vals))
    except Error as err:  # perhaps on a value no row holds: let the vectorized path decide
        raise Unsupported(f"evaluating {e.sql()} on the dictionary: {err}") from None
    if not pa.types.is_boolean(r.type):
        r = r.cast(pa.bool_())
    out = np.zeros(2 * len(vals), dtype=np.int8)
    out[0::2] = pc.fill_null(r, False).to_numpy(zero_copy_only=False)
    out[1::2] = pc.is_valid(r).to_numpy(zero_copy_only=False)
    return out


_EXACT = 1 << 53  # integers a float64 holds exactly


def _exact_floats(words: np.ndarray, count: np.ndarray, o, dtype: pa.DataType) -> pa.Array | None:
    """An exact 128-bit sum column (or its average) computed with whole-array operations where
    every group's sum fits where that is exact: an int64 for integer sums; below 2**53, with
    ``count * 10**scale`` too, for averages and decimal sums (one IEEE division of two exact
    numbers is correctly rounded, as ``float(Fraction(s, d))``). None otherwise: the caller then
    converts group by group (Q17's 200,000 part keys made that a 100 ms Python loop)."""
    lo = words[:, 0].view(np.int64)
    if not np.array_equal(words[:, 1], np.where(lo < 0, np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))):
        return None  # some sum needs the high word
    none = count == 0
    if o.fn == "sum" and o.rep == "int":
        return pa.array(lo, pa.int64(), mask=none) if dtype == pa.int64() else None
    if o.fn != "avg" and o.rep != "dec":
        return None
    if len(lo) and int(np.abs(lo).max()) >= _EXACT:
        return None
    scale = 10 ** o.scale
    div = np.where(none, 1, count) * scale if o.fn == "avg" else np.full(len(lo), scale)
    if len(div) and int(div.max()) >= _EXACT:
        return None
    return pa.array(lo.astype(np.float64) / div.astype(np.float64), pa.float64(), mask=none)


def _i128(words: np.ndarray) -> list[int]:
    out = []
    for lo, hi in words.tolist():
        v = lo | (hi << 64)
        out.append(v - (1 << 128) if hi >> 63 else v)
    return out


def _finalize(t: Template, kp: KernelPlan, states, keys, sizes, agg) -> pa.Table:
    from engine.physical import aggregate_kernels as K
    rows = states[0]
    slots = np.nonzero(rows > 0)[0] if t.groups else np.zeros(1, dtype=np.int64)
    cols = []
    if t.groups:
        strides = keys.strides(sizes)
        for k, ((c, _), (kind, _j)) in enumerate(zip(agg.groups, kp.keys)):
            code = (slots // strides[k]) % sizes[k]
            null = code == 0
            if kind == "dict":
                dom = pa.array(keys.values[k], pa.string())
                idx = np.where(null, 0, code - 1)
                col = dom.take(pa.array(idx, mask=null)) if len(dom) else pa.nulls(len(slots), pa.string())
            elif kind == "bool":
                col = pa.array((code - 1).astype(bool), mask=null)
            else:
                lo = keys.lo[k] if keys.lo[k] is not None else 0
                col = pa.array(code - 1 + lo, mask=null)
                if pa.types.is_date32(c.dtype):
                    col = col.cast(pa.int32()).cast(pa.date32())
            cols.append(K.as_type(col, c.dtype))
    for (c, _), o in zip(agg.aggs, kp.outs):
        count = states[o.count][slots]
        none = count == 0
        if o.fn in ("count", "count_star"):
            col = pa.array(count, pa.int64())
        elif o.rep == "f64":
            v = states[o.value][slots]
            if o.fn == "avg":
                with np.errstate(all="ignore"):
                    v = v / np.where(none, 1, count)
            col = pa.array(v, pa.float64(), mask=none)
        elif o.fn in ("min", "max"):
            v = states[o.value][slots]
            if o.rep == "dec":
                col = pa.array(v.astype(np.float64) * float(f"1e-{o.scale}") if o.scale else
                               v.astype(np.float64), pa.float64(), mask=none)
            else:
                col = pa.array(v, pa.int64(), mask=none)
                if pa.types.is_date32(c.dtype):
                    col = col.cast(pa.int32()).cast(pa.date32())
        else:
            fast = _exact_floats(states[o.value][slots], count, o, c.dtype)
            if fast is not None:
                cols.append(K.as_type(fast, c.dtype))
                continue
            sums = _i128(states[o.value][slots])
            out = []
            for s, cnt in zip(sums, count.tolist()):
                if cnt == 0:
                    out.append(None)
                elif o.fn == "avg":
                    out.append(float(Fraction(s, cnt * 10 ** o.scale)))
                elif o.rep == "dec":
                    out.append(float(Fraction(s, 10 ** o.scale)))
                else:
                    out.append(s)
            if o.fn == "sum" and o.rep == "int":
                col = _int_column(out, c.dtype)
            else:
                col = pa.array(out, pa.float64())
        cols.append(K.as_type(col, c.dtype))
    schema = agg.schema()
    if not cols:
        return pa.table({"__n": pa.nulls(len(slots))}).select([])
    return pa.Table.from_arrays(cols, schema=schema)


def _int_column(values: list, dtype: pa.DataType) -> pa.Array:
    try:
        if pa.types.is_decimal(dtype):
            from decimal import Decimal
            return pa.array([Decimal(v) if v is not None else None for v in values], dtype)
        return pa.array(values, dtype)
    except (OverflowError, pa.ArrowInvalid):  # beyond the result type: the vectorized path's error
        raise Unsupported(f"a sum beyond {dtype}") from None
