"""DESCRIBE and SHOW TABLES: the column listings of tables, views and queries, in DuckDB's shape.

``DESCRIBE x`` answers with DuckDB's six columns (column_name, column_type, null, key, default,
extra). Types are the declared ones: a stored table's come from DuckDB itself (``DECIMAL(10,2)``,
``PRIMARY KEY`` as ``key = PRI``, ``NOT NULL`` as ``null = NO``, defaults), an Arrow or Parquet
column's from its Arrow type as DuckDB spells it (``decimal128(10, 2)`` is ``DECIMAL(10,2)``,
``timestamp[ns]`` is ``TIMESTAMP_NS``), although Dawn computes decimals as DOUBLE and timestamps
in microseconds (engine/plan/types.py). A view or query column that passes a table column
through shows that column's declared type; as in DuckDB, it also keeps the column's ``null``,
``key`` and ``default`` through projections, filters, ordering, DISTINCT and joins, but not
through grouping, windows or set operations. One deliberate difference: the side an outer join
pads with NULLs shows ``null = YES`` (DuckDB shows the table's NOT NULL there).

``SHOW TABLES`` lists the user's tables, views, registered sources and videos (one ``name``
column); ``SHOW ALL TABLES`` is DuckDB's wider listing (database, schema, name, column_names,
column_types, temporary), which also holds Dawn's run-log tables ``dawn.*``.
"""
from __future__ import annotations

import os
import re

import pyarrow as pa
from sqlglot import exp

from engine.errors import BindError, NotSupportedError, did_you_mean
from engine.plan import types as T
from engine.sql.parser import location

DESCRIBE_SCHEMA = pa.schema([(n, pa.string()) for n in
                             ("column_name", "column_type", "null", "key", "default", "extra")])
Row = tuple  # (column_name, column_type, null, key, default, extra)

_TS_UNITS = {"s": "TIMESTAMP_S", "ms": "TIMESTAMP_MS", "us": "TIMESTAMP", "ns": "TIMESTAMP_NS"}


def arrow_type_name(t: pa.DataType) -> str:
    """DuckDB's name for a column of Arrow type ``t`` (what DuckDB's DESCRIBE prints for a
    registered Arrow table or a Parquet file)."""
    if pa.types.is_dictionary(t):
        return arrow_type_name(t.value_type)
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP WITH TIME ZONE" if t.tz else _TS_UNITS[t.unit]
    if pa.types.is_time(t):
        return "TIME_NS" if t.unit == "ns" else "TIME"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_duration(t) or pa.types.is_interval(t):
        return "INTERVAL"
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "VARCHAR"
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t):
        return "BLOB"
    if isinstance(t, pa.ExtensionType):
        return T.sql_name(t)
    if pa.types.is_fixed_size_list(t):
        return f"{arrow_type_name(t.value_type)}[{t.list_size}]"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return f"{arrow_type_name(t.value_type)}[]"
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f"{_ident(f.name)} {arrow_type_name(f.type)}" for f in t) + ")"
    if pa.types.is_map(t):
        return f"MAP({arrow_type_name(t.key_type)}, {arrow_type_name(t.item_type)})"
    return T.sql_name(T.normalize_schema(pa.schema([("c", t)])).field(0).type)


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def source_rows(session, src) -> dict[str, Row]:
    """DESCRIBE rows of a table source, by column name."""
    inner = getattr(src, "inner", None)  # a sampled source describes as what it samples
    if inner is not None:
        src = inner
    kind = getattr(src, "kind", "")
    if kind == "stored":
        quoted = '"' + src.name.replace('"', '""') + '"'
        rows = session.store.duck.execute(f"DESCRIBE main.{quoted}").fetchall()
        return {r[0]: tuple(r) for r in rows}
    raw = getattr(src, "raw_schema", None)
    if kind in ("arrow", "parquet") and raw is not None:
        # DuckDB's DESCRIBE of an Arrow scan or a Parquet file: declared types, always nullable
        def name(t: pa.DataType) -> str:
            if kind == "parquet" and pa.types.is_timestamp(t) and t.unit in ("s", "ms"):
                t = pa.timestamp("us", t.tz)  # DuckDB reads Parquet's milliseconds as TIMESTAMP
            return arrow_type_name(t)
        return {f.name: (f.name, name(f.type), "YES", None, None, None) for f in raw}
    if kind == "csv":
        return {f.name: (f.name, arrow_type_name(f.type), "YES", None, None, None) for f in src.schema}
    return {f.name: (f.name, arrow_type_name(f.type), "YES" if f.nullable else "NO", None, None, None)
            for f in src.schema}


