"""Experiment tracking: every statement is a run, as in MLflow, stored in the database itself.

A run has an id (32 hex digits, like MLflow's, in creation order), an experiment, a status (``RUNNING``,
``FINISHED``, ``FAILED``), start and end times in ms since the epoch, the user, the source
(``dbapi``, ``shell``, ``flight``), the statement kind and text, a hash of the normalised plan, the
error of a failed statement, and MLflow's params, metrics, tags and artifacts.

Tables (DuckDB schema ``dawn_meta``; in SQL they are ``dawn.<name>``):

* ``dawn.experiments(experiment_id, name, created_time)``: ``'0'`` is ``Default``;
* ``dawn.runs(run_id, experiment_id, experiment, status, start_time, end_time, duration_ms,
  user_name, source, statement_kind, sql, plan_hash, error, session_id)``;
* ``dawn.params(run_id, key, value)``: the settings in effect, and choices the planner made;
* ``dawn.metrics(run_id, key, value, timestamp, step)``: wall time, rows out, rows and bytes
  scanned, per-UDF calls / rows / cache hits / calls saved, ...;
* ``dawn.tags(run_id, key, value)``;
* ``dawn.artifacts(run_id, path, content)``: text such as the measured plan (``plan.txt``) or
  EXPLAIN ANALYZE output (``explain_analyze.txt``).

Statements that read only these tables are not themselves tracked, so browsing the history does
not grow it.

Durability: runs are buffered in memory per database and written in one DuckDB transaction at
most ``FLUSH_INTERVAL`` (1 s) after their statement returns, as soon as ``MAX_PENDING`` runs wait,
before any read of a ``dawn.*`` table, when the last connection to the database closes, and at
interpreter exit. A killed process can lose at most the last second of runs, never user data.
Runs are written through the tracker's own DuckDB connection, outside the user's transaction, so
the run of a failed or rolled-back statement is kept.
"""
from __future__ import annotations

import atexit
import hashlib
import itertools
import os
import re
import threading
import time
import uuid
import weakref
from typing import Any, Callable

import pyarrow as pa

from catalog.sources import TableSource

FLUSH_INTERVAL = 1.0   # seconds between a statement's return and its run being stored, at most
MAX_PENDING = 2000     # runs buffered before a flush is forced
DEFAULT_EXPERIMENT = ("0", "Default")
DEFAULT_RETENTION_DAYS = 30.0

TABLES = {
    "experiments": pa.schema([("experiment_id", pa.string()), ("name", pa.string()),
                              ("created_time", pa.int64())]),
    "runs": pa.schema([("run_id", pa.string()), ("experiment_id", pa.string()), ("experiment", pa.string()),
                       ("status", pa.string()), ("start_time", pa.int64()), ("end_time", pa.int64()),
                       ("duration_ms", pa.float64()), ("user_name", pa.string()), ("source", pa.string()),
                       ("statement_kind", pa.string()), ("sql", pa.string()), ("plan_hash", pa.string()),
                       ("error", pa.string()), ("session_id", pa.string())]),
    "params": pa.schema([("run_id", pa.string()), ("key", pa.string()), ("value", pa.string())]),
    "metrics": pa.schema([("run_id", pa.string()), ("key", pa.string()), ("value", pa.float64()),
                          ("timestamp", pa.int64()), ("step", pa.int64())]),
    "tags": pa.schema([("run_id", pa.string()), ("key", pa.string()), ("value", pa.string())]),
    "artifacts": pa.schema([("run_id", pa.string()), ("path", pa.string()), ("content", pa.string())]),
}

_SQL_TYPES = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}
_KEYS = {"experiments": "experiment_id", "runs": "run_id"}


def ddl() -> list[str]:
    out = []
    for name, schema in TABLES.items():
        cols = ", ".join(f'"{f.name}" {_SQL_TYPES[f.type]}' for f in schema)
        key = f", PRIMARY KEY ({_KEYS[name]})" if name in _KEYS else ""
        out.append(f"CREATE TABLE IF NOT EXISTS dawn_meta.{name} ({cols}{key})")
    out.append("INSERT INTO dawn_meta.experiments SELECT '0', 'Default', "
               "CAST(epoch_ms(current_timestamp) AS BIGINT) WHERE NOT EXISTS "
               "(SELECT 1 FROM dawn_meta.experiments WHERE experiment_id = '0')")
    return out


_USER: str | None = None


def current_user() -> str:
    global _USER
    if _USER is None:
        import getpass
        try:
            _USER = getpass.getuser()
        except Exception:  # no login name (some containers)
            _USER = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return _USER


_SEQ = itertools.count()


def new_run_id() -> str:
    """32 hex digits like MLflow's, ordered by creation: milliseconds, a process-wide sequence
    number, then 64 random bits (so ``ORDER BY run_id`` is the order statements started in)."""
    return f"{int(time.time() * 1000):012x}{next(_SEQ) & 0xFFFF:04x}{uuid.uuid4().hex[:16]}"


