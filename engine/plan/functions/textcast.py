"""Text conversions as DuckDB does them: values to VARCHAR, and VARCHAR to numbers, dates,
timestamps and booleans, vectorized.

To text: DOUBLE and FLOAT print their shortest round-trip digits (Arrow's own digits), laid out as
DuckDB (and Python's ``repr``) lay them out: plain notation while the decimal exponent lies in
[-5, 15] (``1000000000000000.0``, ``0.0001``), exponent notation outside it (``1e+16``,
``1e-05``), always a ``.0`` on integral values, ``-0.0``, ``inf``, ``-nan``. The layout is
computed on a character matrix with numpy, never per value. TIMESTAMP drops trailing zeros of the
fraction (``10:11:12.5``).

From text (CAST and TRY_CAST): spaces around numbers and dates are ignored (tabs and newlines are
not, as in DuckDB); integers accept a sign, ``_`` between digits, a fraction or an exponent (the
value is rounded half away from zero: '2.5' is 3), ``0x``/``0b`` prefixes; DOUBLE accepts
inf/infinity/nan; DATE is ``y-m-d`` or ``y/m/d`` with one- or two-digit month and day, optionally
followed by a time (ignored) and a zone; TIMESTAMP is a date and an optional
``h:m[:s[.fraction]]`` after a space or ``T`` plus an optional zone, which DuckDB ignores for a
TIMESTAMP; BOOLEAN is true/t/yes/y/1 or false/f/no/n in any case, nothing else. Every form is
validated with a regular expression, then converted by Arrow casts and numpy arithmetic.

The one approximation: an integer written with an exponent and more than 15 significant digits
('123456789012345678e1') is rounded through DOUBLE.
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, NotSupportedError
from engine.plan import types as T
from engine.plan.functions.calendar import civil
from engine.plan.functions.calendar import month_days, month_start

Value = Any

# ---------------------------------------------------------------- helpers


def _array(v: Value) -> tuple[pa.Array, bool]:
    """``v`` as one Arrow array, and whether it was a scalar."""
    if isinstance(v, pa.Scalar):
        try:
            return pa.array([v.as_py()], v.type), True
        except (OverflowError, ValueError):  # a date past Python's year 9999
            return pa.repeat(v, 1), True
    if isinstance(v, pa.ChunkedArray):
        return (v.combine_chunks() if v.num_chunks != 1 else v.chunk(0)), False
    return v, False


def _back(a: pa.Array, scalar: bool) -> Value:
    return a[0] if scalar else a


def _char_matrix(s: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array as an (n, width) uint8 matrix (zero padded) and the strings' lengths."""
    if not pa.types.is_string(s.type):
        s = s.cast(pa.string())
    n = len(s)
    bufs = s.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[s.offset:s.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    lengths = offsets[1:] - offsets[:-1]
    width = int(lengths.max()) if n else 0
    if width == 0 or len(data) == 0:
        return np.zeros((n, max(width, 1)), np.uint8), lengths
    cols = np.arange(width)
    idx = np.minimum(offsets[:-1, None] + cols[None, :], len(data) - 1)
    mat = np.where(cols[None, :] < lengths[:, None], data[idx], 0).astype(np.uint8)
    return mat, lengths


def _from_matrix(mat: np.ndarray, lengths: np.ndarray, valid: pa.Array | None) -> pa.Array:
    """The inverse of ``_char_matrix``: row i is ``mat[i, :lengths[i]]``."""
    n = len(lengths)
    keep = np.arange(mat.shape[1])[None, :] < lengths[:, None]
    data = np.ascontiguousarray(mat[keep])
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] < 2 ** 31:
        out = pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)),
                                          pa.py_buffer(data))
    else:
        out = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
        out = out.cast(pa.string())
    if valid is not None:
        out = pc.if_else(valid, out, pa.scalar(None, pa.string()))
    return out


# ---------------------------------------------------------------- numbers to text

_ZERO = ord("0")


