"""Date and time functions: parts, truncation, differences, arithmetic, construction, names and
age, with DuckDB's semantics and result types.

Every kernel works on the values' microseconds since the epoch as numpy int64 (DATE as whole
days): calendar fields come from integer calendar arithmetic (calendar.py), never from
per-row Python.
date_diff counts unit boundaries crossed (DuckDB's T-SQL flavour: weeks are whole 7-day spans),
date_sub counts whole units elapsed; both follow DuckDB's date_diff.cpp and date_sub.cpp.
Formatting and parsing (strftime, strptime) live in datefmt.py.
"""
from __future__ import annotations

import datetime as _dt
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, NotSupportedError, TypeMismatchError
from engine.plan import types as T
from engine.plan.functions.calendar import (
    civil,
    days_from_civil,
    month_days,
    month_start,
)
from engine.plan.functions.registry import (
    ALIASES,
    FUNCTIONS,
    Function,
    Value,
    _numeric_result,
    _to_numpy,
    implicit_int,
    is_scalar,
    register,
    scalar_py,
)

US_PER_DAY = 86_400_000_000
TIMESTAMPTZ = pa.timestamp("us", tz="UTC")

# DuckDB's date part names (date_part_specifier.cpp) -> Dawn's canonical part
_PART_NAMES = {
    "year": ("year", "yr", "y", "years", "yrs"), "month": ("month", "mon", "months", "mons"),
    "day": ("day", "days", "d", "dayofmonth"), "decade": ("decade", "dec", "decades", "decs"),
    "century": ("century", "cent", "centuries", "c"),
    "millennium": ("millennium", "mil", "millenniums", "millennia", "mils", "millenium"),
    "microseconds": ("microseconds", "microsecond", "us", "usec", "usecs", "usecond", "useconds"),
    "milliseconds": ("milliseconds", "millisecond", "ms", "msec", "msecs", "msecond", "mseconds"),
    "second": ("second", "sec", "seconds", "secs", "s"),
    "minute": ("minute", "min", "minutes", "mins", "m"),
    "hour": ("hour", "hr", "hours", "hrs", "h"), "epoch": ("epoch",),
    "dow": ("dow", "dayofweek", "weekday"), "isodow": ("isodow",),
    "week": ("week", "weeks", "w", "weekofyear"), "doy": ("doy", "dayofyear"),
    "quarter": ("quarter", "quarters"), "yearweek": ("yearweek",), "isoyear": ("isoyear",),
    "era": ("era",), "timezone": ("timezone",), "timezone_hour": ("timezone_hour",),
    "timezone_minute": ("timezone_minute",), "julian": ("julian", "jd"),
}
PARTS = {alias: part for part, names in _PART_NAMES.items() for alias in names}


def part_of(name, what: str = "date part") -> str:
    p = PARTS.get(str(name).lower())
    if p is None:
        raise DataError(f'extract specifier "{name}" not recognized')
    return p


# ---------------------------------------------------------------- calendar fields


_MAX_US_DAYS = (2**63 - 1) // US_PER_DAY


