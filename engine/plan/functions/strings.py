"""String functions, with DuckDB's semantics: positions and lengths count characters, trim
removes spaces only (unless told which characters), NULL arguments give NULL except in concat
and concat_ws, which skip them.

Arguments a kernel reads as one value (a pattern, a width) are declared ``constant``: a column
passed there runs the kernel once per distinct value (registry._per_distinct).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, TypeMismatchError
from engine.plan import types as T
from engine.plan.functions.registry import (
    Value,
    _need,
    _per_distinct,
    implicit_int,
    is_scalar,
    register,
    scalar_py,
)
from engine.plan.functions.textcast import to_text

# ---------------------------------------------------------------- type rules


def _is_text(t: pa.DataType) -> bool:
    return T.is_string(t) or pa.types.is_null(t)


def _text_args(*positions: int, result: pa.DataType = pa.string()):
    """A rule: the arguments at ``positions`` are VARCHAR, the others integers."""
    def rule(args):
        for i, a in enumerate(args):
            if pa.types.is_null(a):
                continue
            if i in positions and not T.is_string(a):
                raise TypeMismatchError(f"expects VARCHAR as argument {i + 1}, got {T.sql_name(a)}")
            if i not in positions and not T.is_integer(a):
                raise TypeMismatchError(f"expects an integer as argument {i + 1}, got "
                                        f"{T.sql_name(a)}")
        return result
    return rule


def _str1(args):
    _need(T.is_string, "VARCHAR")(args[:1])
    return pa.string()


def _null_like(s: Value, t: pa.DataType = pa.string()) -> Value:
    return pa.scalar(None, t) if is_scalar(s) else pa.nulls(len(s), t)


def _text(v: Value) -> Value:
    return v if pa.types.is_string(v.type) else to_text(v)


# ---------------------------------------------------------------- case, length, reverse

register("upper", 1, 1, _text_args(0))(lambda a, dtype=None: pc.utf8_upper(a))
register("lower", 1, 1, _text_args(0))(lambda a, dtype=None: pc.utf8_lower(a))
register("reverse", 1, 1, _text_args(0))(lambda a, dtype=None: pc.utf8_reverse(a))


def _length_type(args):
    t = args[0]
    if not (_is_text(t) or pa.types.is_list(t) or pa.types.is_large_list(t)):
        raise TypeMismatchError(f"expects VARCHAR or a list, got {T.sql_name(t)}")
    return pa.int64()


@register("length", 1, 1, _length_type)
def _length(a, dtype=None):
    if pa.types.is_list(a.type) or pa.types.is_large_list(a.type):
        return pc.list_value_length(a).cast(pa.int64())
    return pc.utf8_length(a).cast(pa.int64())


@register("strlen", 1, 1, _text_args(0, result=pa.int64()))
def _strlen(a, dtype=None):
    return pc.binary_length(a).cast(pa.int64())  # bytes, not characters (DuckDB)


# ---------------------------------------------------------------- trimming


def _trim(side: str):
    kernels = {"both": pc.utf8_trim, "left": pc.utf8_ltrim, "right": pc.utf8_rtrim}

    def k(a, chars=None, dtype=None):
        # DuckDB trims spaces only by default: tabs and newlines stay
        c = " " if chars is None else scalar_py(chars, "The characters to trim")
        if c is None:
            return _null_like(a)
        if c == "":
            return a
        return kernels[side](a, c)
    return k


register("trim", 1, 2, _text_args(0, 1), constant=(1,))(_trim("both"))
register("ltrim", 1, 2, _text_args(0, 1), constant=(1,))(_trim("left"))
register("rtrim", 1, 2, _text_args(0, 1), constant=(1,))(_trim("right"))


# ---------------------------------------------------------------- substrings


def _slice(s: Value, begin: int, stop: int | None) -> Value:
    """Characters [begin, stop) of each string (0-based, clipped)."""
    begin = max(begin, 0)
    if stop is not None and stop <= begin:
        return pc.utf8_slice_codeunits(s, 0, 0)
    return pc.utf8_slice_codeunits(s, begin, stop) if stop is not None else \
        pc.utf8_slice_codeunits(s, begin)


@register("substring", 2, 3, _text_args(0), constant=(1, 2))
def _substring(s, start, length=None, dtype=None):
    st = scalar_py(start, "SUBSTRING's start")
    ln = None if length is None else scalar_py(length, "SUBSTRING's length")
    if st is None or (length is not None and ln is None):
        return _null_like(s)
    if st < 0:
        # counted from the end: the window [len+st, len+st+ln), clipped to the string
        if ln is not None and ln < 0:
            return _by_length(s, lambda n: _window(n + st + ln, n + st))
        stop = None if ln is None or st + ln >= 0 else st + ln
        return _by_length(s, lambda n: _window(n + st, n if stop is None else n + stop))
    # 1-based; position 0 is the character before the first; a negative length reads backwards
    begin, end = (st - 1, None) if ln is None else \
        ((st - 1, st - 1 + ln) if ln >= 0 else (st - 1 + ln, st - 1))
    return _slice(s, begin, end)


def _window(begin: int, stop: int) -> tuple[int, int]:
    return max(begin, 0), max(stop, 0)


def _by_length(s: Value, window) -> Value:
    """Slices whose bounds depend on each string's length: one Arrow slice per distinct length."""
    if is_scalar(s):
        if not s.is_valid:
            return s
        b, e = window(len(s.as_py()))
        return pa.scalar(s.as_py()[b:e], pa.string())
    arr = s.combine_chunks() if isinstance(s, pa.ChunkedArray) else s
    lengths = pc.utf8_length(arr).to_numpy(zero_copy_only=False)
    out = arr
    for n in np.unique(lengths[pc.is_valid(arr).to_numpy(zero_copy_only=False)]):
        b, e = window(int(n))
        rows = pa.array(lengths == n)
        out = pc.replace_with_mask(out, rows, _slice(arr.filter(rows), b, e))
    return out


