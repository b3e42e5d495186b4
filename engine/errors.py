"""The single exception hierarchy of Dawn, shaped as PEP 249 (DB-API 2.0) classes.

Every error Dawn raises is one of these classes, so a caller can catch ``engine.Error`` (or a
narrower DB-API class) whatever layer failed. Errors about SQL text carry the line and column of
the offending token; name-resolution errors suggest the closest valid name.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class Warning(Exception):  # noqa: A001 - the name is fixed by PEP 249
    """Important warnings, e.g. data truncation."""


class Error(Exception):
    """Base class of every Dawn error (PEP 249)."""


class InterfaceError(Error):
    """Misuse of the interface: closed connection or cursor, fetch with no result set."""


class DatabaseError(Error):
    """Errors related to the database."""


class DataError(DatabaseError):
    """Problems with processed data: division by zero, out-of-range values, bad casts."""


class OperationalError(DatabaseError):
    """Errors of the database's operation: I/O, a locked file, a missing data file."""


class QueryCancelledError(OperationalError):
    """A statement stopped before it finished: cancelled by its client (a Flight SQL
    CancelFlightInfo, a closed stream) or past its time limit. ``reason`` is "cancelled" or
    "timeout"."""

    def __init__(self, message: str, reason: str = "cancelled"):
        super().__init__(message)
        self.reason = reason


class IntegrityError(DatabaseError):
    """Constraint violations: NOT NULL, PRIMARY KEY, UNIQUE."""


class InternalError(DatabaseError):
    """A bug in Dawn: an invariant that should hold did not."""


class ProgrammingError(DatabaseError):
    """Errors in the SQL: syntax, unknown names, type mismatches, wrong parameter counts."""


class NotSupportedError(DatabaseError):
    """A feature Dawn does not implement (yet)."""


class ParseError(ProgrammingError):
    """A syntax error, located by line and column."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"Syntax error{where}: {message}")


class BindError(ProgrammingError):
    """A name that does not resolve: unknown table, column or function, or an ambiguous one."""


class TypeMismatchError(ProgrammingError):
    """An expression whose operand types do not fit its operator or function."""


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to ``name`` (case-insensitive), or None if nothing is close."""
    cands = list(dict.fromkeys(candidates))
    lowered = {c.lower(): c for c in cands}
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[match[0]] if match else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean "x"?' suffix for an error message, or '' when no candidate is close."""
    best = closest(name, candidates)
    return f' Did you mean "{best}"?' if best else ""


__all__ = [
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError",
    "IntegrityError", "InternalError", "ProgrammingError", "NotSupportedError", "ParseError",
    "BindError", "TypeMismatchError", "closest", "did_you_mean",
]


def map_duckdb_error(e: BaseException) -> BaseException:
    """Translate an exception raised by the DuckDB store into the DB-API class it stands for."""
    if isinstance(e, Error):
        return e
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a dependency
        return e
    if not isinstance(e, duckdb.Error):
        return e
    msg = str(e)
    for prefix in ("Constraint Error: ", "Conversion Error: ", "Catalog Error: ", "Binder Error: ",
                   "Parser Error: ", "IO Error: ", "Invalid Input Error: ", "Out of Range Error: ",
                   "TransactionContext Error: ", "Not implemented Error: "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if isinstance(e, duckdb.ConstraintException):
        return IntegrityError(msg)
    if isinstance(e, (duckdb.ConversionException, duckdb.OutOfRangeException,
                      duckdb.InvalidInputException)):
        return DataError(msg)
    if isinstance(e, (duckdb.CatalogException, duckdb.BinderException, duckdb.ParserException,
                      duckdb.SyntaxException)):
        return ProgrammingError(msg)
    if isinstance(e, duckdb.NotImplementedException):
        return NotSupportedError(msg)
    if isinstance(e, (duckdb.IOException, duckdb.TransactionException)):
        return OperationalError(msg)
    return DatabaseError(msg)


def map_engine_error(e: BaseException) -> BaseException:
    """Errors raised by sources while a statement runs, as DB-API classes."""
    if isinstance(e, Error):
        return e
    name = type(e).__name__
    if name == "VideoError":
        return DataError(str(e))
    if name == "TableUdfError":
        return DataError(str(e))
    if name == "FunctionImportError":
        return ProgrammingError(str(e))
    if isinstance(e, FileNotFoundError):
        return OperationalError(f"File not found: {e}")
    return map_duckdb_error(e)
