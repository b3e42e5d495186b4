"""Dawn's SQL type system, expressed directly as Arrow types.

Dawn computes DECIMAL values as DOUBLE (64-bit float): decimal columns read from Parquet, CSV or
Arrow are cast to float64 at the scan, and decimal literals such as ``0.05`` are DOUBLE. Results
therefore match exact decimal arithmetic to about 15 significant digits, not to the last cent of a
38-digit sum. Strings of every Arrow flavour (string_view, large_string, dictionary) are read as
``string``. Everything else maps one to one: BIGINT=int64, INTEGER=int32, DOUBLE=float64,
BOOLEAN=bool, DATE=date32, TIMESTAMP=timestamp[us], INTERVAL=month_day_nano_interval.
"""
from __future__ import annotations

import pyarrow as pa

from catalog.sources import normalize_batch, normalize_schema  # noqa: F401 (re-exported)
from catalog.types import HUGEINT, INTERVAL, SQL_NAMES, TIMESTAMP, parse_type  # noqa: F401 (re-exported)
from engine.errors import NotSupportedError, TypeMismatchError

INT_RANK = {pa.int8(): 1, pa.int16(): 2, pa.int32(): 3, pa.int64(): 4,
            pa.uint8(): 2, pa.uint16(): 3, pa.uint32(): 4, pa.uint64(): 4}
INT_BY_RANK = {1: pa.int8(), 2: pa.int16(), 3: pa.int32(), 4: pa.int64()}



def sql_name(t: pa.DataType) -> str:
    """The SQL spelling of an Arrow type, for messages, DESCRIBE and EXPLAIN."""
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    names = {pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER",
             pa.int64(): "BIGINT", pa.uint8(): "UTINYINT", pa.uint16(): "USMALLINT",
             pa.uint32(): "UINTEGER", pa.uint64(): "UBIGINT", pa.float32(): "FLOAT",
             pa.float64(): "DOUBLE", pa.string(): "VARCHAR", pa.binary(): "BLOB",
             pa.date32(): "DATE", TIMESTAMP: "TIMESTAMP", INTERVAL: "INTERVAL", pa.null(): "NULL",
             HUGEINT: "HUGEINT"}
    if t in names:
        return names[t]
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_time(t):
        return "TIME"
    if isinstance(t, pa.FixedShapeTensorType):
        return f"TENSOR{list(t.shape)}({sql_name(t.value_type)})"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"{sql_name(t.value_type)}[]"
    if pa.types.is_struct(t):  # DuckDB's spelling: STRUCT(a INTEGER, "b c" VARCHAR)
        def ident(n: str) -> str:
            plain = n.replace("_", "a").isalnum() and not n[:1].isdigit()
            return n if plain else '"' + n.replace('"', '""') + '"'
        return "STRUCT(" + ", ".join(f"{ident(f.name)} {sql_name(f.type)}" for f in t) + ")"
    return str(t).upper()


def is_integer(t: pa.DataType) -> bool:
    return pa.types.is_integer(t)


def is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)


def is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def is_temporal(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_timestamp(t)


def common_type(a: pa.DataType, b: pa.DataType, what: str = "expression") -> pa.DataType:
    """The type two operands are coerced to before they are compared, combined or unioned."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if is_integer(a) and is_integer(b):
        return INT_BY_RANK[max(INT_RANK[a], INT_RANK[b])]
    if is_numeric(a) and is_numeric(b):
        return pa.float64()
    if is_temporal(a) and is_temporal(b):
        return TIMESTAMP
    if is_string(a) and (is_temporal(b) or is_numeric(b) or pa.types.is_boolean(b)):
        return b
    if is_string(b) and (is_temporal(a) or is_numeric(a) or pa.types.is_boolean(a)):
        return a
    if is_string(a) and is_string(b):
        return pa.string()
    raise TypeMismatchError(
        f"Cannot combine {sql_name(a)} and {sql_name(b)} in {what}")


def parse_sql_type(name: str, params: list[int] | None = None) -> pa.DataType:
    key = " ".join(name.upper().split())
    if key in SQL_NAMES:
        return SQL_NAMES[key]
    raise NotSupportedError(f"Unknown or unsupported type {name}")
