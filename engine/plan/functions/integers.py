"""Integer arithmetic as DuckDB does it: + - * // % on every integer type, and HUGEINT.

A result that does not fit its type raises DataError naming the type and the operands ("Overflow in
addition of INTEGER (2147483647 + 1)"), never wraps and never widens; // and % by zero raise;
// truncates toward zero and % takes the dividend's sign, as in C.

The fast path is Arrow's checked kernels; only when one refuses are the operands looked at again, in
decimal256 where every result is exact, to name the first row that overflowed.

HUGEINT (decimal128(38, 0)) has no integer kernels in Arrow, and its decimal kernels widen the
result's precision past 38 ("Decimal precision out of range [1, 38]: 39"), so + - and * compute in
decimal256 and cast back with a checked cast: + and - in 39 digits; * in 76 digits, which holds a
38-digit factor times a 37-digit one (a row where both factors have 38 digits overflows for
certain). // and % do not use Arrow's decimal division: it, and every decimal rescale, is wrong for
some values (pyarrow 26 truncates 9223372036854775807 / -2147483648 = -4294967295.99... to
-4294967294), so they divide the two 64-bit halves of each value by binary long division in numpy,
or in int64 when every operand fits there.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
from engine.physical.numeric_casts import format_value
from engine.plan import types as T

Value = Any  # pa.Array | pa.ChunkedArray | pa.Scalar

OPS = {"add": ("addition", "+"), "subtract": ("subtraction", "-"),
       "multiply": ("multiplication", "*"), "intdiv": ("division", "//"), "mod": ("modulo", "%")}
_EXACT = pa.decimal256(20, 0)  # holds every 64-bit integer; products of two stay within 76 digits
_D38, _D37 = pa.decimal256(38, 0), pa.decimal256(37, 0)
_E37 = 10 ** 37


def checked(op: str, a: Value, b: Value, t: pa.DataType) -> Value:
    """``a op b`` for operands of integer type ``t`` (both already of that type)."""
    if t == T.HUGEINT:
        return _huge(op, a, b)
    if op in ("intdiv", "mod"):
        _no_zero_divisor(op, a, b)
        if op == "mod":
            if t in T.SIGNED:  # x % -1 is 0, but MIN // -1 overflows: divide by 1 instead
                b = pc.if_else(pc.equal(b, pa.scalar(-1, t)), pa.scalar(1, t), b)
            return pc.subtract(a, pc.multiply(pc.divide_checked(a, b), b))  # |q * b| <= |a|
        fn = pc.divide_checked
    else:
        fn = getattr(pc, op + "_checked")
    try:
        return fn(a, b)
    except pa.ArrowInvalid:
        _overflow(op, a, b, t)
        raise


def negate(a: Value) -> Value:
    t = a.type
    if t in T.UNSIGNED:  # only 0 negates; Arrow has no unsigned negation kernel
        _refuse_where(pc.not_equal(a, pa.scalar(0, t)), a, lambda x: f"negation of {T.sql_name(t)} ({x})")
        return a
    if t == T.HUGEINT:  # HUGEINT's range here is symmetric: negation always fits
        return pc.negate(a)
    try:
        return pc.negate_checked(a)
    except pa.ArrowInvalid:
        _refuse_where(pc.equal(a, pa.scalar(T.INT_RANGE[t][0], t)), a,
                      lambda x: f"negation of {T.sql_name(t)} ({x})")
        raise


def absolute(a: Value) -> Value:
    t = a.type
    if t in T.UNSIGNED:
        return a
    if t == T.HUGEINT:
        return pc.abs(a)
    try:
        return pc.abs_checked(a)
    except pa.ArrowInvalid:
        _refuse_where(pc.equal(a, pa.scalar(T.INT_RANGE[t][0], t)), a,
                      lambda x: f"abs of {T.sql_name(t)} ({x})")
        raise


# ---------------------------------------------------------------- errors

def _first(mask: Value, *values: Value) -> list[str] | None:
    """The values at the first row where ``mask`` is true, or None when it is nowhere true."""
    if isinstance(mask, pa.Scalar):
        return [format_value(v) for v in values] if mask.as_py() else None
    i = pc.index(pc.fill_null(mask, False), True).as_py()
    if i < 0:
        return None
    return [format_value(v if isinstance(v, pa.Scalar) else v[i]) for v in values]


def _refuse_where(mask: Value, a: Value, describe) -> None:
    hit = _first(mask, a)
    if hit is not None:
        raise DataError(f"Overflow in {describe(hit[0])}")


def _no_zero_divisor(op: str, a: Value, b: Value) -> None:
    zero = pc.and_(pc.equal(b, pa.scalar(0, b.type)), pc.is_valid(a))
    hit = _first(zero, a, b)
    if hit is not None:
        raise DataError(f"Division by zero ({hit[0]} {OPS[op][1]} {hit[1]})")


def _overflow(op: str, a: Value, b: Value, t: pa.DataType) -> None:
    """Raise the overflow error for the first row whose exact result is out of ``t``'s range."""
    lo, hi = T.INT_RANGE[t]
    if op == "intdiv":  # only MIN // -1 overflows
        bad = pc.and_(pc.equal(a, pa.scalar(lo, t)), pc.equal(b, pa.scalar(-1, t)))
    else:
        exact = getattr(pc, op)(pc.cast(a, _EXACT), pc.cast(b, _EXACT))
        bad = pc.or_(pc.less(exact, _dec(lo, exact.type)), pc.greater(exact, _dec(hi, exact.type)))
    _raise_overflow(op, bad, a, b, t)


