"""Math functions, rounding, GREATEST/LEAST/COALESCE/NULLIF, random numbers.

Result types are DuckDB's: ceil/floor are DOUBLE (also of integers), round/trunc keep their
argument's type, the transcendental functions are DOUBLE and give NaN or inf where C's libm does
(sqrt(-1) is NaN, ln(0) is -inf) rather than raising.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, TypeMismatchError
from engine.plan import types as T
from engine.plan.functions import integers
from engine.plan.functions.registry import (
    _fixed,
    _float_result,
    _numeric_result,
    _to_numpy,
    is_scalar,
    register,
    scalar_py,
)

# ---------------------------------------------------------------- math


def _float1(args):
    return _float_result(args[:1])


def _abs(a, dtype=None):
    if pa.types.is_null(a.type):
        return pa.scalar(None, dtype) if is_scalar(a) else pa.nulls(len(a), dtype)
    return integers.absolute(a) if T.is_integer(a.type) else pc.abs(a)


def _sign(a, dtype=None):
    """-1, 0 or 1 as TINYINT, as DuckDB (NaN and -0.0 are 0)."""
    if pa.types.is_null(a.type):
        return pa.scalar(None, pa.int8()) if is_scalar(a) else pa.nulls(len(a), pa.int8())
    s = pc.sign(a)
    if pa.types.is_floating(a.type):
        s = pc.if_else(pc.is_nan(s), pa.scalar(0.0, s.type), s)
    return pc.cast(s, pa.int8())


def _f64(a):
    return a.cast(pa.float64())


def _unary_np(fn):
    """A DOUBLE -> DOUBLE kernel computed by numpy (NaN/inf where libm gives them, no raising)."""
    def k(a, dtype=None):
        if is_scalar(a):
            if not a.is_valid:
                return pa.scalar(None, pa.float64())
            with np.errstate(all="ignore"):
                return pa.scalar(float(fn(np.float64(_f64(a).as_py()))), pa.float64())
        x, mask = _to_numpy(_f64(a), 0.0)
        with np.errstate(all="ignore"):
            return pa.array(fn(x.astype(np.float64)), pa.float64(), mask=mask)
    return k


register("abs", 1, 1, _numeric_result)(_abs)
register("sqrt", 1, 1, _float1)(_unary_np(np.sqrt))
register("cbrt", 1, 1, _float1)(_unary_np(np.cbrt))
register("exp", 1, 1, _float1)(_unary_np(np.exp))
def _log_of(fn):
    """A logarithm whose value for a negative number is the positive NaN DuckDB returns (libm's
    is negative, which shows as '-nan' in text)."""
    def log(x):
        return np.where(x < 0, np.float64(np.nan), fn(x))
    return log


_ln, _log10, _log2 = _log_of(np.log), _log_of(np.log10), _log_of(np.log2)
register("ln", 1, 1, _float1)(_unary_np(_ln))
register("log10", 1, 1, _float1)(_unary_np(_log10))
register("log2", 1, 1, _float1)(_unary_np(_log2))
register("sin", 1, 1, _float1)(_unary_np(np.sin))
register("cos", 1, 1, _float1)(_unary_np(np.cos))
register("tan", 1, 1, _float1)(_unary_np(np.tan))
register("sign", 1, 1, lambda a: _numeric_result(a) and pa.int8())(_sign)
register("pi", 0, 0, _fixed(pa.float64()))(lambda dtype=None: pa.scalar(np.pi))


@register("log", 1, 2, _float_result)
def _log(a, b=None, dtype=None):
    """log(x) is the base-10 logarithm; log(b, x) the base-b one (DuckDB)."""
    if b is None:
        return _unary_np(_log10)(a)
    with np.errstate(all="ignore"):
        return pc.divide(_unary_np(_ln)(b), _unary_np(_ln)(a))


@register("power", 2, 2, _float_result)
def _power(a, b, dtype=None):
    return pc.power(_f64(a), _f64(b))


# ---------------------------------------------------------------- rounding


def _same_numeric(args):
    t = args[0]
    if pa.types.is_null(t):
        return pa.float64()
    if not (T.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise TypeMismatchError(f"expects a numeric argument, got {T.sql_name(t)}")
    for i, a in enumerate(args[1:], 2):
        if not (T.is_integer(a) or pa.types.is_null(a)):
            raise TypeMismatchError(f"expects an integer as argument {i}, got {T.sql_name(a)}")
    return t


def _ceil_type(args):
    _same_numeric(args)
    return args[0] if pa.types.is_floating(args[0]) else pa.float64()


def _nulls(a, t):
    return pa.scalar(None, t) if is_scalar(a) else pa.nulls(len(a), t)


def _round_int(a, d: int, mode: str, dtype):
    """round/trunc of an integer to 10**-d (d < 0): 15 -> 20, half away from zero, raising on
    overflow as DuckDB does."""
    if d >= 0:
        return a
    if d < -18:
        return pc.multiply(a, 0)
    q = 10 ** -d
    arr = pa.array([a.as_py()], a.type) if is_scalar(a) else a  # a NULL scalar too
    x, mask = _to_numpy(arr.cast(pa.int64()), 0)
    mag = np.abs(x)
    r = (mag + q // 2) // q * q if mode == "round" else mag // q * q
    out = np.sign(x) * r
    lo, hi = {pa.int8(): (-2 ** 7, 2 ** 7 - 1), pa.int16(): (-2 ** 15, 2 ** 15 - 1),
              pa.int32(): (-2 ** 31, 2 ** 31 - 1)}.get(a.type, (-2 ** 63, 2 ** 63 - 1))
    live = out if mask is None else out[~mask]
    if len(live) and (live.min() < lo or live.max() > hi or (r < 0).any()):
        raise DataError("Overflow in ROUND of integer")
    res = pa.array(out, pa.int64(), mask=mask).cast(a.type)
    return res[0] if is_scalar(a) else res


@register("round", 1, 2, _same_numeric, constant=(1,))
def _round(a, nd=None, dtype=None):
    d = 0 if nd is None else scalar_py(nd, "ROUND's digits")
    if d is None or pa.types.is_null(a.type):
        return _nulls(a, dtype)
    if T.is_integer(a.type):
        return _round_int(a, d, "round", dtype)
    if is_scalar(a):
        return _round_away(pa.array([a.as_py()], a.type), d)[0]
    return _round_away(a, d)


def _round_away(a: pa.Array, d: int) -> pa.Array:
    """Round half away from zero on the double's exact value, as DuckDB does: 0.975 is stored as
    0.97499999..., so round(0.975, 2) is 0.97. Arrow's kernel scales in double precision, where
    0.975 * 100 rounds up to exactly 97.5, and answers 0.98. Scaling in extended precision keeps
    the product exact for the usual digit counts."""
    x, mask = _to_numpy(a, 0.0)
    x = x.astype(np.float64)
    d = max(min(d, 330), -330)
    with np.errstate(all="ignore"):
        if d >= 0:
            y = x.astype(np.longdouble) * (np.longdouble(10) ** d)
        else:
            y = x.astype(np.longdouble) / (np.longdouble(10) ** -d)
        t = np.trunc(y)
        r = (t + np.where(np.abs(y - t) >= 0.5, np.sign(y), 0)).astype(np.float64)
        out = r / 10.0 ** d if d >= 0 else r * 10.0 ** -d
        out = np.where(np.isfinite(out), np.copysign(out, x), x)  # -0.0 stays, huge values stay
        if d >= 0:
            out = np.where(np.isfinite(y.astype(np.float64)), out, x)  # 5.5 rounded to 400 digits
    t = a.type if pa.types.is_floating(a.type) else pa.float64()
    return pa.array(out, pa.float64(), mask=mask).cast(t)


@register("trunc", 1, 2, _same_numeric, constant=(1,))
def _trunc(a, nd=None, dtype=None):
    d = 0 if nd is None else scalar_py(nd, "TRUNC's digits")
    if d is None or pa.types.is_null(a.type):
        return _nulls(a, dtype)
    if T.is_integer(a.type):
        return _round_int(a, d, "trunc", dtype)
    if d == 0:
        return pc.trunc(a)
    q = 10.0 ** d
    return pc.divide(pc.trunc(pc.multiply(a, q)), q).cast(a.type)


register("floor", 1, 1, _ceil_type)(lambda a, dtype=None: pc.floor(a if pa.types.is_floating(a.type) else _f64(a)))
register("ceil", 1, 1, _ceil_type)(lambda a, dtype=None: pc.ceil(a if pa.types.is_floating(a.type) else _f64(a)))


def _float_test(args):
    if not (T.is_numeric(args[0]) or pa.types.is_decimal(args[0])):
        raise TypeMismatchError(f"expects a numeric argument, got {T.sql_name(args[0])}")
    return pa.bool_()


def _float_pred(fn):
    def k(a, dtype=None):
        if pa.types.is_floating(a.type):
            return fn(a)
        # integers are never NaN or infinite
        return pc.if_else(pc.is_valid(a), False, pa.scalar(None, pa.bool_())) \
            if not is_scalar(a) else pa.scalar(False if a.is_valid else None, pa.bool_())
    return k


register("isnan", 1, 1, _float_test)(_float_pred(pc.is_nan))
register("isinf", 1, 1, _float_test)(_float_pred(pc.is_inf))
register("isfinite", 1, 1, _float_test)(_float_pred(pc.is_finite))


# ---------------------------------------------------------------- random numbers

_RNG = [np.random.default_rng()]


@register("random", 0, 0, _fixed(pa.float64()))
def _random(dtype=None, rows: int = 1):
    """Uniform in [0, 1), one value per row; setseed() makes the sequence reproducible."""
    return pa.array(_RNG[0].random(rows), pa.float64())


@register("setseed", 1, 1, lambda args: pa.null())
def _setseed(s, dtype=None, rows: int = 1):
    seed = scalar_py(s, "The seed")
    if seed is None or not -1.0 <= seed <= 1.0:
        raise DataError("SETSEED accepts seed values between -1.0 and 1.0, inclusive")
    _RNG[0] = np.random.default_rng(int(round((seed + 1.0) * 2 ** 52)))
    return pa.nulls(rows)


# ---------------------------------------------------------------- greatest, least, coalesce


def _common_all(args):
    t = args[0]
    for a in args[1:]:
        t = T.common_type(t, a, "GREATEST/LEAST/COALESCE")
    return t


def _extreme(fn):
    def k(*a, dtype=None):
        if pa.types.is_null(dtype):
            n = next((len(x) for x in a if not is_scalar(x)), None)
            return pa.scalar(None, pa.null()) if n is None else pa.nulls(n)
        r = fn(*a, skip_nulls=True)
        if fn is pc.max_element_wise and pa.types.is_floating(dtype):
            # Arrow skips NaN; in DuckDB's order NaN is above every number
            nan = None
            for x in a:
                n = pc.fill_null(pc.is_nan(x), False)
                nan = n if nan is None else pc.or_(nan, n)
            r = pc.if_else(nan, pa.scalar(float("nan"), r.type), r)
        return r
    return k


register("greatest", 1, 64, _common_all, "common")(_extreme(pc.max_element_wise))
register("least", 1, 64, _common_all, "common")(_extreme(pc.min_element_wise))
register("coalesce", 1, 64, _common_all, "common")(lambda *a, dtype=None: pc.coalesce(*a))


@register("single_row_value", 2, 2, lambda args: args[1])
def _single_row_value(rows, value, dtype=None):
    """A decorrelated scalar subquery's value, given how many rows the subquery returned."""
    most = rows.as_py() if is_scalar(rows) else pc.max(rows).as_py()
    if most is not None and most > 1:
        raise DataError("More than one row returned by a subquery used as an expression")
    return value


