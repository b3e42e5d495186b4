"""Dawn: a declarative SQL engine for analytics that call machine-learning models.

This module is the DB-API 2.0 (PEP 249) entry point: ``engine.connect()`` returns a connection.
It imports nothing heavy, so ``import engine`` stays fast; the query machinery loads on first use.
"""
from __future__ import annotations

from engine.errors import (BindError, DatabaseError, DataError, Error, IntegrityError,
                           InterfaceError, InternalError, NotSupportedError, OperationalError,
                           ParseError, ProgrammingError, TypeMismatchError, Warning)

import datetime as _dt
import time as _time
import warnings as _warnings

# pandas.read_sql(sql, con) works with any DB-API connection but warns, on every call, that it
# only "supports" SQLAlchemy and sqlite3 ones; a Dawn connection is exactly what its fallback
# path expects (cursor(), execute(sql, params), description, fetchall()), so the warning is
# noise for Dawn users. The filter matches that one message only; pandas offers no narrower
# hook (it warns before it touches the connection, attributing the warning to the caller).
_PANDAS_WARNING = r"pandas only supports SQLAlchemy connectable"


def _quiet_pandas() -> None:
    """Install the filter (again, if a ``warnings.catch_warnings`` block around an earlier import
    has since restored the filters it replaced)."""
    if not any(f[0] == "ignore" and f[1] is not None and f[1].pattern == _PANDAS_WARNING
               for f in _warnings.filters):
        _warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=UserWarning)


_quiet_pandas()

apilevel = "2.0"
threadsafety = 1      # threads may share the module, not connections
paramstyle = "qmark"  # also accepted: numeric ($1) and named (:name)

__version__ = "0.1.0"


def connect(database: str = ":memory:", autocommit: bool = False, source: str = "dbapi"):
    """Open a connection. ``database`` is ':memory:' (default) or the path of a database file
    (created if missing, stored with DuckDB; see catalog/store.py for the layout). ``source``
    names the interface in the run log (``dbapi``, ``shell``, ``flight``)."""
    from engine.connection import Connection
    _quiet_pandas()
    return Connection(database, autocommit=autocommit, source=source)


# PEP 249 type constructors
Date = _dt.date
Time = _dt.time
Timestamp = _dt.datetime
Binary = bytes


def DateFromTicks(ticks: float) -> _dt.date:
    return Date(*_time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> _dt.time:
    return Time(*_time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> _dt.datetime:
    return Timestamp(*_time.localtime(ticks)[:6])


class DBAPITypeObject:
    """Compares equal to every type code (``cursor.description[i][1]``) of its group."""

    def __init__(self, name: str, *codes: str):
        self.name = name
        self.codes = frozenset(codes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DBAPITypeObject):
            return self.codes == other.codes
        return isinstance(other, str) and other.upper() in self.codes

    def __hash__(self) -> int:
        return hash(self.codes)

    def __repr__(self) -> str:
        return f"<DBAPITypeObject {self.name}>"


STRING = DBAPITypeObject("STRING", "VARCHAR")
BINARY = DBAPITypeObject("BINARY", "BLOB")
NUMBER = DBAPITypeObject("NUMBER", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT",
                         "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "BOOLEAN")
DATETIME = DBAPITypeObject("DATETIME", "DATE", "TIME", "TIMESTAMP", "INTERVAL")
ROWID = DBAPITypeObject("ROWID", "ROWID")


__all__ = ["connect", "apilevel", "threadsafety", "paramstyle", "Date", "Time", "Timestamp",
           "DateFromTicks", "TimeFromTicks", "TimestampFromTicks", "Binary", "STRING", "BINARY",
           "NUMBER", "DATETIME", "ROWID", "Warning", "Error",
           "InterfaceError", "DatabaseError", "DataError", "OperationalError", "IntegrityError",
           "InternalError", "ProgrammingError", "NotSupportedError", "ParseError", "BindError",
           "TypeMismatchError"]