def _result(rows: list[Row]):
    from engine.session import Result
    cols = list(zip(*rows)) if rows else [[] for _ in DESCRIBE_SCHEMA]
    table = pa.Table.from_arrays([pa.array(list(c), pa.string()) for c in cols], schema=DESCRIBE_SCHEMA)
    return Result.of_table(table)


def describe(session, stmt: exp.Describe):
    """DESCRIBE table | view | file | query."""
    for key in ("style", "kind", "properties", "expressions", "partition", "format"):
        val = stmt.args.get(key)
        if val and not (key == "kind" and str(val).upper() == "TABLE"):
            word = val if isinstance(val, str) else getattr(val, "sql", lambda: str(val))()
            raise NotSupportedError(f"DESCRIBE {word} is not supported{location(stmt)}; "
                                    "use DESCRIBE <table, view or query>")
    if stmt.args.get("as_json"):
        raise NotSupportedError(f"DESCRIBE ... AS JSON is not supported{location(stmt)}")
    target = stmt.this
    if isinstance(target, exp.Schema) and isinstance(target.this, exp.Table):
        # sqlglot reads DESCRIBE f(args) as a table with a column list: the table function f
        from engine.sql.parser import parse
        return _describe_query(session, parse(f"SELECT * FROM {target.sql(dialect='duckdb')}")[0])
    if isinstance(target, exp.Table):
        if isinstance(target.this, (exp.Anonymous, exp.Func)):  # DESCRIBE read_parquet('x')
            return _describe_query(session, exp.select("*").from_(target.copy()))
        return describe_name(session, target)
    return _describe_query(session, target)


def describe_name(session, target: exp.Table):
    name = f"{target.args['db'].name}.{target.name}" if target.args.get("db") else target.name
    catalog = session.catalog
    src = catalog.get(name)
    if src is not None:
        rows = source_rows(session, src)
        return _result([rows[f.name] for f in src.schema if f.name in rows])
    if "." not in name and catalog.view(name) is not None:
        return _describe_query(session, exp.select("*").from_(exp.to_table(_ident(name))))
    from engine.sql.bind.from_ import FromBinding
    if FromBinding._looks_like_path(name):  # DESCRIBE 'data/x.parquet', as DuckDB allows
        return _describe_query(session, exp.select("*").from_(target.copy()))
    raise BindError(f'Table "{name}" does not exist{location(target)}.'
                    + did_you_mean(name, catalog.names()))


def _describe_query(session, query: exp.Expression):
    from engine.sql.bind import Binder
    plan = Binder(session.catalog, functions=session.functions).bind_query(query)
    origins = column_origins(plan)
    cache: dict[int, dict[str, Row]] = {}
    rows = []
    for c in plan.columns:
        found = origins.get(c.cid)
        if found is not None:
            src, field, simple = found
            by_name = cache.get(id(src))
            if by_name is None:
                by_name = cache[id(src)] = source_rows(session, src)
            r = by_name.get(field)
            if r is not None:
                rows.append((c.name,) + tuple(r[1:]) if simple
                            else (c.name, r[1], "YES", None, None, None))
                continue
        rows.append((c.name, arrow_type_name(c.dtype), "YES", None, None, None))
    return _result(rows)


def column_origins(plan) -> dict[int, tuple[object, str, bool]]:
    """Output column id -> (source, source column, plain projection of one table?) for the
    plan's columns that pass a table column through unchanged."""
    from engine.plan.expressions import ColumnRef
    from engine.plan.nodes import (Aggregate, Distinct, Filter, Join, Limit, Project, Sample, Scan, Sort,
                                   Window)

    def origin(node, cid: int, simple: bool):
        while True:
            if isinstance(node, Scan):
                for col, name in zip(node.out, node.source_columns):
                    if col.cid == cid:
                        return node.source, name, simple
                return None
            if isinstance(node, Project):
                expr = next((e for c, e in node.exprs if c.cid == cid), None)
                if not isinstance(expr, ColumnRef):
                    return None
                cid, node = expr.cid, node.child
            elif isinstance(node, (Filter, Sort, Limit, Distinct, Sample)):
                node = node.child
            elif isinstance(node, Aggregate):
                expr = next((e for c, e in node.groups if c.cid == cid), None)
                if not isinstance(expr, ColumnRef):
                    return None
                cid, node, simple = expr.cid, node.child, False
            elif isinstance(node, Join):
                # as DuckDB, a join keeps its inputs' nullability and keys, except that the side
                # an outer join pads with NULLs is nullable (DuckDB says NO there; it is not)
                side = 0 if any(c.cid == cid for c in node.left.columns) else 1
                padded = {"left": (1,), "right": (0,), "full": (0, 1)}.get(node.kind, ())
                simple = simple and side not in padded
                node = node.children[side]
            elif isinstance(node, Window):
                node, simple = node.child, False
            else:
                return None

    out = {}
    for c in plan.columns:
        found = origin(plan, c.cid, True)
        if found is not None:
            out[c.cid] = found
    return out


