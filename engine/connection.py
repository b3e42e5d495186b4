"""Connection and Cursor: PEP 249 (DB-API 2.0), plus Arrow and pandas fetches."""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from engine import errors as _e
from engine.errors import InterfaceError, ProgrammingError

_INSERT_VALUES = re.compile(
    r"^\s*INSERT\s+INTO\s+(?P<table>[\w\"\.]+)\s*(?:\((?P<cols>[^)]*)\))?\s*VALUES\s*"
    r"\((?P<vals>\s*(?:\?|\$\d+|:\w+)(?:\s*,\s*(?:\?|\$\d+|:\w+))*\s*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL)


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
        self._table: pa.Table | None = None
        self._rows: list[tuple] | None = None
        self._pos = 0
        self._closed = False
        self.run_id: str | None = None  # the tracked run of the last statement (catalog/tracking.py)

    # ---- state
    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("Cursor is closed")
        self.connection._check()

    def close(self) -> None:
        self._closed = True
        self._table = self._rows = None

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
        m = _INSERT_VALUES.match(operation)
        if m and params:
            from engine.session import Result
            session = self.connection._session
            try:
                res = session.tracked("INSERT", operation, lambda: Result(None, session.insert_many(
                    m.group("table"), m.group("cols"), m.group("vals"), params)))
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
        self._result()
        return None

    def setinputsizes(self, sizes) -> None:
        self._check()

    def setoutputsize(self, size, column=None) -> None:
        self._check()

    def _set_result(self, res, rowcount: int | None = None) -> None:
        self._rows = None
        self._pos = 0
        if res is None or res.table is None:
            self._table = None
            self.description = None
            self.rowcount = rowcount if rowcount is not None else (res.rowcount if res else -1)
            return
        from engine.plan.types import sql_name
        self._table = res.table
        self.rowcount = res.table.num_rows
        self.description = [(f.name, sql_name(f.type), None, None, None, None, f.nullable)
                            for f in res.table.schema]

    # ---- fetching
    def _result(self) -> pa.Table:
        self._check()
        if self._table is None:
            raise ProgrammingError("No result set: the last statement returned no rows "
                                   "(or nothing was executed)")
        return self._table

    def _materialize(self) -> list[tuple]:
        if self._rows is None:
            t = self._result()
            cols = [_pylist(c) for c in t.columns]
            self._rows = list(zip(*cols)) if cols else [() for _ in range(t.num_rows)]
        self._check()
        return self._rows

    def fetchone(self) -> tuple | None:
        rows = self._materialize()
        if self._pos >= len(rows):
            return None
        self._pos += 1
        return rows[self._pos - 1]

    def fetchmany(self, size: int | None = None) -> list[tuple]:
        rows = self._materialize()
        n = self.arraysize if size is None else size
        out = rows[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def fetchall(self) -> list[tuple]:
        rows = self._materialize()
        out = rows[self._pos:]
        self._pos = len(rows)
        return out

    def fetch_arrow_table(self) -> pa.Table:
        return self._result()

    def fetch_df(self):
        return self._result().to_pandas()

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

    def executemany(self, sql: str, seq) -> Cursor:
        return self.cursor().executemany(sql, seq)

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
        from engine.session import Result
        s = self._session
        return s.tracked("APPEND", f"APPEND INTO {table}", lambda: Result(None, s.append(table, data))).rowcount

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
