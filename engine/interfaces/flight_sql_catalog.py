"""The answers of Flight SQL's metadata commands, in the schemas FlightSql.proto documents.

ADBC's ``adbc_get_objects`` and ``adbc_get_table_schema`` compare these schemas field by field
(names, types, nullability) with its own copies, so they are spelled out here exactly:
``GetSqlInfo``, ``GetCatalogs``, ``GetDbSchemas``, ``GetTables`` (with each table's Arrow schema
serialized as an IPC message when asked), ``GetTableTypes``, ``GetPrimaryKeys``, the foreign-key
commands and ``GetXdbcTypeInfo``.

Dawn's namespace, as ``SHOW ALL TABLES`` shows it: one catalog (the database file's stem, or
``memory``), schema ``main`` (the user's tables, views, videos and registered sources) and schema
``dawn`` (the run log, as SYSTEM TABLEs). Dawn declares no primary or foreign keys to Flight SQL
clients, so those commands answer with no rows.
"""
from __future__ import annotations

import os
import re

import pyarrow as pa

from engine.interfaces import flight_sql_proto as P

_S = pa.string()

CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", _S, False)])
DB_SCHEMAS_SCHEMA = pa.schema([pa.field("catalog_name", _S), pa.field("db_schema_name", _S, False)])
TABLES_SCHEMA = pa.schema([pa.field("catalog_name", _S), pa.field("db_schema_name", _S),
                           pa.field("table_name", _S, False), pa.field("table_type", _S, False)])
TABLES_WITH_SCHEMA_SCHEMA = TABLES_SCHEMA.append(pa.field("table_schema", pa.binary(), False))
TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", _S, False)])
PRIMARY_KEYS_SCHEMA = pa.schema([
    pa.field("catalog_name", _S), pa.field("db_schema_name", _S), pa.field("table_name", _S, False),
    pa.field("column_name", _S, False), pa.field("key_name", _S), pa.field("key_sequence", pa.int32(), False)])
KEYS_SCHEMA = pa.schema([
    pa.field("pk_catalog_name", _S), pa.field("pk_db_schema_name", _S), pa.field("pk_table_name", _S, False),
    pa.field("pk_column_name", _S, False), pa.field("fk_catalog_name", _S),
    pa.field("fk_db_schema_name", _S), pa.field("fk_table_name", _S, False),
    pa.field("fk_column_name", _S, False), pa.field("key_sequence", pa.int32(), False),
    pa.field("fk_key_name", _S), pa.field("pk_key_name", _S),
    pa.field("update_rule", pa.uint8(), False), pa.field("delete_rule", pa.uint8(), False)])
_SQL_INFO_VALUE = pa.dense_union([
    pa.field("string_value", _S, False), pa.field("bool_value", pa.bool_(), False),
    pa.field("bigint_value", pa.int64(), False), pa.field("int32_bitmask", pa.int32(), False),
    pa.field("string_list", pa.list_(_S), False),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.int32())), False)])
SQL_INFO_SCHEMA = pa.schema([pa.field("info_name", pa.uint32(), False),
                             pa.field("value", _SQL_INFO_VALUE, False)])
XDBC_TYPE_INFO_SCHEMA = pa.schema([
    pa.field("type_name", _S, False), pa.field("data_type", pa.int32(), False),
    pa.field("column_size", pa.int32()), pa.field("literal_prefix", _S), pa.field("literal_suffix", _S),
    pa.field("create_params", pa.list_(pa.field("item", _S, False))),
    pa.field("nullable", pa.int32(), False), pa.field("case_sensitive", pa.bool_(), False),
    pa.field("searchable", pa.int32(), False), pa.field("unsigned_attribute", pa.bool_()),
    pa.field("fixed_prec_scale", pa.bool_(), False), pa.field("auto_increment", pa.bool_()),
    pa.field("local_type_name", _S), pa.field("minimum_scale", pa.int32()),
    pa.field("maximum_scale", pa.int32()), pa.field("sql_data_type", pa.int32(), False),
    pa.field("datetime_subcode", pa.int32()), pa.field("num_prec_radix", pa.int32()),
    pa.field("interval_precision", pa.int32())])

TABLE_TYPES = ["LOCAL TEMPORARY", "SYSTEM TABLE", "TABLE", "VIEW"]