_COL_ID = re.compile(r"#\d+")


def plan_hash(text: str) -> str:
    """A short digest of a plan's text with column ids renumbered in order of appearance, so the
    same statement planned twice hashes alike."""
    seen: dict[str, str] = {}
    norm = _COL_ID.sub(lambda m: seen.setdefault(m.group(0), f"#{len(seen)}"), text)
    return hashlib.sha256(norm.encode()).hexdigest()[:16]


def statement_hash(sql: str) -> str:
    return plan_hash(" ".join(sql.split()).lower())


class RunRecord:
    """One finished statement, waiting to be written. ``plan_text`` and artifacts may be callables
    evaluated at flush time, off the statement's own path."""
    __slots__ = ("run_id", "experiment_id", "experiment", "status", "start_time", "end_time",
                 "duration_ms", "user", "source", "kind", "sql", "plan", "error", "session_id",
                 "params", "metrics", "tags", "artifacts")

    def __init__(self, **kw):
        self.plan = None
        self.error = None
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.tags: dict[str, str] = {}
        self.artifacts: dict[str, Any] = {}
        for k, v in kw.items():
            setattr(self, k, v)


def _text(v) -> str | None:
    if callable(v):
        try:
            v = v()
        except Exception as e:  # a plan that cannot be rendered must not lose the run
            v = f"(not available: {type(e).__name__}: {e})"
    if isinstance(v, (bytes, bytearray)):  # a binary artifact (a PNG, a model): kept as text
        import base64
        return BINARY_PREFIX + base64.b64encode(bytes(v)).decode("ascii")
    return None if v is None else str(v)


BINARY_PREFIX = "base64:"


def artifact_bytes(content: str) -> bytes | None:
    """The bytes of a binary artifact as ``dawn.artifacts.content`` holds it (None for text)."""
    if not content.startswith(BINARY_PREFIX):
        return None
    import base64
    return base64.b64decode(content[len(BINARY_PREFIX):])


