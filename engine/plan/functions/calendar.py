"""Proleptic Gregorian calendar arithmetic on numpy int64 arrays: days since 1970-01-01 to and
from (year, month, day), after Howard Hinnant's civil_from_days / days_from_civil.

numpy's datetime64 unit conversions ([D] to [Y] or [M]) cost about 100 ns a value; these integer
formulas are an order of magnitude cheaper, and exact for every year.
"""
from __future__ import annotations

import numpy as np


def civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month 1-12, day 1-31) of days since the epoch."""
    z = days.astype(np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since the epoch of (year, month 1-12, day); days past a month's end run on."""
    y = np.asarray(y, np.int64) - (np.asarray(m) <= 2)
    m = np.asarray(m, np.int64)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5 + np.asarray(d, np.int64) - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def month_start(months: np.ndarray) -> np.ndarray:
    """Days since the epoch of the first day of month ``months`` (months since 1970-01)."""
    months = np.asarray(months, np.int64)
    return days_from_civil(1970 + np.floor_divide(months, 12), np.mod(months, 12) + 1, 1)


def month_days(months: np.ndarray) -> np.ndarray:
    """The number of days of month ``months`` (months since 1970-01)."""
    return month_start(np.asarray(months, np.int64) + 1) - month_start(months)
