"""SQL type names and their Arrow types, shared by the engine, the catalog and UDF signatures.

``parse_type`` reads the spellings users write in DDL and UDF declarations: plain names
(``BIGINT``, ``VARCHAR``, ``DOUBLE``), ``DECIMAL(p, s)`` (computed as DOUBLE, see
engine/plan/types.py), ``T[]`` or ``LIST<T>``, ``STRUCT<name T, ...>`` and
``TENSOR<T>[d1, d2, ...]`` (an Arrow fixed-shape tensor, the type of video frames).
"""
from __future__ import annotations

import re

import pyarrow as pa

TIMESTAMP = pa.timestamp("us")
INTERVAL = pa.month_day_nano_interval()
# DuckDB's 128-bit integer (the type of sum over integers), held as Arrow decimal128(38, 0): the
# type DuckDB itself exports HUGEINT as
HUGEINT = pa.decimal128(38, 0)

SQL_NAMES: dict[str, pa.DataType] = {
    "TINYINT": pa.int8(), "INT1": pa.int8(), "SMALLINT": pa.int16(), "INT2": pa.int16(),
    "INT": pa.int32(), "INTEGER": pa.int32(), "INT4": pa.int32(), "SIGNED": pa.int32(),
    "BIGINT": pa.int64(), "INT8": pa.int64(), "LONG": pa.int64(), "HUGEINT": HUGEINT, "INT128": HUGEINT,
    "UTINYINT": pa.uint8(), "USMALLINT": pa.uint16(), "UINTEGER": pa.uint32(), "UBIGINT": pa.uint64(),
    "FLOAT": pa.float32(), "REAL": pa.float32(), "FLOAT4": pa.float32(),
    "DOUBLE": pa.float64(), "FLOAT8": pa.float64(), "DOUBLE PRECISION": pa.float64(),
    "DECIMAL": pa.float64(), "NUMERIC": pa.float64(), "BIGDECIMAL": pa.float64(),
    "BOOLEAN": pa.bool_(), "BOOL": pa.bool_(), "LOGICAL": pa.bool_(),
    "VARCHAR": pa.string(), "TEXT": pa.string(), "STRING": pa.string(), "CHAR": pa.string(),
    "NCHAR": pa.string(), "NVARCHAR": pa.string(), "BPCHAR": pa.string(), "NAME": pa.string(),
    "BLOB": pa.binary(), "BYTEA": pa.binary(), "BINARY": pa.binary(), "VARBINARY": pa.binary(),
    "DATE": pa.date32(), "TIMESTAMP": TIMESTAMP, "DATETIME": TIMESTAMP,
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"), "TIME": pa.time64("us"),
    "INTERVAL": INTERVAL,
}


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if cur:
        parts.append("".join(cur).strip())
    return parts


def parse_type(spec: "str | pa.DataType") -> pa.DataType:
    """An Arrow type from a SQL type spelling (or an Arrow type, returned as is)."""
    if isinstance(spec, pa.DataType):
        return spec
    text = " ".join(str(spec).strip().split())
    up = text.upper()
    if up.endswith("[]"):
        return pa.list_(parse_type(text[:-2]))
    m = re.fullmatch(r"(LIST|ARRAY)\s*<(.*)>", text, re.IGNORECASE)
    if m:
        return pa.list_(parse_type(m.group(2)))
    m = re.fullmatch(r"STRUCT\s*<(.*)>", text, re.IGNORECASE)
    if m:
        fields = []
        for part in _split_top(m.group(1)):
            name, _, t = part.replace(":", " ", 1).partition(" ")
            fields.append(pa.field(name.strip(), parse_type(t.strip())))
        return pa.struct(fields)
    m = re.fullmatch(r"TENSOR\s*<(.*)>\s*\[(.*)\]", text, re.IGNORECASE)
    if m:
        shape = [int(x) for x in m.group(2).split(",")]
        return pa.fixed_shape_tensor(parse_type(m.group(1)), shape)
    base = re.sub(r"\(.*\)$", "", up).strip()
    if base in SQL_NAMES:
        return SQL_NAMES[base]
    raise ValueError(f"Unknown type {spec!r}")