def _raise_overflow(op: str, bad: Value, a: Value, b: Value, t: pa.DataType) -> None:
    hit = _first(bad, a, b)
    if hit is not None:
        word, sym = OPS[op]
        extra = " (Dawn's HUGEINT holds 38 digits)" if t == T.HUGEINT else ""
        raise DataError(f"Overflow in {word} of {T.sql_name(t)} ({hit[0]} {sym} {hit[1]}){extra}")


def _dec(v: int, t: pa.DataType) -> pa.Scalar:
    return pa.scalar(Decimal(v), t)


# ---------------------------------------------------------------- HUGEINT

def _huge(op: str, a: Value, b: Value) -> Value:
    if op in ("intdiv", "mod"):
        _no_zero_divisor(op, a, b)
        q, r = _huge_divmod(a, b)
        return q if op == "intdiv" else r
    if op == "multiply":
        return _huge_mul(a, b, a, b, op)
    return _back(getattr(pc, op)(pc.cast(a, _D38), pc.cast(b, _D38)), a, b, op)


def _back(r: Value, a: Value, b: Value, op: str) -> Value:
    """A decimal256 result as HUGEINT, or the overflow error for its first row out of range."""
    try:
        return pc.cast(r, T.HUGEINT)
    except pa.ArrowInvalid:
        hi = _dec(T.INT_RANGE[T.HUGEINT][1], r.type)
        _raise_overflow(op, pc.greater(pc.abs(r), hi), a, b, T.HUGEINT)
        raise


def _small(x: Value) -> Value:
    """Rows of a HUGEINT with at most 37 digits."""
    return pc.less(pc.abs(x), _dec(_E37, x.type))


def _huge_mul(x: Value, y: Value, a: Value, b: Value, op: str) -> Value:
    """x * y for HUGEINTs; ``a``, ``b`` and ``op`` name the operands in an overflow error."""
    sx, sy = _small(x), _small(y)
    # both factors with 38 digits: the product has at least 75, it overflows
    _raise_overflow(op, pc.and_(pc.invert(sx), pc.invert(sy)), a, b, T.HUGEINT)
    small = pc.if_else(sx, x, y)
    big = pc.if_else(sx, y, x)
    return _back(pc.multiply(pc.cast(small, _D37), pc.cast(big, _D38)), a, b, op)


