"""Dawn's SQL type system, expressed directly as Arrow types.

Dawn computes DECIMAL values as DOUBLE (64-bit float): decimal columns read from Parquet, CSV or
Arrow are cast to float64 at the scan, and decimal literals such as ``0.05`` are DOUBLE. Results
therefore match exact decimal arithmetic to about 15 significant digits, not to the last cent of a
38-digit sum. Strings of every Arrow flavour (string_view, large_string, dictionary) are read as
``string``. Everything else maps one to one: BIGINT=int64, INTEGER=int32, SMALLINT=int16,
TINYINT=int8, UBIGINT..UTINYINT=uint64..uint8, FLOAT=float32, DOUBLE=float64, BOOLEAN=bool,
DATE=date32, TIMESTAMP=timestamp[us], INTERVAL=month_day_nano_interval, and HUGEINT=decimal128(38, 0),
the form DuckDB gives its 128-bit integers in Arrow; as a decimal it holds 38 digits, so Dawn's
HUGEINT ends at 10^38 - 1 where DuckDB's goes on to 2^127 - 1 (about 1.7e38), and a result beyond
raises an overflow error.

Types combine as DuckDB's do: ``common_type`` for CASE, UNION, IN and comparisons,
``integer_arith`` for arithmetic (INTEGER + INTEGER is INTEGER; a signed type no wider than an
unsigned one gives BIGINT, or HUGEINT with UBIGINT), FLOAT with integers stays FLOAT, and an integer
literal is INTEGER, BIGINT or HUGEINT by its value (``literal_type``).
"""
from __future__ import annotations

import pyarrow as pa

from catalog.sources import normalize_batch, normalize_schema  # noqa: F401 (re-exported)
from catalog.types import HUGEINT, INTERVAL, SQL_NAMES, TIMESTAMP, parse_type  # noqa: F401 (re-exported)
from engine.errors import NotSupportedError, TypeMismatchError

SIGNED = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), HUGEINT)
UNSIGNED = (pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64())
BITS = {t: 8 << i for i, t in enumerate(SIGNED)} | {t: 8 << i for i, t in enumerate(UNSIGNED)}
# the range of each integer type; HUGEINT holds 38 decimal digits here (Arrow's decimal128(38, 0)),
# a little less than DuckDB's 128-bit range (2^127 - 1 is about 1.7e38)
INT_RANGE = {t: (-(1 << (b - 1)), (1 << (b - 1)) - 1) for t, b in BITS.items() if t in SIGNED[:4]} \
    | {t: (0, (1 << b) - 1) for t, b in BITS.items() if t in UNSIGNED} \
    | {HUGEINT: (-(10 ** 38 - 1), 10 ** 38 - 1)}
# kept for callers that rank integer widths; unsigned types rank with the signed type of their width
INT_RANK = {t: i + 1 for i, t in enumerate(SIGNED)} | {t: i + 1 for i, t in enumerate(UNSIGNED)}
INT_BY_RANK = {i + 1: t for i, t in enumerate(SIGNED)}


def _signed_wider_than(bits: int) -> pa.DataType:
    return next(t for t in SIGNED if BITS[t] > bits)


def integer_common(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """DuckDB's common type of two integer types (CASE, UNION, IN, comparisons): the wider of two
    signed or two unsigned types; a signed type wider than the unsigned one; else the narrowest
    signed type that holds both (TINYINT with UTINYINT is SMALLINT, with UBIGINT HUGEINT)."""
    if (a in UNSIGNED) == (b in UNSIGNED):
        return a if BITS[a] >= BITS[b] else b
    s, u = (a, b) if b in UNSIGNED else (b, a)
    return s if BITS[s] > BITS[u] else _signed_wider_than(BITS[u])


def integer_arith(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """DuckDB's result type of + - * // % on two integer types: as ``integer_common`` except that
    a signed type no wider than the unsigned one gives BIGINT (HUGEINT with UBIGINT), the
    overload DuckDB's function binder picks (TINYINT + UTINYINT is BIGINT, not SMALLINT)."""
    if (a in UNSIGNED) == (b in UNSIGNED):
        return a if BITS[a] >= BITS[b] else b
    s, u = (a, b) if b in UNSIGNED else (b, a)
    if BITS[s] > BITS[u]:
        return s
    return pa.int64() if BITS[u] <= 32 else HUGEINT


def float_common(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """FLOAT with FLOAT or an integer stays FLOAT (as in DuckDB); anything with DOUBLE is DOUBLE."""
    return pa.float32() if pa.float64() not in (a, b) and pa.float32() in (a, b) else pa.float64()


def literal_type(v: int) -> pa.DataType | None:
    """The type of an integer literal, as DuckDB's parser gives it: INTEGER, BIGINT or HUGEINT,
    whichever holds the value first; None past HUGEINT's 38 digits (DuckDB's UHUGEINT and BIGNUM
    have no Dawn counterpart)."""
    for t in (pa.int32(), pa.int64(), HUGEINT):
        lo, hi = INT_RANGE[t]
        if lo <= v <= hi:
            return t
    return None


def fits(v: int, t: pa.DataType) -> bool:
    lo, hi = INT_RANGE[t]
    return lo <= v <= hi


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
    """Signed and unsigned integers of 8 to 64 bits, and HUGEINT."""
    return pa.types.is_integer(t) or t == HUGEINT


def is_numeric(t: pa.DataType) -> bool:
    return is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)


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
        return integer_common(a, b)
    if is_numeric(a) and is_numeric(b):
        return float_common(a, b)
    if is_temporal(a) and is_temporal(b):
        # TIMESTAMP WITH TIME ZONE wins, as in DuckDB
        return next((x for x in (a, b) if pa.types.is_timestamp(x) and x.tz is not None), TIMESTAMP)
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