class Fields:
    """The calendar fields of DATE/TIMESTAMP values, each computed with numpy when first read."""

    def __init__(self, x: Value):
        arr = x if not is_scalar(x) else pa.repeat(x, 1)  # as_py() fails beyond year 9999
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        self.scalar = is_scalar(x)
        self.mask = pc.is_null(arr).to_numpy(zero_copy_only=False)
        self.is_date = pa.types.is_date(arr.type)
        if self.is_date:
            # kept as days: a DATE spans 5.8 million years, whose microseconds overflow int64
            days, _ = _to_numpy(arr.cast(pa.int32()).cast(pa.int64()), 0)
            self.days = days.astype(np.int64)
            self.tod = np.zeros(len(days), np.int64)
            self._us = None
        else:
            ts = arr.cast(pa.timestamp("us", tz=getattr(arr.type, "tz", None)))
            us, _ = _to_numpy(ts.cast(pa.int64()), 0)
            self._us = us.astype(np.int64)
            self.days = np.floor_divide(self._us, US_PER_DAY)
            self.tod = self._us - self.days * US_PER_DAY  # microseconds into the day

    @property
    def us(self) -> np.ndarray:
        """Microseconds since the epoch; a DATE beyond 292,000 years of 1970 has none (int64)."""
        if self._us is not None:
            return self._us
        live = self.days[~self.mask] if self.mask.any() else self.days
        if live.size and np.abs(live).max() > _MAX_US_DAYS:
            raise DataError("Date out of range: it has no microseconds as a 64-bit integer "
                            "(more than 292,000 years from 1970)")
        return self.days * US_PER_DAY

    @cached_property
    def _ymd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return civil(self.days)

    @property
    def year(self) -> np.ndarray:
        return self._ymd[0]

    @property
    def month(self) -> np.ndarray:
        return self._ymd[1]

    @property
    def day(self) -> np.ndarray:
        return self._ymd[2]

    @cached_property
    def hour(self) -> np.ndarray:
        return self.tod // 3_600_000_000

    @cached_property
    def minute(self) -> np.ndarray:
        return self.tod // 60_000_000 % 60

    @cached_property
    def second(self) -> np.ndarray:
        return self.tod // 1_000_000 % 60

    @cached_property
    def micro(self) -> np.ndarray:  # within the second
        return self.tod % 1_000_000

    @cached_property
    def dow(self) -> np.ndarray:  # 1970-01-01 was a Thursday; Sunday = 0
        return (self.days + 4) % 7

    @cached_property
    def doy(self) -> np.ndarray:
        return self.days - days_from_civil(self.year, 1, 1) + 1

    def iso(self) -> tuple[np.ndarray, np.ndarray]:
        """ISO year and week: the week's Thursday decides its year."""
        thursday = self.days - (self.dow + 6) % 7 + 3
        iso_year = civil(thursday)[0]
        jan1 = days_from_civil(iso_year, 1, 1)
        week = (thursday - jan1) // 7 + 1
        return iso_year, week

    def out(self, values: np.ndarray, t: pa.DataType) -> Value:
        arr = pa.array(values, mask=self.mask if self.mask.any() else None).cast(t) \
            if not pa.types.is_string(t) else pa.array(values, t, mask=self.mask)
        return arr[0] if self.scalar else arr


