"""Interval literals as DuckDB reads them: units and their spellings, and the text of
``INTERVAL '1 year 2 months 04:05:06'`` / ``INTERVAL '90' DAY`` as (months, days, nanoseconds)."""
from __future__ import annotations

from engine.errors import ProgrammingError

_INTERVAL_UNITS: dict[str, tuple[str, float]] = {}
for _names, _field, _factor in (
        (("year", "years", "y", "yr", "yrs"), "months", 12), (("quarter", "quarters"), "months", 3),
        (("month", "months", "mon", "mons"), "months", 1), (("week", "weeks", "w"), "days", 7),
        (("day", "days", "d"), "days", 1), (("hour", "hours", "h", "hr", "hrs"), "us", 3_600_000_000),
        (("minute", "minutes", "min", "mins", "m"), "us", 60_000_000),
        (("second", "seconds", "s", "sec", "secs"), "us", 1_000_000),
        (("millisecond", "milliseconds", "ms", "msec", "msecs"), "us", 1000),
        (("microsecond", "microseconds", "us", "usec", "usecs"), "us", 1)):
    for _n in _names:
        _INTERVAL_UNITS[_n] = (_field, _factor)


def parse_interval(text: str, unit: str | None) -> tuple[int, int, int]:
    """An interval as (months, days, nanoseconds), as DuckDB reads it.

    ``INTERVAL '90' DAY`` (a number and a unit) truncates the number for units down to minutes,
    as DuckDB's to_days(CAST(trunc(x) AS INTEGER)) does; ``INTERVAL '1.5 days'`` (a string of
    number-unit pairs and clock times like 04:05:06) carries fractions down: 1.7 months is 1 month
    21 days (30-day months), 1.5 days is 1 day 12 hours."""
    months = days = 0
    us = 0.0
    if unit:
        field, factor = unit_of(unit)
        n = float(str(text).strip())
        if field != "us" or factor >= 60_000_000:
            n = float(int(n))
        if field == "months":
            months += int(n * factor)
        elif field == "days":
            days += int(n * factor)
        else:
            us += n * factor
        return months, days, int(round(us)) * 1000
    parts = text.strip().split()
    i = 0
    while i < len(parts):
        tok = parts[i]
        if ":" in tok:  # [-]HH:MM[:SS[.fff]]
            neg = tok.startswith("-")
            hms = [float(x) for x in tok.lstrip("+-").split(":")]
            t = hms[0] * 3600 + hms[1] * 60 + (hms[2] if len(hms) > 2 else 0.0)
            us += -t * 1e6 if neg else t * 1e6
            i += 1
            continue
        if i + 1 >= len(parts):
            raise ProgrammingError(f"Cannot parse interval '{text}'")
        n, (field, factor) = float(tok), unit_of(parts[i + 1])
        i += 2
        if field == "months":
            total = n * factor
            whole = int(total)
            months += whole
            frac_days = (total - whole) * 30
        elif field == "days":
            frac_days = n * factor
        else:
            us += n * factor
            continue
        whole_days = int(frac_days)
        days += whole_days
        us += (frac_days - whole_days) * 86_400_000_000
    return months, days, int(round(us)) * 1000


def unit_of(u: str) -> tuple[str, float]:
    hit = _INTERVAL_UNITS.get(u.strip().lower())
    if hit is None:
        raise ProgrammingError(f"Unknown interval unit '{u}'")
    return hit
