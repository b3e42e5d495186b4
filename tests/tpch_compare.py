"""Comparing a Dawn result with DuckDB's: floats to 1e-6 relative, Decimal as float, integers
exactly (an integer beyond 2^53 answered as a double is a difference: precision was lost), lists
and structs element by element, order checked only where the query's ORDER BY defines it. Text
that embeds a computed double (``concat(..., stddev(x))``) may differ in the last digit of that
number, since the double itself may differ in its last bit: such numbers are compared as floats,
the rest of the text exactly."""
from __future__ import annotations

import datetime as _dt
import decimal
import math
import re


_EXACT = 2**53  # integers up to this are exact as doubles


def _norm(v):
    if isinstance(v, decimal.Decimal):
        if v.is_finite() and v == v.to_integral_value() and abs(v) > _EXACT:
            return int(v)  # a HUGEINT or a wide DECIMAL: compared exactly
        return float(v)
    if isinstance(v, _dt.datetime) and v.time() == _dt.time(0):
        return v
    if isinstance(v, _dt.date) and not isinstance(v, _dt.datetime):
        return _dt.datetime.combine(v, _dt.time(0))
    return v


_FLOAT_TEXT = re.compile(r"-?\d+\.\d+(?:e[+-]?\d+)?")


def _same_text(a: str, b: str) -> bool:
    """Equal, or equal but for doubles printed inside (each with a decimal point, to 1e-12)."""
    if a == b:
        return True
    pa_, pb = _FLOAT_TEXT.split(a), _FLOAT_TEXT.split(b)
    if pa_ != pb:
        return False
    return all(math.isclose(float(x), float(y), rel_tol=1e-12)
               for x, y in zip(_FLOAT_TEXT.findall(a), _FLOAT_TEXT.findall(b)))


def values_equal(a, b) -> bool:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool):
            return a == b
        big = [x for x in (a, b) if isinstance(x, int) and abs(x) > _EXACT]
        if big:
            return False
        try:
            fa, fb = float(a), float(b)
        except (TypeError, ValueError):
            return False
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return math.isclose(fa, fb, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, str) and isinstance(b, str):
        return _same_text(a, b)
    return a == b


def _key(row):
    """Sort key of a row: numbers by value whatever their Python type (one engine may give an
    INTEGER where the other gives a DOUBLE), everything else by its text. Numbers count first
    rounded (so last-bit differences between the engines do not reorder rows), then exactly (so
    rows whose values round alike, -16.24291 and -16.24286, still pair up in order; integers as
    themselves, since 2^53 and 2^53 + 1 are one double)."""
    coarse, exact = [], []
    for v in row:
        v = _norm(v)
        if v is None:
            coarse.append((True, 0, 0))
            exact.append(0.0)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            f = float(v)
            coarse.append((False, 0, round(f, 4) if f == f else math.inf))
            exact.append(v if isinstance(v, int) else f if f == f else math.inf)
        else:
            coarse.append((False, 1, repr(v)))
            exact.append(0.0)
    return tuple(coarse) + tuple(exact)


def compare_results(got: list[tuple], expected: list[tuple], ordered: bool) -> str | None:
    """None when equal, else a short description of the first difference."""
    if len(got) != len(expected):
        return f"{len(got)} rows, expected {len(expected)}"
    g = got if ordered else sorted(got, key=_key)
    e = expected if ordered else sorted(expected, key=_key)
    for i, (r1, r2) in enumerate(zip(g, e)):
        if len(r1) != len(r2) or not all(values_equal(x, y) for x, y in zip(r1, r2)):
            return f"row {i}: got {r1!r}, expected {r2!r}"
    return None
