"""The catalog: resolves names to table sources and views for one connection.

Names resolve in this order: sources registered on the connection (Arrow tables, pandas frames,
files: connection-local, like DuckDB's ``register``), tables stored in the database, then views.
``dawn.<name>`` are the run-log tables (catalog/tracking.py).
"""
from __future__ import annotations

from catalog.sources import TableSource


class Catalog:
    def __init__(self, store=None) -> None:
        self._tables: dict[str, TableSource] = {}
        self.store = store  # catalog.store.ConnectionStore, or None for a purely in-memory catalog
        self.pending_writes: list = []  # metadata learned while reading; the session stores it
        self.generation = 0  # counts registrations: plans kept for repeated queries are dropped

    def register(self, name: str, source: TableSource) -> None:
        self._tables[name.lower()] = source
        self.generation += 1

    def unregister(self, name: str) -> bool:
        self.generation += 1
        return self._tables.pop(name.lower(), None) is not None

    def registered(self, name: str) -> TableSource | None:
        return self._tables.get(name.lower())

    def registered_sources(self) -> list[TableSource]:
        return list(self._tables.values())

    def get(self, name: str) -> TableSource | None:
        src = self._tables.get(name.lower())
        if src is None and self.store is not None and name.lower().startswith("dawn."):
            from catalog.tracking import TABLES, TrackingSource
            table = name.lower()[5:]
            from catalog.models import MODEL_TABLES, ModelTableSource
            if table in MODEL_TABLES:
                return ModelTableSource(self.store.duck, table)
            return TrackingSource(self.store.db.tracker(), table) if table in TABLES else None
        if src is None and self.store is not None and "." not in name:
            src = self.store.lookup(name)
            if src is None:
                row = self.store.video_source(name)
                if row is not None:
                    src = self.open_video(row[1], name=row[0], fps=row[2], width=row[3], height=row[4])
        return src

    def open_video(self, path: str, name: str | None = None, fps=None, width=None, height=None):
        """A video source; probed metadata (frame count, content hash) is kept in the catalog so
        a file is hashed once per version, not once per query."""
        from catalog.video import VideoSource, probe
        lookup = self.store.video_info if self.store is not None else None
        info = probe(path, lookup)
        if self.store is not None and lookup(info.path, info.size, info.mtime) is None:
            self.pending_writes.append(self.store.video_info_op(info))
        return VideoSource(path, name=name, fps=fps, width=width, height=height, info=info)

    def view(self, name: str) -> str | None:
        if self.store is None or name.lower() in self._tables:
            return None
        return self.store.view_sql(name)

    def names(self) -> list[str]:
        out = set(self._tables)
        if self.store is not None:
            out.update(self.store.table_names())
            out.update(self.store.view_names())
            out.update(self.store.video_names())
            from catalog.tracking import TABLES
            out.update(f"dawn.{t}" for t in TABLES)
            from catalog.models import MODEL_TABLES
            out.update(f"dawn.{t}" for t in MODEL_TABLES)
        return sorted(out)