@register("nullif", 2, 2, lambda args: _common_all(args) and args[0], "common")
def _nullif(a, b, dtype=None):
    from engine.plan.functions.logic import compare
    eq = pc.fill_null(compare("eq", a, b), False)
    return pc.if_else(eq, pa.scalar(None, a.type), a)


def _to_decimal_type(args):
    return pa.float64()


@register("to_decimal", 4, 4, _to_decimal_type, constant=(1, 2, 3))
def _to_decimal(x, precision, scale, safe, dtype=None):
    """CAST(x AS DECIMAL(p, s)) on Dawn's DOUBLE decimals: rounded half away from zero to s
    digits, and out of range (|x| >= 10^(p-s)) an error, or NULL for TRY_CAST (as DuckDB)."""
    p, sc, try_ = (scalar_py(v, "The DECIMAL width") for v in (precision, scale, safe))
    arr = x if not is_scalar(x) else pa.array([x.as_py()], pa.float64())
    arr = arr.cast(pa.float64())
    rounded = _round_away(arr, sc)
    v, mask = _to_numpy(rounded, 0.0)
    bad = ~(np.abs(v) < 10.0 ** (p - sc))
    if mask is not None:
        bad &= ~mask
    if bad.any():
        if not try_:
            first = v[np.argmax(bad)]
            raise DataError(f'Casting value "{float(first)!r}" to type DECIMAL({p},{sc}) failed: value is out of range')
        rounded = pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), rounded)
    return rounded[0] if is_scalar(x) else rounded


