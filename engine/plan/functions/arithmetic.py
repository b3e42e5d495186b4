"""Arithmetic operators: + - * / // % and negation, with DuckDB's result types and overflow errors
(the integer kernels are in integers.py), and date and interval arithmetic."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, NotSupportedError
from engine.physical.numeric_casts import format_value, widen
from engine.plan import types as T
from engine.plan.functions import integers
from engine.plan.functions.registry import (
    Value,
    _need,
    _numeric_result,
    _to_numpy,
    implicit_int,
    is_scalar,
    register,
    scalar_py,
)

# ---------------------------------------------------------------- arithmetic

def _arith_type(op: str):
    def rule(args):
        a, b = args
        if op in ("add", "subtract"):
            if pa.types.is_date(a) and T.is_integer(b):
                implicit_int([b], pa.int32(), "a day count")
                return pa.date32()
            if op == "add" and T.is_integer(a) and pa.types.is_date(b):
                implicit_int([a], pa.int32(), "a day count")
                return pa.date32()
            if T.is_temporal(a) and pa.types.is_interval(b):
                return _shifted_type(a)
            if op == "add" and pa.types.is_interval(a) and T.is_temporal(b):
                return _shifted_type(b)
            if pa.types.is_interval(a) and pa.types.is_interval(b):
                return T.INTERVAL
            if op == "subtract" and pa.types.is_date(a) and pa.types.is_date(b):
                return pa.int64()
            if op == "subtract" and T.is_temporal(a) and T.is_temporal(b):
                return T.INTERVAL
        if op == "divide":  # DOUBLE division, FLOAT when a FLOAT takes part and no DOUBLE does
            t = _numeric_result(args)
            return t if pa.types.is_floating(t) else pa.float64()
        return _numeric_result(args)
    return rule


def _shifted_type(t: pa.DataType) -> pa.DataType:
    """DATE or TIMESTAMP +/- INTERVAL is a TIMESTAMP; a TIMESTAMP WITH TIME ZONE stays one
    (computed in UTC, Dawn's time zone)."""
    return t if pa.types.is_timestamp(t) and t.tz is not None else T.TIMESTAMP


def _months_add(ts: Value, months: int) -> Value:
    """Add calendar months to timestamps, clamping the day to the target month's length."""
    arr = ts if not is_scalar(ts) else pa.array([ts.as_py()], T.TIMESTAMP)
    vals, mask = _to_numpy(arr.cast(pa.int64()), 0)
    t64 = vals.astype("datetime64[us]")
    month = t64.astype("datetime64[M]")
    day_start = t64.astype("datetime64[D]")
    dom = (day_start - month.astype("datetime64[D]")).astype(np.int64)
    tod = (t64 - day_start.astype("datetime64[us]")).astype(np.int64)
    new_month = month + np.timedelta64(months, "M")
    dim = ((new_month + np.timedelta64(1, "M")).astype("datetime64[D]")
           - new_month.astype("datetime64[D]")).astype(np.int64)
    new = (new_month.astype("datetime64[D]") + np.minimum(dom, dim - 1)).astype("datetime64[us]")
    out = new.astype(np.int64) + tod
    res = pa.array(out, pa.int64(), mask=mask).cast(T.TIMESTAMP)
    return res[0] if is_scalar(ts) else res


def _add_interval(x: Value, iv: Value, sign: int) -> Value:
    ivv = scalar_py(iv, "An interval operand")
    out_t = _shifted_type(x.type)
    if ivv is None:
        return pa.scalar(None, out_t) if is_scalar(x) else pa.nulls(len(x), out_t)
    months, days, nanos = ivv.months, ivv.days, ivv.nanoseconds
    ts = x.cast(T.TIMESTAMP)
    if months:
        ts = _months_add(ts, sign * months)
    micros = sign * (days * 86_400_000_000 + nanos // 1000)
    if micros:
        ts = pc.add(ts, pa.scalar(micros, pa.duration("us")))
    return ts.cast(out_t) if out_t != T.TIMESTAMP else ts


# DuckDB's DATE is int32 days with its two extremes kept for +-infinity
_DATE_DAYS = 2_147_483_646


def _date_plus_days(d: Value, n: Value, sign: int) -> Value:
    """DATE +/- INTEGER days, an error past DuckDB's date range (never wrapped around)."""
    days = pc.add(d.cast(pa.int32()).cast(pa.int64()), pc.multiply(n.cast(pa.int64()), sign))
    worst = pc.max(pc.abs(days)).as_py() if not is_scalar(days) else \
        (abs(days.as_py()) if days.is_valid else None)
    if worst is not None and worst > _DATE_DAYS:
        raise DataError("Date out of range")
    return days.cast(pa.int32()).cast(pa.date32())


@register("add", 2, 2, _arith_type("add"))
def _add(a, b, dtype=None):
    if pa.types.is_interval(b.type):
        return _add_interval(a, b, 1)
    if pa.types.is_interval(a.type):
        return _add_interval(b, a, 1)
    if pa.types.is_date(a.type) or pa.types.is_date(b.type):
        d, n = (a, b) if pa.types.is_date(a.type) else (b, a)
        return _date_plus_days(d, n, 1)
    return _arith(a, b, dtype, "add")


@register("subtract", 2, 2, _arith_type("subtract"))
def _subtract(a, b, dtype=None):
    if pa.types.is_interval(b.type):
        return _add_interval(a, b, -1)
    if pa.types.is_date(a.type) and pa.types.is_date(b.type):
        return pc.subtract(a.cast(pa.int32()).cast(pa.int64()), b.cast(pa.int32()).cast(pa.int64()))
    if pa.types.is_date(a.type):
        return _date_plus_days(a, b, -1)
    if T.is_temporal(a.type) and T.is_temporal(b.type):

        raise NotSupportedError("Subtracting timestamps yields an INTERVAL, which is not supported")
    return _arith(a, b, dtype, "subtract")


def _arith(a, b, dtype, op):
    a, b = widen(a, dtype), widen(b, dtype)
    if pa.types.is_floating(dtype):
        return getattr(pc, op)(a, b)
    return integers.checked(op, a, b, dtype)


@register("multiply", 2, 2, _arith_type("multiply"))
def _multiply(a, b, dtype=None):
    return _arith(a, b, dtype, "multiply")


@register("divide", 2, 2, _arith_type("divide"))
def _divide(a, b, dtype=None):
    return pc.divide(widen(a, dtype), widen(b, dtype))


@register("intdiv", 2, 2, _arith_type("intdiv"))
def _intdiv(a, b, dtype=None):
    if pa.types.is_floating(dtype):
        # DuckDB: // on DOUBLE does not floor, but refuses a zero divisor as integers do
        a, b = widen(a, dtype), widen(b, dtype)
        zero = pc.and_(pc.equal(b, pa.scalar(0, dtype)), pc.is_valid(a))
        if zero.as_py() if is_scalar(zero) else pc.any(zero).as_py():
            x = a if is_scalar(a) else a.filter(pc.fill_null(zero, False))[0]
            raise DataError(f"Division by zero ({format_value(x)} // 0.0)")
        return pc.divide(a, b)
    return _arith(a, b, dtype, "intdiv")


def _mod(a, b, dtype=None):
    if not pa.types.is_floating(dtype):
        return _arith(a, b, dtype, "mod")
    a, b = widen(a, dtype), widen(b, dtype)
    fa, ma = (np.asarray(a.as_py(), dtype=float), None) if is_scalar(a) else _to_numpy(a, 0.0)
    fb, mb = (np.asarray(b.as_py(), dtype=float), None) if is_scalar(b) else _to_numpy(b, 1.0)
    if (is_scalar(a) and not a.is_valid) or (is_scalar(b) and not b.is_valid):
        return pa.scalar(None, dtype) if is_scalar(a) and is_scalar(b) else \
            pa.nulls(len(a) if not is_scalar(a) else len(b), dtype)
    with np.errstate(all="ignore"):
        r = np.fmod(fa, fb)
    if is_scalar(a) and is_scalar(b):
        return pa.scalar(float(r), dtype)
    mask = ma if mb is None else (mb if ma is None else (ma | mb))
    r = np.broadcast_to(r, (len(a) if not is_scalar(a) else len(b),)).astype(dtype.to_pandas_dtype())
    return pa.array(r, dtype, mask=mask)  # fmod is exact: a FLOAT remainder is a FLOAT


register("mod", 2, 2, _arith_type("mod"))(_mod)
register("mod_fn", 2, 2, _arith_type("mod"))(_mod)


def _negate_type(args):
    _need(lambda t: T.is_numeric(t) or pa.types.is_interval(t), "numeric")(args)
    return pa.int64() if pa.types.is_null(args[0]) else args[0]


@register("negate", 1, 1, _negate_type)
def _negate(a, dtype=None):
    if pa.types.is_null(a.type):
        a = widen(a, dtype)
    return integers.negate(a) if T.is_integer(a.type) else pc.negate(a)
