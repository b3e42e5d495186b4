"""Structs as Arrow struct arrays: struct_pack / {'a': 1} build them (the field names travel in
the call's result type), struct_extract / s.a / s['a'] read a field; and DuckDB's spelling of a
type (typeof).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import BindError
from engine.plan import types as T
from engine.plan.functions.registry import FUNCTIONS, Function, is_scalar


def _struct_pack(*args, dtype=None):
    n = next((len(a) for a in args if not is_scalar(a)), None)
    rows = 1 if n is None else n
    cols = []
    for a, f in zip(args, dtype):
        arr = (pa.repeat(a, rows) if a.is_valid else pa.nulls(rows, a.type)) if is_scalar(a) else a
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        cols.append(arr.cast(f.type) if arr.type != f.type else arr)
    out = pa.StructArray.from_arrays(cols, fields=list(dtype))
    return out[0] if n is None else out


def _struct_type_of_call(args):
    raise BindError("struct_pack needs field names: write struct_pack(name := value, ...)")


# struct_pack's result type names the fields, so the binder builds its Call itself
FUNCTIONS["struct_pack"] = Function("struct_pack", 1, 1024, _struct_type_of_call, _struct_pack)


def field_type(t: pa.DataType, name: str) -> tuple[int, pa.DataType]:
    """The position and type of a struct's field, matched case-insensitively as DuckDB does."""
    for i, f in enumerate(t):
        if f.name == name:
            return i, f.type
    for i, f in enumerate(t):
        if f.name.lower() == name.lower():
            return i, f.type
    raise BindError(f'Could not find key "{name}" in struct {T.sql_name(t)}')


def _struct_extract(s, name, dtype=None):
    arr = s
    i, _ = field_type(s.type, name.as_py())
    if is_scalar(s):
        arr = pa.array([s.as_py()], s.type)
    out = pc.struct_field(arr, [i])
    return out[0] if is_scalar(s) else out


FUNCTIONS["struct_extract"] = Function("struct_extract", 2, 2, _struct_type_of_call,
                                       _struct_extract)


def type_name(t: pa.DataType) -> str:
    """A type as DuckDB's typeof() spells it."""
    if pa.types.is_null(t):
        return '"NULL"'
    if pa.types.is_timestamp(t) and t.tz is not None:
        return "TIMESTAMP WITH TIME ZONE"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"{type_name(t.value_type)}[]"
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f"{_ident(f.name)} {type_name(f.type)}" for f in t) + ")"
    return T.sql_name(t)


def _ident(name: str) -> str:
    plain = name.replace("_", "a").isalnum() and not name[:1].isdigit()
    return name if plain else '"' + name.replace('"', '""') + '"'


def _typeof_kernel(x, dtype=None):
    out = type_name(x.type)
    return pa.scalar(out) if is_scalar(x) else pa.repeat(pa.scalar(out), len(x))


# typeof() is answered at bind time from the argument's type; the kernel serves plans built
# without the binder
FUNCTIONS["typeof"] = Function("typeof", 1, 1, lambda args: pa.string(), _typeof_kernel)
