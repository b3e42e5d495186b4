"""Dawn's catalog statements for functions and videos (see engine/sql/dialect.py)."""
from __future__ import annotations

import os

import pyarrow as pa

from engine.errors import BindError, DataError, ProgrammingError, did_you_mean
from engine.session import Result


def execute(session, st, run=None) -> Result:
    if st.kind == "create_function":
        return _create_function(session, st)
    if st.kind == "drop_function":
        return _drop_function(session, st)
    if st.kind == "show_functions":
        rows = session.functions.listing()
        return Result.of_table(pa.table({
            "name": pa.array([r[0] for r in rows], pa.string()), "kind": pa.array([r[1] for r in rows], pa.string()),
            "signature": pa.array([r[2] for r in rows], pa.string()),
            "source": pa.array([r[3] for r in rows], pa.string())}))
    if st.kind in ("create_model", "create_label_model", "drop_model"):
        from engine import models_ddl
        return models_ddl.execute(session, st, run)
    if st.kind == "create_video":
        return _create_video(session, st)
    if st.kind == "drop_video":
        return _drop_video(session, st)
    raise ProgrammingError(f"Unknown statement {st.kind}")


def _create_function(session, st) -> Result:
    from catalog.functions import FunctionImportError, load_target
    name = st.name.lower()
    try:
        load_target(st.target, name, session.db.path)  # it must import now, not fail later
    except FunctionImportError as e:
        raise ProgrammingError(f"CREATE FUNCTION {st.name}: {e}") from None
    exists = name in session.functions.stored()
    if exists and not st.replace:
        raise ProgrammingError(f'Function "{st.name}" already exists; use CREATE OR REPLACE FUNCTION')

    def op(duck):
        duck.execute("DELETE FROM dawn_meta.functions WHERE lower(name) = ?", [name])
        duck.execute("INSERT INTO dawn_meta.functions (name, target) VALUES (?, ?)", [name, st.target])
    session.write(op)
    return Result(None, 0)


def _drop_function(session, st) -> Result:
    name = st.name.lower()
    if session.functions.unregister(name):
        return Result(None, 0)
    if name not in session.functions.stored():
        if st.if_exists:
            return Result(None, 0)
        if name in session.functions.builtins():
            raise ProgrammingError(f'"{st.name}" is a built-in function and cannot be dropped')
        raise BindError(f'Function "{st.name}" does not exist.' + did_you_mean(name, session.functions.names()))
    session.write(lambda duck: duck.execute("DELETE FROM dawn_meta.functions WHERE lower(name) = ?", [name]))
    return Result(None, 0)


def _create_video(session, st) -> Result:
    from catalog.video import VideoError
    path = os.path.abspath(st.target)
    unknown = set(st.options) - {"fps", "width", "height"}
    if unknown:
        raise ProgrammingError(f"Unknown video option(s) {sorted(unknown)}: use fps, width, height")
    existing = session.catalog.get(st.name)
    if existing is not None and not (st.replace and getattr(existing, "kind", "") == "video"):
        raise ProgrammingError(f'"{st.name}" already exists ({existing.describe()})'
                               + ("; use CREATE OR REPLACE VIDEO" if getattr(existing, "kind", "") == "video" else ""))
    try:
        session.catalog.open_video(path, name=st.name, **st.options)  # opens and checks it now
    except FileNotFoundError:
        raise BindError(f"Video file '{st.target}' does not exist (CREATE VIDEO {st.name})") from None
    except VideoError as e:
        raise DataError(f"CREATE VIDEO {st.name}: {e}") from None
    for op in session.catalog.pending_writes:
        session.write(op)
    session.catalog.pending_writes = []

    def op(duck):
        duck.execute("DELETE FROM dawn_meta.video_sources WHERE lower(name) = lower(?)", [st.name])
        duck.execute("INSERT INTO dawn_meta.video_sources (name, path, fps, width, height) VALUES (?, ?, ?, ?, ?)",
                     [st.name, path, st.options.get("fps"), st.options.get("width"), st.options.get("height")])
    session.write(op)
    return Result(None)  # DDL: rowcount -1, as CREATE TABLE


def _drop_video(session, st) -> Result:
    if session.store.video_source(st.name) is None:
        if st.if_exists:
            return Result(None, 0)
        raise BindError(f'Video "{st.name}" does not exist.' + did_you_mean(st.name, session.store.video_names()))
    session.write(lambda duck: duck.execute(
        "DELETE FROM dawn_meta.video_sources WHERE lower(name) = lower(?)", [st.name]))
    return Result(None, 0)
