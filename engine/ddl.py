"""DDL and DML against the database: tables live in DuckDB (see catalog.store), rows are
computed by Dawn's engine and appended as Arrow.

Every write goes through ``Session.write``, which gives statement-level atomicity: a failed
statement leaves the data as it was, also inside a transaction (see engine.session).
"""
from __future__ import annotations

import contextlib
import os
import re

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from engine.errors import (BindError, DataError, IntegrityError, NotSupportedError,
                           ProgrammingError, did_you_mean)
from engine.plan import types as T
from engine.sql.parser import location


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_name(node: exp.Expression) -> tuple[str, exp.Expression]:
    t = node.this if isinstance(node, exp.Schema) else node
    return t.name, t


def _stored(session, name: str, node) -> "object":
    src = session.catalog.store.lookup(name)
    if src is None:
        other = session.catalog.registered(name)
        if other is not None:
            raise ProgrammingError(f'"{name}" is a registered {other.kind} source and cannot be '
                                   f"modified; copy it first: CREATE TABLE x AS SELECT * FROM {name}")
        raise BindError(f'Table "{name}" does not exist{location(node)}.'
                        + did_you_mean(name, session.catalog.names()))
    return src


@contextlib.contextmanager
def _exposed(duck, data: pa.Table):
    """Make ``data`` readable by DuckDB as ``__dawn_rows`` for the duration of a statement."""
    duck.register("__dawn_rows", data)
    try:
        yield
    finally:
        try:
            duck.unregister("__dawn_rows")
        except Exception:  # an aborted transaction refuses it; the original error matters
            pass


def _append(duck, name: str, data: pa.Table, columns: list[str] | None = None) -> None:
    cols = "(" + ", ".join(_q(c) for c in columns) + ")" if columns else ""
    with _exposed(duck, data):
        duck.execute(f"INSERT INTO main.{_q(name)} {cols} SELECT * FROM __dawn_rows")


# ---------------------------------------------------------------- CREATE / DROP

def create_table(session, stmt: exp.Create) -> int:
    name, node = _table_name(stmt.this)
    exists = session.catalog.get(name) is not None or session.catalog.view(name) is not None
    if exists and not stmt.args.get("replace"):
        if stmt.args.get("exists"):
            return 0
        raise ProgrammingError(f'Table "{name}" already exists{location(node)}; '
                               "use CREATE OR REPLACE TABLE or DROP TABLE first")
    if session.catalog.registered(name) is not None:
        raise ProgrammingError(f'"{name}" is a registered source; unregister it first')
    replace = "OR REPLACE " if stmt.args.get("replace") else ""
    if stmt.expression is not None:
        data = session.run_query(stmt.expression).table
        _check_names(data.column_names, name)

        def op(duck):
            with _exposed(duck, data):
                duck.execute(f"CREATE {replace}TABLE main.{_q(name)} AS SELECT * FROM __dawn_rows")
        session.write(op)
        return data.num_rows
    schema = stmt.this
    seen = set()
    for col in schema.expressions:
        if isinstance(col, exp.ColumnDef):
            if col.name.lower() in seen:
                raise ProgrammingError(f'Column "{col.name}" is declared twice{location(col)}')
            seen.add(col.name.lower())
            if col.args.get("kind") is None:
                raise ProgrammingError(f'Column "{col.name}" needs a type{location(col)}')
    ddl = stmt.copy()
    ddl.set("exists", False)
    sql = ddl.sql(dialect="duckdb")
    session.write(lambda duck: duck.execute(sql))
    return 0


def _check_names(names: list[str], table: str) -> None:
    seen = set()
    for n in names:
        if n.lower() in seen:
            raise ProgrammingError(f'Table "{table}" would have two columns named "{n}"; '
                                   "give them distinct aliases")
        seen.add(n.lower())


_FILE_FUNCTIONS = {"read_parquet", "parquet_scan", "read_csv", "read_csv_auto", "video"}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _absolute(path: str) -> str:
    return path if _URL.match(path) or os.path.isabs(path) else os.path.abspath(path)