@register("to_decimal_text", 4, 4, _to_decimal_type, constant=(1, 2, 3))
def _to_decimal_text(x, precision, scale, safe, dtype=None):
    """CAST(text AS DECIMAL(p, s)): the text's decimal digits rounded half away from zero (the
    exact value, not its nearest double: '1.005' is 1.01), range-checked as ``to_decimal``.
    Python's decimal module reads each distinct text once."""
    import decimal
    p, sc, try_ = (scalar_py(v, "The DECIMAL width") for v in (precision, scale, safe))
    arr = x if not is_scalar(x) else pa.array([x.as_py()], pa.string())
    uniq = pc.unique(arr)
    quantum, limit = decimal.Decimal(1).scaleb(-sc), decimal.Decimal(10) ** (p - sc)
    out = []
    for text in uniq.to_pylist():
        if text is None:
            out.append(None)
            continue
        try:
            d = decimal.Decimal(text.strip()).quantize(quantum, rounding=decimal.ROUND_HALF_UP)
            if not d.is_finite() or abs(d) >= limit:
                raise ValueError("out of range")
            out.append(float(d))
        except (decimal.InvalidOperation, ValueError):
            if try_:
                out.append(None)
                continue
            raise DataError(f'Could not convert string "{text}" to DECIMAL({p},{sc})') from None
    result = pa.array(out, pa.float64()).take(pc.index_in(arr, value_set=uniq))
    return result[0] if is_scalar(x) else result