@register("left", 2, 2, _text_args(0), constant=(1,))
def _left(s, n, dtype=None):
    k = scalar_py(n, "LEFT's length")
    if k is None:
        return _null_like(s)
    if k >= 0:
        return _slice(s, 0, k)
    return _by_length(s, lambda m: (0, max(m + k, 0)))


@register("right", 2, 2, _text_args(0), constant=(1,))
def _right(s, n, dtype=None):
    k = scalar_py(n, "RIGHT's length")
    if k is None:
        return _null_like(s)
    if k == 0:
        return _slice(s, 0, 0)
    if k > 0:
        return pc.utf8_slice_codeunits(s, -k)
    return _slice(s, -k, None)


# ---------------------------------------------------------------- concatenation


def _any_result(args):
    return pa.string()


@register("concat_op", 2, 2, _any_result)
def _concat_op(a, b, dtype=None):
    return pc.binary_join_element_wise(_text(a), _text(b), "")


def _concat_type(args):
    for i, a in enumerate(args):
        if pa.types.is_list(a) or pa.types.is_struct(a):
            raise TypeMismatchError(f"cannot concatenate {T.sql_name(a)} (argument {i + 1}); "
                                    "cast it to VARCHAR")
    return pa.string()


@register("concat", 1, 1024, _concat_type)
def _concat(*args, dtype=None):
    # NULL arguments count as '' (DuckDB); Arrow's null_handling="skip" can drop whole rows
    # when every argument of a row is NULL, so fill them first
    return pc.binary_join_element_wise(*[pc.fill_null(_text(a), "") for a in args], "")


