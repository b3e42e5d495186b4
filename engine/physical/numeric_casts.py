"""Casts between numeric types, and HUGEINT to and from text and BOOLEAN, with DuckDB's semantics.

Integer -> floating rounds to the nearest value (Arrow's safe cast refuses integers above 2^53);
HUGEINT -> floating goes through the decimal text, which Arrow parses correctly rounded (its direct
decimal -> double conversion is off by one unit in the last place for about 1 value in 150);
floating -> integer rounds half to even and refuses NaN, infinities and values out of range;
DOUBLE -> FLOAT refuses finite values beyond FLOAT's range; integer -> integer checks the range.
A value that does not fit raises DataError naming it; under TRY_CAST it becomes NULL. Everything is
vectorized: a range check is a comparison over the column, not a loop.

HUGEINT is Arrow's decimal128(38, 0) (engine/plan/types.py), so it holds 38 decimal digits, a
little less than DuckDB's 128-bit range.
"""
from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
from engine.plan import types as T

Value = Any  # pa.Array | pa.ChunkedArray | pa.Scalar

# text a number is read from: digits with an optional fraction and exponent (DuckDB also reads
# '.5', '5.' and '+5')
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_GROUPED = r"^[+-]?[0-9](_?[0-9])*(\.([0-9](_?[0-9])*)?)?([eE][+-]?[0-9]+)?$"
_RADIX = r"^0([xX][0-9a-fA-F](_?[0-9a-fA-F])*|[bB][01](_?[01])*)$"
_D39 = pa.decimal256(39, 0)
_CONTEXT = decimal.Context(prec=100, rounding=decimal.ROUND_HALF_UP, Emax=1000, Emin=-1000)


def handles(src: pa.DataType, t: pa.DataType) -> bool:
    """Is ``src -> t`` a cast this module does?"""
    num = lambda x: T.is_integer(x) or pa.types.is_floating(x)
    if num(src) and num(t):
        return True
    if T.HUGEINT not in (src, t):
        return False
    other = t if src == T.HUGEINT else src
    return pa.types.is_boolean(other) or T.is_string(other)


def numeric_cast(v: Value, t: pa.DataType, safe: bool = False, what: Any = None) -> Value:
    """``v`` as type ``t``; ``safe`` is TRY_CAST (a value that does not fit becomes NULL);
    ``what``, the cast expression (anything with ``.sql()``), is named in errors."""
    src = v.type
    if src == t:
        return v
    if isinstance(v, pa.ChunkedArray):
        return pa.chunked_array([numeric_cast(c, t, safe, what) for c in v.chunks], t)
    if pa.types.is_null(src):
        return pa.scalar(None, t) if isinstance(v, pa.Scalar) else pa.nulls(len(v), t)
    if pa.types.is_boolean(src):  # only to HUGEINT: Arrow has no BOOLEAN -> decimal cast
        return pc.cast(pc.cast(v, pa.int8()), t)
    if pa.types.is_boolean(t):
        return pc.not_equal(v, pa.scalar(0, src))
    if T.is_string(src):
        return _text_to_hugeint(v, safe, what)
    if T.is_string(t):
        return pc.cast(v, t)
    if pa.types.is_floating(t):
        return _to_floating(v, t, safe, what)
    if pa.types.is_floating(src):
        return _float_to_integer(v, t, safe, what)
    return _integer_to_integer(v, t, safe, what)


def widen(v: Value, t: pa.DataType) -> Value:
    """An operand as the type an operator computes in (a type that holds every value of it, or a
    floating type): the conversion cannot fail, only round."""
    return v if v.type == t else numeric_cast(v, t)


# ---------------------------------------------------------------- the cases