def _trunc_div(a: np.ndarray, b: int) -> np.ndarray:
    """C's integer division (toward zero), which DuckDB uses for decades and centuries."""
    return np.sign(a) * (np.abs(a) // b)


def extract(part: str, f: Fields) -> tuple[np.ndarray, pa.DataType]:
    """One date part of every value (DuckDB's date_part), and its type."""
    p = part_of(part)
    if p == "year":
        return f.year, pa.int64()
    if p == "month":
        return f.month, pa.int64()
    if p == "day":
        return f.day, pa.int64()
    if p == "quarter":
        return (f.month - 1) // 3 + 1, pa.int64()
    if p == "hour":
        return f.hour, pa.int64()
    if p == "minute":
        return f.minute, pa.int64()
    if p == "second":
        return f.second, pa.int64()
    if p == "milliseconds":
        return f.second * 1000 + f.micro // 1000, pa.int64()
    if p == "microseconds":
        return f.second * 1_000_000 + f.micro, pa.int64()
    if p == "dow":
        return f.dow, pa.int64()
    if p == "isodow":
        return (f.dow + 6) % 7 + 1, pa.int64()
    if p == "doy":
        return f.doy, pa.int64()
    if p == "week":
        return f.iso()[1], pa.int64()
    if p == "isoyear":
        return f.iso()[0], pa.int64()
    if p == "yearweek":
        y, w = f.iso()
        return np.where(y <= 0, y * 100 - w, y * 100 + w), pa.int64()  # BC (year <= 0): -2, week 53 is -253
    if p == "decade":
        return _trunc_div(f.year, 10), pa.int64()
    if p == "century":
        return np.where(f.year > 0, (f.year - 1) // 100 + 1, _trunc_div(f.year, 100) - 1), pa.int64()
    if p == "millennium":
        return np.where(f.year > 0, (f.year - 1) // 1000 + 1, _trunc_div(f.year, 1000) - 1), pa.int64()
    if p == "era":
        return (f.year > 0).astype(np.int64), pa.int64()
    if p in ("timezone", "timezone_hour", "timezone_minute"):
        return np.zeros(len(f.year), np.int64), pa.int64()
    if p == "epoch":
        return (f.days * 86_400.0 if f.is_date else f.us / 1e6), pa.float64()
    if p == "julian":
        return f.days + 2440588 + f.tod / US_PER_DAY, pa.float64()
    raise NotSupportedError(f'date_part("{part}") is not supported')


_ARROW_PARTS = {
    "year": pc.year, "month": pc.month, "day": pc.day, "quarter": pc.quarter, "hour": pc.hour,
    "minute": pc.minute, "second": pc.second, "doy": pc.day_of_year, "week": pc.iso_week,
    "isoyear": pc.iso_year,
    "dow": lambda x: pc.day_of_week(x, count_from_zero=True, week_start=7),
    "isodow": lambda x: pc.day_of_week(x, count_from_zero=False, week_start=1),
}


def _trunc_div(a: np.ndarray, b: int) -> np.ndarray:
    """Division truncated toward zero (C's, which DuckDB's interval parts use)."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def interval_part(p: str, x: Value) -> Value:
    """A part of INTERVAL values as DuckDB reads it: years and months from the months field,
    days from the days field, the clock parts from the time, each truncated toward zero; the
    epoch counts a year as 365.25 days and a month as 30."""
    arr = x if not is_scalar(x) else pa.array([x.as_py()], x.type)
    n = len(arr)
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False) if n else np.zeros(0, bool)
    raw = np.frombuffer(arr.buffers()[1], dtype=[("m", "<i4"), ("d", "<i4"), ("ns", "<i8")],
                        count=arr.offset + n)[arr.offset:]
    months, days, us = raw["m"].astype(np.int64), raw["d"].astype(np.int64), raw["ns"] // 1000
    if p == "epoch":
        years, rest = _trunc_div(months, 12), months - _trunc_div(months, 12) * 12
        v = (years * 365.25 * 86400 + rest * 30 * 86400 + days * 86400 + us / 1e6).astype(np.float64)
        out = pa.array(v, pa.float64(), mask=~valid)
    else:
        fields = {
            "year": lambda: _trunc_div(months, 12), "month": lambda: months - _trunc_div(months, 12) * 12,
            "quarter": lambda: _trunc_div(months - _trunc_div(months, 12) * 12, 3) + 1,
            "decade": lambda: _trunc_div(months, 120), "century": lambda: _trunc_div(months, 1200),
            "millennium": lambda: _trunc_div(months, 12000), "day": lambda: days,
            "hour": lambda: _trunc_div(us, 3_600_000_000),
            "minute": lambda: _trunc_div(us, 60_000_000) - _trunc_div(us, 3_600_000_000) * 60,
            "second": lambda: _trunc_div(us, 1_000_000) - _trunc_div(us, 60_000_000) * 60,
            "milliseconds": lambda: _trunc_div(us, 1000) - _trunc_div(us, 60_000_000) * 60_000,
            "microseconds": lambda: us - _trunc_div(us, 60_000_000) * 60_000_000,
        }
        if p not in fields:
            raise NotSupportedError(f'The date part "{p}" of an INTERVAL is not supported')
        out = pa.array(fields[p]().astype(np.int64), pa.int64(), mask=~valid)
    return out[0] if is_scalar(x) else out


# Arrow's calendar kernels overflow on dates beyond about 27,000 years from 1970 (its day of
# year of -1.7e9 days is -1699493451); DuckDB's DATE reaches 5.8 million years
_ARROW_MAX_DAYS = 10_000_000


def _arrow_date_range(x: Value) -> bool:
    days = x.cast(pa.int32())
    if is_scalar(days):
        return not days.is_valid or abs(days.as_py()) <= _ARROW_MAX_DAYS
    mm = pc.min_max(days)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    return lo is None or (-_ARROW_MAX_DAYS <= lo and hi <= _ARROW_MAX_DAYS)


def date_part(part: str, x: Value) -> Value:
    """One date part of DATE/TIMESTAMP values; Arrow's kernels where it has one (they agree
    with DuckDB's), calendar arithmetic for the rest."""
    p = part_of(part)
    if pa.types.is_interval(x.type):
        return interval_part(p, x)
    if p in _ARROW_PARTS and (pa.types.is_timestamp(x.type) or
                              pa.types.is_date32(x.type) and _arrow_date_range(x)):
        return _ARROW_PARTS[p](x).cast(pa.int64())
    f = Fields(x)
    vals, t = extract(p, f)
    return f.out(vals, t)


def _part_type(args):
    x = args[-1]
    if not (T.is_temporal(x) or pa.types.is_null(x) or pa.types.is_interval(x)):
        raise TypeMismatchError(f"expects a DATE, TIMESTAMP or INTERVAL, got {T.sql_name(x)}")
    return pa.int64()


@register("date_part", 2, 2, _part_type, constant=(0,))
def _date_part(part, x, dtype=None):
    p = scalar_py(part, "The date part")
    if p is None:
        return pa.scalar(None, dtype) if is_scalar(x) else pa.nulls(len(x), dtype)
    if pa.types.is_null(x.type):
        return pa.scalar(None, dtype) if is_scalar(x) else pa.nulls(len(x), dtype)
    out = date_part(p, x)
    if out.type != dtype:
        raise NotSupportedError(f'date_part("{p}") with a part that is not a constant')
    return out


def _one_part(part: str, t: pa.DataType = pa.int64()):
    def kernel(x, dtype=None):
        if pa.types.is_null(x.type):
            return pa.scalar(None, t) if is_scalar(x) else pa.nulls(len(x), t)
        return date_part(part, x)
    return kernel


for _p, _name in (("year", "year"), ("month", "month"), ("day", "dayofmonth"),
                  ("quarter", "quarter"), ("week", "week"), ("dow", "dayofweek"),
                  ("doy", "dayofyear"), ("hour", "hour"), ("minute", "minute"),
                  ("second", "second"), ("isodow", "isodow"), ("isoyear", "isoyear"),
                  ("yearweek", "yearweek"), ("decade", "decade"), ("century", "century"),
                  ("millennium", "millennium"), ("era", "era"), ("milliseconds", "millisecond"),
                  ("microseconds", "microsecond")):
    FUNCTIONS[_name] = Function(_name, 1, 1, _part_type, _one_part(_p))
ALIASES.update({"day": "dayofmonth", "weekofyear": "week", "weekday": "dayofweek",
                "dow": "dayofweek", "doy": "dayofyear"})
FUNCTIONS["epoch"] = Function("epoch", 1, 1, lambda a: _part_type(a) and pa.float64(),
                              _one_part("epoch", pa.float64()))
FUNCTIONS["julian"] = Function("julian", 1, 1, lambda a: _part_type(a) and pa.float64(),
                               _one_part("julian", pa.float64()))


def _int_timestamp_type(args):
    if not (T.is_integer(args[0]) or pa.types.is_null(args[0])):
        raise TypeMismatchError(f"expects an integer, got {T.sql_name(args[0])}")
    return T.TIMESTAMP


@register("epoch_ms", 1, 1, lambda a: pa.int64() if T.is_temporal(a[0]) else _int_timestamp_type(a))
def _epoch_ms(x, dtype=None):
    """epoch_ms(timestamp): milliseconds since the epoch; epoch_ms(integer): the timestamp."""
    if T.is_temporal(x.type):
        f = Fields(x)
        ms = f.days * 86_400_000 if f.is_date else np.floor_divide(f.us, 1000)  # any DATE fits
        return f.out(ms, pa.int64())
    return _from_units(x, 1000)


def _from_units(x: Value, per_unit_us: int) -> Value:
    arr = x if not is_scalar(x) else pa.array([x.as_py()], pa.int64())
    v, mask = _to_numpy(arr.cast(pa.int64()), 0)
    out = pa.array(v.astype(np.int64) * per_unit_us, pa.int64(), mask=mask).cast(T.TIMESTAMP)
    return out[0] if is_scalar(x) else out


@register("epoch_us", 1, 1, lambda a: pa.int64() if T.is_temporal(a[0]) else _int_timestamp_type(a))
def _epoch_us(x, dtype=None):
    if T.is_temporal(x.type):
        f = Fields(x)
        return f.out(f.us, pa.int64())
    return _from_units(x, 1)


@register("to_timestamp", 1, 1, lambda a: _numeric_result(a) and TIMESTAMPTZ)
def _to_timestamp(x, dtype=None):
    """Seconds since the epoch (DOUBLE) as a TIMESTAMP WITH TIME ZONE."""
    arr = x if not is_scalar(x) else pa.array([x.as_py()], pa.float64())
    v, mask = _to_numpy(arr.cast(pa.float64()), 0.0)
    us = np.round(v * 1e6)
    if (~(np.abs(us[~mask] if mask is not None else us) <= 9.2e18)).any():  # NaN too
        raise DataError("to_timestamp(): the value is out of the TIMESTAMP range")
    out = pa.array(us.astype(np.int64), pa.int64(), mask=mask).cast(pa.timestamp("us")).cast(TIMESTAMPTZ)
    return out[0] if is_scalar(x) else out


@register("make_timestamp", 1, 6, lambda a: _numeric_result(a) and T.TIMESTAMP)
def _make_timestamp(*args, dtype=None):
    """make_timestamp(micros) or make_timestamp(year, month, day, hour, minute, seconds)."""
    if len(args) == 1:
        return _from_units(args[0], 1)
    if len(args) != 6:
        raise TypeMismatchError("make_timestamp takes 1 or 6 arguments")
    n = max(1 if is_scalar(v) else len(v) for v in args)
    cols, masks = [], []
    for v in args:
        a = pa.repeat(v, n) if is_scalar(v) else v
        x, m = _to_numpy(a.cast(pa.float64()), 0.0)
        cols.append(x)
        masks.append(m if m is not None else np.zeros(n, bool))
    mask = np.logical_or.reduce(masks)
    y, mo, d, h, mi, s = cols
    days = _days_from_ymd(y.astype(np.int64), mo.astype(np.int64), d.astype(np.int64), mask)
    bad_t = ~mask & ((h < 0) | (h >= 24) | (mi < 0) | (mi >= 60) | (s < 0) | (s > 60))
    if bad_t.any():
        i = int(np.argmax(bad_t))
        raise DataError(f"Time out of range: {int(h[i])}:{int(mi[i])}:{s[i]:f}")
    us = days * US_PER_DAY + (h.astype(np.int64) * 60 + mi.astype(np.int64)) * 60_000_000 \
        + np.round(s * 1e6).astype(np.int64)
    out = pa.array(us, pa.int64(), mask=mask).cast(T.TIMESTAMP)
    return out[0] if all(is_scalar(v) for v in args) else out


def _days_from_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray, mask: np.ndarray) -> np.ndarray:
    ok = (m >= 1) & (m <= 12) & (d >= 1)
    mm = np.clip(m, 1, 12)
    months = (y - 1970) * 12 + (mm - 1)
    first = month_start(months)
    ok &= d <= month_days(months)
    bad = ~mask & ~ok
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"Date out of range: {y[i]}-{m[i]}-{d[i]}")
    return first + d - 1


@register("make_date", 3, 3, lambda args: implicit_int(args, pa.int64(), "each part") or pa.date32())
def _make_date(y, m, d, dtype=None):
    n = max(1 if is_scalar(v) else len(v) for v in (y, m, d))
    cols, mask = [], np.zeros(n, bool)
    for v in (y, m, d):
        a = pa.repeat(v, n) if is_scalar(v) else v
        x, mk = _to_numpy(a.cast(pa.int64()), 1)
        cols.append(x.astype(np.int64))
        if mk is not None:
            mask |= mk
    days = _days_from_ymd(*cols, mask)
    res = pa.array(np.where(mask, 0, days).astype(np.int32), pa.int32(), mask=mask).cast(pa.date32())
    return res[0] if all(is_scalar(v) for v in (y, m, d)) else res


@register("last_day", 1, 1, lambda a: _part_type(a) and pa.date32())
def _last_day(x, dtype=None):
    f = Fields(x)
    months = (f.year - 1970) * 12 + f.month  # the next month
    days = month_start(months) - 1
    live = days[~f.mask] if f.mask.any() else days
    if live.size and (live.max() > np.iinfo(np.int32).max or live.min() < np.iinfo(np.int32).min):
        raise DataError("last_day(): Date out of range (the month's end is past the last DATE)")
    return f.out(days.astype(np.int32), pa.date32())


_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]