def float_to_text(v: Value) -> Value:
    """DOUBLE/FLOAT -> VARCHAR exactly as DuckDB writes it (see the module docstring); a FLOAT
    on which DuckDB's formatter falls back is written with its DOUBLE's digits (float32text)."""
    a, scalar = _array(v)
    out = _float_digits_to_text(a)
    if pa.types.is_float32(a.type) and len(a):
        from engine.plan.functions.float32text import grisu_gives_up
        x = pc.fill_null(a, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        rows = np.flatnonzero(np.isfinite(x) & (x != 0))
        gave_up = rows[grisu_gives_up(np.abs(x[rows]))]
        if len(gave_up):
            mask = np.zeros(len(a), bool)
            mask[gave_up] = True
            hit = pa.array(mask)
            wide = _float_digits_to_text(a.filter(hit).cast(pa.float64()))
            out = pc.replace_with_mask(out, hit, wide)
    return _back(out, scalar)


def _float_digits_to_text(v: Value) -> Value:
    """Arrow's shortest digits of each value, in DuckDB's layout.

    Arrow writes the same shortest digits in a layout of its own: plain notation for decimal
    exponents -6..9, exponent notation outside, no '.0', one-digit exponents. A few regular
    expressions, run by Arrow over the whole column, move those to DuckDB's layout."""
    a, scalar = _array(v)
    s = pc.cast(a, pa.string())
    if len(s) == 0:
        return _back(s, scalar)
    # classify the strings by their first and last bytes (numpy over Arrow's buffers)
    data, offsets = _buffers(s)
    lengths = offsets[1:] - offsets[:-1]
    padded = np.concatenate([np.zeros(8, np.uint8), data, np.zeros(8, np.uint8)])

    def tail(k: int) -> np.ndarray:  # the k-th byte from the end (0 where shorter)
        return np.where(lengths >= k, padded[offsets[1:] + 8 - k], 0)

    def head(k: np.ndarray | int) -> np.ndarray:
        return np.where(lengths > k, padded[offsets[:-1] + 8 + k], 0)

    t1, t2, t3, t4 = tail(1), tail(2), tail(3), tail(4)
    # exponents 10..15 are written plainly (Arrow: 1.5e+15)
    big = (t4 == ord("e")) & (t3 == ord("+")) & (t2 == ord("1")) & (t1 >= ord("0")) & (t1 <= ord("5"))
    # exponents -5 and -6 are written with an exponent (Arrow: 0.000015)
    sign = (head(0) == ord("-")).astype(np.int64)
    small = (head(sign) == _ZERO) & (head(sign + 1) == ord("."))
    for k in range(2, 6):
        small &= head(sign + k) == _ZERO
    # one-digit exponents get a leading zero (Arrow: 1e-7)
    short_exp = (t3 == ord("e")) & ((t2 == ord("+")) | (t2 == ord("-")))
    # integral values get '.0' (not inf, nan or exponent forms)
    marks = np.zeros(len(lengths), dtype=bool)
    used = data[offsets[0]:offsets[-1]]
    for ch in ".en":
        hits = np.flatnonzero(used == ord(ch)) + offsets[0]
        marks[np.searchsorted(offsets, hits, side="right") - 1] = True
    plain_int = ~marks & pc.is_valid(s).to_numpy(zero_copy_only=False)
    s = _on_rows(s, big, _plain_big)
    s = _on_rows(s, small, _sci_small)
    s = _on_rows(s, short_exp, lambda x: pc.replace_substring_regex(x, r"e([+-])(\d)$", r"e\10\2"))
    s = _on_rows(s, plain_int, lambda x: pc.binary_join_element_wise(x, ".0", ""))
    if a.null_count != len(a):
        vals = a.to_numpy(zero_copy_only=False)
        neg_nan = np.isnan(vals) & np.signbit(vals)
        if neg_nan.any():  # DuckDB keeps the sign of a NaN
            s = pc.if_else(pa.array(neg_nan), pa.scalar("-nan"), s)
    return _back(s, scalar)


def _buffers(s: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's bytes and its n + 1 offsets into them (int64)."""
    bufs = s.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[s.offset:s.offset + len(s) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def _on_rows(s: pa.Array, rows: np.ndarray, fn) -> pa.Array:
    """``fn`` applied to the strings of ``rows`` only (they are few)."""
    if not rows.any():
        return s
    hit = pa.array(rows)
    return pc.replace_with_mask(s, hit, fn(s.filter(hit)).cast(pa.string()))


def _plain_big(s: pa.Array) -> pa.Array:
    """1.5e+15 -> 1500000000000000.0"""
    s = pc.replace_substring_regex(s, r"^(-?)(\d)(?:\.(\d*))?e\+(1[0-5])$",
                                   r"\1\2\3" + "0" * 16 + r"e\4")
    for e in range(10, 16):
        s = pc.replace_substring_regex(s, rf"^(-?\d{{{e + 1}}})(\d*)e{e}$", r"\1.\2")
    s = pc.replace_substring_regex(s, r"^(-?\d+\.\d*?)0+$", r"\1")
    return pc.replace_substring_regex(s, r"\.$", ".0")


def _sci_small(s: pa.Array) -> pa.Array:
    """0.000015 -> 1.5e-05 (the exponent's digits are Python's: at least two)"""
    for zeros, e in ((4, "05"), (5, "06")):
        s = pc.replace_substring_regex(s, rf"^(-?)0\.0{{{zeros}}}([1-9])(\d*)$",
                                       rf"\1\2.\3e-{e}")
    return pc.replace_substring_regex(s, r"\.e", "e")


# days since 1970-01-01 of 0001-01-01 and of 9999-12-31: Arrow writes the dates between as DuckDB
_DAY_MIN, _DAY_MAX = -719_162, 2_932_896
_US_PER_DAY = 86_400_000_000


def _days_to_text(days: np.ndarray) -> pa.Array:
    """Days since 1970-01-01 as DuckDB writes the date, for any year: '10000-01-01', and years
    before 1 as '0044-03-15 (BC)' (Arrow writes '<value out of range>' past 9999, '-0043' BC)."""
    year, month, day = civil(days)
    bc = year <= 0

    def digits(x: np.ndarray, width: int) -> pa.Array:
        return pc.utf8_lpad(pc.cast(pa.array(x), pa.string()), width, "0")

    text = pc.binary_join_element_wise(digits(np.where(bc, 1 - year, year), 4), digits(month, 2),
                                       digits(day, 2), "-")
    return pc.if_else(pa.array(bc), pc.binary_join_element_wise(text, " (BC)", ""), text)


def date_to_text(v: Value) -> Value:
    """DATE -> VARCHAR as DuckDB writes it, for the whole of DuckDB's date range."""
    a, scalar = _array(v)
    days, mask = _int_values(a.cast(pa.int32()))
    if not len(days) or (days.min() >= _DAY_MIN and days.max() <= _DAY_MAX):
        return _back(pc.cast(a, pa.string()), scalar)
    s = _days_to_text(days)
    if mask is not None:
        s = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), s)
    return _back(s, scalar)


def _int_values(a: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    mask = a.is_null().to_numpy(zero_copy_only=False) if a.null_count else None
    return pc.fill_null(a, 0).to_numpy(zero_copy_only=False), mask


def _timestamp_wide(a: pa.Array) -> pa.Array:
    """Microsecond timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' in any year, BC ones with the
    date's '(BC)' before the time (as DuckDB writes them)."""
    us, mask = _int_values(a.cast(pa.int64()))
    days = np.floor_divide(us, _US_PER_DAY)
    tod = pc.cast(pa.array(us - days * _US_PER_DAY).cast(pa.time64("us")), pa.string())
    s = pc.binary_join_element_wise(_days_to_text(days), tod, " ")
    if mask is not None:
        s = pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), s)
    return s


