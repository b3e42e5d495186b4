"""Connection and Cursor: PEP 249 (DB-API 2.0), plus Arrow and pandas fetches."""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from engine import errors as _e
from engine.errors import InterfaceError, ProgrammingError

def _bulk_insert(operation: str):
    """``INSERT INTO t [(cols)] VALUES (?, ...)`` (one row of parameters only): its table,
    columns (None for all) and parameter markers, read from the parsed statement; None for
    anything else."""
    from sqlglot import exp
    from engine.errors import Error
    from engine.sql.parser import parse
    try:
        stmts = parse(operation)
    except Error:
        return None
    if len(stmts) != 1 or not isinstance(stmts[0], exp.Insert):
        return None
    ins = stmts[0]
    values = ins.expression
    if set(ins.args) - {"this", "expression"} and any(
            ins.args.get(k) for k in set(ins.args) - {"this", "expression"}):
        return None   # OR REPLACE, RETURNING, ON CONFLICT, BY NAME, ...: the general path
    if not isinstance(values, exp.Values) or len(values.expressions) != 1:
        return None
    target = ins.this
    cols = None
    if isinstance(target, exp.Schema):
        cols = [c.name for c in target.expressions]
        target = target.this
    if not isinstance(target, exp.Table) or target.args.get("db") or target.args.get("catalog"):
        return None
    marks = []
    for v in values.expressions[0].expressions:
        if isinstance(v, exp.Placeholder):
            marks.append(":" + v.name if v.name and not v.name.isdigit() else ("?" if not v.name else "$" + v.name))
        elif isinstance(v, exp.Parameter):
            marks.append("$" + v.this.name)
        else:
            return None
    return target.name, cols, marks


def _pylist(col) -> list:
    """A column as Python values; HUGEINT (decimal128(38, 0)) as ints, as DuckDB's cursor gives."""
    from engine.plan.types import HUGEINT
    try:
        values = col.to_pylist()
    except (OverflowError, ValueError):
        if not (pa.types.is_date(col.type) or pa.types.is_timestamp(col.type)):
            raise
        return _wide_dates(col)
    if col.type == HUGEINT:
        return [None if v is None else int(v) for v in values]
    return values


def _wide_dates(col) -> list:
    """Dates and timestamps as Python values where Python has them (years 1 to 9999), else as
    their text ('10000-01-01', '0044-03-15 (BC)'), as DuckDB's cursor gives them."""
    import pyarrow.compute as pc

    from engine.plan.functions.textcast import to_text
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    n = col.cast(pa.int32() if pa.types.is_date(col.type) else pa.int64())
    if pa.types.is_date(col.type):
        lo, hi = -719_162, 2_932_896
    else:
        per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
        lo, hi = -719_162 * per_day[col.type.unit], 2_932_897 * per_day[col.type.unit] - 1
    fits = pc.fill_null(pc.and_(pc.greater_equal(n, lo), pc.less_equal(n, hi)), True)
    inside = pc.if_else(fits, col, pa.scalar(None, col.type)).to_pylist()
    text = to_text(col).to_pylist()
    return [v if ok else t for v, t, ok in zip(inside, text, fits.to_pylist())]