# SqlInfo ids (FlightSql.proto, enum SqlInfo) and the union member each is sent as
STRING, BOOL, BIGINT, INT32, STRING_LIST = 0, 1, 2, 3, 4
SERVER_NAME, SERVER_VERSION, SERVER_ARROW_VERSION, SERVER_READ_ONLY = 0, 1, 2, 3
SERVER_SQL, SERVER_SUBSTRAIT, SERVER_TRANSACTION, SERVER_CANCEL = 4, 5, 8, 9
SERVER_STATEMENT_TIMEOUT, SERVER_TRANSACTION_TIMEOUT = 100, 101
SQL_TRANSACTION_SUPPORT_TRANSACTION = 1   # SqlSupportedTransaction: transactions, no savepoints


def schema_for(msg) -> pa.Schema:
    """The result schema of a metadata command (GetSchema answers it without running anything)."""
    name = msg.DESCRIPTOR.name
    if name == "CommandGetTables":
        return TABLES_WITH_SCHEMA_SCHEMA if msg.include_schema else TABLES_SCHEMA
    return {"CommandGetCatalogs": CATALOGS_SCHEMA, "CommandGetDbSchemas": DB_SCHEMAS_SCHEMA,
            "CommandGetTableTypes": TABLE_TYPES_SCHEMA, "CommandGetPrimaryKeys": PRIMARY_KEYS_SCHEMA,
            "CommandGetExportedKeys": KEYS_SCHEMA, "CommandGetImportedKeys": KEYS_SCHEMA,
            "CommandGetCrossReference": KEYS_SCHEMA, "CommandGetSqlInfo": SQL_INFO_SCHEMA,
            "CommandGetXdbcTypeInfo": XDBC_TYPE_INFO_SCHEMA}[name]


METADATA_COMMANDS = ("CommandGetCatalogs", "CommandGetDbSchemas", "CommandGetTables",
                     "CommandGetTableTypes", "CommandGetPrimaryKeys", "CommandGetExportedKeys",
                     "CommandGetImportedKeys", "CommandGetCrossReference", "CommandGetSqlInfo",
                     "CommandGetXdbcTypeInfo")


def catalog_name(session) -> str:
    path = session.db.path
    return "memory" if path == ":memory:" else os.path.splitext(os.path.basename(path))[0]


def like(pattern: str | None):
    """A Flight SQL filter pattern ('%' any run, '_' one character, '\\' escapes) as a matcher;
    None matches everything."""
    if pattern is None:
        return lambda s: True
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    rx = re.compile("".join(out), re.S)
    return lambda s: rx.fullmatch(s) is not None


def _tables(session) -> list[tuple[str, str, str]]:
    """(schema, name, type) of every table the session sees, the run log last."""
    from catalog.tracking import TABLES
    from engine.describe import user_tables
    cat = session.catalog
    rows = []
    for name in user_tables(session):
        kind = "VIEW" if cat.view(name) is not None else (
            "LOCAL TEMPORARY" if cat.registered(name) is not None else "TABLE")
        rows.append(("main", name, kind))
    rows += [("dawn", t, "SYSTEM TABLE") for t in sorted(TABLES)]
    return rows


def table_schema(session, schema: str, name: str) -> pa.Schema:
    """The Arrow schema of a table as ``SELECT *`` from it returns it, each field tagged with its
    SQL type name (ARROW:FLIGHT:SQL:TYPE_NAME) and its table."""
    from engine.plan.types import sql_name
    from engine.statements import prepare
    quoted = '"' + name.replace('"', '""') + '"'
    st = prepare(session, f"SELECT * FROM {'dawn.' + quoted if schema == 'dawn' else quoted}")[0]
    meta = {"ARROW:FLIGHT:SQL:CATALOG_NAME": catalog_name(session),
            "ARROW:FLIGHT:SQL:DB_SCHEMA_NAME": schema, "ARROW:FLIGHT:SQL:TABLE_NAME": name}
    return pa.schema([f.with_metadata({**meta, "ARROW:FLIGHT:SQL:TYPE_NAME": sql_name(f.type)})
                      for f in st.schema])


def get_catalogs(session, msg) -> pa.Table:
    return pa.table([pa.array([catalog_name(session)], _S)], schema=CATALOGS_SCHEMA)


def _catalog_matches(session, catalog: str | None) -> bool:
    return catalog is None or catalog == catalog_name(session)


def get_db_schemas(session, msg) -> pa.Table:
    catalog = msg.catalog if msg.HasField("catalog") else None
    match = like(msg.db_schema_filter_pattern if msg.HasField("db_schema_filter_pattern") else None)
    names = [s for s in ("dawn", "main") if match(s)] if _catalog_matches(session, catalog) else []
    return pa.table([pa.array([catalog_name(session)] * len(names), _S), pa.array(names, _S)],
                    schema=DB_SCHEMAS_SCHEMA)