def timestamp_to_text(v: Value) -> Value:
    """TIMESTAMP -> VARCHAR as DuckDB writes it: no trailing zeros in the fraction, and a
    time zone's offset (+00) on TIMESTAMPTZ."""
    a, scalar = _array(v)
    tz = getattr(a.type, "tz", None)
    if a.type.unit != "us":
        a = pc.cast(a, pa.timestamp("us", tz=tz))
    lo, hi = pc.min_max(a.cast(pa.int64())).values()
    if lo.is_valid and (lo.as_py() < _DAY_MIN * _US_PER_DAY or hi.as_py() >= (_DAY_MAX + 1) * _US_PER_DAY):
        s = _timestamp_wide(a)
    else:
        s = pc.cast(a, pa.string())
    if tz:
        s = pc.replace_substring_regex(s, r"Z$", "")
    s = pc.replace_substring_regex(s, r"(\.\d*[1-9])0+$", r"\1")
    s = pc.replace_substring_regex(s, r"\.0+$", "")
    if tz:
        s = pc.binary_join_element_wise(s, "+00", "")
    return _back(s, scalar)


def to_text(v: Value) -> Value:
    """Any value as DuckDB's VARCHAR spelling of it (the implicit conversion of concat and ||
    and CAST(x AS VARCHAR))."""
    t = v.type
    if T.is_string(t):
        return v if pa.types.is_string(t) else pc.cast(v, pa.string())
    if pa.types.is_floating(t):
        return float_to_text(v)
    if pa.types.is_timestamp(t):
        return timestamp_to_text(v)
    if pa.types.is_date(t):
        return date_to_text(v)
    if pa.types.is_null(t):
        return pa.scalar(None, pa.string()) if isinstance(v, pa.Scalar) else pa.nulls(len(v), pa.string())
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t):
        from engine.plan.functions.nested_text import nested_to_text
        return nested_to_text(v)
    if pa.types.is_interval(t):
        return interval_to_text(v)
    if pa.types.is_decimal(t) and t.scale == 0:  # HUGEINT
        return pc.cast(v, pa.string())
    return pc.cast(v, pa.string())


