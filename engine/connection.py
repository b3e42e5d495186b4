"""Connection and Cursor: the Python entry points (PEP 249 shape; see engine/__init__.py)."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

from engine.errors import Error, InterfaceError, ProgrammingError


class Cursor:
    arraysize = 1

    def __init__(self, connection: "Connection"):
        self.connection = connection
        self._table: pa.Table | None = None
        self._rows: list[tuple] | None = None
        self._pos = 0
        self.rowcount = -1
        self.description: list[tuple] | None = None
        self._closed = False
        self.arraysize = 1

    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("Cursor is closed")
        self.connection._check()

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> "Cursor":
        self._check()
        if not isinstance(sql, str):
            raise ProgrammingError(f"SQL must be a string, got {type(sql).__name__}")
        res = self.connection._session.execute(sql, params)
        self._set_result(res)
        return self

    def _set_result(self, res) -> None:
        self._table = res.table
        self._rows = None
        self._pos = 0
        self.rowcount = res.rowcount if res.rowcount is not None else -1
        if res.table is None:
            self.description = None
        else:
            from engine.plan.types import sql_name
            self.description = [(f.name, sql_name(f.type), None, None, None, None, True)
                                 for f in res.table.schema]

    def _result(self) -> pa.Table:
        self._check()
        if self._table is None:
            raise ProgrammingError("No result set: execute a query first")
        return self._table

    def _materialize(self) -> list[tuple]:
        if self._rows is None:
            t = self._result()
            cols = [c.to_pylist() for c in t.columns]
            self._rows = list(zip(*cols)) if cols else [() for _ in range(t.num_rows)]
        return self._rows

    def fetchall(self) -> list[tuple]:
        rows = self._materialize()
        out = rows[self._pos:]
        self._pos = len(rows)
        return out

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

    def fetch_arrow_table(self) -> pa.Table:
        return self._result()

    def fetch_df(self):
        return self._result().to_pandas()

    def __iter__(self) -> Iterator[tuple]:
        while True:
            r = self.fetchone()
            if r is None:
                return
            yield r

    def close(self) -> None:
        self._closed = True
        self._table = None
        self._rows = None


class Connection:
    def __init__(self, database: str = ":memory:"):
        from engine.session import Session
        self.database = database
        self._session = Session()
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("Connection is closed")

    def cursor(self) -> Cursor:
        self._check()
        return Cursor(self)

    def execute(self, sql: str, params=None) -> Cursor:
        return self.cursor().execute(sql, params)

    def register(self, name: str, data: Any) -> None:
        """Expose an Arrow table/record batch or a pandas DataFrame as a table named ``name``."""
        self._check()
        from catalog.sources import ArrowSource
        self._session.catalog.register(name, ArrowSource(data))

    def unregister(self, name: str) -> None:
        self._session.catalog.unregister(name)

    def close(self) -> None:
        self._closed = True

    def commit(self) -> None:
        self._check()

    def rollback(self) -> None:
        self._check()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