def absolute_paths(session, query: exp.Expression) -> exp.Expression:
    """``query`` with every file it reads named by its absolute path.

    A stored view must read the same file from whatever directory it is later used in, so
    relative paths are resolved once, against the directory the view is created from (where
    the user checked that they name the right file). Absolute rather than relative to the
    database file: the stored SQL then means the same to every process and interface, also
    for ``:memory:`` databases and in DuckDB itself (``dawn_meta.views.sql`` is plain DuckDB
    SQL), and copying the database file alone keeps the view pointing at its data."""
    from engine.sql.bind.from_ import FromBinding
    query = query.copy()
    ctes = {c.alias_or_name.lower() for w in query.find_all(exp.With) for c in w.expressions}
    for t in query.find_all(exp.Table):
        fn = t.this
        if isinstance(fn, (exp.Anonymous, exp.Func)):
            fname = fn.name.lower() if isinstance(fn, exp.Anonymous) else \
                {"readparquet": "read_parquet", "readcsv": "read_csv"}.get(fn.key, fn.key)
            if fname not in _FILE_FUNCTIONS:
                continue
            args = ([fn.this] if isinstance(fn.this, exp.Expression) else []) + list(fn.expressions)
            lit = next((a for a in args if not isinstance(a, exp.EQ)), None)
            if isinstance(lit, exp.Literal) and lit.is_string:
                lit.replace(exp.Literal.string(_absolute(lit.this)))
        elif not t.args.get("db") and FromBinding._looks_like_path(t.name) \
                and t.name.lower() not in ctes and session.catalog.get(t.name) is None:
            t.set("this", exp.to_identifier(_absolute(t.name), quoted=True))
    return query


def create_view(session, stmt: exp.Create) -> int:
    name, node = _table_name(stmt.this)
    query = absolute_paths(session, stmt.expression)
    session.plan_query(query)  # a view must bind now: errors surface at CREATE, not at use
    if session.catalog.get(name) is not None:
        raise ProgrammingError(f'"{name}" already exists as a table{location(node)}')
    if session.catalog.view(name) is not None and not stmt.args.get("replace"):
        if stmt.args.get("exists"):
            return 0
        raise ProgrammingError(f'View "{name}" already exists{location(node)}; use CREATE OR REPLACE VIEW')
    text = query.sql(dialect="duckdb")

    def op(duck):
        duck.execute("DELETE FROM dawn_meta.views WHERE lower(name) = lower(?)", [name])
        duck.execute("INSERT INTO dawn_meta.views (name, sql) VALUES (?, ?)", [name, text])
    session.write(op)
    return 0


def drop(session, stmt: exp.Drop) -> int:
    kind = (stmt.args.get("kind") or "TABLE").upper()
    for t in stmt.args.get("tables") or [stmt.this]:
        name = t.name
        if kind == "VIEW":
            if session.catalog.view(name) is None:
                if stmt.args.get("exists"):
                    continue
                raise BindError(f'View "{name}" does not exist{location(t)}.'
                                + did_you_mean(name, session.catalog.store.view_names()))
            session.write(lambda duck, name=name: duck.execute(
                "DELETE FROM dawn_meta.views WHERE lower(name) = lower(?)", [name]))
            continue
        if session.catalog.unregister(name):
            continue
        src = session.catalog.store.lookup(name)
        if src is None:
            if stmt.args.get("exists"):
                continue
            raise BindError(f'Table "{name}" does not exist{location(t)}.'
                            + did_you_mean(name, session.catalog.names()))

        def op(duck, real=src.name):
            duck.execute(f"DROP TABLE main.{_q(real)}")
            duck.execute("DELETE FROM dawn_meta.column_stats WHERE lower(table_name) = lower(?)", [real])
        session.write(op)
    return 0


# ---------------------------------------------------------------- INSERT

def insert(session, stmt: exp.Insert) -> int:
    if stmt.args.get("overwrite") or stmt.args.get("conflict") is not None:
        raise NotSupportedError("INSERT OVERWRITE / ON CONFLICT are not supported")
    name, node = _table_name(stmt.this)
    src = _stored(session, name, node)
    schema = src.raw_schema
    lower = {f.name.lower(): f.name for f in schema}
    target = stmt.this
    if isinstance(target, exp.Schema) and target.expressions:
        cols = []
        for c in target.expressions:
            if c.name.lower() not in lower:
                raise BindError(f'Column "{c.name}" does not exist in table "{src.name}"{location(c)}.'
                                + did_you_mean(c.name, [f.name for f in schema]))
            cols.append(lower[c.name.lower()])
    else:
        cols = [f.name for f in schema]
    data = session.run_query(stmt.expression).table
    return insert_arrow(session, src, data, cols)


