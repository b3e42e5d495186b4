"""Built-in scalar functions and operators: their type rules and their vectorized kernels.

One table, ``FUNCTIONS``, maps a name to a ``Function``: an arity range, a rule that computes the
result type from argument types (raising TypeMismatchError when they do not fit), and a kernel over
Arrow arrays/scalars built on pyarrow.compute and numpy. Semantics follow DuckDB; where Dawn differs
(DECIMAL is DOUBLE), engine.plan.types says so.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, NotSupportedError, TypeMismatchError
from engine.plan import types as T

Value = Any  # pa.Array | pa.ChunkedArray | pa.Scalar


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    rtype: Callable[[list[pa.DataType]], pa.DataType]
    kernel: Callable[..., Value]
    coerce: str = "none"  # "common": cast all args to their common type before the call


FUNCTIONS: dict[str, Function] = {}
ALIASES = {"char_length": "length", "len": "length", "character_length": "length",
           "substr": "substring", "pow": "power", "ceiling": "ceil", "instr": "strpos",
           "position": "strpos", "ifnull": "coalesce", "log": "log10", "lcase": "lower",
           "ucase": "upper", "datepart": "date_part", "datetrunc": "date_trunc",
           "starts_with": "starts_with", "prefix": "starts_with", "suffix": "ends_with",
           "string_split": "split_part", "mod": "mod_fn", "day": "dayofmonth"}


def register(name: str, min_args: int, max_args: int, rtype, coerce: str = "none",
             constant: tuple[int, ...] = ()):
    """``constant``: positions of arguments the kernel reads as one value (a LIKE pattern, a pad
    width); when a column is passed there instead, the kernel runs once per distinct value."""
    def deco(kernel):
        k = _per_distinct(kernel, constant) if constant else kernel
        FUNCTIONS[name] = Function(name, min_args, max_args, rtype, k, coerce)
        return kernel
    return deco


def _per_distinct(kernel, positions: tuple[int, ...]):
    """Wrap a kernel whose arguments at ``positions`` must be scalars so that it also takes
    columns there: rows are grouped by the distinct values of those columns (one hash pass), the
    kernel runs once per group on that group's rows, and the results are put back in row order.
    Every such function is NULL when one of those arguments is NULL, as in DuckDB."""
    def k(*args, dtype=None):
        varying = [i for i in positions if i < len(args) and not is_scalar(args[i])]
        if not varying:
            return kernel(*args, dtype=dtype)
        arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in args]
        n = len(arrays[varying[0]])
        if n == 0:
            return pa.nulls(0, dtype if dtype is not None else pa.null())
        names = [f"k{j}" for j in range(len(varying))]
        keys = pa.table({nm: arrays[i] for nm, i in zip(names, varying)})
        keys = keys.append_column("__row", pa.array(np.arange(n, dtype=np.int64)))
        groups = keys.group_by(names, use_threads=False).aggregate([("__row", "list")])
        rows_of = groups.column("__row_list").combine_chunks()
        results, order, null_rows = [], [], []
        for g in range(groups.num_rows):
            rows = rows_of[g].values
            vals = {i: groups.column(nm)[g] for nm, i in zip(names, varying)}
            if not all(v.is_valid for v in vals.values()):
                null_rows.append(rows)
                continue
            sub = [vals[i] if i in vals else a if is_scalar(a) else a.take(rows)
                   for i, a in enumerate(arrays)]
            r = kernel(*sub, dtype=dtype)
            results.append(pa.repeat(r, len(rows)) if is_scalar(r) else
                           r.combine_chunks() if isinstance(r, pa.ChunkedArray) else r)
            order.append(rows)
        t = results[0].type if results else (dtype or pa.null())
        results = [r.cast(t) if r.type != t else r for r in results]
        results.append(pa.nulls(sum(len(r) for r in null_rows), t))
        where = pa.concat_arrays(order + null_rows).to_numpy()
        inverse = np.empty(n, dtype=np.int64)
        inverse[where] = np.arange(n, dtype=np.int64)
        return pa.concat_arrays(results).take(pa.array(inverse))
    k.__doc__ = kernel.__doc__
    return k


def lookup(name: str) -> Function | None:
    name = name.lower()
    return FUNCTIONS.get(ALIASES.get(name, name))


# ---------------------------------------------------------------- type rules

def _fixed(t: pa.DataType):
    return lambda args: t


def _first(args):
    return args[0]


def _need(pred, what: str):
    def rule(args):
        for a in args:
            if not pa.types.is_null(a) and not pred(a):
                raise TypeMismatchError(f"expects {what} arguments, got {T.sql_name(a)}")
        return None
    return rule


def _numeric_result(args):
    _need(T.is_numeric, "numeric")(args)
    if all(T.is_integer(a) or pa.types.is_null(a) for a in args):
        if all(pa.types.is_null(a) for a in args):
            return pa.int32()
        return T.INT_BY_RANK[max(T.INT_RANK.get(a, 1) for a in args)]
    return pa.float64()


def _int_widen(args):
    t = _numeric_result(args)
    return pa.int64() if T.is_integer(t) and T.INT_RANK[t] >= 3 else t


def _float_result(args):
    _need(T.is_numeric, "numeric")(args)
    return pa.float64()


def _string_result(args):
    return pa.string()


def _bool_result(args):
    return pa.bool_()


# ---------------------------------------------------------------- helpers

def is_scalar(v: Value) -> bool:
    return isinstance(v, pa.Scalar)


def scalar_py(v: Value, what: str) -> Any:
    if not is_scalar(v):
        raise NotSupportedError(f"{what} must be a constant")
    return v.as_py()


def _to_numpy(v: Value, fill) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(v, pa.ChunkedArray):
        v = pa.concat_arrays(v.chunks) if v.num_chunks != 1 else v.chunk(0)
    mask = None
    if v.null_count:
        mask = v.is_null().to_numpy(zero_copy_only=False)
        v = pc.fill_null(v, fill)
    return v.to_numpy(zero_copy_only=False), mask


# ---------------------------------------------------------------- arithmetic

def _arith_type(op: str):
    def rule(args):
        a, b = args
        if op in ("add", "subtract"):
            if pa.types.is_date(a) and T.is_integer(b):
                return pa.date32()
            if op == "add" and T.is_integer(a) and pa.types.is_date(b):
                return pa.date32()
            if T.is_temporal(a) and pa.types.is_interval(b):
                return T.TIMESTAMP
            if op == "add" and pa.types.is_interval(a) and T.is_temporal(b):
                return T.TIMESTAMP
            if pa.types.is_interval(a) and pa.types.is_interval(b):
                return T.INTERVAL
            if op == "subtract" and pa.types.is_date(a) and pa.types.is_date(b):
                return pa.int64()
            if op == "subtract" and T.is_temporal(a) and T.is_temporal(b):
                return T.INTERVAL
        if op == "divide":
            return _float_result(args)
        if op == "intdiv":
            return _int_widen(args) if all(T.is_integer(x) or pa.types.is_null(x) for x in args) \
                else pa.float64()
        return _int_widen(args)
    return rule


def _months_add(ts: Value, months: int) -> Value:
    """Add calendar months to timestamps, clamping the day to the target month's length."""
    arr = ts if not is_scalar(ts) else pa.array([ts.as_py()], T.TIMESTAMP)
    vals, mask = _to_numpy(arr.cast(pa.int64()), 0)
    t64 = vals.astype("datetime64[us]")
    month = t64.astype("datetime64[M]")
    day_start = t64.astype("datetime64[D]")
    dom = (day_start - month.astype("datetime64[D]")).astype(np.int64)
    tod = (t64 - day_start.astype("datetime64[us]")).astype(np.int64)
    new_month = month + np.timedelta64(months, "M")
    dim = ((new_month + np.timedelta64(1, "M")).astype("datetime64[D]")
           - new_month.astype("datetime64[D]")).astype(np.int64)
    new = (new_month.astype("datetime64[D]") + np.minimum(dom, dim - 1)).astype("datetime64[us]")
    out = new.astype(np.int64) + tod
    res = pa.array(out, pa.int64(), mask=mask).cast(T.TIMESTAMP)
    return res[0] if is_scalar(ts) else res


