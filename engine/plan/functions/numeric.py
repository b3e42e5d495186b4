"""Math functions, rounding, GREATEST/LEAST/COALESCE/NULLIF."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
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


register("abs", 1, 1, _numeric_result)(_abs)
register("sqrt", 1, 1, _float1)(lambda a, dtype=None: pc.sqrt(a.cast(pa.float64())))
register("cbrt", 1, 1, _float1)(lambda a, dtype=None: pc.power(a.cast(pa.float64()), 1.0 / 3.0))
register("exp", 1, 1, _float1)(lambda a, dtype=None: pc.exp(a.cast(pa.float64())))
register("ln", 1, 1, _float1)(lambda a, dtype=None: pc.ln(a.cast(pa.float64())))
register("log10", 1, 1, _float1)(lambda a, dtype=None: pc.log10(a.cast(pa.float64())))
register("log2", 1, 1, _float1)(lambda a, dtype=None: pc.log2(a.cast(pa.float64())))
register("sin", 1, 1, _float1)(lambda a, dtype=None: pc.sin(a.cast(pa.float64())))
register("cos", 1, 1, _float1)(lambda a, dtype=None: pc.cos(a.cast(pa.float64())))
register("power", 2, 2, _float_result)(lambda a, b, dtype=None: pc.power(a.cast(pa.float64()), b.cast(pa.float64())))
register("sign", 1, 1, lambda a: _numeric_result(a) and pa.int8())(_sign)
register("pi", 0, 0, _fixed(pa.float64()))(lambda dtype=None: pa.scalar(np.pi))


def _round_type(args):
    _numeric_result(args)
    return args[0] if not pa.types.is_null(args[0]) else pa.float64()


@register("round", 1, 2, _round_type, constant=(1,))
def _round(a, nd=None, dtype=None):
    if T.is_integer(a.type):
        return a
    d = 0 if nd is None else scalar_py(nd, "ROUND's digits")
    if d is None:
        return pa.scalar(None, a.type) if is_scalar(a) else pa.nulls(len(a), a.type)
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
    with np.errstate(all="ignore"):
        if d >= 0:
            y = x.astype(np.longdouble) * (np.longdouble(10) ** d)
        else:
            y = x.astype(np.longdouble) / (np.longdouble(10) ** -d)
        t = np.trunc(y)
        r = (t + np.where(np.abs(y - t) >= 0.5, np.sign(y), 0)).astype(np.float64)
        out = r / 10.0 ** d if d >= 0 else r * 10.0 ** -d
        out = np.where(np.isfinite(out), np.copysign(out, x), x)  # -0.0 stays, huge values stay
    return pa.array(out, a.type if pa.types.is_floating(a.type) else pa.float64(), mask=mask)


register("floor", 1, 1, _round_type)(lambda a, dtype=None: a if T.is_integer(a.type) else pc.floor(a))
register("ceil", 1, 1, _round_type)(lambda a, dtype=None: a if T.is_integer(a.type) else pc.ceil(a))
register("trunc", 1, 1, _round_type)(lambda a, dtype=None: a if T.is_integer(a.type) else pc.trunc(a))


def _common_all(args):
    t = args[0]
    for a in args[1:]:
        t = T.common_type(t, a, "GREATEST/LEAST/COALESCE")
    return t


register("greatest", 1, 64, _common_all, "common")(lambda *a, dtype=None: pc.max_element_wise(*a, skip_nulls=True))
register("least", 1, 64, _common_all, "common")(lambda *a, dtype=None: pc.min_element_wise(*a, skip_nulls=True))
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
    eq = pc.fill_null(pc.equal(a, b), False)
    return pc.if_else(eq, pa.scalar(None, a.type), a)
