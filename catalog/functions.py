"""The function registry: built-in library UDFs, functions registered from Python on a
connection, and functions created in SQL (``CREATE FUNCTION f FROM 'pkg.module:attr'``), which
are stored in ``dawn_meta.functions`` and imported again when a database is opened. A stored
function's module is imported as ``python -m`` would find it: Python's path, then the current
directory and the database file's folder (the ``dawn`` script's own folder is on its path, the
directory it runs in is not)."""
from __future__ import annotations

import importlib
import os
import sys

from udfs import UDF, as_udf, builtin_functions

FUNCTIONS_DDL = ("CREATE TABLE IF NOT EXISTS dawn_meta.functions (name VARCHAR PRIMARY KEY, "
                 "target VARCHAR NOT NULL, created_at TIMESTAMP DEFAULT current_timestamp)")


class FunctionImportError(Exception):
    pass


def import_dirs(database: str | None = None) -> list[str]:
    """Folders a stored function's module is also looked for in, as ``python -m`` would: the
    current directory, then the database file's folder (where a project keeps its code)."""
    dirs = [os.getcwd()]
    if database and database != ":memory:":
        dirs.append(os.path.dirname(os.path.abspath(database)))
    return list(dict.fromkeys(dirs))


def _import(module: str, dirs: list[str]):
    """Import ``module``; if Python's path lacks its top-level package, retry with ``dirs`` at
    the end of ``sys.path`` (kept there, so the module's own later imports resolve too; at the
    end, so they never shadow an installed package or the standard library)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name is None or top != e.name.split(".")[0]:
            raise
        added = [d for d in dirs if d not in sys.path]
        if not added:
            raise
        sys.path.extend(added)
        importlib.invalidate_caches()
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as e2:
            if e2.name is not None and top == e2.name.split(".")[0]:
                for d in added:  # found nowhere: leave sys.path as it was
                    sys.path.remove(d)
            raise


def load_target(target: str, name: str | None = None, database: str | None = None) -> UDF:
    """Import ``package.module:attribute`` and return it as a UDF named ``name``; the module
    is looked for on Python's path, then in the current directory and the folder of the
    ``database`` file (see import_dirs)."""
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise FunctionImportError(f"'{target}' is not of the form 'package.module:attribute'")
    dirs = import_dirs(database)
    try:
        mod = _import(module, dirs)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name is not None and top == e.name.split(".")[0]:
            searched = list(dict.fromkeys(dirs + [p or os.getcwd() for p in sys.path]))
            raise FunctionImportError(
                f"Cannot import module '{module}' for '{target}': {e}. Searched the current "
                f"directory and the database's folder ({', '.join(dirs)}), then Python's path "
                f"({', '.join(searched[len(dirs):])}). Run dawn from the folder that holds "
                f"'{top}', put that folder on PYTHONPATH (export PYTHONPATH=/path/to/parent), "
                f"or install the package (pip install -e .)") from None
        raise FunctionImportError(f"Cannot import module '{module}' for '{target}': "
                                  f"{type(e).__name__}: {e}") from None
    except Exception as e:  # the module's own error
        raise FunctionImportError(f"Cannot import module '{module}' for '{target}': "
                                  f"{type(e).__name__}: {e}") from None
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise FunctionImportError(f"Module '{module}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    try:
        u = as_udf(obj, name)
    except TypeError as e:
        raise FunctionImportError(f"'{target}' is not a UDF: {e}") from None
    u.source = target
    return u


class FunctionRegistry:
    def __init__(self, store=None):
        self.store = store
        self.python: dict[str, UDF] = {}
        self._builtins: dict[str, UDF] | None = None
        self._imported: dict[str, tuple[str, UDF | Exception]] = {}
        self._models: dict[str, tuple] = {}
        if store is not None:
            store.duck.execute(FUNCTIONS_DDL)

    def _database(self) -> str | None:
        return self.store.db.path if self.store is not None else None

    def builtins(self) -> dict[str, UDF]:
        if self._builtins is None:
            self._builtins = {u.name: u for u in builtin_functions()}
        return self._builtins

    def register(self, obj, name: str | None = None) -> UDF:
        u = as_udf(obj, name)
        self.python[u.name] = u
        return u

    def unregister(self, name: str) -> bool:
        return self.python.pop(name.lower(), None) is not None

    def stored(self) -> dict[str, str]:
        if self.store is None:
            return {}
        return {r[0]: r[1] for r in self.store.duck.execute(
            "SELECT lower(name), target FROM dawn_meta.functions").fetchall()}

    def _from_catalog(self, name: str, target: str) -> UDF:
        hit = self._imported.get(name)
        if hit is None or hit[0] != target:
            try:
                hit = (target, load_target(target, name, self._database()))
            except FunctionImportError as e:
                hit = (target, e)
            self._imported[name] = hit
        if isinstance(hit[1], Exception):
            raise hit[1]
        return hit[1]

    def get(self, name: str) -> UDF | None:
        key = name.lower()
        if key in self.python:
            return self.python[key]
        target = self.stored().get(key)
        if target is not None:
            return self._from_catalog(key, target)
        model = self.model(key)
        if model is not None:
            return model
        return self.builtins().get(key)

    def model(self, name: str) -> UDF | None:
        """A stored model (CREATE MODEL / CREATE LABEL MODEL) as its UDF, loaded once per version."""
        if self.store is None:
            return None
        from catalog.models import ModelStore
        row = self.store.duck.execute("SELECT created_at, run_id FROM dawn_meta.models WHERE lower(name) = ?",
                                      [name]).fetchall()
        if not row:
            return None
        version = (str(row[0][0]), row[0][1])
        hit = self._models.get(name)
        if hit is None or hit[0] != version:
            hit = (version, ModelStore(self.store.duck).get(name).udf())
            self._models[name] = hit
        return hit[1]

    def names(self) -> list[str]:
        models = set()
        if self.store is not None:
            from catalog.models import ModelStore
            models = set(ModelStore(self.store.duck).names())
        return sorted(set(self.python) | set(self.stored()) | models | set(self.builtins()))

    def listing(self) -> list[tuple[str, str, str, str]]:
        """(name, kind, signature, source) for SHOW FUNCTIONS."""
        out = []
        stored = self.stored()
        for n in self.names():
            try:
                u = self.get(n)
            except FunctionImportError as e:
                out.append((n, "?", f"(cannot import: {e})", stored.get(n, "")))
                continue
            out.append((n, u.kind, u.signature, u.source))
        return out