def _name_of(names: list[str], pick):
    def kernel(x, dtype=None):
        f = Fields(x)
        idx = pa.array(pick(f), pa.int64(), mask=f.mask if f.mask.any() else None)
        out = pa.array(names).take(idx)
        return out[0] if f.scalar else out
    return kernel


register("dayname", 1, 1, lambda a: _part_type(a) and pa.string())(
    _name_of(_DAYS, lambda f: f.dow))
register("monthname", 1, 1, lambda a: _part_type(a) and pa.string())(
    _name_of(_MONTHS, lambda f: f.month - 1))


# ---------------------------------------------------------------- truncation


def _ts_type(args):
    _part_type(args)
    return T.TIMESTAMP


@register("date_trunc", 2, 2, _ts_type, constant=(0,))
def _date_trunc(part, x, dtype=None):
    p = scalar_py(part, "The date part")
    if p is None or pa.types.is_null(x.type):
        return pa.scalar(None, dtype) if is_scalar(x) else pa.nulls(len(x), dtype)
    p = part_of(p)
    f = Fields(x)
    if p in ("microseconds",):
        us = f.us
    elif p in ("milliseconds", "second", "minute", "hour"):
        unit = {"milliseconds": 1000, "second": 1_000_000, "minute": 60_000_000,
                "hour": 3_600_000_000}[p]
        us = np.floor_divide(f.us, unit) * unit
    elif p in ("day", "dow", "isodow", "doy", "julian"):
        us = f.days * US_PER_DAY
    elif p in ("week", "yearweek"):
        us = (f.days - (f.dow + 6) % 7) * US_PER_DAY
    elif p == "isoyear":
        iso_year, _ = f.iso()
        jan4 = days_from_civil(iso_year, 1, 4)
        us = (jan4 - (jan4 + 4 + 6) % 7) * US_PER_DAY
    else:
        if p == "month":
            y, m = f.year, f.month
        elif p == "quarter":
            y, m = f.year, (f.month - 1) // 3 * 3 + 1
        elif p == "year":
            y, m = f.year, np.ones_like(f.month)
        elif p == "decade":
            y, m = f.year // 10 * 10, np.ones_like(f.month)
        elif p == "century":
            y, m = f.year // 100 * 100, np.ones_like(f.month)
        elif p == "millennium":
            y, m = f.year // 1000 * 1000, np.ones_like(f.month)
        else:
            raise NotSupportedError(f'date_trunc("{part.as_py()}") is not supported')
        months = (y - 1970) * 12 + m - 1
        us = month_start(months) * US_PER_DAY
    out = pa.array(us, pa.int64(), mask=f.mask if f.mask.any() else None).cast(T.TIMESTAMP)
    return out[0] if f.scalar else out