def _add_interval(x: Value, iv: Value, sign: int) -> Value:
    ivv = scalar_py(iv, "An interval operand")
    if ivv is None:
        return pa.scalar(None, T.TIMESTAMP) if is_scalar(x) else pa.nulls(len(x), T.TIMESTAMP)
    months, days, nanos = ivv.months, ivv.days, ivv.nanoseconds
    ts = x.cast(T.TIMESTAMP)
    if months:
        ts = _months_add(ts, sign * months)
    micros = sign * (days * 86_400_000_000 + nanos // 1000)
    if micros:
        ts = pc.add(ts, pa.scalar(micros, pa.duration("us")))
    return ts


def _check_int(fn):
    def k(a, b, dtype=None):
        if pa.types.is_floating(dtype):
            return getattr(pc, fn)(a, b)
        return getattr(pc, fn + "_checked")(a, b)
    return k


@register("add", 2, 2, _arith_type("add"))
def _add(a, b, dtype=None):
    if pa.types.is_interval(b.type):
        return _add_interval(a, b, 1)
    if pa.types.is_interval(a.type):
        return _add_interval(b, a, 1)
    if pa.types.is_date(a.type) or pa.types.is_date(b.type):
        d, n = (a, b) if pa.types.is_date(a.type) else (b, a)
        return pc.add(d.cast(pa.int32()), n.cast(pa.int32())).cast(pa.date32())
    return _arith(a, b, dtype, "add")


@register("subtract", 2, 2, _arith_type("subtract"))
def _subtract(a, b, dtype=None):
    if pa.types.is_interval(b.type):
        return _add_interval(a, b, -1)
    if pa.types.is_date(a.type) and pa.types.is_date(b.type):
        return pc.subtract(a.cast(pa.int32()).cast(pa.int64()), b.cast(pa.int32()).cast(pa.int64()))
    if pa.types.is_date(a.type):
        return pc.subtract(a.cast(pa.int32()), b.cast(pa.int32())).cast(pa.date32())
    if T.is_temporal(a.type) and T.is_temporal(b.type):
        diff = pc.subtract(a.cast(T.TIMESTAMP).cast(pa.int64()), b.cast(T.TIMESTAMP).cast(pa.int64()))
        raise NotSupportedError("Subtracting timestamps yields an INTERVAL, which is not supported")
    return _arith(a, b, dtype, "subtract")


def _arith(a, b, dtype, op):
    a, b = a.cast(dtype), b.cast(dtype)
    try:
        return (getattr(pc, op) if pa.types.is_floating(dtype) else getattr(pc, op + "_checked"))(a, b)
    except pa.ArrowInvalid as e:
        raise DataError(f"Overflow in {op} of {T.sql_name(dtype)} values: {e}") from None


@register("multiply", 2, 2, _arith_type("multiply"))
def _multiply(a, b, dtype=None):
    return _arith(a, b, dtype, "multiply")


@register("divide", 2, 2, _arith_type("divide"))
def _divide(a, b, dtype=None):
    return pc.divide(a.cast(pa.float64()), b.cast(pa.float64()))


@register("intdiv", 2, 2, _arith_type("intdiv"))
def _intdiv(a, b, dtype=None):
    if pa.types.is_floating(dtype):
        return pc.divide(a.cast(dtype), b.cast(dtype))  # DuckDB: // on DOUBLE does not floor
    try:
        return pc.divide_checked(a.cast(dtype), b.cast(dtype))
    except pa.ArrowInvalid as e:
        raise DataError(f"Division by zero in integer division ({e})") from None


def _mod(a, b, dtype=None):
    a, b = a.cast(dtype), b.cast(dtype)
    if pa.types.is_floating(dtype):
        fa, ma = (np.asarray(a.as_py(), dtype=float), None) if is_scalar(a) else _to_numpy(a, 0.0)
        fb, mb = (np.asarray(b.as_py(), dtype=float), None) if is_scalar(b) else _to_numpy(b, 1.0)
        if (is_scalar(a) and not a.is_valid) or (is_scalar(b) and not b.is_valid):
            return pa.scalar(None, dtype) if is_scalar(a) and is_scalar(b) else \
                pa.nulls(len(a) if not is_scalar(a) else len(b), dtype)
        with np.errstate(all="ignore"):
            r = np.fmod(fa, fb)
        if is_scalar(a) and is_scalar(b):
            return pa.scalar(float(r), dtype)
        mask = ma if mb is None else (mb if ma is None else (ma | mb))
        return pa.array(np.broadcast_to(r, (len(a) if not is_scalar(a) else len(b),)), dtype, mask=mask)
    try:
        q = pc.divide_checked(a, b)
    except pa.ArrowInvalid:
        raise DataError("Division by zero in modulo") from None
    return pc.subtract(a, pc.multiply(q, b))


register("mod", 2, 2, _arith_type("mod"))(_mod)
register("mod_fn", 2, 2, _arith_type("mod"))(_mod)


@register("negate", 1, 1, lambda args: _need(lambda t: T.is_numeric(t) or pa.types.is_interval(t), "numeric")(args) or args[0])
def _negate(a, dtype=None):
    return pc.negate_checked(a) if T.is_integer(a.type) else pc.negate(a)


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


def _cmp_kernel(k):
    def kernel(a, b, dtype=None):
        return _bool_nulls(a, b) if _untyped(a, b) else k(a, b)
    return kernel


for _n, _k in (("eq", pc.equal), ("neq", pc.not_equal), ("lt", pc.less), ("lte", pc.less_equal),
               ("gt", pc.greater), ("gte", pc.greater_equal)):
    FUNCTIONS[_n] = Function(_n, 2, 2, _cmp_type, _cmp_kernel(_k), "common")


@register("is_distinct", 2, 2, _cmp_type, "common")
def _is_distinct(a, b, dtype=None):
    if _untyped(a, b):
        # NULL is not distinct from NULL, and distinct from any value
        return pc.is_valid(b if pa.types.is_null(a.type) else a)
    eq = pc.fill_null(pc.equal(a, b), False)
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


@register("regexp_matches", 2, 2, _like_type, constant=(1,))
def _regexp_matches(a, p, dtype=None):
    return pc.match_substring_regex(a, scalar_py(p, "A regular expression"))


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


# ---------------------------------------------------------------- math

def _float1(args):
    return _float_result(args[:1])


register("abs", 1, 1, lambda a: _numeric_result(a) if not T.is_integer(a[0]) else a[0])(
    lambda a, dtype=None: pc.abs_checked(a) if T.is_integer(a.type) else pc.abs(a))
register("sqrt", 1, 1, _float1)(lambda a, dtype=None: pc.sqrt(a.cast(pa.float64())))
register("cbrt", 1, 1, _float1)(lambda a, dtype=None: pc.power(a.cast(pa.float64()), 1.0 / 3.0))
register("exp", 1, 1, _float1)(lambda a, dtype=None: pc.exp(a.cast(pa.float64())))
register("ln", 1, 1, _float1)(lambda a, dtype=None: pc.ln(a.cast(pa.float64())))
register("log10", 1, 1, _float1)(lambda a, dtype=None: pc.log10(a.cast(pa.float64())))
register("log2", 1, 1, _float1)(lambda a, dtype=None: pc.log2(a.cast(pa.float64())))
register("sin", 1, 1, _float1)(lambda a, dtype=None: pc.sin(a.cast(pa.float64())))
register("cos", 1, 1, _float1)(lambda a, dtype=None: pc.cos(a.cast(pa.float64())))
register("power", 2, 2, _float_result)(lambda a, b, dtype=None: pc.power(a.cast(pa.float64()), b.cast(pa.float64())))
register("sign", 1, 1, lambda a: _numeric_result(a) and pa.int64())(lambda a, dtype=None: pc.sign(a).cast(pa.int64()))
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


# ---------------------------------------------------------------- dates and times

_PARTS = {"year", "month", "day", "quarter", "week", "dow", "isodow", "doy", "hour", "minute",
          "second", "epoch", "millisecond", "microsecond", "dayofweek", "dayofyear", "yearweek",
          "decade", "century", "millennium", "isoyear"}


def _part_type(args):
    if not T.is_temporal(args[-1]) and not pa.types.is_null(args[-1]):
        raise TypeMismatchError(f"expects a DATE or TIMESTAMP, got {T.sql_name(args[-1])}")
    return pa.int64()


def date_part(part: str, x: Value) -> Value:
    part = part.lower()
    if part in ("year", "years", "y"):
        r = pc.year(x)
    elif part in ("month", "months", "mon"):
        r = pc.month(x)
    elif part in ("day", "days", "d", "dayofmonth"):
        r = pc.day(x)
    elif part == "quarter":
        r = pc.quarter(x)
    elif part == "week":
        r = pc.iso_week(x)
    elif part in ("dow", "dayofweek"):
        r = pc.day_of_week(x, count_from_zero=True, week_start=7)
    elif part == "isodow":
        r = pc.day_of_week(x, count_from_zero=False, week_start=1)
    elif part in ("doy", "dayofyear"):
        r = pc.day_of_year(x)
    elif part == "isoyear":
        r = pc.iso_year(x)
    elif part == "hour":
        r = pc.hour(x)
    elif part == "minute":
        r = pc.minute(x)
    elif part == "second":
        r = pc.second(x)
    elif part == "millisecond":
        r = pc.add(pc.multiply(pc.second(x), 1000), pc.millisecond(x))
    elif part == "microsecond":
        r = pc.add(pc.multiply(pc.second(x), 1_000_000),
                   pc.add(pc.multiply(pc.millisecond(x), 1000), pc.microsecond(x)))
    elif part == "epoch":
        return pc.divide(x.cast(T.TIMESTAMP).cast(pa.int64()), 1_000_000).cast(pa.int64())
    elif part == "decade":
        r = pc.divide(pc.year(x), 10)
    elif part == "century":
        r = pc.add(pc.divide(pc.subtract(pc.year(x), 1), 100), 1)
    else:
        raise NotSupportedError(f'Unknown date part "{part}"; use one of {", ".join(sorted(_PARTS))}')
    return r.cast(pa.int64())


@register("date_part", 2, 2, _part_type, constant=(0,))
def _date_part(part, x, dtype=None):
    return date_part(scalar_py(part, "The date part"), x)


for _p in ("year", "month", "dayofmonth", "quarter", "week", "dayofweek", "dayofyear", "hour",
           "minute", "second"):
    FUNCTIONS[_p] = Function(_p, 1, 1, _part_type,
                             (lambda p: lambda x, dtype=None: date_part(p, x))(_p))

_TRUNC = {"year": "year", "quarter": "quarter", "month": "month", "week": "week", "day": "day",
          "hour": "hour", "minute": "minute", "second": "second", "millisecond": "millisecond",
          "microsecond": "microsecond", "decade": None, "century": None}


@register("date_trunc", 2, 2, lambda args: _part_type(args) and T.TIMESTAMP, constant=(0,))
def _date_trunc(part, x, dtype=None):
    p = str(scalar_py(part, "The date part")).lower()
    if _TRUNC.get(p) is None:
        raise NotSupportedError(f'Unknown date part "{p}" for date_trunc')
    return pc.floor_temporal(x.cast(T.TIMESTAMP), unit=_TRUNC[p])


def _strftime_type(args):
    _part_type(args[:1])
    return pa.string()


@register("strftime", 2, 2, _strftime_type, constant=(1,))
def _strftime(x, fmt, dtype=None):
    return pc.strftime(x.cast(T.TIMESTAMP), format=scalar_py(fmt, "The format string"))


@register("make_date", 3, 3, lambda args: _numeric_result(args) and pa.date32())
def _make_date(y, m, d, dtype=None):
    n = max(1 if is_scalar(v) else len(v) for v in (y, m, d))
    def arr(v):
        return np.full(n, v.as_py(), dtype=np.int64) if is_scalar(v) else _to_numpy(v.cast(pa.int64()), 1)[0]
    months = (arr(y) - 1970) * 12 + arr(m) - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]") + (arr(d) - 1)
    res = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32())
    return res[0] if all(is_scalar(v) for v in (y, m, d)) else res


@register("date_diff", 3, 3, lambda args: pa.int64(), constant=(0,))
def _date_diff(part, a, b, dtype=None):
    p = str(scalar_py(part, "The date part")).lower().rstrip("s")
    if p == "day":
        return pc.days_between(a.cast(T.TIMESTAMP), b.cast(T.TIMESTAMP)).cast(pa.int64())
    if p == "month":  # month boundaries crossed (Arrow's month_interval_between has no Python type)
        def months(x):
            return pc.add(pc.multiply(pc.year(x).cast(pa.int64()), 12), pc.month(x).cast(pa.int64()))
        return pc.subtract(months(b), months(a))
    if p == "year":
        return pc.years_between(a.cast(T.TIMESTAMP), b.cast(T.TIMESTAMP)).cast(pa.int64())
    raise NotSupportedError(f'date_diff does not support the part "{p}"')


ALIASES["datediff"] = "date_diff"
