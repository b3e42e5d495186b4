"""Persistent storage: a DuckDB database holding user tables and Dawn's catalog metadata.

On-disk layout of a Dawn database file (one DuckDB file, plus DuckDB's ``.wal`` beside it while
writes are pending):

* schema ``main``: every table created with CREATE TABLE, stored natively by DuckDB with its
  declared types and constraints (NOT NULL, PRIMARY KEY and UNIQUE are enforced by DuckDB);
* schema ``dawn_meta``: Dawn's own catalog, as ordinary tables:
  ``views(name, sql, created_at)``, ``column_stats(table_name, column_name, row_count,
  null_count, min_value, max_value, distinct_count, analyzed_at)``, ``settings(name, value)``,
  ``functions(name, target, created_at)`` (CREATE FUNCTION), ``video_sources(name, path, fps,
  width, height, created_at)`` (CREATE VIDEO), ``video_files(path, size, mtime, frame_count, fps,
  width, height, content_hash)`` (probed metadata), ``udf_stats`` and one
  ``"udf_cache:<function>:<version>"(key, value)`` table per cached model function;
  the run log ``experiments``, ``runs``, ``params``, ``metrics``, ``tags`` and ``artifacts``
  (catalog/tracking.py; ``dawn.<name>`` in SQL).

``:memory:`` uses the same layout in an in-memory DuckDB database. All Dawn connections of one
process that open the same path share one DuckDB database instance (each with its own DuckDB
connection, so each has its own transaction); a second process gets a clear error, since DuckDB
holds a file lock.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import pyarrow as pa

from catalog.sources import TableSource, empty_batch, normalize_schema, normalize_table, take_table

META_DDL = [
    "CREATE SCHEMA IF NOT EXISTS dawn_meta",
    "CREATE TABLE IF NOT EXISTS dawn_meta.views (name VARCHAR PRIMARY KEY, sql VARCHAR NOT NULL, "
    "created_at TIMESTAMP DEFAULT current_timestamp)",
    "CREATE TABLE IF NOT EXISTS dawn_meta.column_stats (table_name VARCHAR, column_name VARCHAR, "
    "row_count BIGINT, null_count BIGINT, min_value VARCHAR, max_value VARCHAR, "
    "distinct_count BIGINT, analyzed_at TIMESTAMP DEFAULT current_timestamp, "
    "PRIMARY KEY (table_name, column_name))",
    "CREATE TABLE IF NOT EXISTS dawn_meta.settings (name VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE TABLE IF NOT EXISTS dawn_meta.video_files (path VARCHAR, size BIGINT, mtime DOUBLE, "
    "frame_count BIGINT, fps DOUBLE, width INTEGER, height INTEGER, content_hash VARCHAR, "
    "PRIMARY KEY (path, size, mtime))",
    "CREATE TABLE IF NOT EXISTS dawn_meta.video_sources (name VARCHAR PRIMARY KEY, path VARCHAR NOT NULL, "
    "fps DOUBLE, width INTEGER, height INTEGER, created_at TIMESTAMP DEFAULT current_timestamp)",
]


class DatabaseLockedError(Exception):
    """The file is held by another process (DuckDB's lock)."""


def query_arrow(duck, sql: str) -> pa.Table:
    """A DuckDB query's result as an Arrow table, through the relation API (no extra copy)."""
    rel = duck.sql(sql)
    fn = getattr(rel, "to_arrow_table", None) or getattr(rel, "arrow")
    return fn()


class Database:
    """One DuckDB database shared by every Dawn connection of this process that opens its path."""

    _open: dict[str, "Database"] = {}
    _open_lock = threading.Lock()

    def __init__(self, path: str):
        import duckdb
        self.path = path
        try:
            self.duck = duckdb.connect(path)
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise DatabaseLockedError(str(e)) from None
            raise
        self.version = 0          # bumped whenever a write becomes visible (commit / autocommit)
        self.lock = threading.RLock()
        self.users = 0            # open Dawn connections; the file is released when none is left
        self.key: str | None = None
        for ddl in META_DDL:
            self.duck.execute(ddl)
        from catalog import models, specialized, tracking
        for ddl in tracking.ddl() + specialized.DDL + models.DDL:
            self.duck.execute(ddl)
        self._tracker = None

    def tracker(self):
        """The run log of this database (catalog/tracking.py), shared by its connections."""
        if self._tracker is None:
            with self.lock:
                if self._tracker is None:
                    from catalog.tracking import Tracker
                    self._tracker = Tracker(self.duck.cursor)
        return self._tracker

    @classmethod
    def open(cls, path: str) -> "Database":
        with cls._open_lock:
            if path == ":memory:":
                db = cls(path)
            else:
                key = os.path.realpath(path)
                db = cls._open.get(key)
                if db is None:
                    db = cls(path)
                    db.key = key
                    cls._open[key] = db
            db.users += 1
            return db

    def share(self) -> "Database":
        """One more connection to this already open database (released like any other)."""
        with Database._open_lock:
            self.users += 1
            return self

    def release(self) -> None:
        """One connection is done; close DuckDB (releasing the file lock) after the last."""
        with Database._open_lock:
            self.users -= 1
            if self.users > 0:
                return
            if self.key is not None:
                Database._open.pop(self.key, None)
            if self._tracker is not None:
                try:
                    self._tracker.close()
                except Exception:  # never keep the file locked because the run log failed
                    pass
            self.duck.close()

    def connect(self):
        """A new DuckDB connection to this database (its own transaction context)."""
        return self.duck.cursor()

    def bump(self) -> None:
        with self.lock:
            self.version += 1


class StoredTable(TableSource):
    """A table stored in the Dawn database, read as Arrow through the owning connection.

    Reads go through the connection's cache of whole tables as Arrow, keyed by a version that
    every write (this connection's, or any commit in the process) changes, so repeated analytical
    queries do not pay DuckDB's export while a write is never missed.
    """
    kind = "stored"

    def __init__(self, store: "ConnectionStore", name: str, schema: pa.Schema):
        self.store = store
        self.name = name
        self.raw_schema = schema
        self.schema = normalize_schema(schema)

    def describe(self) -> str:
        return f"stored table {self.name}"

    def row_count(self) -> int:
        # without loading the table: a sample that takes a few rows never reads the rest
        cached = self.store.cached_table(self.name)
        if cached is not None:
            return cached.num_rows
        return self.store.cached(("rows", self.name.lower()), lambda: self.store.duck.execute(
            f'SELECT count(*) FROM main."{self.name}"').fetchall()[0][0])

    @property
    def table(self) -> pa.Table:
        return self.store.table(self.name)

    def scan(self, columns, prune=None, stats=None):
        t = self.store.table(self.name).select(columns)
        if stats is not None:
            stats.columns_read = list(columns)
            stats.bytes_read += t.nbytes
        if t.num_rows == 0:
            yield pa.RecordBatch.from_pylist([], schema=t.schema)
            return
        yield from t.to_batches(max_chunksize=1 << 17)

    def take(self, positions, columns, stats=None):
        """From the Arrow copy when this connection holds a current one; else DuckDB reads just
        those rows. A DuckDB table scans in rowid order, but rowids keep the gaps that DELETE
        leaves, so position k is the k-th smallest rowid, not rowid k."""
        positions = np.asarray(positions, dtype=np.int64)
        cached = self.store.cached_table(self.name)
        if cached is not None:
            yield from take_table(cached.select(columns), positions, stats)
            return
        schema = pa.schema([self.schema.field(c) for c in columns])
        if not len(positions):
            yield empty_batch(schema)
            return
        duck, table = self.store.duck, f'main."{self.name}"'
        rowids = query_arrow(duck, f"SELECT rowid AS r FROM {table} ORDER BY rowid").column(0).to_numpy()
        wanted = pa.table({"r": rowids[positions]})
        cols = ", ".join('t."{}"'.format(c.replace('"', '""')) for c in columns) or "NULL AS __n"
        view = "__dawn_take_rowids"
        duck.register(view, wanted)
        try:
            t = query_arrow(duck, f"SELECT {cols} FROM {table} AS t SEMI JOIN {view} AS w "
                                  f"ON t.rowid = w.r ORDER BY t.rowid")
        finally:
            duck.unregister(view)
        if stats is not None:
            stats.columns_read = list(columns)
            stats.bytes_read += t.nbytes
        if not columns:
            yield pa.record_batch({"__n": pa.nulls(t.num_rows)}).select([])
            return
        yield from normalize_table(t, schema).to_batches(max_chunksize=1 << 17) or [empty_batch(schema)]


class ConnectionStore:
    """One Dawn connection's view of the database: its DuckDB connection and Arrow cache."""

    def __init__(self, db: Database):
        self.db = db
        self.duck = db.connect()
        self.local_version = 0
        self._cache: dict[str, tuple[tuple[int, int], pa.Table]] = {}
        self._meta_cache: dict[tuple, tuple[tuple[int, int], object]] = {}

    def invalidate(self) -> None:
        self.local_version += 1

    def _key(self) -> tuple[int, int]:
        return (self.db.version, self.local_version)

    def cached_table(self, name: str) -> pa.Table | None:
        """The current Arrow copy of table ``name`` if this connection holds one, else None."""
        hit = self._cache.get(name.lower())
        return hit[1] if hit is not None and hit[0] == self._key() else None

    def table(self, name: str) -> pa.Table:
        k = name.lower()
        hit = self._cache.get(k)
        if hit is not None and hit[0] == self._key():
            return hit[1]
        t = query_arrow(self.duck, f'SELECT * FROM main."{name}"')
        t = normalize_table(t)
        t = t.combine_chunks()
        self._cache[k] = (self._key(), t)
        return t

    def table_names(self) -> list[str]:
        rows = self.duck.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY table_name").fetchall()
        return [r[0] for r in rows]

    def cached(self, key: tuple, read):
        """``read()``'s answer, kept until the next write this connection sees."""
        hit = self._meta_cache.get(key)
        if hit is not None and hit[0] == self._key():
            return hit[1]
        found = read()
        self._meta_cache[key] = (self._key(), found)
        return found

    def lookup(self, name: str) -> StoredTable | None:
        return self.cached(("lookup", name.lower()), lambda: self._lookup(name))

    def _lookup(self, name: str) -> StoredTable | None:
        rows = self.duck.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND lower(table_name) = lower(?)", [name]).fetchall()
        if not rows:
            return None
        real = rows[0][0]
        schema = query_arrow(self.duck, f'SELECT * FROM main."{real}" LIMIT 0').schema
        return StoredTable(self, real, schema)

    def not_null_columns(self, name: str) -> set[str]:
        rows = self.duck.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND lower(table_name) = lower(?) AND is_nullable = 'NO'", [name]).fetchall()
        return {r[0] for r in rows}

    # ---- views
    def view_sql(self, name: str) -> str | None:
        key = ("view", name.lower())
        hit = self._meta_cache.get(key)
        if hit is not None and hit[0] == self._key():
            return hit[1]
        rows = self.duck.execute("SELECT sql FROM dawn_meta.views WHERE lower(name) = lower(?)",
                                 [name]).fetchall()
        found = rows[0][0] if rows else None
        self._meta_cache[key] = (self._key(), found)
        return found

    def view_names(self) -> list[str]:
        return [r[0] for r in self.duck.execute("SELECT name FROM dawn_meta.views ORDER BY name").fetchall()]

    # ---- video
    def video_info(self, path: str, size: int, mtime: float):
        from catalog.video import VideoInfo
        rows = self.duck.execute(
            "SELECT frame_count, fps, width, height, content_hash FROM dawn_meta.video_files "
            "WHERE path = ? AND size = ? AND mtime = ?", [path, size, mtime]).fetchall()
        row = rows[0] if rows else None
        if row is None:
            return None
        return VideoInfo(path, int(row[0]), float(row[1]), int(row[2]), int(row[3]), row[4], size, mtime)

    def video_info_op(self, info):
        def op(duck):
            duck.execute("DELETE FROM dawn_meta.video_files WHERE path = ? AND size = ? AND mtime = ?",
                         [info.path, info.size, info.mtime])
            duck.execute("INSERT INTO dawn_meta.video_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [info.path, info.size, info.mtime, info.frame_count, info.fps, info.width,
                          info.height, info.content_hash])
        return op

    def video_source(self, name: str) -> tuple | None:
        rows = self.duck.execute("SELECT name, path, fps, width, height FROM dawn_meta.video_sources "
                                 "WHERE lower(name) = lower(?)", [name]).fetchall()
        return rows[0] if rows else None

    def video_names(self) -> list[str]:
        return [r[0] for r in self.duck.execute("SELECT name FROM dawn_meta.video_sources").fetchall()]

    # ---- statistics
    def column_stats(self, name: str) -> dict[str, dict[str, Any]]:
        rows = self.duck.execute(
            "SELECT column_name, row_count, null_count, min_value, max_value, distinct_count "
            "FROM dawn_meta.column_stats WHERE lower(table_name) = lower(?)", [name]).fetchall()
        return {r[0]: {"row_count": r[1], "null_count": r[2], "min": r[3], "max": r[4],
                       "distinct_count": r[5]} for r in rows}