def _to_floating(v: Value, t: pa.DataType, safe: bool, what: Any) -> Value:
    src = v.type
    if src == T.HUGEINT:
        return pc.cast(pc.cast(v, pa.string()), t)
    out = pc.cast(v, t, safe=False)
    if src == pa.float64() and t == pa.float32():
        # a finite DOUBLE that rounds to infinity is out of FLOAT's range
        out = _drop_bad(out, pc.and_(pc.is_finite(v), pc.is_inf(out)), v, t, safe, what)
    return out


def _float_to_integer(v: Value, t: pa.DataType, safe: bool, what: Any) -> Value:
    x = pc.round(pc.cast(v, pa.float64()), 0, round_mode="half_to_even")
    lo, hi = T.INT_RANGE[t]
    if t == T.HUGEINT:
        # the largest double below 10^38 is 1e38 itself (99999999999999997748809823456034029568)
        bad = pc.greater(pc.abs(x), 1e38)
    else:
        bad = pc.or_(pc.less(x, float(lo)), pc.greater_equal(x, float(hi + 1)))
    bad = pc.or_(bad, pc.invert(pc.is_finite(x)))
    ok = _drop_bad(x, bad, v, t, safe, what)
    return pc.cast(ok, t)


def _integer_to_integer(v: Value, t: pa.DataType, safe: bool, what: Any) -> Value:
    src = v.type
    lo_s, hi_s = T.INT_RANGE[src]
    lo_t, hi_t = T.INT_RANGE[t]
    if lo_t <= lo_s and hi_s <= hi_t:
        return pc.cast(v, t)
    lo, hi = max(lo_t, lo_s), min(hi_t, hi_s)
    bad = pc.or_(pc.less(v, pa.scalar(lo, src)), pc.greater(v, pa.scalar(hi, src)))
    return pc.cast(_drop_bad(v, bad, v, t, safe, what), t)


def _text_to_hugeint(v: Value, safe: bool, what: Any) -> Value:
    """VARCHAR -> HUGEINT: decimal text, surrounding spaces allowed, a fraction rounded half away
    from zero as DuckDB does ('2.5' is 3). Integer digits go through Arrow's text -> decimal128
    cast; the fraction only decides the rounding, read from its first digit (Arrow's decimal
    rescaling, which would do this in one cast, is wrong for some values). Texts with an exponent
    ('1.5e1') are rare and read one distinct text at a time."""
    if isinstance(v, pa.Scalar):
        return _text_to_hugeint(pa.array([v.as_py()], pa.string()), safe, what)[0]
    s = pc.utf8_trim(v, " \t\n\r")
    # '1_000' (underscores between digits) reads as 1000, as DuckDB reads it
    s = pc.if_else(pc.fill_null(pc.match_substring_regex(s, _GROUPED), False),
                   pc.replace_substring(s, "_", ""), s)
    # DuckDB reads ' 0x1F' but not '0x1F ': spaces may lead a hexadecimal or binary text only
    radix = pc.fill_null(pc.match_substring_regex(pc.utf8_ltrim(v, " \t\n\r"), _RADIX), False)
    if pc.any(radix).as_py():  # 0x1F, 0b101: rare, read one distinct text at a time
        rows = pc.filter(s, radix)
        uniq = pc.unique(rows)
        vals = [_radix_text(x, safe, what) for x in uniq.to_pylist()]
        looked = pa.array(vals, T.HUGEINT).take(pc.index_in(s, value_set=uniq))
        rest = _text_to_hugeint(pc.if_else(radix, pa.scalar("0"), v), safe, what)
        return pc.if_else(radix, looked, rest)
    s = _drop_bad(s, pc.invert(pc.match_substring_regex(s, _NUMBER)), v, T.HUGEINT, safe, what,
                  "it is not a number")
    has_exp = pc.fill_null(pc.match_substring_regex(s, "[eE]"), False)
    parts = pc.extract_regex(pc.if_else(has_exp, pa.scalar("0"), s),
                             r"^(?P<sign>[+-]?)0*(?P<int>[0-9]*)\.?(?P<frac>[0-9]*)$")
    sign, digits, frac = (pc.struct_field(parts, k) for k in ("sign", "int", "frac"))
    too_long = pc.greater(pc.utf8_length(digits), 38)
    digits = pc.if_else(too_long, pa.scalar("0"), digits)
    value = pc.cast(pc.binary_join_element_wise(
        sign, pc.if_else(pc.equal(digits, ""), pa.scalar("0"), digits), ""), _D39)
    up = pc.cast(pc.greater_equal(pc.utf8_slice_codeunits(frac, 0, 1), "5"), pa.int8())
    step = pc.if_else(pc.equal(sign, "-"), pc.negate(up), up)
    value = pc.add(value, pc.cast(step, _D39))
    bad = pc.or_(too_long, pc.greater(pc.abs(value), pa.scalar(Decimal(10 ** 38 - 1), _D39)))
    value = _drop_bad(value, bad, v, T.HUGEINT, safe, what)
    out = pc.cast(value, T.HUGEINT)
    if pc.any(has_exp).as_py():
        rows = pc.filter(s, has_exp)
        uniq = pc.unique(rows)
        vals = [_exponent_text(x, safe, what) for x in uniq.to_pylist()]
        looked = pa.array(vals, T.HUGEINT).take(pc.index_in(s, value_set=uniq))
        out = pc.if_else(has_exp, looked, out)
    return out