@register("concat_ws", 2, 1024, _concat_type, constant=(0,))
def _concat_ws(sep, *args, dtype=None):
    """concat_ws(separator, ...): the non-NULL arguments joined by the separator; NULL when the
    separator is. Each non-NULL argument is written with a separator in front, and the first
    separator is cut off (Arrow's null_handling="skip" loses rows whose arguments are all NULL)."""
    d = scalar_py(sep, "concat_ws's separator")
    n = next((len(a) for a in args if not is_scalar(a)), None)
    if d is None:
        return pa.scalar(None, pa.string()) if n is None else pa.nulls(n, pa.string())
    pieces = []
    for a in args:
        t = _text(a)
        if is_scalar(t):
            pieces.append(d + t.as_py() if t.is_valid else "")
        else:
            pieces.append(pc.fill_null(pc.binary_join_element_wise(d, t, ""), ""))
    joined = pc.binary_join_element_wise(*pieces, "") if n is not None else \
        pa.scalar("".join(pieces))
    return pc.utf8_slice_codeunits(joined, len(d)) if d else joined


# ---------------------------------------------------------------- search and replace


@register("replace", 3, 3, _text_args(0, 1, 2), constant=(1, 2))
def _replace(s, old, new, dtype=None):
    o = scalar_py(old, "REPLACE's pattern")
    r = scalar_py(new, "REPLACE's replacement")
    if o is None or r is None:
        return _null_like(s)
    if o == "":
        return s  # DuckDB; Arrow's kernel would never return
    return pc.replace_substring(s, o, r)


@register("strpos", 2, 2, _text_args(0, 1, result=pa.int64()), constant=(1,))
def _strpos(s, sub, dtype=None):
    """The 1-based character position of the first occurrence, 0 if there is none."""
    needle = scalar_py(sub, "The searched string")
    if needle is None:
        return _null_like(s, pa.int64())
    if needle == "":
        return pc.if_else(pc.is_valid(s), pa.scalar(1, pa.int64()), pa.scalar(None, pa.int64())) \
            if not is_scalar(s) else pa.scalar(1 if s.is_valid else None, pa.int64())
    found = pc.greater_equal(pc.find_substring(s, needle), 0)
    before = pc.list_element(pc.split_pattern(s, needle, max_splits=1), 0)
    pos = pc.add(pc.utf8_length(before).cast(pa.int64()), pa.scalar(1, pa.int64()))
    return pc.if_else(found, pos, pa.scalar(0, pa.int64()))


def _bool_text(args):
    _text_args(0, 1)(args)
    return pa.bool_()


def _bool_search(kernel, what: str):
    def k(s, p, dtype=None):
        v = scalar_py(p, what)
        if v is None:
            return _null_like(s, pa.bool_())
        return kernel(s, v)
    return k


register("starts_with", 2, 2, _bool_text, constant=(1,))(_bool_search(pc.starts_with, "The prefix"))
register("ends_with", 2, 2, _bool_text, constant=(1,))(_bool_search(pc.ends_with, "The suffix"))


def _contains_type(args):
    if pa.types.is_list(args[0]):
        from engine.plan.functions.lists import list_contains_type
        return list_contains_type(args)
    return _bool_text(args)


@register("contains", 2, 2, _contains_type, constant=(1,))
def _contains(s, p, dtype=None):
    if pa.types.is_list(s.type):
        from engine.plan.functions.lists import list_contains
        return list_contains(s, p)
    return _bool_search(pc.match_substring, "The searched string")(s, p)


# ---------------------------------------------------------------- padding and repeating


