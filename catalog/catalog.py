"""The catalog: names of tables (and later views, functions, video sources) to their sources."""
from __future__ import annotations

from catalog.sources import TableSource


class Catalog:
    def __init__(self) -> None:
        self._tables: dict[str, TableSource] = {}

    def register(self, name: str, source: TableSource) -> None:
        self._tables[name.lower()] = source

    def unregister(self, name: str) -> bool:
        return self._tables.pop(name.lower(), None) is not None

    def get(self, name: str) -> TableSource | None:
        return self._tables.get(name.lower())

    def names(self) -> list[str]:
        return sorted(self._tables)
