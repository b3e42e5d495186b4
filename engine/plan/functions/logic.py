"""Comparisons, boolean logic (three-valued), IS [NOT] DISTINCT FROM, LIKE and regexp matching."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
from engine.plan import types as T
from engine.plan.functions.registry import (
    FUNCTIONS,
    Function,
    Value,
    _bool_result,
    _need,
    is_scalar,
    register,
    scalar_py,
)

# ---------------------------------------------------------------- comparison and logic

def _cmp_type(args):
    T.common_type(args[0], args[1], "a comparison")
    return pa.bool_()


def _untyped(*args) -> bool:
    return any(pa.types.is_null(a.type) for a in args)


def _bool_nulls(*args) -> Value:
    """A BOOLEAN NULL shaped like the arguments: Arrow has no kernels over the NULL type."""
    arrays = [a for a in args if not is_scalar(a)]
    return pa.nulls(len(arrays[0]), pa.bool_()) if arrays else pa.scalar(None, pa.bool_())


# The answer of each comparison when NaN is on one side or both, as a function of (a is NaN,
# b is NaN): DuckDB orders NaN above every other value and equal to itself, where IEEE (and
# Arrow's kernels) make every comparison with NaN false.
_NAN_CMP = {
    "eq": lambda an, bn: pc.and_(an, bn),
    "neq": lambda an, bn: pc.xor(an, bn),
    "lt": lambda an, bn: pc.and_(pc.invert(an), bn),
    "lte": lambda an, bn: bn,
    "gt": lambda an, bn: pc.and_(an, pc.invert(bn)),
    "gte": lambda an, bn: an,
}


def _is_nan(v: Value) -> Value:
    return pc.is_nan(v) if pa.types.is_floating(v.type) else \
        (pa.scalar(False) if is_scalar(v) else pa.repeat(pa.scalar(False), len(v)))


_ARROW_CMP = {"eq": pc.equal, "neq": pc.not_equal, "lt": pc.less, "lte": pc.less_equal,
              "gt": pc.greater, "gte": pc.greater_equal}


def compare(name: str, a: Value, b: Value) -> Value:
    """``a <op> b`` for op in eq, neq, lt, lte, gt, gte, by SQL's rules: NULL when either side is
    NULL, and NaN equal to itself and above every other number (DuckDB's order)."""
    r = _ARROW_CMP[name](a, b)
    if not (pa.types.is_floating(a.type) or pa.types.is_floating(b.type)):
        return r
    an, bn = _is_nan(a), _is_nan(b)
    some = pc.or_(an, bn)
    if is_scalar(some) and not some.is_valid:
        return r
    if not pc.any(some).as_py():
        return r
    return pc.if_else(some, _NAN_CMP[name](an, bn), r)


def _cmp_kernel(name: str):
    def kernel(a, b, dtype=None):
        return _bool_nulls(a, b) if _untyped(a, b) else compare(name, a, b)
    return kernel


for _n in _ARROW_CMP:
    FUNCTIONS[_n] = Function(_n, 2, 2, _cmp_type, _cmp_kernel(_n), "common")


@register("is_distinct", 2, 2, _cmp_type, "common")
def _is_distinct(a, b, dtype=None):
    if _untyped(a, b):
        # NULL is not distinct from NULL, and distinct from any value
        return pc.is_valid(b if pa.types.is_null(a.type) else a)
    eq = pc.fill_null(compare("eq", a, b), False)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.invert(pc.or_(eq, both_null))


@register("is_not_distinct", 2, 2, _cmp_type, "common")
def _is_not_distinct(a, b, dtype=None):
    return pc.invert(_is_distinct(a, b))


def _bool_args(args):
    _need(lambda t: pa.types.is_boolean(t), "BOOLEAN")(args)
    return pa.bool_()


register("and", 2, 2, _bool_args)(lambda a, b, dtype=None: pc.and_kleene(a, b))
register("or", 2, 2, _bool_args)(lambda a, b, dtype=None: pc.or_kleene(a, b))
register("not", 1, 1, _bool_args)(lambda a, dtype=None: _bool_nulls(a) if _untyped(a) else pc.invert(a))
register("is_null", 1, 1, _bool_result)(lambda a, dtype=None: pc.is_null(a))
register("is_not_null", 1, 1, _bool_result)(lambda a, dtype=None: pc.is_valid(a))
register("is_true", 1, 1, _bool_args)(lambda a, dtype=None: pc.fill_null(a, False))
register("is_false", 1, 1, _bool_args)(lambda a, dtype=None: pc.fill_null(pc.invert(a), False))


def _like_type(args):
    _need(T.is_string, "VARCHAR")(args)
    return pa.bool_()


def _arrow_pattern(pat: str, escape: str | None) -> str:
    """A SQL LIKE pattern in Arrow's syntax, where backslash escapes: SQL has no escape character
    unless ESCAPE names one, so a backslash of its own is literal."""
    out, i = [], 0
    while i < len(pat):
        ch = pat[i]
        if escape and ch == escape:
            if i + 1 >= len(pat):
                raise DataError("A LIKE pattern must not end with its escape character")
            nxt = pat[i + 1]
            out.append("\\" + nxt if nxt in "%_\\" else nxt)
            i += 2
            continue
        out.append("\\\\" if ch == "\\" else ch)
        i += 1
    return "".join(out)


def _like(ignore_case: bool, negate: bool):
    def k(a, p, escape=None, dtype=None):
        pat = scalar_py(p, "A LIKE pattern")
        esc = scalar_py(escape, "A LIKE escape character") if escape is not None else None
        if pat is None or (escape is not None and esc is None):
            return pa.scalar(None, pa.bool_()) if is_scalar(a) else pa.nulls(len(a), pa.bool_())
        if esc is not None and len(esc) > 1:
            raise DataError("The LIKE escape must be a single character")
        r = pc.match_like(a, _arrow_pattern(pat, esc), ignore_case=ignore_case)
        return pc.invert(r) if negate else r
    return k


register("like", 2, 3, _like_type, constant=(1, 2))(_like(False, False))
register("ilike", 2, 3, _like_type, constant=(1, 2))(_like(True, False))
register("not_like", 2, 3, _like_type, constant=(1, 2))(_like(False, True))
register("not_ilike", 2, 3, _like_type, constant=(1, 2))(_like(True, True))
