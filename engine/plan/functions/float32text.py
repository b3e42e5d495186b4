"""Which FLOAT values DuckDB writes with a DOUBLE's digits.

DuckDB writes a FLOAT with its vendored fmt 6.1.2, whose shortest-digits search (Grisu, with the
float's rounding boundaries) gives up on about one value in two hundred; fmt then falls back to an
exact algorithm that, for floats, uses the boundaries of the double holding the value, and prints
the double's shortest digits: CAST(222777392::FLOAT AS VARCHAR) is '222777392.0', not the
float's shortest '222777390.0'. ``grisu_gives_up`` runs fmt's Grisu digit generation
(format-inl.h: assign_float_with_boundaries, get_cached_power, grisu_gen_digits with
grisu_shortest_handler) on whole numpy arrays of uint64 and says, for each value, whether it
gives up. Only that verdict is needed: when it does not give up, its digits are the shortest
ones, which Arrow's own float formatting already writes.
"""
from __future__ import annotations

import numpy as np

U64 = np.uint64
_MASK32 = U64(0xFFFFFFFF)


def _pow10_table() -> tuple[np.ndarray, np.ndarray]:
    """fmt's cached powers: 10**k for k = -348, -340, ..., 340 as a normalized 64-bit
    significand (rounded to nearest) and a binary exponent."""
    sig, exp = [], []
    for k in range(-348, 341, 8):
        n, d = (10 ** k, 1) if k >= 0 else (1, 10 ** -k)
        e = n.bit_length() - d.bit_length() - 64
        while True:
            num, den = (n, d << e) if e >= 0 else (n << -e, d)
            f = num // den
            if f >= 1 << 64:
                e += 1
            elif f < 1 << 63:
                e -= 1
            else:
                break
        if 2 * (num - f * den) >= den:
            f += 1
        if f == 1 << 64:
            f, e = f >> 1, e + 1
        sig.append(f)
        exp.append(e)
    return np.array(sig, dtype=np.uint64), np.array(exp, dtype=np.int64)


_SIG, _EXP = _pow10_table()
_P10 = np.array([10 ** i for i in range(20)], dtype=np.uint64)


def _multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fmt's multiply: the high 64 bits of a * b, rounded half up."""
    ah, al = a >> U64(32), a & _MASK32
    bh, bl = b >> U64(32), b & _MASK32
    ac, bc, ad, bd = ah * bh, al * bh, ah * bl, al * bl
    mid = (bd >> U64(32)) + (ad & _MASK32) + (bc & _MASK32) + U64(1 << 31)
    return ac + (ad >> U64(32)) + (bc >> U64(32)) + (mid >> U64(32))


def grisu_gives_up(x: np.ndarray) -> np.ndarray:
    """For positive finite float32 values held as float64: does fmt's Grisu give up on them?"""
    n = len(x)
    if n == 0:
        return np.zeros(0, bool)
    with np.errstate(over="ignore"):
        u = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
        f = (u & U64((1 << 52) - 1)) | U64(1 << 52)  # float32 values are normal doubles
        e = ((u >> U64(52)) & U64(0x7FF)).astype(np.int64) - 1075
        min_normal_e = -125 - 53
        extra = np.maximum(min_normal_e - e, 0).astype(np.uint64)
        half = U64(1 << 28) << extra
        upper = (f + half) << U64(11)
        ve = e - 11
        closer = (f == U64(1 << 52)) & (e > min_normal_e)
        lower = (f - (half >> closer.astype(np.uint64))) << U64(11)
        value = f << U64(11)
        # the cached power that brings the exponent into [-60, -32]
        min_exp = -60 - (ve + 64)
        index = ((min_exp + 63) * 0x4D104D42 + ((1 << 32) - 1)) >> 32
        index = (index + 348 - 1) // 8 + 1
        cf, ce = _SIG[index], _EXP[index]
        value = _multiply(value, cf)
        ve = ve + ce + 64
        lower = _multiply(lower, cf) - U64(1)
        upper = _multiply(upper, cf) + U64(1)
        diff = upper - value
        error = upper - lower
        shift = (-ve).astype(np.uint64)
        one = U64(1) << shift
        integral = upper >> shift
        fractional = upper & (one - U64(1))
        exp = np.ones(n, np.int64)
        for k in range(1, 11):
            exp = np.where(integral >= _P10[k], k + 1, exp)
        status = np.zeros(n, np.int8)  # 0 more digits, 1 done, 2 gave up
        for _ in range(40):
            live = status == 0
            if not live.any():
                break
            in_int = live & (exp > 0)
            in_frac = live & (exp <= 0)
            # integral digits
            p = _P10[np.clip(exp - 1, 0, 19)]
            integral = np.where(in_int, integral % p, integral)
            exp = np.where(in_int, exp - 1, exp)
            remainder = np.where(in_int, (integral << shift) + fractional, U64(0))
            divisor = np.where(in_int, _P10[np.clip(exp, 0, 19)] << shift, one)
            # fractional digits
            fractional = np.where(in_frac, fractional * U64(10), fractional)
            error = np.where(in_frac, error * U64(10), error)
            fractional = np.where(in_frac, fractional & (one - U64(1)), fractional)
            exp = np.where(in_frac, exp - 1, exp)
            remainder = np.where(in_frac, fractional, remainder)
            unit = np.where(in_int, U64(1), _P10[np.clip(-exp, 0, 19)])
            decide = live & (remainder < error)
            # round_weed: move the last digit down towards the value
            up = (diff - U64(1)) * unit
            for _ in range(20):
                step = decide & (remainder < up) & ((error - remainder) >= divisor) & (
                    ((remainder + divisor) < up) | ((up - remainder) >= (remainder + divisor - up)))
                if not step.any():
                    break
                remainder = np.where(step, remainder + divisor, remainder)
            down = (diff + U64(1)) * unit
            bad = (remainder < down) & ((error - remainder) >= divisor) & (
                ((remainder + divisor) < down) | ((down - remainder) > (remainder + divisor - down)))
            ok = (U64(2) * unit <= remainder) & (remainder <= error - U64(4) * unit)
            status = np.where(decide, np.where(bad | ~ok, 2, 1), status).astype(np.int8)
    return status != 1