def _huge_divmod(a: Value, b: Value) -> tuple[Value, Value]:
    """(a // b, a % b) for HUGEINTs, truncated toward zero; b is nonzero where both are valid."""
    scalar = isinstance(a, pa.Scalar) and isinstance(b, pa.Scalar)
    n = 1 if scalar else len(b if isinstance(a, pa.Scalar) else a)
    a, b = _as_array(a, n), _as_array(b, n)
    valid = pc.and_(pc.is_valid(a), pc.is_valid(b)).to_numpy(zero_copy_only=False)
    (ah, al), (bh, bl) = _halves(a, valid), _halves(b, valid)
    neg_a, neg_b = ah < 0, bh < 0
    ah, al = _magnitude(ah, al, neg_a)
    bh, bl = _magnitude(bh, bl, neg_b)
    bl = np.where(valid, bl, np.uint64(1))  # NULL rows: 0 / 1
    if not ah.any() and not bh.any() and not (al >> np.uint64(63)).any() \
            and not (bl >> np.uint64(63)).any():
        x, y = al.view(np.int64), bl.view(np.int64)  # every magnitude below 2^63
        qh, ql = np.zeros(n, np.uint64), (x // y).view(np.uint64)
        rh, rl = np.zeros(n, np.uint64), (x % y).view(np.uint64)
    else:
        qh, ql, rh, rl = _long_division(ah, al, bh, bl)
    q = _from_halves(*_signed(qh, ql, neg_a != neg_b), valid)
    r = _from_halves(*_signed(rh, rl, neg_a), valid)
    return (q[0], r[0]) if scalar else (q, r)


def _as_array(v: Value, n: int) -> pa.Array:
    if isinstance(v, pa.Scalar):
        return pa.repeat(v, n) if v.is_valid else pa.nulls(n, v.type)
    return v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v


def _halves(v: pa.Array, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A decimal128 column's values as (high int64, low uint64) halves of their two's complement;
    0 where ``valid`` is false."""
    words = np.frombuffer(v.buffers()[1], dtype=np.uint64)[2 * v.offset: 2 * (v.offset + len(v))]
    return np.where(valid, words[1::2].view(np.int64), 0), np.where(valid, words[0::2], np.uint64(0))


def _magnitude(hi: np.ndarray, lo: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|x| as unsigned halves (x > -2^127 always: HUGEINT holds 38 digits)."""
    h, lo2 = _negate_halves(hi.view(np.uint64), lo)
    return np.where(neg, h, hi.view(np.uint64)), np.where(neg, lo2, lo)


def _negate_halves(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(over="ignore"):
        lo2 = ~lo + np.uint64(1)
        hi2 = ~hi + (lo == 0).astype(np.uint64)
    return hi2, lo2


def _signed(hi: np.ndarray, lo: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, lo2 = _negate_halves(hi, lo)
    return np.where(neg, h, hi), np.where(neg, lo2, lo)


def _from_halves(hi: np.ndarray, lo: np.ndarray, valid: np.ndarray) -> pa.Array:
    words = np.empty(2 * len(lo), dtype=np.uint64)
    words[0::2], words[1::2] = lo, hi
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(T.HUGEINT, len(lo), [bitmap, pa.py_buffer(words)])


def _long_division(ah, al, bh, bl):
    """Unsigned 128-bit quotient and remainder, one bit per step for every row at once."""
    one = np.uint64(1)
    n = len(al)
    qh, ql, rh, rl = (np.zeros(n, np.uint64) for _ in range(4))
    top = int(ah.max()).bit_length() + 64 if ah.any() else int(al.max()).bit_length()
    for i in range(top - 1, -1, -1):
        bit = (ah >> np.uint64(i - 64)) & one if i >= 64 else (al >> np.uint64(i)) & one
        rh = (rh << one) | (rl >> np.uint64(63))
        rl = (rl << one) | bit
        ge = (rh > bh) | ((rh == bh) & (rl >= bl))
        borrow = (rl < bl).astype(np.uint64)
        with np.errstate(over="ignore"):
            rl = np.where(ge, rl - bl, rl)
            rh = np.where(ge, rh - bh - borrow, rh)
        if i >= 64:
            qh |= ge.astype(np.uint64) << np.uint64(i - 64)
        else:
            ql |= ge.astype(np.uint64) << np.uint64(i)
    return qh, ql, rh, rl