def _pad(left: bool):
    def k(s, n, c, dtype=None):
        w = scalar_py(n, "The pad width")
        fill = scalar_py(c, "The pad characters")
        if w is None or fill is None:
            return _null_like(s)
        if w <= 0:
            return _slice(s, 0, 0)
        cut = _slice(s, 0, w)
        if len(fill) == 1:
            return (pc.utf8_lpad if left else pc.utf8_rpad)(cut, w, fill)
        lengths = pc.utf8_length(cut)
        if fill == "":
            short = pc.fill_null(pc.less(lengths, w), False)
            if pc.any(short).as_py() if not is_scalar(short) else short.as_py():
                raise DataError(f"Insufficient padding in {'LPAD' if left else 'RPAD'}.")
            return cut
        # the pad of a string of m characters is pattern[:w - m]: one join per distinct length
        pattern = (fill * (w // len(fill) + 1))[:w]
        return _pad_by_length(cut, pattern, w, left)
    return k


def _pad_by_length(s: Value, pattern: str, w: int, left: bool) -> Value:
    if is_scalar(s):
        if not s.is_valid:
            return s
        v = s.as_py()
        p = pattern[:max(w - len(v), 0)]
        return pa.scalar(p + v if left else v + p, pa.string())
    arr = s.combine_chunks() if isinstance(s, pa.ChunkedArray) else s
    lengths = pc.utf8_length(arr).to_numpy(zero_copy_only=False)
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    out = arr
    for m in np.unique(lengths[valid]):
        rows = pa.array((lengths == m) & valid)
        p = pattern[:max(w - int(m), 0)]
        part = arr.filter(rows)
        joined = pc.binary_join_element_wise(p, part, "") if left else \
            pc.binary_join_element_wise(part, p, "")
        out = pc.replace_with_mask(out, rows, joined)
    return out


register("lpad", 3, 3, _text_args(0, 2), constant=(1, 2))(_pad(True))
register("rpad", 3, 3, _text_args(0, 2), constant=(1, 2))(_pad(False))


@register("repeat", 2, 2, _text_args(0))
def _repeat(s, n, dtype=None):
    if is_scalar(n):
        if not n.is_valid:
            return _null_like(s)
        return pc.binary_repeat(s, max(n.as_py(), 0))
    count = pc.max_element_wise(n.cast(pa.int64()), pa.scalar(0, pa.int64()))
    out = pc.binary_repeat(s, count)
    return pc.if_else(pc.is_valid(n), out, pa.scalar(None, pa.string()))


# ---------------------------------------------------------------- splitting


def _split(s: Value, sep: str) -> Value:
    if sep == "":  # every character alone; the empty string stays one empty part
        return _split_chars(s)
    return pc.split_pattern(s, sep)


def _split_chars(s: Value) -> Value:
    """Each string as the list of its characters ('' as [], as DuckDB), via a regex split on the
    gaps."""
    marked = pc.replace_substring_regex(s, r"(.)", "\\1\x00")
    marked = pc.replace_substring_regex(marked, "\x00$", "")
    parts = pc.split_pattern(marked, "\x00")
    empty = pc.equal(s, "")
    return pc.if_else(empty, pc.list_slice(parts, 0, 0), parts)


@register("split_part", 3, 3, _text_args(0, 1), constant=(1, 2))
def _split_part(s, sep, idx, dtype=None):
    """split_part(s, sep, i): the i-th part (1-based; negative counts from the end), '' when
    there is no such part."""
    d = scalar_py(sep, "SPLIT_PART's separator")
    i = scalar_py(idx, "SPLIT_PART's index")
    if d is None or i is None:
        return _null_like(s)
    parts = _split(s, d)
    if is_scalar(parts):
        if not parts.is_valid:
            return pa.scalar(None, pa.string())
        p = parts.as_py()
        got = p[i - 1] if 0 < i <= len(p) else p[i] if i < 0 and -i <= len(p) else ""
        return pa.scalar(got, pa.string())
    if isinstance(parts, pa.ChunkedArray):
        parts = parts.combine_chunks()
    off = parts.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    count = off[1:] - off[:-1]
    pos = np.full(len(count), i - 1, np.int64) if i > 0 else count + i
    ok = (i != 0) & (pos >= 0) & (pos < count) & parts.is_valid().to_numpy(zero_copy_only=False)
    take = pa.array(np.where(ok, off[:-1] + pos, 0), mask=~ok)
    got = parts.values.take(take) if len(parts.values) else pa.nulls(len(parts), pa.string())
    return pc.if_else(pc.is_valid(s), pc.fill_null(got, ""), pa.scalar(None, pa.string()))


def _list_of_text(args):
    _text_args(0, 1)(args)
    return pa.list_(pa.string())


_NO_SEPARATOR = "\x00\x01no separator\x01\x00"


def _split_by(s, sep, dtype=None):
    return _split(s, scalar_py(sep, "The separator"))


_split_by_each = _per_distinct(_split_by, (1,))


@register("string_split", 2, 2, _list_of_text)
def _string_split(s, sep, dtype=None):
    """A NULL separator does not split (DuckDB): it stands for a separator no text contains."""
    if is_scalar(sep):
        return _split(s, sep.as_py() if sep.is_valid else _NO_SEPARATOR)
    return _split_by_each(s, pc.fill_null(sep.cast(pa.string()), _NO_SEPARATOR), dtype=dtype)


# ---------------------------------------------------------------- characters


@register("ascii", 1, 1, _text_args(0, result=pa.int32()))
def _ascii(s, dtype=None):
    """The code point of the first character (0 for '')."""
    first = pc.utf8_slice_codeunits(s, 0, 1)
    arr = first if not is_scalar(first) else pa.array([first.as_py()], pa.string())
    out = _code_points(arr)
    return out[0] if is_scalar(s) else out


def _code_points(first: pa.Array) -> pa.Array:
    """The code point of one-character strings ('' -> 0), decoded from UTF-8 with numpy."""
    from engine.plan.functions.textcast import _char_matrix
    mat, lengths = _char_matrix(pc.fill_null(first, ""))
    b = mat.astype(np.int64)
    pad = np.zeros((len(lengths), max(0, 4 - b.shape[1])), np.int64)
    b = np.concatenate([b, pad], axis=1)
    cp = np.select([lengths == 1, lengths == 2, lengths == 3, lengths == 4],
                   [b[:, 0],
                    ((b[:, 0] & 0x1F) << 6) | (b[:, 1] & 0x3F),
                    ((b[:, 0] & 0x0F) << 12) | ((b[:, 1] & 0x3F) << 6) | (b[:, 2] & 0x3F),
                    ((b[:, 0] & 0x07) << 18) | ((b[:, 1] & 0x3F) << 12) | ((b[:, 2] & 0x3F) << 6)
                    | (b[:, 3] & 0x3F)], 0)
    return pa.array(cp.astype(np.int32), pa.int32(), mask=pc.is_null(first).to_numpy(zero_copy_only=False))


def _int_arg(args):
    implicit_int(args, pa.int32(), "the code point")
    return pa.string()


@register("chr", 1, 1, _int_arg)
def _chr(n, dtype=None):
    """The character of a code point, encoded to UTF-8 with numpy."""
    arr = n if not is_scalar(n) else pa.array([n.as_py()], n.type)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    cp = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    if ((cp < 0) | (cp > 0x10FFFF) | ((cp >= 0xD800) & (cp <= 0xDFFF)))[valid].any():
        raise DataError("chr(): invalid Unicode code point")
    nb = np.select([cp < 0x80, cp < 0x800, cp < 0x10000], [1, 2, 3], 4)
    nb = np.where(valid, nb, 0)
    mat = np.zeros((len(cp), 4), np.uint8)
    mat[:, 0] = np.select([nb == 1, nb == 2, nb == 3], [cp, 0xC0 | (cp >> 6), 0xE0 | (cp >> 12)],
                          0xF0 | (cp >> 18))
    mat[:, 1] = np.select([nb == 2, nb == 3], [0x80 | (cp & 0x3F), 0x80 | ((cp >> 6) & 0x3F)],
                          0x80 | ((cp >> 12) & 0x3F))
    mat[:, 2] = np.where(nb == 3, 0x80 | (cp & 0x3F), 0x80 | ((cp >> 6) & 0x3F))
    mat[:, 3] = 0x80 | (cp & 0x3F)
    from engine.plan.functions.textcast import _from_matrix
    out = _from_matrix(mat, nb.astype(np.int64), pa.array(valid) if not valid.all() else None)
    return out[0] if is_scalar(n) else out
