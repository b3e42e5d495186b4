"""DDL and DML on in-memory tables: CREATE TABLE [AS], INSERT, DROP TABLE.

New rows are built completely (cast to the table's types, NOT NULL checked) before the table's
contents are swapped, so a failed statement changes nothing.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from engine.errors import (BindError, DataError, IntegrityError, ProgrammingError, did_you_mean)
from engine.plan import types as T
from engine.sql.parser import location


def _column_type(kind: exp.DataType) -> pa.DataType:
    text = kind.sql(dialect="duckdb").upper()
    base = text.split("(")[0].strip()
    if base in T.SQL_NAMES:
        return T.SQL_NAMES[base]
    return T.parse_sql_type(base)


def create_table(session, stmt: exp.Create):
    from catalog.sources import MemoryTable
    target = stmt.this
    table_node = target.this if isinstance(target, exp.Schema) else target
    name = table_node.name
    exists = session.catalog.get(name) is not None
    if exists and not stmt.args.get("replace"):
        if stmt.args.get("exists"):
            return 0
        raise ProgrammingError(f'Table "{name}" already exists{location(table_node)}; '
                               f"use CREATE OR REPLACE TABLE or DROP TABLE first")
    query = stmt.expression
    if query is not None:
        res = session.run_query(query)
        data = res.table
        src = MemoryTable(data.schema)
        src.replace_data(data.cast(src.schema))
        session.catalog.register(name, src)
        return data.num_rows
    fields, not_null = [], set()
    seen = set()
    for col in target.expressions:
        if not isinstance(col, exp.ColumnDef):
            continue
        cname = col.name
        if cname.lower() in seen:
            raise ProgrammingError(f'Column "{cname}" is declared twice{location(col)}')
        seen.add(cname.lower())
        kind = col.args.get("kind")
        if kind is None:
            raise ProgrammingError(f'Column "{cname}" needs a type{location(col)}')
        t = _column_type(kind)
        for c in col.args.get("constraints") or []:
            if isinstance(c.kind, (exp.NotNullColumnConstraint, exp.PrimaryKeyColumnConstraint)) \
                    and not c.kind.args.get("allow_null"):
                not_null.add(cname)
        fields.append(pa.field(cname, t, cname not in not_null))
    session.catalog.register(name, MemoryTable(pa.schema(fields), not_null))
    return 0


def insert(session, stmt: exp.Insert) -> int:
    target = stmt.this
    table_node = target.this if isinstance(target, exp.Schema) else target
    name = table_node.name
    src = session.catalog.get(name)
    if src is None:
        raise BindError(f'Table "{name}" does not exist{location(table_node)}.'
                        + did_you_mean(name, session.catalog.names()))
    if not hasattr(src, "replace_data"):
        raise ProgrammingError(f'Table "{name}" is read-only ({src.describe()})')
    schema = src.schema
    if isinstance(target, exp.Schema) and target.expressions:
        cols = [c.name for c in target.expressions]
        lower = {f.name.lower(): f.name for f in schema}
        resolved = []
        for c, node in zip(cols, target.expressions):
            if c.lower() not in lower:
                raise BindError(f'Column "{c}" does not exist in table "{name}"{location(node)}.'
                                + did_you_mean(c, [f.name for f in schema]))
            resolved.append(lower[c.lower()])
        cols = resolved
    else:
        cols = [f.name for f in schema]
    res = session.run_query(stmt.expression)
    data = res.table
    if data.num_columns != len(cols):
        raise ProgrammingError(f'INSERT into "{name}" expects {len(cols)} values per row, '
                               f"got {data.num_columns}")
    arrays = []
    by_name = dict(zip([c.lower() for c in cols], data.columns))
    for f in schema:
        col = by_name.get(f.name.lower())
        if col is None:
            arr = pa.nulls(data.num_rows, f.type)
        else:
            try:
                arr = _cast_column(col, f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise DataError(f'Cannot insert {T.sql_name(col.type)} values into column "{f.name}" '
                                f"({T.sql_name(f.type)}) of table \"{name}\": {e}") from None
        if f.name in getattr(src, "not_null", ()) and arr.null_count:
            raise IntegrityError(f'NOT NULL constraint failed: column "{f.name}" of table "{name}" '
                                 f"would receive NULL")
        arrays.append(arr)
    new = pa.Table.from_arrays(arrays, schema=schema)
    src.replace_data(pa.concat_tables([src.table, new]) if src.table.num_rows else new)
    return data.num_rows


def _cast_column(col, t: pa.DataType):
    if col.type == t:
        return col
    if pa.types.is_null(col.type):
        return pa.nulls(len(col), t)
    if pa.types.is_integer(t) and pa.types.is_floating(col.type):
        col = pc.round(col, 0, round_mode="half_towards_infinity")
    return pc.cast(col, t, safe=True)


def drop_table(session, stmt: exp.Drop) -> int:
    kind = (stmt.args.get("kind") or "TABLE").upper()
    for t in stmt.args.get("tables") or [stmt.this]:
        name = t.name
        if not session.catalog.unregister(name):
            if stmt.args.get("exists"):
                continue
            raise BindError(f'{kind.title()} "{name}" does not exist{location(t)}.'
                            + did_you_mean(name, session.catalog.names()))
    return 0