# ---------------------------------------------------------------- differences


def _diff_type(args):
    for a in args[1:]:
        if not (T.is_temporal(a) or pa.types.is_null(a)):
            raise TypeMismatchError(f"expects DATE or TIMESTAMP arguments, got {T.sql_name(a)}")
    return pa.int64()


def _pair(a: Value, b: Value) -> tuple[Fields, Fields, bool]:
    n = next((len(v) for v in (a, b) if not is_scalar(v)), None)
    if n is not None:
        a = pa.repeat(a, n) if is_scalar(a) else a
        b = pa.repeat(b, n) if is_scalar(b) else b
    return Fields(a), Fields(b), n is None


def _finish(fa: Fields, fb: Fields, vals: np.ndarray, scalar: bool) -> Value:
    mask = fa.mask | fb.mask
    out = pa.array(vals.astype(np.int64), pa.int64(), mask=mask if mask.any() else None)
    return out[0] if scalar else out


def _floor_diff(start: np.ndarray, end: np.ndarray, unit: int) -> np.ndarray:
    return np.floor_divide(end, unit) - np.floor_divide(start, unit)


def _part_or_none(part, a, b) -> str | None:
    """The (normalised) part of a two-date function, or None when its answer is NULL."""
    p = scalar_py(part, "The date part")
    if p is None or pa.types.is_null(a.type) or pa.types.is_null(b.type):
        return None
    return part_of(p)


