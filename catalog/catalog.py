"""The catalog: resolves names to table sources and views for one connection.

Names resolve in this order: sources registered on the connection (Arrow tables, pandas frames,
files: connection-local, like DuckDB's ``register``), tables stored in the database, then views.
"""
from __future__ import annotations

from catalog.sources import TableSource


class Catalog:
    def __init__(self, store=None) -> None:
        self._tables: dict[str, TableSource] = {}
        self.store = store  # catalog.store.ConnectionStore, or None for a purely in-memory catalog

    def register(self, name: str, source: TableSource) -> None:
        self._tables[name.lower()] = source

    def unregister(self, name: str) -> bool:
        return self._tables.pop(name.lower(), None) is not None

    def registered(self, name: str) -> TableSource | None:
        return self._tables.get(name.lower())

    def get(self, name: str) -> TableSource | None:
        src = self._tables.get(name.lower())
        if src is None and self.store is not None and "." not in name:
            src = self.store.lookup(name)
        return src

    def view(self, name: str) -> str | None:
        if self.store is None or name.lower() in self._tables:
            return None
        return self.store.view_sql(name)

    def names(self) -> list[str]:
        out = set(self._tables)
        if self.store is not None:
            out.update(self.store.table_names())
            out.update(self.store.view_names())
        return sorted(out)
