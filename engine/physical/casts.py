"""CAST and TRY_CAST of Arrow values between Dawn's types, with DuckDB's semantics: DOUBLE to integer
rounds half to even, text to BOOLEAN accepts DuckDB's spellings, DOUBLE to text keeps a trailing
'.0'; TRY_CAST turns each failing value into NULL."""
from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
from engine.physical import numeric_casts
from engine.plan import types as T
from engine.plan.expressions import Expr, user_sql

Value = Any


def _to_array(v: Value, n: int) -> pa.Array:
    if isinstance(v, pa.ChunkedArray):
        return v.combine_chunks() if v.num_chunks != 1 else v.chunk(0)
    return v


def cast_value(v: Value, t: pa.DataType, safe: bool, e: Expr | None = None) -> Value:
    src = v.type
    if src == t:
        return v
    if numeric_casts.handles(src, t):  # numbers, and HUGEINT from/to text and BOOLEAN
        return numeric_casts.numeric_cast(v, t, safe, e)
    try:
        if pa.types.is_boolean(t) and T.is_string(src):
            low = pc.utf8_lower(pc.utf8_trim_whitespace(v))
            is_t = pc.is_in(low, value_set=pa.array(["true", "t", "1", "yes", "y"]))
            is_f = pc.is_in(low, value_set=pa.array(["false", "f", "0", "no", "n"]))
            bad = pc.and_(pc.invert(pc.or_(is_t, is_f)), pc.is_valid(v))
            if not safe and pc.any(bad).as_py():
                raise pa.ArrowInvalid("invalid boolean text")
            return pc.if_else(is_t, True, pc.if_else(is_f, False, pa.scalar(None, pa.bool_())))
        if T.is_string(t) and pa.types.is_floating(src):
            return _float_to_string(v)
        if T.is_string(src) and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            v = pc.utf8_trim_whitespace(v)
        if T.is_string(src) and pa.types.is_timestamp(t):
            v = pc.utf8_trim_whitespace(v)
            return pc.strptime(v, format="%Y-%m-%d %H:%M:%S", unit="us", error_is_null=safe) \
                if not isinstance(v, pa.Scalar) or len(v.as_py() or "") > 10 else \
                pc.cast(pc.cast(v, pa.date32()), t)
        return pc.cast(v, t, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        if safe:
            return _cast_each(v, t)
        what = f' in "{user_sql(e)}"' if e is not None else ""
        raise DataError(f"Cannot cast {T.sql_name(src)} to {T.sql_name(t)}{what}: {err}") from None


def _float_to_string(v: Value) -> Value:
    """DOUBLE -> VARCHAR as DuckDB writes it: integral values keep a trailing '.0'."""
    s = pc.cast(v, pa.string())
    needs = pc.and_(pc.invert(pc.match_substring_regex(s, r"[.eEni]")), pc.is_valid(s))
    return pc.if_else(needs, pc.binary_join_element_wise(s, ".0", ""), s)


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
