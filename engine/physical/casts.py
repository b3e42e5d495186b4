"""CAST and TRY_CAST of Arrow values between Dawn's types, with DuckDB's semantics: DOUBLE to integer
rounds half to even; conversions to and from text follow DuckDB's spellings and parsing rules
(engine.plan.functions.textcast); TRY_CAST turns each failing value into NULL."""
from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
from engine.physical import numeric_casts
from engine.plan import types as T
from engine.plan.expressions import Expr, user_sql
from engine.plan.functions.textcast import from_text, to_text

Value = Any


def _to_array(v: Value, n: int) -> pa.Array:
    if isinstance(v, pa.ChunkedArray):
        return v.combine_chunks() if v.num_chunks != 1 else v.chunk(0)
    return v


def _kind(t: pa.DataType) -> str:
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return "temporal"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_interval(t):
        return "interval"
    if pa.types.is_boolean(t):
        return "bool"
    if T.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    return "other"


# casts DuckDB has no conversion for (a DATE is not a number of days, a number not a TIMESTAMP)
_NO_CAST = {("temporal", "number"), ("temporal", "bool"), ("number", "temporal"), ("bool", "temporal"),
            ("interval", "number"), ("interval", "bool"), ("interval", "temporal"), ("interval", "time"),
            ("number", "interval"), ("bool", "interval"), ("temporal", "interval"), ("time", "interval"),
            ("time", "number"), ("number", "time"), ("bool", "time"), ("time", "bool"),
            ("time", "temporal")}


def castable(src: pa.DataType, t: pa.DataType) -> bool:
    """Whether DuckDB converts ``src`` values to ``t`` at all (TRY_CAST is then NULL for all)."""
    if (_kind(src), _kind(t)) in _NO_CAST:
        return False
    return not (pa.types.is_date(src) and pa.types.is_time(t))


def cast_value(v: Value, t: pa.DataType, safe: bool, e: Expr | None = None) -> Value:
    src = v.type
    if src == t:
        return v
    if not castable(src, t):
        # as in DuckDB, the missing conversion fails only on a value there is to convert
        if safe or (not v.is_valid if isinstance(v, pa.Scalar) else v.null_count == len(v)):
            return pa.scalar(None, t) if isinstance(v, pa.Scalar) else pa.nulls(len(v), t)
        what = f' in "{user_sql(e)}"' if e is not None else ""
        raise DataError(f"Cannot cast {T.sql_name(src)} to {T.sql_name(t)}{what}: there is no such "
                        f"conversion (as in DuckDB)")
    if numeric_casts.handles(src, t):  # numbers, and HUGEINT from/to text and BOOLEAN
        return numeric_casts.numeric_cast(v, t, safe, e)
    try:
        if T.is_string(t) and not T.is_string(src):
            return to_text(v)
        if T.is_string(src) and not T.is_string(t):
            out = from_text(v, t, safe)
            if out is not None:
                return out
        return pc.cast(v, t, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        if safe:
            return _cast_each(v, t)
        what = f' in "{user_sql(e)}"' if e is not None else ""
        raise DataError(f"Cannot cast {T.sql_name(src)} to {T.sql_name(t)}{what}: {err}") from None


def _cast_each(v: Value, t: pa.DataType) -> Value:
    """TRY_CAST's slow path: cast distinct values one by one, failures become NULL."""
    if isinstance(v, pa.Scalar):
        try:
            return cast_value(v, t, False)
        except DataError:
            return pa.scalar(None, t)
    arr = _to_array(v, len(v))
    uniq = pc.unique(arr)
    out = []
    for u in uniq:
        try:
            out.append(cast_value(u, t, False).as_py())
        except DataError:
            out.append(None)
    casted = pa.array(out, t)
    return casted.take(pc.index_in(arr, value_set=uniq))