def insert_arrow(session, src, data: pa.Table, cols: list[str]) -> int:
    """Append ``data`` (one column per name in ``cols``) to a stored table, checking types and
    NOT NULL first so that bad rows are reported by column name before DuckDB sees them."""
    if data.num_columns != len(cols):
        raise ProgrammingError(f'INSERT into "{src.name}" expects {len(cols)} values per row, '
                               f"got {data.num_columns}")
    not_null = session.catalog.store.not_null_columns(src.name)
    fields = {f.name: f for f in src.raw_schema}
    arrays = []
    for c, col in zip(cols, data.columns):
        f = fields[c]
        want = T.normalize_schema(pa.schema([f])).field(0).type
        try:
            arr = _cast_column(col, want)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise DataError(f'Cannot insert {T.sql_name(col.type)} values into column "{c}" '
                            f"({T.sql_name(want)}) of table \"{src.name}\": {e}") from None
        if c in not_null and arr.null_count:
            raise IntegrityError(f'NOT NULL constraint failed: column "{c}" of table '
                                 f'"{src.name}" would receive NULL')
        arrays.append(arr)
    rows = pa.Table.from_arrays(arrays, names=cols)
    try:
        session.write(lambda duck: _append(duck, src.name, rows, cols))
    except IntegrityError as e:
        raise IntegrityError(f'Cannot insert into "{src.name}": {e}') from None
    return rows.num_rows


def _cast_column(col, t: pa.DataType):
    if col.type == t:
        return col
    if pa.types.is_null(col.type):
        return pa.nulls(len(col), t)
    if pa.types.is_integer(t) and pa.types.is_floating(col.type):
        col = pc.round(col, 0, round_mode="half_towards_infinity")
    if pa.types.is_string(col.type) and not pa.types.is_string(t):
        from engine.physical.casts import cast_value
        from engine.errors import DataError as _DE
        try:
            return cast_value(col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col, t, False)
        except _DE as e:
            raise pa.ArrowInvalid(str(e)) from None
    return pc.cast(col, t, safe=True)


# ---------------------------------------------------------------- UPDATE / DELETE / ALTER

def _check_expressions(session, table: str, node, exprs: list[exp.Expression]) -> None:
    """Bind the statement's expressions against the table so errors read like query errors."""
    if not exprs:
        return
    sel = exp.select(*[e.copy() for e in exprs]).from_(exp.to_table(table))
    session.plan_query(sel)


def update(session, stmt: exp.Update) -> int:
    name, node = _table_name(stmt.this)
    src = _stored(session, name, node)
    if stmt.args.get("from_") or stmt.args.get("from"):
        raise NotSupportedError(f"UPDATE ... FROM is not supported{location(stmt)}")
    cols = {f.name.lower() for f in src.raw_schema}
    exprs = []
    for a in stmt.expressions:
        target = a.this
        if target.name.lower() not in cols:
            raise BindError(f'Column "{target.name}" does not exist in table "{src.name}"'
                            f"{location(target)}." + did_you_mean(target.name, [f.name for f in src.raw_schema]))
        exprs.append(a.expression)
    where = stmt.args.get("where")
    if where is not None:
        exprs.append(where.this)
    _check_expressions(session, src.name, node, exprs)
    sql = stmt.sql(dialect="duckdb")
    out = {}
    session.write(lambda duck: out.setdefault("n", duck.execute(sql).fetchall()))
    return _count(out.get("n"))


def delete(session, stmt: exp.Delete) -> int:
    name, node = _table_name(stmt.this)
    src = _stored(session, name, node)
    where = stmt.args.get("where")
    _check_expressions(session, src.name, node, [where.this] if where is not None else [])
    sql = stmt.sql(dialect="duckdb")
    out = {}
    session.write(lambda duck: out.setdefault("n", duck.execute(sql).fetchall()))
    return _count(out.get("n"))


def _count(rows) -> int:
    try:
        return int(rows[0][0])
    except (TypeError, IndexError, ValueError):
        return -1