def get_tables(session, msg) -> pa.Table:
    catalog = msg.catalog if msg.HasField("catalog") else None
    schema_ok = like(msg.db_schema_filter_pattern if msg.HasField("db_schema_filter_pattern") else None)
    name_ok = like(msg.table_name_filter_pattern if msg.HasField("table_name_filter_pattern") else None)
    types = set(msg.table_types)
    rows = [r for r in _tables(session) if schema_ok(r[0]) and name_ok(r[1]) and (not types or r[2] in types)] \
        if _catalog_matches(session, catalog) else []
    rows.sort()
    cat = catalog_name(session)
    cols = [pa.array([cat] * len(rows), _S), pa.array([r[0] for r in rows], _S),
            pa.array([r[1] for r in rows], _S), pa.array([r[2] for r in rows], _S)]
    if not msg.include_schema:
        return pa.table(cols, schema=TABLES_SCHEMA)
    blobs = [table_schema(session, s, n).serialize().to_pybytes() for s, n, _ in rows]
    return pa.table(cols + [pa.array(blobs, pa.binary())], schema=TABLES_WITH_SCHEMA_SCHEMA)


def get_table_types(session, msg) -> pa.Table:
    return pa.table([pa.array(TABLE_TYPES, _S)], schema=TABLE_TYPES_SCHEMA)


def get_primary_keys(session, msg) -> pa.Table:
    return PRIMARY_KEYS_SCHEMA.empty_table()


def get_keys(session, msg) -> pa.Table:
    return KEYS_SCHEMA.empty_table()


def sql_info(read_only: bool, version: str) -> dict[int, tuple[int, object]]:
    """What the server tells GetSqlInfo: id -> (union member, value)."""
    return {
        SERVER_NAME: (STRING, "Dawn"),
        SERVER_VERSION: (STRING, version),
        SERVER_ARROW_VERSION: (STRING, pa.__version__),
        SERVER_READ_ONLY: (BOOL, read_only),
        SERVER_SQL: (BOOL, True),
        SERVER_SUBSTRAIT: (BOOL, False),
        # ADBC turns autocommit off only when the server advertises transactions
        SERVER_TRANSACTION: (INT32, SQL_TRANSACTION_SUPPORT_TRANSACTION),
        SERVER_CANCEL: (BOOL, True),
        SERVER_STATEMENT_TIMEOUT: (INT32, 0),     # prepared statement handles do not expire
        SERVER_TRANSACTION_TIMEOUT: (INT32, 0),
        500: (BOOL, False),     # SQL_DDL_CATALOG: no CREATE/DROP CATALOG
        501: (BOOL, False),     # SQL_DDL_SCHEMA
        502: (BOOL, True),      # SQL_DDL_TABLE
        503: (INT32, 1),        # SQL_IDENTIFIER_CASE: case-insensitive
        504: (STRING, '"'),     # SQL_IDENTIFIER_QUOTE_CHAR
        505: (INT32, 1),        # SQL_QUOTED_IDENTIFIER_CASE: case-insensitive, as DuckDB
        506: (BOOL, True),      # SQL_ALL_TABLES_ARE_SELECTABLE
        507: (INT32, 3),        # SQL_NULL_ORDERING: NULLs sorted at the end (DuckDB's NULLS LAST)
        513: (STRING, "\\"),    # SQL_SEARCH_STRING_ESCAPE
        515: (BOOL, True),      # SQL_SUPPORTS_COLUMN_ALIASING
        516: (BOOL, True),      # SQL_NULL_PLUS_NULL_IS_NULL
        520: (BOOL, True),      # SQL_SUPPORTS_EXPRESSIONS_IN_ORDER_BY
        529: (STRING, "schema"),   # SQL_SCHEMA_TERM
        531: (STRING, "catalog"),  # SQL_CATALOG_TERM
        539: (BOOL, True),      # SQL_CORRELATED_SUBQUERIES_SUPPORTED
        540: (INT32, 3),        # SQL_SUPPORTED_UNIONS: UNION and UNION ALL
        563: (BOOL, True),      # SQL_TRANSACTIONS_SUPPORTED
        572: (BOOL, True),      # SQL_BATCH_UPDATES_SUPPORTED (executemany)
        573: (BOOL, False),     # SQL_SAVEPOINTS_SUPPORTED
    }


