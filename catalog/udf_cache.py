"""Stored results of cacheable UDFs (models), and measured UDF statistics.

Results live in one table per function and version, ``dawn_meta."udf_cache:<name>:<version>"``
with columns ``(key VARCHAR, value <result type>)``. A key identifies one input:
``<video content hash>:<frame_id>`` for a frame of a video table, otherwise a digest of the
argument values. ``dawn_meta.udf_stats`` accumulates calls, rows, seconds and, for predicates,
rows tested and passed: the optimizer's cost per row and selectivity.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

STATS_DDL = ("CREATE TABLE IF NOT EXISTS dawn_meta.udf_stats (name VARCHAR, version VARCHAR, "
             "calls BIGINT, rows BIGINT, seconds DOUBLE, tested BIGINT, passed BIGINT, "
             "PRIMARY KEY (name, version))")


def cache_table(name: str, version: str) -> str:
    return 'dawn_meta."udf_cache:' + f"{name}:{version}".replace('"', "") + '"'


class ResultCache:
    """Cached results of one function version, as an Arrow key/value table held in memory."""

    def __init__(self, store, name: str, version: str, dtype: pa.DataType):
        self.store, self.name, self.version, self.dtype = store, name, version, dtype
        self.keys = pa.array([], pa.string())
        self.values = pa.array([], dtype)
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
                self.keys = data.column(0).combine_chunks().cast(pa.string())
                vals = data.column(1).combine_chunks()
                self.values = vals if vals.type == self.dtype else vals.cast(self.dtype)

    def lookup(self, keys: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(positions of hits in the cache or NULL, found mask)."""
        self._load()
        if len(self.keys) == 0:
            return pa.nulls(len(keys), pa.int32()), pa.array([False] * len(keys))
        pos = pc.index_in(keys, value_set=self.keys)
        return pos, pc.is_valid(pos)

    def get(self, pos: pa.Array) -> pa.Array:
        return self.values.take(pos)

    def add(self, keys: pa.Array, values: pa.Array) -> None:
        if not len(keys):
            return
        self._load()
        self.keys = pa.concat_arrays([self.keys, keys])
        self.values = pa.concat_arrays([self.values, values.cast(self.dtype)])
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