def _null_ints(a, b) -> Value:
    return pa.scalar(None, pa.int64()) if is_scalar(a) and is_scalar(b) else \
        pa.nulls(max(1 if is_scalar(v) else len(v) for v in (a, b)), pa.int64())


@register("date_diff", 3, 3, _diff_type, constant=(0,))
def _date_diff(part, a, b, dtype=None):
    """date_diff(part, start, end): the number of part boundaries between them."""
    p = _part_or_none(part, a, b)
    if p is None:
        return _null_ints(a, b)
    s, e, scalar = _pair(a, b)
    if p in ("year",):
        v = e.year - s.year
    elif p == "month":
        v = (e.year * 12 + e.month) - (s.year * 12 + s.month)
    elif p == "quarter":
        v = (e.year * 12 + e.month - 1) // 3 - (s.year * 12 + s.month - 1) // 3
    elif p in ("day", "dow", "isodow", "doy", "julian"):
        v = e.days - s.days
    elif p in ("week", "yearweek"):
        v = _trunc_div(e.days - s.days, 7)
    elif p == "decade":
        v = _trunc_div(e.year, 10) - _trunc_div(s.year, 10)
    elif p == "century":
        v = _trunc_div(e.year, 100) - _trunc_div(s.year, 100)
    elif p == "millennium":
        v = _trunc_div(e.year, 1000) - _trunc_div(s.year, 1000)
    elif p == "isoyear":
        v = e.iso()[0] - s.iso()[0]
    elif p == "microseconds":
        v = e.us - s.us
    elif p in ("milliseconds", "second", "epoch", "minute", "hour"):
        unit = {"milliseconds": 1000, "second": 1_000_000, "epoch": 1_000_000,
                "minute": 60_000_000, "hour": 3_600_000_000}[p]
        v = _floor_diff(s.us, e.us, unit)
    else:
        raise NotSupportedError(f'date_diff("{p}") is not supported')
    return _finish(s, e, v, scalar)