def _radix_text(x: str, safe: bool, what: Any) -> int | None:
    v = int(x[2:].replace("_", ""), 16 if x[1] in "xX" else 2)
    if v <= T.INT_RANGE[T.HUGEINT][1]:
        return v
    if safe:
        return None
    raise DataError(f"Cannot cast VARCHAR '{x}' to HUGEINT{_where(what)}: the value is out of "
                    "range (Dawn's HUGEINT holds 38 digits)")


def _exponent_text(x: str | None, safe: bool, what: Any) -> int | None:
    if x is None:
        return None
    try:
        v = int(_CONTEXT.quantize(Decimal(x.strip()), Decimal(1)))
    except (decimal.DecimalException, ValueError):
        v = None  # an exponent past any HUGEINT
    if v is not None and abs(v) <= T.INT_RANGE[T.HUGEINT][1]:
        return v
    if safe:
        return None
    raise DataError(f"Cannot cast VARCHAR '{x}' to HUGEINT{_where(what)}: the value is out of "
                    "range (Dawn's HUGEINT holds 38 digits)")


# ---------------------------------------------------------------- refusing values

def _drop_bad(x: Value, bad: Value, orig: Value, t: pa.DataType, safe: bool, what: Any,
              reason: str = "the value is out of range") -> Value:
    """``x`` with the rows flagged ``bad`` NULL under TRY_CAST; otherwise an error naming the first."""
    if isinstance(bad, pa.Scalar):
        if not bad.as_py():
            return x
        if not safe:
            _raise(orig, t, what, reason)
        return pa.scalar(None, x.type)
    if not pc.any(bad).as_py():
        return x
    if not safe:
        _raise(orig.filter(pc.fill_null(bad, False)), t, what, reason)
    return pc.if_else(pc.fill_null(bad, False), pa.scalar(None, x.type), x)


def _raise(bad_values: Value, t: pa.DataType, what: Any, reason: str):
    first = bad_values if isinstance(bad_values, pa.Scalar) else bad_values[0]
    shown = f"'{first.as_py()}'" if T.is_string(first.type) else format_value(first)
    raise DataError(f"Cannot cast {T.sql_name(first.type)} {shown} to {T.sql_name(t)}{_where(what)}: "
                    f"{reason}")


def _where(what: Any) -> str:
    return f' in "{what.sql()}"' if what is not None else ""


def format_value(s: pa.Scalar) -> str:
    """A number as the user would write it, for messages: HUGEINT without a decimal point."""
    v = s.as_py()
    if s.type == T.HUGEINT and v is not None:
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)