def get_sql_info(info: dict[int, tuple[int, object]], msg) -> pa.Table:
    ids = sorted(info) if not msg.info else [i for i in msg.info if i in info]
    members: list[list] = [[] for _ in range(6)]
    codes, offsets = [], []
    for i in ids:
        kind, value = info[i]
        codes.append(kind)
        offsets.append(len(members[kind]))
        members[kind].append(value)
    child_types = [f.type for f in _SQL_INFO_VALUE]
    children = [pa.array(m, t) for m, t in zip(members, child_types)]
    # from_buffers, not UnionArray.from_dense: that one makes every member nullable
    value = pa.Array.from_buffers(_SQL_INFO_VALUE, len(ids),
                                  [None, pa.array(codes, pa.int8()).buffers()[1],
                                   pa.array(offsets, pa.int32()).buffers()[1]], children=children)
    return pa.Table.from_arrays([pa.array(ids, pa.uint32()), value], schema=SQL_INFO_SCHEMA)


# XdbcDataType codes (FlightSql.proto) of Dawn's types: (name, data_type, column_size,
# literal prefix, suffix, case sensitive, unsigned, fixed precision/scale, radix, subcode)
_XDBC = [
    ("BIGINT", -5, 19, None, None, False, False, True, 10, None),
    ("BOOLEAN", -7, 1, None, None, False, None, False, None, None),
    ("TINYINT", -6, 3, None, None, False, False, True, 10, None),
    ("BLOB", -3, None, "'", "'", False, None, False, None, None),
    ("VARCHAR", 12, None, "'", "'", True, None, False, None, None),
    ("DECIMAL", 3, 38, None, None, False, False, False, 10, None),
    ("INTEGER", 4, 10, None, None, False, False, True, 10, None),
    ("SMALLINT", 5, 5, None, None, False, False, True, 10, None),
    ("FLOAT", 6, 24, None, None, False, False, False, 2, None),
    ("DOUBLE", 8, 53, None, None, False, False, False, 2, None),
    ("INTERVAL", 10, None, "INTERVAL '", "'", False, None, False, None, None),
    ("DATE", 91, 10, "DATE '", "'", False, None, False, None, 1),
    ("TIME", 92, 15, "TIME '", "'", False, None, False, None, 2),
    ("TIMESTAMP", 93, 26, "TIMESTAMP '", "'", False, None, False, None, 3),
]


def get_xdbc_type_info(session, msg) -> pa.Table:
    rows = sorted(_XDBC, key=lambda r: (r[1], r[0]))
    if msg.HasField("data_type"):
        rows = [r for r in rows if r[1] == msg.data_type]
    n = len(rows)
    datetime_types = (91, 92, 93)
    cols = {
        "type_name": [r[0] for r in rows], "data_type": [r[1] for r in rows],
        "column_size": [r[2] for r in rows], "literal_prefix": [r[3] for r in rows],
        "literal_suffix": [r[4] for r in rows],
        "create_params": [["precision", "scale"] if r[0] == "DECIMAL" else None for r in rows],
        "nullable": [1] * n, "case_sensitive": [r[5] for r in rows], "searchable": [3] * n,
        "unsigned_attribute": [r[6] for r in rows], "fixed_prec_scale": [r[7] for r in rows],
        "auto_increment": [None] * n, "local_type_name": [r[0] for r in rows],
        "minimum_scale": [0 if r[0] == "DECIMAL" else None for r in rows],
        "maximum_scale": [38 if r[0] == "DECIMAL" else None for r in rows],
        "sql_data_type": [9 if r[1] in datetime_types else r[1] for r in rows],
        "datetime_subcode": [r[9] for r in rows], "num_prec_radix": [r[8] for r in rows],
        "interval_precision": [None] * n,
    }
    return pa.table([pa.array(cols[f.name], f.type) for f in XDBC_TYPE_INFO_SCHEMA],
                    schema=XDBC_TYPE_INFO_SCHEMA)


HANDLERS = {
    "CommandGetCatalogs": get_catalogs, "CommandGetDbSchemas": get_db_schemas,
    "CommandGetTables": get_tables, "CommandGetTableTypes": get_table_types,
    "CommandGetPrimaryKeys": get_primary_keys, "CommandGetExportedKeys": get_keys,
    "CommandGetImportedKeys": get_keys, "CommandGetCrossReference": get_keys,
    "CommandGetXdbcTypeInfo": get_xdbc_type_info,
}
assert set(HANDLERS) | {"CommandGetSqlInfo"} == set(METADATA_COMMANDS)
assert all(hasattr(P.sql, n) for n in METADATA_COMMANDS)