def _age_fields(e: Fields, s: Fields) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DuckDB's Interval::GetAge(end, start): (months, days, microseconds), field by field with
    borrows, as PostgreSQL's age()."""
    neg = e.us < s.us
    sign = np.where(neg, -1, 1)
    dy = (e.year - s.year) * sign
    dm = (e.month - s.month) * sign
    dd = (e.day - s.day) * sign
    dus = (e.tod - s.tod) * sign
    borrow = dus < 0
    dus = np.where(borrow, dus + US_PER_DAY, dus)
    dd = dd - borrow
    # days borrow from the month of the earlier value's month (ts2 when positive, ts1 if not)
    ref_y = np.where(neg, e.year, s.year)
    ref_m = np.where(neg, e.month, s.month)
    months = (ref_y - 1970) * 12 + ref_m - 1
    mdays = month_days(months)
    for _ in range(3):
        low = dd < 0
        dd = np.where(low, dd + mdays, dd)
        dm = dm - low
    while (dm < 0).any():
        low = dm < 0
        dm = np.where(low, dm + 12, dm)
        dy = dy - low
    return (dy * 12 + dm) * sign, dd * sign, dus * sign


@register("date_sub", 3, 3, _diff_type, constant=(0,))
def _date_sub(part, a, b, dtype=None):
    """date_sub(part, start, end): the number of whole parts elapsed from start to end."""
    p = _part_or_none(part, a, b)
    if p is None:
        return _null_ints(a, b)
    s, e, scalar = _pair(a, b)
    if p in ("year", "isoyear", "month", "quarter", "decade", "century", "millennium"):
        months = _sub_months(s, e)
        per = {"year": 12, "isoyear": 12, "month": 1, "quarter": 3, "decade": 120,
               "century": 1200, "millennium": 12000}[p]
        v = _trunc_div(months, per)
    else:
        unit = {"day": US_PER_DAY, "dow": US_PER_DAY, "isodow": US_PER_DAY, "doy": US_PER_DAY,
                "julian": US_PER_DAY, "week": 7 * US_PER_DAY, "yearweek": 7 * US_PER_DAY,
                "microseconds": 1, "milliseconds": 1000, "second": 1_000_000,
                "epoch": 1_000_000, "minute": 60_000_000, "hour": 3_600_000_000}.get(p)
        if unit is None:
            raise NotSupportedError(f'date_sub("{p}") is not supported')
        v = _trunc_div(e.us - s.us, unit)
    return _finish(s, e, v, scalar)


def _sub_months(s: Fields, e: Fields) -> np.ndarray:
    """DuckDB's DateSub::MonthOperator: whole months from s to e (negative if e < s), where a
    month ending on the last day of the shorter month counts as whole."""
    neg = e.us < s.us
    lo_us = np.where(neg, e.us, s.us)
    hi_us = np.where(neg, s.us, e.us)
    lo, hi = _fields_of(lo_us), _fields_of(hi_us)
    months = (hi.year - 1970) * 12 + hi.month - 1
    end_days = month_days(months)
    clamp = (hi.day == end_days) & ((lo.day > end_days) | ((lo.day == end_days) & (lo.tod < hi.tod)))
    lo_month_start = month_start((lo.year - 1970) * 12 + lo.month - 1)
    lo_us = np.where(clamp, (lo_month_start + end_days - 1) * US_PER_DAY + lo.tod, lo_us)
    m, _, _ = _age_fields(hi, _fields_of(lo_us))
    return np.where(neg, -m, m)


def _fields_of(us: np.ndarray) -> Fields:
    return Fields(pa.array(us, pa.int64()).cast(T.TIMESTAMP))