def interval_to_text(v: Value) -> Value:
    """INTERVAL -> VARCHAR as DuckDB writes it: '1 year 2 months 3 days 04:05:06.5'."""
    from engine.plan.functions.dates import interval_fields
    a, scalar = _array(v)
    months, days, nanos, mask = interval_fields(a)
    micros = nanos // 1000
    years = np.sign(months) * (np.abs(months) // 12)  # toward zero, as C's division
    rem = months - years * 12
    null = pa.scalar(None, pa.string())

    def unit(n: np.ndarray, word: str) -> pa.Array:
        text = pc.binary_join_element_wise(pa.array(n).cast(pa.string()),
                                           pa.array(np.where(np.abs(n) == 1, word, word + "s")), " ")
        return pc.if_else(pa.array(n != 0), text, null)

    neg = micros < 0
    us = np.abs(micros)
    hh, mm, ss, frac = us // 3_600_000_000, us // 60_000_000 % 60, us // 1_000_000 % 60, us % 1_000_000

    def two(x: np.ndarray) -> pa.Array:
        return pc.utf8_lpad(pa.array(x).cast(pa.string()), 2, "0")

    clock = pc.binary_join_element_wise(two(hh), two(mm), two(ss), ":")
    fr = pc.replace_substring_regex(pc.utf8_lpad(pa.array(frac).cast(pa.string()), 6, "0"), "0+$", "")
    clock = pc.if_else(pa.array(frac != 0), pc.binary_join_element_wise(clock, fr, "."), clock)
    clock = pc.if_else(pa.array(neg), pc.binary_join_element_wise("-", clock, ""), clock)
    empty = (months == 0) & (days == 0)
    clock = pc.if_else(pa.array((micros != 0) | empty), clock, null)
    out = pc.binary_join_element_wise(unit(years, "year"), unit(rem, "month"), unit(days, "day"),
                                      clock, " ", null_handling="skip")
    if mask.any():
        out = pc.if_else(pa.array(mask), null, out)
    return _back(out, scalar)


# ---------------------------------------------------------------- text to numbers

_SPACES = " \t\n\r\v\f"
_DEC = r"(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)"
_INT_PLAIN = r"^[+-]?" + _DEC + r"$"
_INT_EXP = r"^[+-]?" + _DEC + r"[eE][+-]?\d+$"
_HEX = r"^0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*$"
_BIN = r"^0[bB][01](?:_?[01])*$"
_FLOAT = r"^\+?[+-]?(?:" + _DEC + r"(?:[eE][+-]?\d+)?|(?i:inf|infinity|nan))$"

_INT_RANGE = {pa.int8(): (-2 ** 7, 2 ** 7 - 1), pa.int16(): (-2 ** 15, 2 ** 15 - 1),
              pa.int32(): (-2 ** 31, 2 ** 31 - 1), pa.int64(): (-2 ** 63, 2 ** 63 - 1),
              pa.uint8(): (0, 2 ** 8 - 1), pa.uint16(): (0, 2 ** 16 - 1),
              pa.uint32(): (0, 2 ** 32 - 1), pa.uint64(): (0, 2 ** 64 - 1),
              T.HUGEINT: (-(10 ** 38 - 1), 10 ** 38 - 1)}


def _match(s: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(s, pattern), False).to_numpy(zero_copy_only=False)


def _fail(s: pa.Array, bad: np.ndarray, t: pa.DataType, safe: bool) -> None:
    if not safe and bad.any():
        first = s[int(np.argmax(bad))].as_py()
        raise DataError(f"Cannot cast '{first}' to {T.sql_name(t)}: not a valid "
                        f"{T.sql_name(t)} (DuckDB: Could not convert string)")


def _text_to_int(s: pa.Array, t: pa.DataType, safe: bool) -> pa.Array:
    n = len(s)
    lo, hi = _INT_RANGE[t]
    # DuckDB reads ' 0x1F' but not '0x1F ': spaces may lead a hexadecimal or binary text only
    lead = pc.utf8_ltrim(s, _SPACES)
    hexa = _match(lead, _HEX)
    bina = _match(lead, _BIN)
    s = pc.utf8_trim(s, _SPACES)
    plain = _match(s, _INT_PLAIN)
    expo = _match(s, _INT_EXP)
    result = pa.nulls(n, t)
    ok = np.zeros(n, dtype=bool)
    if plain.any():
        clean = pc.replace_substring(s, "_", "")
        parts = pc.extract_regex(pc.if_else(pa.array(plain), clean, pa.scalar("0")),
                                 r"^(?P<sign>[+-]?)0*(?P<int>\d*)(?:\.(?P<frac>\d?)\d*)?$")
        sign = pc.struct_field(parts, [0])
        ints = pc.struct_field(parts, [1])
        frac = pc.struct_field(parts, [2])
        ilen = pc.utf8_length(ints).to_numpy(zero_copy_only=False)
        up = pc.fill_null(pc.greater_equal(frac, "5"), False).to_numpy(zero_copy_only=False)
        # rounding up adds a digit of precision: those values must fit in 37 digits
        fits = plain & ((ilen <= 37) | ((ilen == 38) & ~up))
        ints = pc.if_else(pc.equal(ints, ""), pa.scalar("0"), ints)
        ints = pc.if_else(pa.array(fits), ints, pa.scalar("0"))
        mag = pc.cast(ints, pa.decimal128(38, 0))
        if up.any():
            small = pc.cast(pc.if_else(pa.array(up), ints, pa.scalar("0")), pa.decimal128(37, 0))
            bumped = pc.add(small, pa.scalar(1, pa.decimal128(37, 0)))
            mag = pc.if_else(pa.array(up), bumped, mag)
        negative = pc.equal(sign, "-")
        val = pc.if_else(negative, pc.negate(mag), mag)
        in_range = pc.and_(pc.greater_equal(val, pa.scalar(lo, pa.decimal128(38, 0))),
                           pc.less_equal(val, pa.scalar(hi, pa.decimal128(38, 0))))
        good = fits & pc.fill_null(in_range, False).to_numpy(zero_copy_only=False)
        safe_val = pc.if_else(pa.array(good), val, pa.scalar(0, pa.decimal128(38, 0)))
        cast = pc.cast(safe_val, t)
        result = pc.if_else(pa.array(good), cast, result)
        ok |= good
    if expo.any():
        clean = pc.replace_substring(s, "_", "")
        f = pc.cast(pc.if_else(pa.array(expo), clean, pa.scalar("0")), pa.float64())
        f = pc.round(f, 0, round_mode="half_towards_infinity")
        in_range = pc.and_(pc.greater_equal(f, float(lo)), pc.less_equal(f, float(hi)))
        good = expo & pc.fill_null(in_range, False).to_numpy(zero_copy_only=False)
        if t in (pa.int64(), pa.uint64()):
            # 2**63 is a double, but not an int64: the float bound check above admits it
            good &= np.abs(f.to_numpy(zero_copy_only=False)) < 2.0 ** 63 if t == pa.int64() \
                else f.to_numpy(zero_copy_only=False) < 2.0 ** 64
        safe_f = pc.if_else(pa.array(good), f, 0.0)
        cast = pc.cast(pc.cast(safe_f, pa.int64() if t != T.HUGEINT else pa.float64()), t) \
            if t != pa.uint64() else pc.cast(safe_f, pa.uint64())
        result = pc.if_else(pa.array(good), cast, result)
        ok |= good
    for mask, base, prefix in ((hexa, 16, 2), (bina, 2, 2)):
        if mask.any():
            vals, good = _radix(s, mask, base, prefix)
            good &= (vals <= hi)
            arr = pa.array(np.where(good, vals, 0).astype(np.uint64), pa.uint64())
            result = pc.if_else(pa.array(good), pc.cast(arr, t, safe=False), result)
            ok |= good
    valid = pc.is_valid(s).to_numpy(zero_copy_only=False)
    _fail(s, valid & ~ok, t, safe)
    return result


def _radix(s: pa.Array, mask: np.ndarray, base: int, skip: int) -> tuple[np.ndarray, np.ndarray]:
    """Unsigned integers written in base 16 or 2 after a two-character prefix (0x, 0b)."""
    body = pc.replace_substring(pc.utf8_slice_codeunits(s, skip), "_", "")
    body = pc.if_else(pa.array(mask), body, pa.scalar(""))
    mat, lengths = _char_matrix(body)
    c = mat.astype(np.int64)
    digit = np.where(c >= ord("a"), c - ord("a") + 10,
                     np.where(c >= ord("A"), c - ord("A") + 10, c - _ZERO))
    bits = 4 if base == 16 else 1
    good = mask & (lengths * bits <= 64)
    vals = np.zeros(len(lengths), dtype=np.uint64)
    for k in range(mat.shape[1]):
        live = good & (k < lengths)
        vals = np.where(live, (vals << np.uint64(bits)) | digit[:, k].astype(np.uint64), vals)
    return vals, good


def _text_to_float(s: pa.Array, t: pa.DataType, safe: bool) -> pa.Array:
    s = pc.utf8_trim(s, _SPACES)
    good = _match(s, _FLOAT)
    clean = pc.replace_substring(pc.if_else(pa.array(good), s, pa.scalar("0")), "_", "")
    clean = pc.replace_substring_regex(clean, r"^\+([+-])", r"\1")  # DuckDB reads '+-5' as -5
    out = pc.cast(clean, t)
    valid = pc.is_valid(s).to_numpy(zero_copy_only=False)
    _fail(s, valid & ~good, t, safe)
    return pc.if_else(pa.array(good), out, pa.scalar(None, t))


def _text_to_bool(s: pa.Array, safe: bool) -> pa.Array:
    low = pc.utf8_lower(s)
    is_t = pc.is_in(low, value_set=pa.array(["true", "t", "yes", "y", "1"]))
    is_f = pc.is_in(low, value_set=pa.array(["false", "f", "no", "n", "0"]))
    valid = pc.is_valid(s).to_numpy(zero_copy_only=False)
    bad = valid & ~(is_t.to_numpy(zero_copy_only=False) | is_f.to_numpy(zero_copy_only=False))
    _fail(s, bad, pa.bool_(), safe)
    return pc.if_else(is_t, True, pc.if_else(is_f, False, pa.scalar(None, pa.bool_())))


# ---------------------------------------------------------------- text to dates and timestamps

_ZONE = r"(?: *(?:[Zz]|(?i:utc|gmt)|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?))?"
_TIME = r"(?P<H>\d{1,9}):(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:\.(?P<F>\d*))?)?"
_DATE_RE = (r"^(?P<y>\d{1,9})(?P<sep>[-/])(?P<m>\d{1,2})[-/](?P<d>\d{1,2})"
            r"(?:(?:T| +)" + _TIME + _ZONE + r")?$")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def _parse_datetime(s: pa.Array, t: pa.DataType, safe: bool, with_time: bool) -> pa.Array:
    raw = s
    s = pc.utf8_trim(s, _SPACES)
    low = pc.utf8_lower(s)
    infinite = pc.fill_null(pc.is_in(low, value_set=pa.array(
        ["infinity", "-infinity", "+infinity", "inf", "-inf", "+inf"])), False)
    if pc.any(infinite).as_py():
        raise NotSupportedError(f"Infinite {T.sql_name(t)} values are not supported")
    epoch = pc.fill_null(pc.equal(low, "epoch"), False).to_numpy(zero_copy_only=False)
    # the separators must agree: 2020-01/05 is not a date
    shaped = _match(s, _DATE_RE) & ~_match(s, r"^\d+(?:-\d+/|/\d+-)")
    parts = pc.extract_regex(pc.if_else(pa.array(shaped), s, pa.scalar("1-1-1")), _DATE_RE)

    def num(i: int, default: int) -> np.ndarray:
        f = pc.struct_field(parts, [i])
        f = pc.if_else(pc.fill_null(pc.equal(f, ""), True), pa.scalar(str(default)), f)
        return pc.cast(f, pa.int64()).to_numpy(zero_copy_only=False)

    y, m, d = num(0, 1970), num(2, 1), num(3, 1)
    hh, mi, ss = num(4, 0), num(5, 0), num(6, 0)
    frac = pc.struct_field(parts, [7])
    frac = pc.utf8_rpad(pc.utf8_slice_codeunits(pc.fill_null(frac, ""), 0, 6), 6, "0")
    us = pc.cast(frac, pa.int64()).to_numpy(zero_copy_only=False)
    if (shaped & (y < 1)).any():
        raise NotSupportedError(f"{T.sql_name(t)} values before the year 1 are not supported")
    ok_md = (m >= 1) & (m <= 12) & (d >= 1)
    mm = np.clip(m, 1, 12)
    months = (np.clip(y, 1, 200000) - 1970) * 12 + (mm - 1)
    first = month_start(months)
    nxt = first + month_days(months)
    ok_md &= d <= (nxt - first)
    midnight24 = (hh == 24) & (mi == 0) & (ss == 0) & (us == 0)
    ok_t = ((hh < 24) | midnight24) & (mi < 60) & (ss < 60)
    good = (shaped & ok_md & ok_t) | epoch
    if with_time:
        # DuckDB quirk: a TIMESTAMP written as a bare date must not end in white space
        bare = pc.equal(pc.struct_field(parts, [4]), "").to_numpy(zero_copy_only=False)
        trailing = _match(raw, r"\s$")
        good &= ~(shaped & bare & trailing)
    days = np.where(epoch, 0, first + d - 1)
    valid = pc.is_valid(s).to_numpy(zero_copy_only=False)
    _fail(s, valid & ~good, t, safe)
    if not with_time:
        out = pa.array(np.where(good, days, 0).astype(np.int32), pa.int32(), mask=~good)
        return out.cast(pa.date32())
    micros = days * 86_400_000_000 + np.where(epoch, 0, ((hh * 60 + mi) * 60 + ss) * 1_000_000 + us)
    out = pa.array(np.where(good, micros, 0), pa.int64(), mask=~good)
    return out.cast(pa.timestamp("us")).cast(t)


def from_text(v: Value, t: pa.DataType, safe: bool) -> Value | None:
    """VARCHAR -> ``t`` under DuckDB's rules, or None where Dawn has no text rule for ``t`` (the
    caller falls back to Arrow's cast). Bad values raise DataError, or are NULL when ``safe``."""
    if isinstance(v, pa.Scalar) and pa.types.is_date(t) and isinstance(v.as_py(), str):
        # a literal DATE 'YYYY-MM-DD' (TPC-H's): one value, so Python's parser; the array path
        # below costs ~2 ms of kernel calls for it, a third of planning a simple query
        text = v.as_py()
        if _ISO_DATE.match(text):
            try:
                return pa.scalar(_dt.date.fromisoformat(text), t)
            except ValueError:        # 1994-02-30: the general path says what is wrong
                pass
    a, scalar = _array(v)
    if not pa.types.is_string(a.type):
        a = a.cast(pa.string())
    if t in _INT_RANGE:
        out = _text_to_int(a, t, safe)
    elif pa.types.is_floating(t):
        out = _text_to_float(a, t, safe)
    elif pa.types.is_boolean(t):
        out = _text_to_bool(a, safe)
    elif pa.types.is_date(t):
        out = _parse_datetime(a, t, safe, False)
    elif pa.types.is_timestamp(t) and t.tz is None:
        out = _parse_datetime(a, t, safe, True)
    else:
        return None
    return _back(out, scalar)