# ---------------------------------------------------------------- SHOW

def show(session, stmt):
    """SHOW TABLES, SHOW ALL TABLES, SHOW TABLES FROM main|dawn, and SHOW <name> (DESCRIBE)."""
    if isinstance(stmt, exp.Show):
        what = " ".join(stmt.name.upper().split())
        extra = [k for k, v in stmt.args.items() if v and k not in ("this", "from_")]
        if extra:
            raise NotSupportedError(f"SHOW {what} with {', '.join(sorted(extra)).upper()} is not "
                                    f"supported{location(stmt)}")
        frm = stmt.args.get("from_")
        schema = frm.name.lower() if frm is not None else None
    else:  # sqlglot leaves SHOW <name> as a command
        text = str(stmt.expression.this if isinstance(stmt.expression, exp.Literal)
                   else stmt.expression or "").strip()
        what, schema = text.upper(), None
        if what not in ("TABLES", "ALL TABLES", ""):
            from engine.sql.parser import parse
            parsed = parse(f"DESCRIBE {text}")[0]
            if isinstance(parsed, exp.Describe):
                return describe(session, parsed)
    if what == "ALL TABLES" and schema is None:
        return _all_tables(session)
    if what in ("TABLES", "") and schema in (None, "main"):
        names = user_tables(session)
    elif what == "TABLES" and schema == "dawn":
        from catalog.tracking import TABLES
        names = sorted(TABLES)
    else:
        raise NotSupportedError(f"SHOW {what}{' FROM ' + schema if schema else ''} is not supported; "
                                "use SHOW TABLES, SHOW TABLES FROM dawn, SHOW ALL TABLES, "
                                "SHOW FUNCTIONS or SHOW <table>")
    from engine.session import Result
    return Result.of_table(pa.table({"name": pa.array(names, pa.string())}))


def user_tables(session) -> list[str]:
    """The user's tables, views, registered sources and videos (not the dawn.* run log)."""
    return sorted(n for n in session.catalog.names() if not n.lower().startswith("dawn."))


def _all_tables(session):
    from engine.session import Result
    from catalog.tracking import TABLES
    db_path = session.db.path
    database = "memory" if db_path == ":memory:" else os.path.splitext(os.path.basename(db_path))[0]
    catalog = session.catalog
    rows = []  # (database, schema, name, column names, column types, temporary)
    for name in user_tables(session):
        src = catalog.get(name)
        if src is not None:
            by_name = source_rows(session, src)
            cols = [by_name[f.name] for f in src.schema if f.name in by_name]
            temporary = catalog.registered(name) is not None
        else:
            view = _describe_query(session, exp.select("*").from_(exp.to_table(_ident(name))))
            cols = [(r["column_name"], r["column_type"]) for r in view.table.to_pylist()]
            temporary = False
        # DuckDB lists registered (connection-local) sources in its "temp" database
        rows.append(("temp" if temporary else database, "main", name, [c[0] for c in cols],
                     [c[1] for c in cols], temporary))
    for t in sorted(TABLES):
        schema = TABLES[t]
        rows.append((database, "dawn", t, schema.names, [arrow_type_name(f.type) for f in schema], False))
    rows.sort(key=lambda r: (r[1] == "dawn", r[0], r[1], r[2]))  # the run log last
    names = ("database", "schema", "name", "column_names", "column_types", "temporary")
    types = (pa.string(), pa.string(), pa.string(), pa.list_(pa.string()), pa.list_(pa.string()), pa.bool_())
    cols = list(zip(*rows)) if rows else [[] for _ in names]
    table = pa.Table.from_arrays([pa.array(list(c), t) for c, t in zip(cols, types)], names=list(names))
    return Result.of_table(table)