class Tracker:
    """The run log of one database: buffers runs and writes them in batches (see module doc)."""

    _all: "weakref.WeakSet[Tracker]" = weakref.WeakSet()

    def __init__(self, duck_factory: Callable[[], Any]):
        self._duck_factory = duck_factory
        self._duck = None
        self._pending: list[RunRecord] = []
        self._inflight = 0                 # runs being written right now
        self._lock = threading.Lock()      # guards _pending and _timer
        self._io = threading.RLock()       # guards the DuckDB connection
        self._timer: threading.Timer | None = None
        self._closed = False
        self._experiments: dict[str, str] = {}
        Tracker._all.add(self)

    # ---- recording
    def submit(self, rec: RunRecord) -> None:
        with self._lock:
            if self._closed:
                return
            self._pending.append(rec)
            n = len(self._pending)
            if self._timer is None:
                self._timer = threading.Timer(FLUSH_INTERVAL, self._on_timer)
                self._timer.daemon = True
                self._timer.start()
        if n >= MAX_PENDING:
            self.flush()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.flush()
        except Exception:  # the database went away under us (closed): nothing left to do
            pass

    def pending(self) -> int:
        """Runs not yet stored (buffered, or being written)."""
        with self._lock:
            return len(self._pending) + self._inflight

    def flush(self) -> int:
        """Write every buffered run now; returns how many were written."""
        with self._io:
            with self._lock:
                recs, self._pending = self._pending, []
                self._inflight = len(recs)
            if not recs:
                return 0
            try:
                return self._write(recs)
            finally:
                with self._lock:
                    self._inflight = 0

    def _write(self, recs: list[RunRecord]) -> int:
        with self._io:
            tables = self._tables(recs)
            duck = self._conn()
            duck.execute("BEGIN TRANSACTION")
            try:
                for name, tbl in tables.items():
                    if tbl.num_rows:
                        duck.register("__dawn_runs_batch", tbl)
                        try:
                            duck.execute(f"INSERT INTO dawn_meta.{name} SELECT * FROM __dawn_runs_batch")
                        finally:
                            duck.unregister("__dawn_runs_batch")
                duck.execute("COMMIT")
            except Exception:
                duck.execute("ROLLBACK")
                with self._lock:  # keep them for the next try
                    self._pending[:0] = recs
                raise
            return len(recs)

    @staticmethod
    def _tables(recs: list[RunRecord]) -> dict[str, pa.Table]:
        runs = {f.name: [] for f in TABLES["runs"]}
        kv = {"params": ([], [], []), "tags": ([], [], []), "artifacts": ([], [], [])}
        mt: tuple[list, ...] = ([], [], [], [], [])
        for r in recs:
            plan = _text(r.plan)
            row = (r.run_id, r.experiment_id, r.experiment, r.status, r.start_time, r.end_time,
                   r.duration_ms, r.user, r.source, r.kind, r.sql,
                   plan_hash(plan) if plan is not None else statement_hash(r.sql), r.error, r.session_id)
            for col, v in zip(runs, row):
                runs[col].append(v)
            for name, d in (("params", r.params), ("tags", r.tags), ("artifacts", r.artifacts)):
                ids, keys, vals = kv[name]
                for k, v in d.items():
                    v = _text(v)
                    if v is None:
                        continue
                    ids.append(r.run_id)
                    keys.append(k)
                    vals.append(v)
            for k, v in r.metrics.items():
                if v is None:
                    continue
                mt[0].append(r.run_id)
                mt[1].append(k)
                mt[2].append(float(v))
                mt[3].append(r.end_time)
                mt[4].append(0)
        out = {"runs": pa.table(runs, schema=TABLES["runs"])}
        for name, cols in kv.items():
            out[name] = pa.Table.from_arrays([pa.array(c, pa.string()) for c in cols], schema=TABLES[name])
        out["metrics"] = pa.Table.from_arrays([pa.array(c, t.type) for c, t in zip(mt, TABLES["metrics"])],
                                              schema=TABLES["metrics"])
        return out

    def _conn(self):
        if self._duck is None:
            self._duck = self._duck_factory()
        return self._duck

    # ---- experiments
    def experiment_id(self, name: str, create: bool = True) -> str | None:
        """The id of experiment ``name``, created (with the next free integer id) if missing."""
        key = name.lower()
        if key in self._experiments:
            return self._experiments[key]
        with self._io:
            duck = self._conn()
            rows = duck.execute("SELECT experiment_id FROM dawn_meta.experiments WHERE lower(name) = ?",
                                [key]).fetchall()
            if not rows:
                if not create:
                    return None
                duck.execute(
                    "INSERT INTO dawn_meta.experiments SELECT CAST(coalesce(max(TRY_CAST(experiment_id "
                    "AS BIGINT)), 0) + 1 AS VARCHAR), ?, ? FROM dawn_meta.experiments",
                    [name, int(time.time() * 1000)])
                rows = duck.execute("SELECT experiment_id FROM dawn_meta.experiments WHERE lower(name) = ?",
                                    [key]).fetchall()
        self._experiments[key] = rows[0][0]
        return rows[0][0]

    # ---- reading and maintenance
    def read(self, table: str, where: str = "", params: list | None = None) -> pa.Table:
        """A tracking table as Arrow, after writing the runs still buffered."""
        if table not in TABLES:
            raise KeyError(table)
        self.flush()
        with self._io:
            rel = self._conn().sql(f"SELECT * FROM dawn_meta.{table} {where}", params=params or None)
            t = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
        return t.cast(TABLES[table])

    def gc(self, days: float) -> int:
        """Delete runs that started more than ``days`` ago, with their params, metrics, tags and
        artifacts; returns how many runs were deleted."""
        self.flush()
        cutoff = int((time.time() - days * 86400) * 1000)
        with self._io:
            duck = self._conn()
            duck.execute("BEGIN TRANSACTION")
            try:
                n = duck.execute("SELECT count(*) FROM dawn_meta.runs WHERE start_time < ?", [cutoff]).fetchall()[0][0]
                for t in ("params", "metrics", "tags", "artifacts"):
                    duck.execute(f"DELETE FROM dawn_meta.{t} WHERE run_id IN "
                                 f"(SELECT run_id FROM dawn_meta.runs WHERE start_time < ?)", [cutoff])
                duck.execute("DELETE FROM dawn_meta.runs WHERE start_time < ?", [cutoff])
                duck.execute("COMMIT")
            except Exception:
                duck.execute("ROLLBACK")
                raise
        return int(n)

    def close(self) -> None:
        """Write what is buffered and stop; later runs are ignored."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        try:
            self.flush()
        finally:
            with self._lock:
                self._closed = True
            with self._io:
                if self._duck is not None:
                    try:
                        self._duck.close()
                    except Exception:
                        pass
                    self._duck = None


@atexit.register
def _flush_all() -> None:
    """At exit: store what is buffered and stop the timers, so no flush thread is left inside
    DuckDB while the interpreter shuts down."""
    for t in list(Tracker._all):
        try:
            t.close()
        except Exception:
            pass


class TrackingSource(TableSource):
    """``dawn.<table>`` in SQL: a tracking table read fresh from the database on each scan."""
    kind = "tracking"

    def __init__(self, tracker: Tracker, table: str):
        self.tracker = tracker
        self.table = table
        self.name = f"dawn.{table}"
        self.schema = TABLES[table]

    def describe(self) -> str:
        return f"tracking table {self.name}"

    def row_count(self):
        return None

    def scan(self, columns, prune=None, stats=None):
        t = self.tracker.read(self.table).select(list(columns))
        if stats is not None:
            stats.columns_read = list(columns)
            stats.bytes_read += t.nbytes
        if t.num_rows == 0:
            yield pa.RecordBatch.from_pylist([], schema=t.schema)
            return
        yield from t.to_batches(max_chunksize=1 << 17)
