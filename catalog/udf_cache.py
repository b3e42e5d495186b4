"""Stored results of cacheable UDFs (models), and measured UDF statistics.

Results live in one table per function and version, ``dawn_meta."udf_cache:<name>:<version>"``
with columns ``(key VARCHAR, value <result type>)``. A key identifies one input:
``<video content hash>:<frame_id>`` for a frame of a video table, otherwise a digest of the
argument values. ``dawn_meta.udf_stats`` accumulates calls, rows, seconds and, for predicates,
rows tested and passed: the optimizer's cost per row and selectivity.

The stored cache keeps results in a ``KeyedValues`` (a hash index from key to position over values
in a few chunks, ``ValueChunks``, which a statement's memo, engine/physical/udf_memo.py, shares):
looking up and adding a batch costs time linear in the batch, not in everything kept before it.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class ValueChunks:
    """Values appended batch by batch and read back by position. Chunks merge when one is not
    more than twice the size of the next (a binary counter): O(log n) chunks, each value copied
    O(log n) times in all, so a read takes from a few chunks instead of concatenating everything
    kept (as ``ChunkedArray.take`` does, which made 150 batches cost seconds)."""

    def __init__(self, dtype: pa.DataType):
        self.dtype = dtype
        # numbers and booleans sit in one numpy buffer that doubles as it fills: a read is one
        # fancy index (the chunks below are for strings, lists, tensors)
        self.flat = pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)
        self.numeric = self.flat and not pa.types.is_boolean(dtype)  # booleans: bits in Arrow
        self.buf = np.empty(0, dtype=dtype.to_pandas_dtype() if self.flat else object)
        self.valid = np.empty(0, dtype=bool)
        self.chunks: list[pa.Array] = []
        self.starts: list[int] = []
        self.size = 0
        self.nulls = False  # whether a NULL was kept (until then ``valid`` is not kept)
        self._read = 0  # values read since the chunks were last merged into one

    def __len__(self) -> int:
        return self.size

    def append(self, values: pa.Array, typed: bool = False) -> int:
        """Keep ``values`` (``typed``: known to be of the kept type); returns the position of
        the first."""
        start = self.size
        if not len(values):
            return start
        if not typed and values.type != self.dtype:
            values = values.cast(self.dtype)
        if self.flat:
            n = len(values)
            if start + n > len(self.buf):
                cap = max(1024, 2 * len(self.buf), start + n)
                self.buf = np.resize(self.buf, cap)
                self.valid = np.resize(self.valid, cap)
            if not values.null_count:
                self.buf[start:start + n] = values.to_numpy(zero_copy_only=False)
                if self.nulls:
                    self.valid[start:start + n] = True
            else:
                self.buf[start:start + n] = values.fill_null(
                    False if pa.types.is_boolean(self.dtype) else 0).to_numpy(zero_copy_only=False)
                if not self.nulls:  # validity is kept from the first NULL on
                    self.valid[:start] = True
                    self.nulls = True
                self.valid[start:start + n] = values.is_valid().to_numpy(zero_copy_only=False)
            self.size += n
            return start
        self.starts.append(start)
        self.chunks.append(values)
        self.size += len(values)
        while len(self.chunks) >= 2 and len(self.chunks[-2]) <= 2 * len(self.chunks[-1]):
            last = self.chunks.pop()
            self.starts.pop()
            self.chunks[-1] = pa.concat_arrays([self.chunks[-1], last])
        return start

    def take(self, pos: np.ndarray) -> pa.Array:
        """The values at ``pos`` (valid positions, int64)."""
        if self.flat:
            if not self.nulls:
                got = self.buf[pos]
                if self.numeric:  # the numpy buffer is Arrow's data buffer as it stands
                    return pa.Array.from_buffers(self.dtype, len(got), [None, pa.py_buffer(got)])
                return pa.array(got, type=self.dtype)
            valid = self.valid[pos]
            return pa.array(self.buf[pos], type=self.dtype,
                            mask=None if np.count_nonzero(valid) == len(valid) else ~valid)
        pos = np.asarray(pos, dtype=np.int64)
        self._read += len(pos)
        if len(self.chunks) > 1 and self._read >= self.size:
            # reads have paid for one copy of everything: one chunk reads fastest
            self.chunks, self.starts, self._read = [pa.concat_arrays(self.chunks)], [0], 0
        if len(self.chunks) == 1:
            return self.chunks[0].take(pa.array(pos))
        if not len(pos):
            return pa.array([], self.dtype)
        starts = np.asarray(self.starts, dtype=np.int64)
        which = np.searchsorted(starts, pos, side="right") - 1
        order = np.argsort(which, kind="stable")
        ws = which[order]
        bounds = np.flatnonzero(np.diff(ws)) + 1
        los, his = np.concatenate([[0], bounds]), np.concatenate([bounds, [len(ws)]])
        pieces = [self.chunks[int(ws[lo])].take(pa.array(pos[order[lo:hi]] - starts[int(ws[lo])]))
                  for lo, hi in zip(los, his)]
        if len(pieces) == 1:
            return pieces[0].take(pa.array(np.argsort(order, kind="stable")))
        merged = pa.concat_arrays(pieces)
        inverse = np.empty(len(pos), dtype=np.int64)
        inverse[order] = np.arange(len(pos))
        return merged.take(pa.array(inverse))


class KeyedValues:
    """Values by text key: a dict from key to position, built and probed by C loops (``map``
    over ``dict.get``, no Python bytecode per row), over ``ValueChunks``."""

    def __init__(self, dtype: pa.DataType):
        self.index: dict = {}
        self.values = ValueChunks(dtype)

    def __len__(self) -> int:
        return len(self.values)

    def lookup(self, keys: pa.Array) -> np.ndarray:
        """The position of each key, -1 where absent."""
        if not self.index or not len(keys):
            return np.full(len(keys), -1, dtype=np.int64)
        pos = list(map(self.index.get, keys.to_pylist()))
        return pc.fill_null(pa.array(pos, pa.int64()), -1).to_numpy()

    def take(self, pos: np.ndarray) -> pa.Array:
        return self.values.take(pos)

    def add(self, keys: pa.Array, values: pa.Array) -> None:
        n = len(keys)
        if n:
            start = self.values.append(values)
            self.index.update(zip(keys.to_pylist(), range(start, start + n)))


STATS_DDL = ("CREATE TABLE IF NOT EXISTS dawn_meta.udf_stats (name VARCHAR, version VARCHAR, "
             "calls BIGINT, rows BIGINT, seconds DOUBLE, tested BIGINT, passed BIGINT, "
             "PRIMARY KEY (name, version))")


def cache_table(name: str, version: str) -> str:
    return 'dawn_meta."udf_cache:' + f"{name}:{version}".replace('"', "") + '"'


class ResultCache:
    """Cached results of one function version, as an Arrow key/value table held in memory."""

    def __init__(self, store, name: str, version: str, dtype: pa.DataType):
        self.store, self.name, self.version, self.dtype = store, name, version, dtype
        self.kept = KeyedValues(dtype)
        self.pending_keys: list[pa.Array] = []
        self.pending_values: list[pa.Array] = []
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from catalog.store import query_arrow
        t = cache_table(self.name, self.version)
        exists = self.store.duck.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dawn_meta' "
            "AND table_name = ?", [t.split(".", 1)[1].strip('"')]).fetchall()[0][0]
        if exists:
            data = query_arrow(self.store.duck, f"SELECT key, value FROM {t}")
            if data.num_rows:
                self.kept.add(data.column(0).combine_chunks().cast(pa.string()),
                              data.column(1).combine_chunks())

    def lookup(self, keys: pa.Array) -> np.ndarray:
        """The position of each key in the cache, -1 where absent (for ``get``)."""
        self._load()
        return self.kept.lookup(keys)

    def get(self, pos: np.ndarray) -> pa.Array:
        return self.kept.take(pos)

    def add(self, keys: pa.Array, values: pa.Array) -> None:
        if not len(keys):
            return
        self._load()
        self.kept.add(keys, values)
        self.pending_keys.append(keys)
        self.pending_values.append(values)

    def flush_op(self):
        """A write operation storing the new results (run through Session.write)."""
        if not self.pending_keys:
            return None
        keys = pa.concat_arrays(self.pending_keys)
        values = pa.concat_arrays([v.cast(self.dtype) for v in self.pending_values])
        self.pending_keys, self.pending_values = [], []
        data = pa.table({"key": keys, "value": values})
        t = cache_table(self.name, self.version)

        def op(duck):
            duck.register("__dawn_cache", data)
            try:
                duck.execute(f"CREATE TABLE IF NOT EXISTS {t} AS SELECT * FROM __dawn_cache LIMIT 0")
                duck.execute(f"INSERT INTO {t} SELECT * FROM __dawn_cache "
                             f"WHERE key NOT IN (SELECT key FROM {t})")
            finally:
                try:
                    duck.unregister("__dawn_cache")
                except Exception:
                    pass
        return op


def record_stats_op(rows: list[tuple]):
    """A write operation adding measured (name, version, calls, rows, seconds, tested, passed)."""
    if not rows:
        return None

    def op(duck):
        duck.execute(STATS_DDL)
        for r in rows:
            duck.execute(
                "INSERT INTO dawn_meta.udf_stats VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name, version) "
                "DO UPDATE SET calls = calls + excluded.calls, rows = rows + excluded.rows, "
                "seconds = seconds + excluded.seconds, tested = tested + excluded.tested, "
                "passed = passed + excluded.passed", list(r))
    return op


def read_stats(store) -> dict[tuple[str, str], dict]:
    """Measured statistics of every UDF, read once per write version of the store (the optimizer
    and the UDF runtime ask for them in every statement that calls a UDF)."""
    return store.cached(("udf_stats",), lambda: _read_stats(store))


def _read_stats(store) -> dict[tuple[str, str], dict]:
    store.duck.execute(STATS_DDL)
    out = {}
    for name, version, calls, rows, seconds, tested, passed in store.duck.execute(
            "SELECT name, version, calls, rows, seconds, tested, passed FROM dawn_meta.udf_stats").fetchall():
        out[(name, version)] = {"calls": calls, "rows": rows, "seconds": seconds,
                                "tested": tested, "passed": passed}
    return out