def alter(session, stmt: exp.Alter) -> int:
    name, node = _table_name(stmt.this)
    src = _stored(session, name, node)
    cols = {f.name.lower() for f in src.raw_schema}
    for action in stmt.args.get("actions") or []:
        if isinstance(action, exp.Drop):
            targets = action.args.get("tables") or [action.this]
            c = targets[0].name if targets and targets[0] is not None else ""
            if c.lower() not in cols and not action.args.get("exists"):
                raise BindError(f'Column "{c}" does not exist in table "{src.name}".'
                                + did_you_mean(c, [f.name for f in src.raw_schema]))
        elif isinstance(action, exp.RenameColumn):
            c = action.this.name
            if c.lower() not in cols:
                raise BindError(f'Column "{c}" does not exist in table "{src.name}".'
                                + did_you_mean(c, [f.name for f in src.raw_schema]))
        elif isinstance(action, exp.ColumnDef):
            if action.name.lower() in cols:
                raise ProgrammingError(f'Column "{action.name}" already exists in table "{src.name}"')
    sql = stmt.sql(dialect="duckdb")
    session.write(lambda duck: duck.execute(sql))
    return 0


# ---------------------------------------------------------------- COPY

def copy(session, stmt: exp.Copy) -> int:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from catalog.sources import normalize_table, read_csv
    target = stmt.this
    files = stmt.args.get("files") or []
    if not files:
        raise ProgrammingError(f"COPY needs a file path{location(stmt)}")
    path_node = files[0]
    path = path_node.this if isinstance(path_node, exp.Literal) else path_node.name
    opts = {}
    for p in stmt.args.get("params") or []:
        key = p.this.name.lower() if hasattr(p.this, "name") else str(p.this).lower()
        val = p.args.get("expression")
        if val is None and p.expressions:
            val = p.expressions[0]
        opts[key] = (val.name if hasattr(val, "name") and val.name else val.sql()).strip("'").lower() \
            if val is not None else "true"
    fmt = opts.get("format") or ("parquet" if path.lower().endswith((".parquet", ".pq")) else "csv")
    if fmt not in ("parquet", "csv"):
        raise NotSupportedError(f"COPY format {fmt} is not supported (use parquet or csv)")
    if stmt.args.get("kind"):  # COPY ... FROM file
        name, node = _table_name(target)
        src = _stored(session, name, node)
        if not os.path.exists(path):
            raise BindError(f"File '{path}' does not exist{location(path_node)}")
        if fmt == "parquet":
            data = pq.read_table(path)
        else:
            header = opts.get("header", "true") not in ("false", "0")
            delim = opts.get("delimiter") or opts.get("delim") or opts.get("sep") or ","
            data = read_csv(path, delim, header)
        data = normalize_table(data)
        cols = [f.name for f in src.raw_schema]
        if data.num_columns != len(cols):
            raise ProgrammingError(f"COPY FROM '{path}': the file has {data.num_columns} columns, "
                                   f'table "{src.name}" has {len(cols)}')
        return insert_arrow(session, src, data, cols)
    # COPY table|query TO file
    query = target if isinstance(target, (exp.Select, exp.Union, exp.Subquery)) else \
        exp.select("*").from_(exp.to_table(_table_name(target)[0]))
    data = session.run_query(query.this if isinstance(query, exp.Subquery) else query).table
    if fmt == "parquet":
        pq.write_table(data, path)
    else:
        pcsv.write_csv(data, path)
    return data.num_rows


# ---------------------------------------------------------------- ANALYZE

def analyze(session, table: str | None) -> int:
    """Refresh row counts, NULL counts, min/max and distinct counts: stored tables persist them
    (dawn_meta.column_stats); registered tables and files keep them in the session's statistics."""
    store = session.catalog.store
    registered = session.catalog.registered(table) if table else None
    if registered is not None:
        session.stats.analyze(registered)
        return 1
    names = [table] if table else store.table_names()
    if not table:
        for src in session.catalog.registered_sources():
            session.stats.analyze(src)
    for name in names:
        src = _stored(session, name, None)
        t = store.table(src.name)
        rows = []
        for f in t.schema:
            col = t.column(f.name)
            nulls = col.null_count
            try:
                mm = pc.min_max(col)
                lo, hi = mm["min"].as_py(), mm["max"].as_py()
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
                lo = hi = None
            distinct = pc.count_distinct(col).as_py()
            rows.append((src.name, f.name, t.num_rows, nulls, None if lo is None else str(lo),
                         None if hi is None else str(hi), distinct))

        def op(duck, rows=rows, real=src.name):
            duck.execute("DELETE FROM dawn_meta.column_stats WHERE lower(table_name) = lower(?)", [real])
            duck.executemany("INSERT INTO dawn_meta.column_stats (table_name, column_name, row_count, "
                             "null_count, min_value, max_value, distinct_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             rows)
        session.write(op)
    return len(names)