# ---------------------------------------------------------------- arithmetic and age


def _date_add_type(args):
    x, iv = args
    if pa.types.is_interval(iv) and (T.is_temporal(x) or pa.types.is_null(x)):
        return T.TIMESTAMP
    if pa.types.is_date(x) and T.is_integer(iv):
        return pa.date32()
    raise TypeMismatchError(f"expects (DATE or TIMESTAMP, INTERVAL), got ({T.sql_name(x)}, "
                            f"{T.sql_name(iv)})")


@register("date_add", 2, 2, _date_add_type)
def _date_add(x, iv, dtype=None):
    add = FUNCTIONS["add"].kernel
    if pa.types.is_date(x.type) and pa.types.is_interval(iv.type):
        x = x.cast(T.TIMESTAMP)
    return add(x, iv, dtype=dtype)


def _age_type(args):
    for a in args:
        if not (T.is_temporal(a) or pa.types.is_null(a)):
            raise TypeMismatchError(f"expects DATE or TIMESTAMP arguments, got {T.sql_name(a)}")
    return T.INTERVAL


@register("age", 1, 2, _age_type)
def _age(a, b=None, dtype=None):
    """age(end, start) as DuckDB's interval of years, months, days and time; age(x) measures
    from today's midnight."""
    if b is None:
        a, b = pa.scalar(_dt.datetime.combine(_dt.date.today(), _dt.time()), T.TIMESTAMP), a
    e, s, scalar = _pair(a, b)
    months, days, us = _age_fields(e, s)
    out = month_day_nano(months, days, us * 1000, e.mask | s.mask)
    return out[0] if scalar else out


def month_day_nano(months: np.ndarray, days: np.ndarray, nanos: np.ndarray,
                   mask: np.ndarray | None) -> pa.Array:
    """An INTERVAL array from its three fields (Arrow's 16-byte month_day_nano layout)."""
    n = len(months)
    rec = np.zeros(n, dtype=[("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])
    rec["months"], rec["days"], rec["nanos"] = months, days, nanos
    validity = None
    null_count = 0
    if mask is not None and mask.any():
        validity = pa.array(~mask).buffers()[1]
        null_count = int(mask.sum())
    return pa.Array.from_buffers(T.INTERVAL, n, [validity, pa.py_buffer(rec.tobytes())],
                                 null_count=null_count)


def interval_fields(v: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(months, days, nanoseconds, null mask) of an INTERVAL array."""
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    rec = np.frombuffer(v.buffers()[1], dtype=[("months", "<i4"), ("days", "<i4"),
                                               ("nanos", "<i8")])[v.offset:v.offset + len(v)]
    mask = pc.is_null(v).to_numpy(zero_copy_only=False)
    return (rec["months"].astype(np.int64), rec["days"].astype(np.int64),
            rec["nanos"].astype(np.int64), mask)


ALIASES["datediff"] = "date_diff"
ALIASES["datesub"] = "date_sub"
ALIASES["dateadd"] = "date_add"


def _interval_of_type(args):
    _numeric_result(args[:1])
    return T.INTERVAL


@register("interval_of", 2, 2, _interval_of_type, constant=(1,))
def _interval_of(x, unit, dtype=None):
    """INTERVAL (x) unit for a non-constant x, as DuckDB's to_days(CAST(trunc(x) AS INTEGER))
    etc.: the number truncated for units down to minutes, kept for seconds and below."""
    from engine.plan.intervals import unit_of
    field, factor = unit_of(scalar_py(unit, "The interval unit"))
    arr = x if not is_scalar(x) else pa.array([x.as_py()], x.type)
    v, mask = _to_numpy(arr.cast(pa.float64()), 0.0)
    if field != "us" or factor >= 60_000_000:
        v = np.trunc(v)
    n = len(v)
    raw = np.zeros(n, dtype=[("m", "<i4"), ("d", "<i4"), ("ns", "<i8")])
    if field == "months":
        raw["m"] = (v * factor).astype(np.int64)
    elif field == "days":
        raw["d"] = (v * factor).astype(np.int64)
    else:
        raw["ns"] = np.round(v * factor).astype(np.int64) * 1000
    validity = None if mask is None else pa.array(~mask).buffers()[1]
    out = pa.Array.from_buffers(T.INTERVAL, n, [validity, pa.py_buffer(raw.tobytes())],
                                null_count=-1 if mask is not None else 0)
    return out[0] if is_scalar(x) else out
