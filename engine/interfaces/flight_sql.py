"""``dawn serve``: an Arrow Flight SQL server over Dawn's sessions and prepared statements.

Any Flight SQL client (the ADBC Flight SQL driver, JDBC, pyarrow.flight) reaches a Dawn database
through ``DawnFlightServer``, a ``pyarrow.flight.FlightServerBase``:

- GetFlightInfo runs the statement (so DDL and DML take effect without a DoGet) and holds its
  streaming result server-side; the FlightInfo's ticket names that result, and DoGet streams it
  batch by batch from the plan, never the whole result at once. Commands are Flight SQL messages
  packed in google.protobuf.Any (flight_sql_proto.py); a descriptor or ticket that is plain UTF-8
  SQL text runs that SQL, and a path descriptor ``[name]`` reads the table.
- Prepared statements (CreatePreparedStatement, parameters bound by DoPut, executed by
  GetFlightInfo or by DoPut of CommandPreparedStatementUpdate: once per parameter row, all rows
  atomically; ``INSERT ... VALUES (?, ...)`` as one columnar append), ad-hoc updates (DoPut of
  CommandStatementUpdate), transactions (BeginTransaction / EndTransaction), metadata commands
  (flight_sql_catalog.py), CancelFlightInfo, session options (Dawn's SET settings) and
  CloseSession.
- Each client gets its own Dawn ``Session``, found by the ``arrow_flight_session_id`` cookie when
  the client sends one and otherwise by its address (one gRPC connection per ADBC connection);
  transaction ids, prepared statement handles and tickets name their session themselves. gRPC
  serves calls on a thread pool, so every use of a session holds its lock: one statement, or one
  batch of a result, at a time (the per-client objects are in flight_sql_session.py).
- A result is read once, front to back. Left unread while its session runs another statement,
  it ends (a later DoGet says why), as ``Statement.execute``'s reader does, rather than being
  buffered whole in the server's memory. Sessions unused for ``session_idle_timeout`` are closed.
- Every statement is a tracked run with source ``flight`` and tags ``dawn.client`` (the peer
  address) and ``dawn.user``.

Security (``ServeOptions`` and the middleware in flight_sql_auth.py): binding anything but a loopback address needs ``token`` (bearer) or
``user``/``password`` (basic, answered with a bearer token as Flight's basic-auth handshake
expects); ``tls_cert``/``tls_key`` serve over TLS; ``read_only`` refuses every statement that
writes; CREATE FUNCTION (which imports Python code on the server) is refused unless
``allow_udf_registration``; ``statement_timeout`` stops a statement that runs longer (start to
last batch) and ``max_result_bytes`` ends a result that grows past it; a command larger than
``max_command_bytes`` or one that does not parse is refused with a clear error, and the server
keeps serving.

Cancelling: every operator checks the statement's ``ExecContext.interrupt`` before each batch (the
engine's own stop point, where the shell's Ctrl-C also lands); here it raises
``QueryCancelledError`` once CancelFlightInfo named the result, its time ran out, or the client
closed the call, so a running query stops within a batch.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.flight as fl

from engine.errors import Error, NotSupportedError, ProgrammingError, QueryCancelledError
from engine.interfaces import flight_sql_catalog as C
from engine.interfaces import flight_sql_proto as P
from engine.interfaces.flight_sql_auth import (AuthMiddleware, HeaderHandshake, ServeOptions,
                                               is_loopback)
from engine.interfaces.flight_sql_session import (Execution, Prepared, RemoteSession, call_context,
                                                  parameter_rows)
from engine.statements.statement import NO_RESULT

__all__ = ["DawnFlightServer", "ServeOptions", "is_loopback", "serve"]


# statements a --read-only server runs; every other kind writes (DDL, DML, COPY, CREATE MODEL...)
READ_ONLY_KINDS = frozenset({"SELECT", "EXPLAIN", "EXPLAIN ANALYZE", "SHOW", "DESCRIBE",
                             "SHOW FUNCTIONS", "BEGIN", "COMMIT", "ROLLBACK", "SET"})
CODE_LOADING_KINDS = frozenset({"CREATE FUNCTION"})  # import Python modules on the server


# ---------------------------------------------------------------- errors

def flight_error(e: BaseException) -> Exception:
    """A Dawn error as the Flight error a client sees: its class and message, never a traceback
    (pyarrow appends one to any other exception)."""
    if isinstance(e, fl.FlightError):
        return e
    if isinstance(e, QueryCancelledError):
        if e.reason == "timeout":
            return fl.FlightTimedOutError(str(e))
        # not FlightCancelledError: pyarrow clients turn a CANCELLED status in read_all() into a
        # KeyboardInterrupt, as if the user had pressed Ctrl-C
        return fl.FlightServerError(f"Cancelled: {e}")
    if isinstance(e, P.MalformedCommand):
        return fl.FlightServerError(f"Invalid argument: {e}")
    if isinstance(e, Error):
        return fl.FlightServerError(f"{type(e).__name__}: {e}")
    return fl.FlightInternalError(f"internal error ({type(e).__name__}): {e}")


class Refused(Exception):
    """A statement this server does not let remote clients run (PERMISSION_DENIED)."""


# ---------------------------------------------------------------- sessions, results, statements

def _guarded(fn):
    """Run a handler with this thread's call context known (for interrupt) and every error
    turned into a Flight error."""
    def wrapper(self, context, *args):
        call_context.context = context
        try:
            return fn(self, context, *args)
        except Refused as e:
            raise fl.FlightUnauthorizedError(str(e)) from None
        except BaseException as e:
            raise flight_error(e) from None
        finally:
            call_context.context = None
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class DawnFlightServer(fl.FlightServerBase):
    """A Flight SQL server over one Dawn database (``database``: a path or ':memory:').
    ``register``: Arrow tables (or frames) every session sees under these names."""

    def __init__(self, database: str = ":memory:", options: ServeOptions | None = None,
                 register: dict[str, Any] | None = None):
        from catalog.store import Database
        from engine.interfaces.cli import version
        self.options = options = options or ServeOptions()
        options.check()
        self.database = database
        self.register = dict(register or {})
        self.version = version()
        self._sql_info = C.sql_info(options.read_only, self.version)
        self._lock = threading.Lock()
        self._sessions: dict[str, RemoteSession] = {}
        self._by_peer: dict[tuple[str, str], RemoteSession] = {}
        self._handles: dict[bytes, Any] = {}     # handle -> Execution | Prepared | RemoteSession (txn)
        self._middleware = AuthMiddleware(options)
        kwargs: dict[str, Any] = {"middleware": {"dawn": self._middleware}}
        if options.user is not None:
            kwargs["auth_handler"] = HeaderHandshake()
        if options.tls_cert:
            with open(options.tls_cert, "rb") as f, open(options.tls_key, "rb") as k:
                kwargs["tls_certificates"] = [(f.read(), k.read())]
        host = options.host if ":" not in options.host else f"[{options.host}]"
        self.db = Database.open(database)    # held open for the server's life; sessions share it
        try:
            super().__init__(f"{options.scheme}://{host}:{options.port}", **kwargs)
        except BaseException:     # a taken port, an unreadable certificate
            self.db.release()
            raise

    @property
    def uri(self) -> str:
        host = self.options.host if ":" not in self.options.host else f"[{self.options.host}]"
        return f"{self.options.scheme}://{host}:{self.port}"

    # ---- lifecycle
    def serve_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve, name="dawn-flight", daemon=True)
        t.start()
        return t

    def shutdown(self) -> None:
        super().shutdown()
        with self._lock:
            sessions = list(self._sessions.values())
        for rs in sessions:
            self._close_session(rs)
        self.db.release()

    # ---- sessions
    def _session(self, context) -> RemoteSession:
        mw = context.get_middleware("dawn")
        user = mw.user if mw is not None else "anonymous"
        peer = context.peer()
        peer = peer.split(":", 1)[1] if peer.startswith(("ipv4:", "ipv6:")) else peer
        with self._lock:
            rs = self._sessions.get(mw.cookie) if mw is not None and mw.cookie else None
            if rs is None or rs.user != user or rs.closed:
                rs = self._by_peer.get((user, peer))
            if rs is None or rs.closed:
                rs = None
        if rs is None:
            self._reap()
            rs = RemoteSession(self, user, peer)
            with self._lock:
                self._sessions[rs.id] = rs
                self._by_peer[(user, peer)] = rs
        rs.last_used = time.monotonic()
        if mw is not None:
            mw.session_id = rs.id
        return rs

    def _reap(self) -> None:
        """Close sessions nobody used for session_idle_timeout seconds."""
        limit = time.monotonic() - self.options.session_idle_timeout
        with self._lock:
            idle = [rs for rs in self._sessions.values() if rs.last_used < limit]
        for rs in idle:
            if rs.lock.acquire(blocking=False):
                try:
                    self._close_session(rs)
                finally:
                    rs.lock.release()

    def _close_session(self, rs: RemoteSession) -> None:
        with rs.lock:
            if rs.closed:
                return
            rs.closed = True
            with self._lock:
                self._sessions.pop(rs.id, None)
                if self._by_peer.get((rs.user, rs.peer)) is rs:
                    del self._by_peer[(rs.user, rs.peer)]
                for h in list(rs.handles) + ([rs.txn] if rs.txn else []):
                    obj = self._handles.pop(h, None)
                    if isinstance(obj, Execution):
                        obj.close()
            rs.session.close()

    def _txn_session(self, txn: bytes) -> RemoteSession:
        with self._lock:
            rs = self._handles.get(txn)
        if not isinstance(rs, RemoteSession) or rs.txn != txn:
            raise fl.FlightServerError("Invalid argument: unknown or finished transaction id")
        rs.last_used = time.monotonic()
        return rs

    def _session_for(self, msg, context) -> RemoteSession:
        if msg is not None and msg.DESCRIPTOR.fields_by_name.get("transaction_id") is not None \
                and msg.HasField("transaction_id"):
            return self._txn_session(msg.transaction_id)
        return self._session(context)

    def _lookup(self, handle: bytes, kind: type, what: str):
        with self._lock:
            obj = self._handles.get(handle)
        if not isinstance(obj, kind):
            raise fl.FlightServerError(f"Invalid argument: unknown or closed {what} handle")
        obj.rs.last_used = time.monotonic()
        return obj

    def _keep(self, rs: RemoteSession, obj) -> bytes:
        h = obj.handle if isinstance(obj, Execution) else secrets.token_bytes(16)
        with self._lock:
            self._handles[h] = obj
            rs.handles.add(h)
        return h

    def _drop(self, h: bytes) -> Any:
        with self._lock:
            obj = self._handles.pop(h, None)
            rs = getattr(obj, "rs", None)
            if rs is not None:
                rs.handles.discard(h)
        return obj

    # ---- commands
    def _command(self, data: bytes):
        """A Flight SQL message, or the SQL text of a plain Flight command."""
        if len(data) > self.options.max_command_bytes:
            raise P.MalformedCommand(f"the command is {len(data)} bytes, more than the server's "
                                     f"limit of {self.options.max_command_bytes}")
        msg = P.unpack(data)
        if msg is not None:
            return msg
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise P.MalformedCommand("the command is neither a Flight SQL message (a "
                                     "google.protobuf.Any) nor UTF-8 SQL text") from None
        if not text.strip():
            raise P.MalformedCommand("the command is empty")
        return text

    def _descriptor_command(self, descriptor):
        if descriptor.descriptor_type == fl.DescriptorType.PATH:
            path = [p.decode() if isinstance(p, bytes) else p for p in descriptor.path]
            if len(path) != 1:
                raise NotSupportedError("A path descriptor names one table: [name]")
            return 'SELECT * FROM "' + path[0].replace('"', '""') + '"'
        return self._command(descriptor.command)

    def _check(self, statements) -> None:
        from sqlglot import exp
        for st in statements:
            if st.kind in CODE_LOADING_KINDS and not self.options.allow_udf_registration:
                raise Refused(f"{st.kind} imports Python code on the server and is refused from "
                              "remote clients; start dawn serve with --allow-udf-registration to "
                              "allow it, or register the function on the server")
            if self.options.read_only:
                glob = isinstance(st.ast, exp.Set) and any(
                    (i.args.get("kind") or "").upper() == "GLOBAL" for i in st.ast.expressions)
                if st.kind not in READ_ONLY_KINDS or glob:
                    raise Refused(f"The server is read-only (dawn serve --read-only): {st.kind}"
                                  f"{' GLOBAL' if glob else ''} statements are refused")

    def _prepare(self, rs: RemoteSession, sql: str) -> list:
        from engine.statements import prepare
        statements = prepare(rs.session, sql)
        self._check(statements)
        return statements

    def _execute(self, rs: RemoteSession, statements: list, rows: list | None) -> Execution:
        """Run ``statements`` (the caller holds the session lock): all but the last to the end,
        the last with each parameter row (a query's further rows run as its result is read)."""
        ex = Execution(rs, statements[-1], timeout=self.options.statement_timeout)
        rs.session.interrupt = ex.interrupt
        try:
            for st in statements[:-1]:
                st.run(None).table
            last = statements[-1]
            if rows and len(rows) > 1 and not last.returns_rows:
                ex.rowcount = self._update_rows(rs, last, rows)
            else:
                ex.start(last.run(rows[0] if rows else None))
                ex.rows = list(rows[1:]) if rows else []
        finally:
            rs.session.interrupt = None
        return ex

    def _update_rows(self, rs: RemoteSession, st, rows: list) -> int:
        """A statement run once per parameter row, all rows or none (the caller holds the lock)."""
        s = rs.session
        opened = not s.in_txn
        if opened:
            s.begin()
        total = 0
        try:
            for row in rows:
                res = st.run(row)
                if res.stream is not None:
                    res.stream.close()
                total += max(res.rowcount, 0)
        except BaseException:
            if opened:
                s.rollback()
            raise
        if opened:
            s.commit()
        return total

    def _bulk_insert(self, rs: RemoteSession, prepared: Prepared, batches: list) -> int | None:
        """``INSERT INTO t [(cols)] VALUES (?, ...)`` with a parameter table: one columnar append
        of all its rows (None when the statement is not of that form)."""
        from engine.connection import _bulk_insert
        if len(prepared.statements) != 1:
            return None
        target = _bulk_insert(prepared.sql)
        if target is None:
            return None
        table, cols, marks = target
        data = pa.Table.from_batches(batches)
        if marks[0].startswith(":"):
            columns = [data.column(m[1:]) if m[1:] in data.column_names else None for m in marks]
            if any(c is None for c in columns):
                return None
        elif marks[0].startswith("$"):
            columns = [data.column(int(m[1:]) - 1) for m in marks]
        else:
            if data.num_columns != len(marks):
                raise ProgrammingError(f"The statement has {len(marks)} parameters; the bound "
                                       f"parameters have {data.num_columns} columns")
            columns = data.columns
        from engine import ddl
        from engine.statements.result import Result
        s = rs.session
        src_name = table

        def run(run):
            src = ddl._stored(s, src_name, None)
            names = cols or [f.name for f in src.raw_schema]
            if len(names) != len(columns):
                raise ProgrammingError(f'INSERT into "{src.name}" names {len(names)} columns but '
                                       f"gives {len(columns)} values")
            lower = {f.name.lower(): f.name for f in src.raw_schema}
            names = [lower.get(n.lower(), n) for n in names]
            values = pa.Table.from_arrays(list(columns), names=names)
            s._ensure_txn()
            return Result(None, ddl.insert_arrow(s, src, values, names))
        return s.tracked("INSERT", prepared.sql, run).rowcount

    # ---- FlightServerBase
    def _info(self, descriptor, ex: Execution) -> fl.FlightInfo:
        ticket = fl.Ticket(P.pack(P.sql.TicketStatementQuery(statement_handle=ex.handle)))
        stream = ex.stream
        total = ex.rowcount
        if stream is not None:
            total = stream.rows if stream.done and not ex.rows else -1
        elif ex.table is not None:
            total = ex.table.num_rows
        return fl.FlightInfo(ex.schema, descriptor, [fl.FlightEndpoint(ticket, [])], total, -1)

    @_guarded
    def get_flight_info(self, context, descriptor):
        cmd = self._descriptor_command(descriptor)
        if isinstance(cmd, str) or P.is_a(cmd, "CommandStatementQuery"):
            sql = cmd if isinstance(cmd, str) else cmd.query
            rs = self._session_for(None if isinstance(cmd, str) else cmd, context)
            with rs.lock:
                ex = self._execute(rs, self._prepare(rs, sql), None)
        elif P.is_a(cmd, "CommandPreparedStatementQuery"):
            ps = self._lookup(cmd.prepared_statement_handle, Prepared, "prepared statement")
            rs = ps.rs
            with rs.lock:
                ex = self._execute(rs, ps.statements, ps.rows)
        elif cmd.DESCRIPTOR.name in C.METADATA_COMMANDS:
            rs = self._session(context)
            ex = Execution(rs)
            with rs.lock:
                if P.is_a(cmd, "CommandGetSqlInfo"):
                    ex.table = C.get_sql_info(self._sql_info, cmd)
                else:
                    ex.table = C.HANDLERS[cmd.DESCRIPTOR.name](rs.session, cmd)
            ex.schema = ex.table.schema
        else:
            raise NotSupportedError(f"GetFlightInfo of {cmd.DESCRIPTOR.name} is not supported")
        self._keep(rs, ex)
        return self._info(descriptor, ex)

    @_guarded
    def get_schema(self, context, descriptor):
        cmd = self._descriptor_command(descriptor)
        if isinstance(cmd, str) or P.is_a(cmd, "CommandStatementQuery"):
            rs = self._session_for(None if isinstance(cmd, str) else cmd, context)
            with rs.lock:
                statements = self._prepare(rs, cmd if isinstance(cmd, str) else cmd.query)
                schema = statements[-1].schema if len(statements) == 1 else NO_RESULT
        elif P.is_a(cmd, "CommandPreparedStatementQuery"):
            ps = self._lookup(cmd.prepared_statement_handle, Prepared, "prepared statement")
            with ps.rs.lock:
                schema = ps.statements[-1].schema if len(ps.statements) == 1 else NO_RESULT
        elif cmd.DESCRIPTOR.name in C.METADATA_COMMANDS:
            schema = C.schema_for(cmd)
        else:
            raise NotSupportedError(f"GetSchema of {cmd.DESCRIPTOR.name} is not supported")
        return fl.SchemaResult(schema)

    @_guarded
    def do_get(self, context, ticket):
        data = ticket.ticket
        msg = self._command(data)
        if isinstance(msg, str):      # plain Flight: the ticket is SQL
            rs = self._session(context)
            with rs.lock:
                ex = self._execute(rs, self._prepare(rs, msg), None)
        elif P.is_a(msg, "TicketStatementQuery"):
            with self._lock:
                ex = self._handles.get(msg.statement_handle)
                if not isinstance(ex, Execution) or ex.taken:   # tickets are single-use
                    raise fl.FlightServerError("Invalid argument: unknown, used or cancelled ticket")
                ex.taken = True
        else:
            raise NotSupportedError(f"DoGet of {msg.DESCRIPTOR.name} is not supported")
        # a GeneratorStream keeps the Flight error class of what the generator raises (a
        # RecordBatchReader over it would report every error as a generic one)
        return fl.GeneratorStream(ex.schema, self._batches(ex, context))

    def _batches(self, ex: Execution, context) -> Iterator[pa.RecordBatch]:
        """The result a batch at a time, each pulled under the session lock (other calls of the
        session run between batches)."""
        limit = self.options.max_result_bytes
        rs = ex.rs
        try:
            while True:
                call_context.context = context
                try:
                    with rs.lock:
                        if rs.closed:
                            raise fl.FlightServerError("Cancelled: the session was closed")
                        b = ex.next_batch()
                except BaseException as e:
                    raise flight_error(e) from None
                finally:
                    call_context.context = None
                if b is None:
                    return
                ex.sent_bytes += b.nbytes
                if limit is not None and ex.sent_bytes > limit:
                    raise fl.FlightServerError(
                        f"The result is larger than the server's limit of {limit} bytes "
                        "(dawn serve --max-result-bytes); add a LIMIT or a filter")
                yield b
        finally:
            self._drop(ex.handle)
            with rs.lock:
                ex.close()

    @_guarded
    def do_put(self, context, descriptor, reader, writer):
        cmd = self._descriptor_command(descriptor)
        if isinstance(cmd, str):
            raise NotSupportedError("DoPut takes a Flight SQL command (CommandStatementUpdate, "
                                    "CommandPreparedStatementQuery or CommandPreparedStatementUpdate)")
        name = cmd.DESCRIPTOR.name
        if name == "CommandStatementUpdate":
            rs = self._session_for(cmd, context)
            with rs.lock:
                ex = self._execute(rs, self._prepare(rs, cmd.query), None)
                ex.close()
            writer.write(pa.py_buffer(P.sql.DoPutUpdateResult(record_count=ex.rowcount).SerializeToString()))
            return
        if name not in ("CommandPreparedStatementQuery", "CommandPreparedStatementUpdate"):
            raise NotSupportedError(f"DoPut of {name} is not supported")
        ps = self._lookup(cmd.prepared_statement_handle, Prepared, "prepared statement")
        batches = [chunk.data for chunk in reader if chunk.data is not None and chunk.data.num_rows]
        rows = parameter_rows(batches, ps.statements[-1]) if batches else None
        if name == "CommandPreparedStatementQuery":
            ps.rows = rows
            writer.write(pa.py_buffer(P.sql.DoPutPreparedStatementResult(
                prepared_statement_handle=cmd.prepared_statement_handle).SerializeToString()))
            return
        rs = ps.rs
        with rs.lock:
            rs.session.interrupt = Execution(rs, timeout=self.options.statement_timeout).interrupt
            try:
                count = self._bulk_insert(rs, ps, batches) if rows and len(rows) > 1 else None
                if count is None:
                    ex = self._execute(rs, ps.statements, rows if rows is not None else ps.rows)
                    ex.close()
                    count = ex.rowcount
            finally:
                rs.session.interrupt = None
        writer.write(pa.py_buffer(P.sql.DoPutUpdateResult(record_count=count).SerializeToString()))

    ACTIONS = {
        "CreatePreparedStatement": "Prepare a SQL statement (ActionCreatePreparedStatementRequest)",
        "ClosePreparedStatement": "Close a prepared statement",
        "BeginTransaction": "Begin a transaction",
        "EndTransaction": "Commit or roll back a transaction",
        "CancelFlightInfo": "Cancel a query by its FlightInfo",
        "CancelQuery": "Cancel a query (deprecated; CancelFlightInfo)",
        "SetSessionOptions": "Set Dawn settings (SET) of this session",
        "GetSessionOptions": "Dawn settings of this session",
        "CloseSession": "Close this session (rolls back an open transaction)",
    }

    def list_actions(self, context):
        return [fl.ActionType(k, v) for k, v in self.ACTIONS.items()]

    @_guarded
    def do_action(self, context, action):
        kind = action.type
        body = action.body.to_pybytes() if action.body is not None else b""
        if len(body) > self.options.max_command_bytes:
            raise P.MalformedCommand(f"the action body is {len(body)} bytes, more than the "
                                     f"server's limit of {self.options.max_command_bytes}")
        handler = {
            "CreatePreparedStatement": self._create_prepared, "ClosePreparedStatement": self._close_prepared,
            "BeginTransaction": self._begin, "EndTransaction": self._end,
            "CancelFlightInfo": self._cancel_flight_info, "CancelQuery": self._cancel_query,
            "SetSessionOptions": self._set_options, "GetSessionOptions": self._get_options,
            "CloseSession": self._close,
        }.get(kind)
        if handler is None:
            if kind in ("BeginSavepoint", "EndSavepoint"):
                raise NotSupportedError("Savepoints are not supported by Dawn")
            raise NotSupportedError(f"Unknown action {kind!r}; the server's actions: "
                                    + ", ".join(self.ACTIONS))
        out = handler(context, body)
        return [] if out is None else [fl.Result(pa.py_buffer(out))]

    def _sql_message(self, body: bytes, name: str):
        msg = P.unpack(body)
        if msg is None or not P.is_a(msg, name):
            raise P.MalformedCommand(f"the action body is not a {name} (packed in a google.protobuf.Any)")
        return msg

    def _create_prepared(self, context, body: bytes) -> bytes:
        req = self._sql_message(body, "ActionCreatePreparedStatementRequest")
        rs = self._session_for(req, context)
        with rs.lock:
            statements = self._prepare(rs, req.query)
            last = statements[-1]
            schema = last.schema if len(statements) == 1 else NO_RESULT
        ps = Prepared(rs, req.query, statements)
        handle = self._keep(rs, ps)
        names = last.parameter_names
        if names and all(n.isdigit() for n in names):
            names = [str(i + 1) for i in range(last.parameter_count)]
        params = pa.schema([pa.field(n, pa.null()) for n in names])
        return P.pack(P.sql.ActionCreatePreparedStatementResult(
            prepared_statement_handle=handle,
            dataset_schema=schema.serialize().to_pybytes() if len(schema) else b"",
            parameter_schema=params.serialize().to_pybytes() if names else b""))

    def _close_prepared(self, context, body: bytes) -> None:
        req = self._sql_message(body, "ActionClosePreparedStatementRequest")
        self._drop(req.prepared_statement_handle)

    def _begin(self, context, body: bytes) -> bytes:
        self._sql_message(body, "ActionBeginTransactionRequest")
        rs = self._session(context)
        with rs.lock:
            if rs.txn is not None:
                raise ProgrammingError("This session already has an open transaction; commit or "
                                       "roll it back first")
            rs.session.begin()
            rs.txn = secrets.token_bytes(16)
            with self._lock:
                self._handles[rs.txn] = rs
        return P.pack(P.sql.ActionBeginTransactionResult(transaction_id=rs.txn))

    def _end(self, context, body: bytes) -> None:
        req = self._sql_message(body, "ActionEndTransactionRequest")
        rs = self._txn_session(req.transaction_id)
        with rs.lock:
            if req.action == P.END_TRANSACTION_COMMIT:
                rs.session.commit()
            elif req.action == P.END_TRANSACTION_ROLLBACK:
                rs.session.rollback()
            else:
                raise P.MalformedCommand("EndTransaction needs COMMIT or ROLLBACK")
            with self._lock:
                self._handles.pop(rs.txn, None)
            rs.txn = None

    def _cancel(self, info_bytes: bytes) -> bool:
        """Cancel the result a serialized FlightInfo's ticket names; False if none is held."""
        try:
            info = fl.FlightInfo.deserialize(info_bytes)
        except Exception:
            raise P.MalformedCommand("the cancel request does not hold a serialized FlightInfo") from None
        found = False
        for ep in info.endpoints:
            msg = P.unpack(ep.ticket.ticket)
            if msg is None or not P.is_a(msg, "TicketStatementQuery"):
                continue
            with self._lock:
                ex = self._handles.get(msg.statement_handle)
            if not isinstance(ex, Execution):
                continue
            found = True
            ex.cancelled = True          # a batch being computed stops at its next operator
            if ex.rs.lock.acquire(blocking=False):   # nobody is reading it: end it now
                try:
                    self._drop(ex.handle)
                    ex.close()
                finally:
                    ex.rs.lock.release()
        return found

    def _cancel_flight_info(self, context, body: bytes) -> bytes:
        req = P.parse(P.flight.CancelFlightInfoRequest, body)
        status = P.CANCEL_STATUS_CANCELLED if self._cancel(req.info) else P.CANCEL_STATUS_NOT_CANCELLABLE
        return P.flight.CancelFlightInfoResult(status=status).SerializeToString()

    def _cancel_query(self, context, body: bytes) -> bytes:
        req = self._sql_message(body, "ActionCancelQueryRequest")
        status = P.CANCEL_STATUS_CANCELLED if self._cancel(req.info) else P.CANCEL_STATUS_NOT_CANCELLABLE
        return P.pack(P.sql.ActionCancelQueryResult(result=status))

    def _set_options(self, context, body: bytes) -> bytes:
        import re
        req = P.parse(P.flight.SetSessionOptionsRequest, body)
        rs = self._session(context)
        result = P.flight.SetSessionOptionsResult()
        with rs.lock:
            for name, value in req.session_options.items():
                which = value.WhichOneof("option_value")
                if name in ("catalog", "schema"):
                    ok = (C.catalog_name(rs.session) if name == "catalog" else "main")
                    if which != "string_value" or value.string_value != ok:
                        result.errors[name].value = P.SET_SESSION_INVALID_VALUE
                    continue
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    result.errors[name].value = P.SET_SESSION_INVALID_NAME
                    continue
                if which is None:           # a valueless option unsets it
                    rs.session.settings.pop(name.lower(), None)
                    continue
                v = getattr(value, which)
                if which == "string_list_value":
                    literal = "'" + ",".join(v.values).replace("'", "''") + "'"
                elif which == "bool_value":
                    literal = "true" if v else "false"
                elif which == "string_value":
                    literal = "'" + v.replace("'", "''") + "'"
                else:
                    literal = repr(v)
                try:
                    self._check(self._prepare(rs, f"SET {name} = {literal}"))
                    rs.session.execute(f"SET {name} = {literal}")
                except Error:
                    result.errors[name].value = P.SET_SESSION_INVALID_VALUE
        return result.SerializeToString()

    def _get_options(self, context, body: bytes) -> bytes:
        P.parse(P.flight.GetSessionOptionsRequest, body)
        rs = self._session(context)
        out = P.flight.GetSessionOptionsResult()
        with rs.lock:
            settings = dict(rs.session.settings)
            settings.update(catalog=C.catalog_name(rs.session), schema="main")
        for name, v in settings.items():
            o = out.session_options[name]
            if isinstance(v, bool):
                o.bool_value = v
            elif isinstance(v, int):
                o.int64_value = v
            elif isinstance(v, float):
                o.double_value = v
            else:
                o.string_value = str(v)
        return out.SerializeToString()

    def _close(self, context, body: bytes) -> bytes:
        P.parse(P.flight.CloseSessionRequest, body)
        rs = self._session(context)
        self._close_session(rs)
        return P.flight.CloseSessionResult(status=P.CLOSE_SESSION_CLOSED).SerializeToString()


def serve(database: str, options: ServeOptions, register: dict | None = None) -> DawnFlightServer:
    """Start a server in a background thread and return it (``shutdown()`` stops it)."""
    server = DawnFlightServer(database, options, register)
    server.serve_in_thread()
    return server
