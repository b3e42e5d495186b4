"""String functions."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError
from engine.plan import types as T
from engine.plan.functions.logic import _like_type
from engine.plan.functions.registry import (
    _need,
    _string_result,
    is_scalar,
    register,
    scalar_py,
)

# ---------------------------------------------------------------- strings

def _str1(args):
    _need(T.is_string, "VARCHAR")(args[:1])
    return pa.string()


def _to_str(v):
    return v if T.is_string(v.type) else v.cast(pa.string())


register("upper", 1, 1, _str1)(lambda a, dtype=None: pc.utf8_upper(a))
register("lower", 1, 1, _str1)(lambda a, dtype=None: pc.utf8_lower(a))
register("reverse", 1, 1, _str1)(lambda a, dtype=None: pc.utf8_reverse(a))


@register("length", 1, 1, lambda args: _str1(args) and pa.int64())
def _length(a, dtype=None):
    return pc.utf8_length(a).cast(pa.int64())


@register("strlen", 1, 1, lambda args: _str1(args) and pa.int64())
def _strlen(a, dtype=None):
    return pc.binary_length(a).cast(pa.int64())  # bytes, not characters (DuckDB)


def _trim(fn_ws, fn_chars):
    def k(a, chars=None, dtype=None):
        if chars is None:
            return fn_ws(a)
        return fn_chars(a, scalar_py(chars, "The characters to trim"))
    return k


register("trim", 1, 2, _str1, constant=(1,))(_trim(pc.utf8_trim_whitespace, pc.utf8_trim))
register("ltrim", 1, 2, _str1, constant=(1,))(_trim(pc.utf8_ltrim_whitespace, pc.utf8_ltrim))
register("rtrim", 1, 2, _str1, constant=(1,))(_trim(pc.utf8_rtrim_whitespace, pc.utf8_rtrim))


@register("substring", 2, 3, _str1, constant=(1, 2))
def _substring(s, start, length=None, dtype=None):
    st = scalar_py(start, "SUBSTRING's start")
    ln = None if length is None else scalar_py(length, "SUBSTRING's length")
    if st is None or (length is not None and ln is None):
        return pa.scalar(None, pa.string()) if is_scalar(s) else pa.nulls(len(s), pa.string())
    if ln is not None and ln < 0:
        raise DataError("SUBSTRING length must not be negative")
    if st < 0:
        # counted from the end: the window [len+st, len+st+ln) clipped to the string, which is
        # what slicing with negative indices does
        stop = None if ln is None or st + ln >= 0 else st + ln
        return pc.utf8_slice_codeunits(s, st, stop)
    begin = st - 1
    stop = None if ln is None else begin + ln
    if begin < 0:
        begin = 0
    if stop is not None and stop < begin:
        stop = begin
    return pc.utf8_slice_codeunits(s, begin, stop) if stop is not None else pc.utf8_slice_codeunits(s, begin)


@register("left", 2, 2, _str1, constant=(1,))
def _left(s, n, dtype=None):
    return pc.utf8_slice_codeunits(s, 0, max(0, scalar_py(n, "LEFT's length")))


@register("right", 2, 2, _str1, constant=(1,))
def _right(s, n, dtype=None):
    k = scalar_py(n, "RIGHT's length")
    return pc.utf8_slice_codeunits(s, -k, None) if k > 0 else pc.utf8_slice_codeunits(s, 0, 0)


@register("concat_op", 2, 2, _string_result)
def _concat_op(a, b, dtype=None):
    return pc.binary_join_element_wise(_to_str(a), _to_str(b), "")


@register("concat", 1, 64, _string_result)
def _concat(*args, dtype=None):
    # NULL arguments count as '' (DuckDB); Arrow's null_handling="skip" can drop whole rows
    # when every argument of a row is NULL, so fill them first
    return pc.binary_join_element_wise(*[pc.fill_null(_to_str(a), "") for a in args], "")


@register("replace", 3, 3, _str1, constant=(1, 2))
def _replace(s, old, new, dtype=None):
    return pc.replace_substring(s, scalar_py(old, "REPLACE's pattern"), scalar_py(new, "REPLACE's replacement"))


@register("strpos", 2, 2, lambda args: _str1(args) and pa.int64(), constant=(1,))
def _strpos(s, sub, dtype=None):
    return pc.add(pc.find_substring(s, scalar_py(sub, "The searched string")), 1).cast(pa.int64())


register("starts_with", 2, 2, _like_type, constant=(1,))(lambda s, p, dtype=None: pc.starts_with(s, scalar_py(p, "The prefix")))
register("ends_with", 2, 2, _like_type, constant=(1,))(lambda s, p, dtype=None: pc.ends_with(s, scalar_py(p, "The suffix")))
register("contains", 2, 2, _like_type, constant=(1,))(lambda s, p, dtype=None: pc.match_substring(s, scalar_py(p, "The searched string")))


@register("lpad", 3, 3, _str1, constant=(1, 2))
def _lpad(s, n, c, dtype=None):
    w = scalar_py(n, "LPAD's width")
    return pc.utf8_slice_codeunits(pc.utf8_lpad(s, w, scalar_py(c, "LPAD's fill")), 0, w)


@register("rpad", 3, 3, _str1, constant=(1, 2))
def _rpad(s, n, c, dtype=None):
    w = scalar_py(n, "RPAD's width")
    return pc.utf8_slice_codeunits(pc.utf8_rpad(s, w, scalar_py(c, "RPAD's fill")), 0, w)


@register("repeat", 2, 2, _str1)
def _repeat(s, n, dtype=None):
    return pc.binary_repeat(s, n)


@register("split_part", 3, 3, _str1, constant=(1, 2))
def _split_part(s, sep, idx, dtype=None):
    parts = pc.split_pattern(s, scalar_py(sep, "SPLIT_PART's separator"))
    i = scalar_py(idx, "SPLIT_PART's index")
    got = pc.list_element(pc.list_slice(parts, i - 1, i, return_fixed_size_list=False), 0) \
        if not is_scalar(parts) else pa.scalar(parts.as_py()[i - 1] if parts.is_valid and len(parts.as_py()) >= i else "", pa.string())
    return pc.if_else(pc.is_valid(s), pc.fill_null(got, ""), pa.scalar(None, pa.string())) if not is_scalar(got) else got
