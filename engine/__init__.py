"""Dawn: a declarative SQL engine for analytics that call machine-learning models.

This module is the DB-API 2.0 (PEP 249) entry point: ``engine.connect()`` returns a connection.
It imports nothing heavy, so ``import engine`` stays fast; the query machinery loads on first use.
"""
from __future__ import annotations

from engine.errors import (BindError, DatabaseError, DataError, Error, IntegrityError,
                           InterfaceError, InternalError, NotSupportedError, OperationalError,
                           ParseError, ProgrammingError, TypeMismatchError, Warning)

apilevel = "2.0"
threadsafety = 1
paramstyle = "qmark"

__version__ = "0.1.0"


def connect(database: str = ":memory:", **kwargs):
    """Open a connection; ``database`` is ':memory:' or a file path."""
    from engine.connection import Connection
    return Connection(database, **kwargs)


__all__ = ["connect", "apilevel", "threadsafety", "paramstyle", "Warning", "Error",
           "InterfaceError", "DatabaseError", "DataError", "OperationalError", "IntegrityError",
           "InternalError", "ProgrammingError", "NotSupportedError", "ParseError", "BindError",
           "TypeMismatchError"]
