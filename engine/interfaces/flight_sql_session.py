"""What ``dawn serve`` keeps per client (engine/interfaces/flight_sql.py): the client's Dawn
session with its lock, transaction and handles (``RemoteSession``), a statement's result held
for DoGet with what cancels it (``Execution``), a prepared statement with its bound parameter
rows (``Prepared``), and the parameter rows of a DoPut as a statement binds them.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

import pyarrow as pa

from engine.errors import ProgrammingError, QueryCancelledError
from engine.statements.statement import NO_RESULT

call_context = threading.local()   # the ServerCallContext of the call this thread is serving


class RemoteSession:
    """One client's Dawn session, its lock, open transaction, prepared statements and results."""

    def __init__(self, server, user: str, peer: str):
        from engine.session import Session
        self.id = secrets.token_urlsafe(16)
        self.user = user
        self.peer = peer
        self.session = Session(server.db, source="flight")
        self.session.autocommit = True
        self.session.run_tags = {"dawn.client": peer, "dawn.user": user}
        for name, data in server.register.items():
            from catalog.sources import ArrowSource
            self.session.catalog.register(name, ArrowSource(data))
        self.lock = threading.RLock()
        self.txn: bytes | None = None
        self.handles: set[bytes] = set()    # prepared statements and results of this session
        self.last_used = time.monotonic()
        self.closed = False


class Execution:
    """A statement's result held for DoGet: its stream (or, for a query run once per parameter
    row, the streams still to come), what cancels it, and what it has sent."""

    def __init__(self, rs: RemoteSession, statement=None, rows: list | None = None,
                 timeout: float | None = None):
        self.rs = rs
        self.handle = secrets.token_bytes(16)
        self.statement = statement
        self.rows = list(rows or [])     # parameter rows not yet run
        self.stream = None
        self.schema: pa.Schema = NO_RESULT
        self.rowcount = -1
        self.table: pa.Table | None = None  # a metadata answer
        self.cancelled = False
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.timeout = timeout
        self.sent_bytes = 0
        self.taken = False               # a DoGet is reading it

    def interrupt(self) -> None:
        """ExecContext.interrupt: stop the statement (raise) when it should stop."""
        if self.cancelled:
            raise QueryCancelledError("The statement was cancelled by its client (CancelFlightInfo)")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise QueryCancelledError(f"The statement ran past the server's statement timeout of "
                                      f"{self.timeout:g} s (dawn serve --statement-timeout)", "timeout")
        ctx = getattr(call_context, "context", None)
        if ctx is not None and ctx.is_cancelled():
            raise QueryCancelledError("The client cancelled the call or went away")

    def start(self, res) -> None:
        self.stream = res.stream
        self.rowcount = res.rowcount
        if res.stream is not None:
            self.schema = res.stream.schema
            # like Statement.execute's reader: when another statement runs on the session before
            # this result was read, it ends (reading on says so) instead of being buffered whole
            res.stream.reader_owned = True

    def next_batch(self) -> pa.RecordBatch | None:
        """The next batch (the caller holds the session lock); None at the end."""
        if self.table is not None:
            batches, self.table = self.table.to_batches(), None
            self._rest = iter(batches)
        if getattr(self, "_rest", None) is not None:
            return next(self._rest, None)
        while True:
            if self.stream is None:
                return None
            self.interrupt()       # batches buffered ahead pass no operator
            b = self.stream.next_batch()
            if b is not None:
                return b
            if not self.rows:
                return None
            res = self.statement.run(self.rows.pop(0))
            if res.stream is None or res.stream.schema != self.schema:
                raise ProgrammingError("A query run once per parameter row must return the same "
                                       "columns for every row")
            self.stream = res.stream

    def close(self) -> None:
        self.rows = []
        if self.stream is not None:
            self.stream.close()


@dataclass
class Prepared:
    rs: RemoteSession
    sql: str
    statements: list
    rows: list | None = None        # parameter rows bound by DoPut


def parameter_rows(batches: list[pa.RecordBatch], statement) -> list:
    """Parameter rows as the statement binds them: tuples by position, or dicts for :name."""
    named = statement.parameter_names and not all(n.isdigit() for n in statement.parameter_names)
    rows: list = []
    for b in batches:
        cols = [c.to_pylist() for c in b.columns]
        if named:
            rows.extend(dict(zip(b.schema.names, r)) for r in zip(*cols))
        else:
            rows.extend(list(r) for r in zip(*cols))
    return rows
