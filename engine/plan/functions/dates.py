"""Date and time functions: parts, truncation, formatting, construction and differences."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import NotSupportedError, TypeMismatchError
from engine.plan import types as T
from engine.plan.functions.registry import (
    ALIASES,
    FUNCTIONS,
    Function,
    Value,
    _numeric_result,
    _to_numpy,
    is_scalar,
    register,
    scalar_py,
)

# ---------------------------------------------------------------- dates and times

_PARTS = {"year", "month", "day", "quarter", "week", "dow", "isodow", "doy", "hour", "minute",
          "second", "epoch", "millisecond", "microsecond", "dayofweek", "dayofyear", "yearweek",
          "decade", "century", "millennium", "isoyear"}


def _part_type(args):
    if not T.is_temporal(args[-1]) and not pa.types.is_null(args[-1]):
        raise TypeMismatchError(f"expects a DATE or TIMESTAMP, got {T.sql_name(args[-1])}")
    return pa.int64()


def date_part(part: str, x: Value) -> Value:
    part = part.lower()
    if part in ("year", "years", "y"):
        r = pc.year(x)
    elif part in ("month", "months", "mon"):
        r = pc.month(x)
    elif part in ("day", "days", "d", "dayofmonth"):
        r = pc.day(x)
    elif part == "quarter":
        r = pc.quarter(x)
    elif part == "week":
        r = pc.iso_week(x)
    elif part in ("dow", "dayofweek"):
        r = pc.day_of_week(x, count_from_zero=True, week_start=7)
    elif part == "isodow":
        r = pc.day_of_week(x, count_from_zero=False, week_start=1)
    elif part in ("doy", "dayofyear"):
        r = pc.day_of_year(x)
    elif part == "isoyear":
        r = pc.iso_year(x)
    elif part == "hour":
        r = pc.hour(x)
    elif part == "minute":
        r = pc.minute(x)
    elif part == "second":
        r = pc.second(x)
    elif part == "millisecond":
        r = pc.add(pc.multiply(pc.second(x), 1000), pc.millisecond(x))
    elif part == "microsecond":
        r = pc.add(pc.multiply(pc.second(x), 1_000_000),
                   pc.add(pc.multiply(pc.millisecond(x), 1000), pc.microsecond(x)))
    elif part == "epoch":
        return pc.divide(x.cast(T.TIMESTAMP).cast(pa.int64()), 1_000_000).cast(pa.int64())
    elif part == "decade":
        r = pc.divide(pc.year(x), 10)
    elif part == "century":
        r = pc.add(pc.divide(pc.subtract(pc.year(x), 1), 100), 1)
    else:
        raise NotSupportedError(f'Unknown date part "{part}"; use one of {", ".join(sorted(_PARTS))}')
    return r.cast(pa.int64())


@register("date_part", 2, 2, _part_type, constant=(0,))
def _date_part(part, x, dtype=None):
    return date_part(scalar_py(part, "The date part"), x)


for _p in ("year", "month", "dayofmonth", "quarter", "week", "dayofweek", "dayofyear", "hour",
           "minute", "second"):
    FUNCTIONS[_p] = Function(_p, 1, 1, _part_type,
                             (lambda p: lambda x, dtype=None: date_part(p, x))(_p))

_TRUNC = {"year": "year", "quarter": "quarter", "month": "month", "week": "week", "day": "day",
          "hour": "hour", "minute": "minute", "second": "second", "millisecond": "millisecond",
          "microsecond": "microsecond", "decade": None, "century": None}


@register("date_trunc", 2, 2, lambda args: _part_type(args) and T.TIMESTAMP, constant=(0,))
def _date_trunc(part, x, dtype=None):
    p = str(scalar_py(part, "The date part")).lower()
    if _TRUNC.get(p) is None:
        raise NotSupportedError(f'Unknown date part "{p}" for date_trunc')
    return pc.floor_temporal(x.cast(T.TIMESTAMP), unit=_TRUNC[p])


def _strftime_type(args):
    _part_type(args[:1])
    return pa.string()


@register("strftime", 2, 2, _strftime_type, constant=(1,))
def _strftime(x, fmt, dtype=None):
    return pc.strftime(x.cast(T.TIMESTAMP), format=scalar_py(fmt, "The format string"))


@register("make_date", 3, 3, lambda args: _numeric_result(args) and pa.date32())
def _make_date(y, m, d, dtype=None):
    n = max(1 if is_scalar(v) else len(v) for v in (y, m, d))
    def arr(v):
        return np.full(n, v.as_py(), dtype=np.int64) if is_scalar(v) else _to_numpy(v.cast(pa.int64()), 1)[0]
    months = (arr(y) - 1970) * 12 + arr(m) - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]") + (arr(d) - 1)
    res = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())
    return res[0] if all(is_scalar(v) for v in (y, m, d)) else res


@register("date_diff", 3, 3, lambda args: pa.int64(), constant=(0,))
def _date_diff(part, a, b, dtype=None):
    p = str(scalar_py(part, "The date part")).lower().rstrip("s")
    if p == "day":
        return pc.days_between(a.cast(T.TIMESTAMP), b.cast(T.TIMESTAMP)).cast(pa.int64())
    if p == "month":  # month boundaries crossed (Arrow's month_interval_between has no Python type)
        def months(x):
            return pc.add(pc.multiply(pc.year(x).cast(pa.int64()), 12), pc.month(x).cast(pa.int64()))
        return pc.subtract(months(b), months(a))
    if p == "year":
        return pc.years_between(a.cast(T.TIMESTAMP), b.cast(T.TIMESTAMP)).cast(pa.int64())
    raise NotSupportedError(f'date_diff does not support the part "{p}"')


ALIASES["datediff"] = "date_diff"