class Cursor:
    """A cursor: executes statements and fetches their results."""

    def __init__(self, connection: "Connection"):
        self.connection = connection
        self.arraysize = 1
        self.rowcount = -1
        self.description: list[tuple] | None = None
        self.lastrowid = None
        self._stream = None             # the result set being read (engine/statements/result.py)
        self._rows: list[tuple] = []    # the rows of the current chunk, as tuples
        self._batch: pa.RecordBatch | None = None  # what is left of the current batch
        self._pos = 0
        self._closed = False
        self.run_id: str | None = None  # the tracked run of the last statement (catalog/tracking.py)

    # ---- state
    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("Cursor is closed")
        self.connection._check()

    def close(self) -> None:
        self._end_result()
        self._closed = True

    def _end_result(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = self._batch = None
        self._rows, self._pos = [], 0

    def __enter__(self) -> "Cursor":
        return self

    def __exit__(self, *exc) -> None:
        if not self._closed:
            self.close()

    # ---- execution
    def execute(self, operation: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> "Cursor":
        self._check()
        if not isinstance(operation, str):
            raise ProgrammingError(f"SQL must be a string, got {type(operation).__name__}")
        session = self.connection._session
        self._end_result()
        try:
            res = session.execute(operation, parameters)
        finally:
            self.run_id = session.last_run_id
        self._set_result(res)
        return self

    def executemany(self, operation: str, seq_of_parameters) -> "Cursor":
        """Run ``operation`` once per parameter set. ``INSERT ... VALUES (?, ...)`` is executed as
        one columnar append of all rows (and is atomic as a whole)."""
        self._check()
        params = list(seq_of_parameters)
        bulk = _bulk_insert(operation) if params else None
        if bulk:
            from engine.statements.result import Result
            session = self.connection._session
            self._end_result()
            table, cols, marks = bulk
            try:
                res = session.tracked("INSERT", operation, lambda run: Result(None, session.insert_many(
                    table, cols, marks, params)))
            finally:
                self.run_id = session.last_run_id
            self._set_result(None, rowcount=res.rowcount)
            return self
        total = 0
        for p in params:
            self.execute(operation, p)
            total += max(self.rowcount, 0)
        self._set_result(None, rowcount=total)
        return self

    def callproc(self, procname: str, parameters: Sequence[Any] = ()) -> Sequence[Any]:
        """Dawn has no stored procedures; a function name is called as ``SELECT f(args)``."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", procname):
            raise ProgrammingError(f"Invalid procedure name {procname!r}")
        marks = ", ".join("?" for _ in parameters)
        self.execute(f"SELECT {procname}({marks})", list(parameters))
        return parameters

    def nextset(self) -> bool | None:
        """Dawn statements produce one result set: there is never a next one."""
        self._open_stream()
        return None

    def setinputsizes(self, sizes) -> None:
        self._check()

    def setoutputsize(self, size, column=None) -> None:
        self._check()

    def _set_result(self, res, rowcount: int | None = None) -> None:
        self._rows, self._pos, self._batch, self._chunk = [], 0, None, None
        self._result = res
        if res is None or res.stream is None:
            self._stream = None
            self.description = None
            self.rowcount = rowcount if rowcount is not None else (res.rowcount if res else -1)
            return
        from engine.plan.types import sql_name
        self._stream = res.stream
        # known when the whole answer was computed by execute; -1 (PEP 249) while it streams
        self.rowcount = res.rowcount
        self.description = [(f.name, sql_name(f.type), None, None, None, None, f.nullable)
                            for f in res.stream.schema]

    @property
    def approx(self) -> dict | None:
        """For an approximate answer (ERROR WITHIN, LIMIT ... GAP, a RECALL/PRECISION TARGET) of
        the last statement: its interval (``ci_low``, ``ci_high``, ``confidence``), ``oracle_calls``
        used and ``full_scan_calls`` (what a full scan would have made), ``exact`` and ``method``;
        None for any other statement. The run's metrics hold the same figures (``approx.*``)."""
        res = getattr(self, "_result", None)
        return res.approx if res is not None else None

    # ---- fetching: everything reads the statement's one stream, a batch at a time
    CHUNK = 2048  # rows turned into tuples at a time by fetchone/fetchmany

    def _open_stream(self):
        self._check()
        if self._stream is None:
            raise ProgrammingError("No result set: the last statement returned no rows "
                                   "(or nothing was executed)")
        return self._stream

    def _note_end(self, stream) -> None:
        if stream.complete and self.rowcount < 0:
            self.rowcount = stream.rows

    def _next_rows(self) -> bool:
        """Turn the next chunk of the result into tuples; False at the end."""
        stream = self._open_stream()
        while self._batch is None or self._batch.num_rows == 0:
            self._batch = stream.next_batch()
            if self._batch is None:
                self._note_end(stream)
                return False
        chunk, self._batch = self._batch.slice(0, self.CHUNK), self._batch.slice(self.CHUNK)
        self._chunk = chunk
        cols = [_pylist(c) for c in chunk.columns]
        self._rows = list(zip(*cols)) if cols else [() for _ in range(chunk.num_rows)]
        self._pos = 0
        return True

    def _repr_html_(self) -> str:
        """In a notebook: the next rows of the result as an HTML table (engine/interfaces/notebook.py),
        without consuming them: a fetch afterwards still starts there."""
        from engine.interfaces.notebook import HTML_ROWS, html_table
        if self._stream is None:
            return f"<p><small>no result set (rowcount {self.rowcount})</small></p>"
        if self._pos >= len(self._rows):
            self._next_rows()              # the next chunk, none of it read yet
        chunk = self._chunk
        if chunk is None:
            return html_table(pa.Table.from_batches([], schema=self._stream.schema), 0)
        head = pa.Table.from_batches([chunk.slice(self._pos, HTML_ROWS)])
        total = self.rowcount if self.rowcount >= 0 else None
        out = html_table(head, total)
        return out if total is not None else out.replace("</small></p>", "; the result streams: more may follow</small></p>")

    def fetchone(self) -> tuple | None:
        self._open_stream()
        if self._pos >= len(self._rows) and not self._next_rows():
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        self._open_stream()
        n = self.arraysize if size is None else size
        out: list[tuple] = []
        while len(out) < n:
            if self._pos >= len(self._rows) and not self._next_rows():
                break
            take = self._rows[self._pos:self._pos + n - len(out)]
            self._pos += len(take)
            out.extend(take)
        return out

    def fetchall(self) -> list[tuple]:
        self._open_stream()
        out = self._rows[self._pos:]
        self._pos = len(self._rows)
        while self._next_rows():
            out.extend(self._rows)
            self._pos = len(self._rows)
        return out

    def _rest_batches(self) -> Iterator[pa.RecordBatch]:
        """What is left of the result, as batches (rows already fetched as tuples excluded)."""
        stream = self._open_stream()
        if self._pos < len(self._rows):
            rest = self._chunk.slice(self._pos)
            self._pos = len(self._rows)
            yield rest
        if self._batch is not None and self._batch.num_rows:
            b, self._batch = self._batch, None
            yield b
        for b in stream:
            yield b
        self._note_end(stream)

    def fetch_arrow_table(self) -> pa.Table:
        """The rest of the result as one Arrow table."""
        stream = self._open_stream()
        batches = list(self._rest_batches())
        if len(stream.schema) == 0:
            return pa.table({"__n": pa.nulls(sum(b.num_rows for b in batches))}).select([])
        return pa.Table.from_batches(batches, schema=stream.schema)

    def fetch_record_batch(self, rows_per_batch: int = 1_000_000) -> pa.RecordBatchReader:
        """The rest of the result as a streaming ``pyarrow.RecordBatchReader`` (DuckDB's name);
        reading it to the end or closing it ends the statement."""
        stream = self._open_stream()
        stream.reader_owned = True

        def gen():
            try:
                for b in self._rest_batches():
                    for lo in range(0, b.num_rows, rows_per_batch) if b.num_rows else [0]:
                        yield b.slice(lo, rows_per_batch)
            finally:
                stream.close()
        return pa.RecordBatchReader.from_batches(stream.schema, gen())

    def fetch_df(self):
        return self.fetch_arrow_table().to_pandas()

    fetchdf = fetch_df

    def __iter__(self) -> Iterator[tuple]:
        while True:
            r = self.fetchone()
            if r is None:
                return
            yield r


class Connection:
    """A connection to a Dawn database (``:memory:`` or a file stored with DuckDB)."""

    Warning = _e.Warning
    Error = _e.Error
    InterfaceError = _e.InterfaceError
    DatabaseError = _e.DatabaseError
    DataError = _e.DataError
    OperationalError = _e.OperationalError
    IntegrityError = _e.IntegrityError
    InternalError = _e.InternalError
    ProgrammingError = _e.ProgrammingError
    NotSupportedError = _e.NotSupportedError

    def __init__(self, database: str = ":memory:", autocommit: bool = False, source: str = "dbapi"):
        from engine.session import Session
        if not isinstance(database, str):
            database = str(database)
        self.database = database
        self._session = Session(database, source=source)
        self._session.autocommit = autocommit
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("Connection is closed")

    @property
    def autocommit(self) -> bool:
        return self._session.autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._check()
        if value and self._session.in_txn:
            self._session.commit()
        self._session.autocommit = bool(value)

    def cursor(self) -> Cursor:
        self._check()
        return Cursor(self)

    def execute(self, sql: str, params=None) -> Cursor:
        return self.cursor().execute(sql, params)

    def sql(self, sql: str, params=None):
        """A query as a Relation (``.show()``, ``.df()``, ``.arrow()``, ``.fetchall()``,
        ``.explain()``; HTML in a notebook); any other statement runs now and returns None
        (engine/interfaces/notebook.py)."""
        from engine.interfaces.notebook import Relation
        from engine.sql.parser import parse
        from sqlglot import exp
        from engine.sql.dialect import Explain
        stmts = parse(sql)
        # a query, and the statements that only show something (EXPLAIN [ANALYZE], DESCRIBE,
        # SHOW): running those now and returning None would lose what they show
        if len(stmts) == 1 and isinstance(stmts[0], (exp.Query, Explain, exp.Describe, exp.Show)):
            return Relation(self, sql, params, plan=isinstance(stmts[0], Explain))
        self.execute(sql, params)
        return None

    def runs(self, limit: int = 20):
        """The latest tracked runs as a Relation (a table in a notebook, as ``dawn runs`` lists
        them in a terminal); ``dawn.runs`` and its sibling tables hold everything."""
        from engine.interfaces.notebook import Relation
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ProgrammingError(f"runs(limit=...) takes a positive number of runs, not {limit!r}")
        return Relation(self, "SELECT run_id, epoch_ms(start_time) AS started, statement_kind, status, "
                              "round(duration_ms, 1) AS duration_ms, sql, error FROM dawn.runs "
                              f"ORDER BY start_time DESC, run_id DESC LIMIT {limit}")

    def executemany(self, sql: str, seq) -> Cursor:
        return self.cursor().executemany(sql, seq)

    def prepare(self, sql: str) -> list:
        """The statements of ``sql``, parsed, each with its result ``schema`` known before it
        runs and ``execute(params) -> pyarrow.RecordBatchReader`` (engine/statements)."""
        self._check()
        from engine.statements import prepare
        return prepare(self._session, sql)

    def register(self, name: str, data: Any) -> None:
        """Expose an Arrow table/record batch or a pandas DataFrame as table ``name`` (this
        connection only; nothing is copied into the database)."""
        self._check()
        from catalog.sources import ArrowSource
        self._session.catalog.register(name, ArrowSource(data))

    def register_function(self, fn: Any, name: str | None = None) -> None:
        """Make a UDF (``@udf.scalar``/``aggregate``/``table``, or a ModelUDF) callable in SQL on
        this connection. ``CREATE FUNCTION name FROM 'module:attr'`` stores one in the database."""
        self._check()
        try:
            self._session.functions.register(fn, name)
        except TypeError as e:
            raise ProgrammingError(str(e)) from None

    def unregister(self, name: str) -> None:
        self._check()
        self._session.catalog.unregister(name)

    def append(self, table: str, data: Any) -> int:
        """Append an Arrow table or pandas frame to a stored table (one atomic write)."""
        self._check()
        from engine.statements.result import Result
        s = self._session
        return s.tracked("APPEND", f"APPEND INTO {table}", lambda run: Result(None, s.append(table, data))).rowcount

    def commit(self) -> None:
        self._check()
        self._session.commit()

    def rollback(self) -> None:
        self._check()
        self._session.rollback()

    def close(self) -> None:
        if self._closed:
            raise InterfaceError("Connection is already closed")
        self._session.close()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        self.close()
