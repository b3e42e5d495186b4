"""format() (fmt's {} syntax) and printf() (C's % syntax), as DuckDB provides them, vectorized:
the constant format string is parsed once, each placeholder's argument is rendered for the whole
column with Arrow kernels and numpy, and the pieces are joined. A NULL argument makes the row
NULL.

Supported: positional and numbered placeholders, fill/alignment, sign, zero padding, width,
precision, and the types s, d (i), c, x, X, o, b, f, and ',' grouping; fixed-point digits are
rounded from the double's exact value, ties to even, as C and fmt do. The exponent forms (e, g)
are refused by name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, NotSupportedError
from engine.plan import types as T
from engine.plan.functions.registry import Value, is_scalar, register
from engine.plan.functions.textcast import to_text


@dataclass
class Spec:
    arg: int
    fill: str = " "
    align: str = ""  # < > ^ or '' (the type's default)
    sign: str = ""
    zero: bool = False
    width: int = 0
    precision: int | None = None
    kind: str = ""  # '' is the default rendering
    grouping: bool = False


_FMT_SPEC = re.compile(r"^(?:(.)?([<>^]))?([+\- ])?(0)?(\d+)?(,)?(?:\.(\d+))?([a-zA-Z])?$")
_PRINTF = re.compile(r"%([-+ 0#]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def _parse_fmt(fmt: str) -> list[str | Spec]:
    out: list[str | Spec] = []
    i, auto, lit = 0, 0, []
    while i < len(fmt):
        ch = fmt[i]
        if ch == "{" and fmt.startswith("{{", i) or ch == "}" and fmt.startswith("}}", i):
            lit.append(ch)
            i += 2
            continue
        if ch == "{":
            j = fmt.find("}", i)
            if j < 0:
                raise DataError(f"format(): unmatched '{{' in format string \"{fmt}\"")
            body = fmt[i + 1:j]
            field, _, spec = body.partition(":")
            if field.strip():
                if not field.strip().isdigit():
                    raise NotSupportedError(f"format(): named arguments ({{{field}}}) are not "
                                            "supported")
                arg = int(field)
            else:
                arg, auto = auto, auto + 1
            m = _FMT_SPEC.match(spec)
            if m is None:
                raise DataError(f"format(): invalid format specifier \"{spec}\"")
            fill, align, sign, zero, width, group, prec, kind = m.groups()
            if lit:
                out.append("".join(lit))
                lit = []
            out.append(Spec(arg, fill or " ", align or "", sign if sign in ("+", " ") else "",
                            bool(zero), int(width or 0), int(prec) if prec else None,
                            kind or "", bool(group)))
            i = j + 1
            continue
        if ch == "}":
            raise DataError(f"format(): unmatched '}}' in format string \"{fmt}\"")
        lit.append(ch)
        i += 1
    if lit:
        out.append("".join(lit))
    return out


def _parse_printf(fmt: str) -> list[str | Spec]:
    out: list[str | Spec] = []
    pos, arg = 0, 0
    for m in _PRINTF.finditer(fmt):
        if m.start() > pos:
            out.append(fmt[pos:m.start()])
        flags, width, prec, kind = m.groups()
        pos = m.end()
        if kind == "%":
            out.append("%")
            continue
        if kind == "i":
            kind = "d"
        zero = "0" in flags and "-" not in flags and kind not in ("s", "c")
        out.append(Spec(arg, " ", "<" if "-" in flags else ("" if zero else ">"),
                        "+" if "+" in flags else (" " if " " in flags else ""),
                        zero, int(width or 0),
                        int(prec) if prec else None, kind, False))
        arg += 1
    if pos < len(fmt):
        out.append(fmt[pos:])
    return out


def _radix(v: np.ndarray, base: int, upper: bool) -> pa.Array:
    """Non-negative integers written in base 2, 8 or 16, on a numpy digit matrix."""
    from engine.plan.functions.textcast import _from_matrix
    alphabet = np.frombuffer(("0123456789ABCDEF" if upper else "0123456789abcdef").encode(),
                             dtype=np.uint8)
    x = v.astype(np.uint64)
    width = 64 if base == 2 else 22
    mat = np.zeros((len(x), width), np.uint8)
    nd = np.ones(len(x), np.int64)
    for k in range(width):  # digit k from the right
        mat[:, width - 1 - k] = alphabet[(x % np.uint64(base)).astype(np.int64)]
        x = x // np.uint64(base)
        nd = np.where(x > 0, k + 2, nd)
        if not x.any():
            break
    cols = np.arange(width)[None, :]
    left = np.take_along_axis(mat, np.minimum(cols + (width - nd)[:, None], width - 1), axis=1)
    return _from_matrix(left, nd, None)


def _fixed(x: pa.Array, digits: int) -> pa.Array:
    """Doubles with ``digits`` decimals, rounded from the exact value, ties to even."""
    v = pc.fill_null(x.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False)
    finite = np.isfinite(v)
    with np.errstate(all="ignore"):
        scaled = np.rint(np.abs(v).astype(np.longdouble) * np.longdouble(10) ** digits)
    big = finite & (scaled >= 9.2e18)
    ints = np.where(finite & ~big, scaled, 0).astype(np.int64)
    s = pa.array(ints).cast(pa.string())
    if digits:
        s = pc.utf8_lpad(s, digits + 1, "0")
        head = _drop_tail(s, digits)
        tail = pc.utf8_slice_codeunits(s, -digits)
        s = pc.binary_join_element_wise(head, tail, ".")
    neg = pa.array(np.signbit(v) & (finite & ((ints != 0) | np.signbit(v))))
    s = pc.if_else(neg, pc.binary_join_element_wise("-", s, ""), s)
    special = pa.array(np.where(np.isnan(v), "nan", np.where(v > 0, "inf", "-inf")).tolist())
    s = pc.if_else(pa.array(finite), s, special)
    if big.any():
        # beyond int64 once scaled: Python's exact formatting, once per distinct such value
        vals = np.unique(v[big])
        text = pa.array([format(float(x), f".{digits}f") for x in vals])
        idx = pc.index_in(pa.array(v), value_set=pa.array(vals))
        s = pc.if_else(pa.array(big), text.take(pc.fill_null(idx, 0)), s)
    return s


def _drop_tail(s: pa.Array, k: int) -> pa.Array:
    """Each string without its last k characters."""
    return pc.replace_substring_regex(s, rf".{{{k}}}$", "")


def _group(s: pa.Array) -> pa.Array:
    for _ in range(7):
        s = pc.replace_substring_regex(s, r"^([-+]?\d+)(\d{3})", r"\1,\2")
    return s


def _render(v: Value, spec: Spec, n: int, printf: bool) -> pa.Array:
    arr = pa.repeat(v, n) if is_scalar(v) else v
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    kind = spec.kind
    fn = "printf" if printf else "format"
    numeric = T.is_integer(t) or pa.types.is_floating(t)
    if kind in ("e", "E", "g", "G", "a", "A"):
        raise NotSupportedError(f"{fn}(): the %{kind} (exponent) format is not supported")
    if printf and kind == "s" and numeric:
        raise DataError(f'Invalid type specifier "s" for formatting a value of type '
                        f'{"int" if T.is_integer(t) else "float"}')
    if kind in ("d", "x", "X", "o", "b", "c") and not (T.is_integer(t) or pa.types.is_boolean(t)):
        raise DataError(f'Invalid type specifier "{kind}" for formatting a value of type '
                        f'{"float" if pa.types.is_floating(t) else "string"}')
    if kind in ("f", "F") and not pa.types.is_floating(t):
        raise DataError(f'Invalid type specifier "{kind}" for formatting a value of type '
                        f'{"int" if T.is_integer(t) else "string"}')
    if kind in ("d", "x", "X", "o", "b"):
        ints = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        neg_np = ints < 0
        if kind == "d":
            s = pa.array(np.abs(ints)).cast(pa.string())
        elif printf:  # C's printf writes a negative number's 64-bit two's complement
            s = _radix(ints.view(np.uint64), {"x": 16, "X": 16, "o": 8, "b": 2}[kind], kind == "X")
            neg_np = np.zeros(len(ints), bool)
        else:
            s = _radix(np.abs(ints), {"x": 16, "X": 16, "o": 8, "b": 2}[kind], kind == "X")
        if spec.grouping:
            s = _group(s)
        neg = pa.array(neg_np)
        sign = pc.if_else(neg, pa.scalar("-"), pa.scalar(spec.sign or ""))
        return _pad_number(sign, s, spec)
    if kind == "c":
        from engine.plan.functions.strings import _chr
        return _pad_text(_chr(arr), spec)
    if kind in ("f", "F") or (pa.types.is_floating(t) and spec.precision is not None):
        s = _fixed(arr, 6 if spec.precision is None else spec.precision)
        neg = pc.starts_with(s, "-")
        body = pc.if_else(neg, pc.utf8_slice_codeunits(s, 1), s)
        if spec.grouping:
            body = _group(body)
        sign = pc.if_else(neg, pa.scalar("-"), pa.scalar(spec.sign or ""))
        return _pad_number(sign, body, spec)
    # the default rendering: DuckDB's text of the value (a FLOAT printed as the double it is)
    if pa.types.is_float32(t):
        arr = arr.cast(pa.float64())
    s = to_text(arr)
    if numeric and (spec.sign or spec.zero or spec.grouping):
        neg = pc.starts_with(s, "-")
        body = pc.if_else(neg, pc.utf8_slice_codeunits(s, 1), s)
        if spec.grouping:
            body = _group(body)
        sign = pc.if_else(neg, pa.scalar("-"), pa.scalar(spec.sign or ""))
        return _pad_number(sign, body, spec)
    if spec.precision is not None:
        s = pc.utf8_slice_codeunits(s, 0, spec.precision)
    return _pad_text(s, spec, right=numeric)


def _pad_number(sign: pa.Array, digits: pa.Array, spec: Spec) -> pa.Array:
    if spec.zero and spec.width and not spec.align:
        # zeros go between the sign and the digits
        width = spec.width
        lengths = pc.add(pc.utf8_length(sign), pc.utf8_length(digits))
        need = pc.max_element_wise(pc.subtract(width, lengths), 0)
        zeros = pc.binary_repeat("0", need)
        return pc.binary_join_element_wise(sign, zeros, digits, "")
    return _pad_text(pc.binary_join_element_wise(sign, digits, ""), spec, right=True)


def _pad_text(s: pa.Array, spec: Spec, right: bool = False) -> pa.Array:
    if not spec.width:
        return s
    align = spec.align or (">" if right else "<")
    fn = {"<": pc.utf8_rpad, ">": pc.utf8_lpad, "^": _center}[align]
    return fn(s, spec.width, spec.fill)


def _center(s: pa.Array, width: int, fill: str) -> pa.Array:
    """fmt's centring: the odd padding character goes to the right."""
    n = pc.utf8_length(s)
    total = pc.max_element_wise(pc.subtract(width, n), 0)
    left = pc.divide(total, 2)
    right = pc.subtract(total, left)
    return pc.binary_join_element_wise(pc.binary_repeat(fill, left), s,
                                       pc.binary_repeat(fill, right), "")


def _format_call(printf: bool):
    name = "printf" if printf else "format"

    def kernel(fmt, *args, dtype=None):
        if not is_scalar(fmt):
            raise NotSupportedError(f"{name}'s format string must be a constant")
        text = fmt.as_py()
        n = next((len(a) for a in args if not is_scalar(a)), None)
        rows = 1 if n is None else n
        if text is None:
            return pa.scalar(None, pa.string()) if n is None else pa.nulls(rows, pa.string())
        pieces = _parse_printf(text) if printf else _parse_fmt(text)
        parts = []
        for p in pieces:
            if isinstance(p, str):
                parts.append(p)
                continue
            if p.arg >= len(args):
                raise DataError(f'Argument index "{p.arg}" out of range')
            parts.append(_render(args[p.arg], p, rows, printf))
        if not any(not isinstance(p, str) for p in parts):
            out = pa.array(["".join(parts)] * rows, pa.string())
        else:
            out = pc.binary_join_element_wise(*parts, "")
        # a NULL argument makes the row NULL, used or not (DuckDB)
        for a in args:
            valid = pc.is_valid(a)
            out = pc.if_else(valid, out, pa.scalar(None, pa.string())) if not is_scalar(valid) \
                else (out if valid.as_py() else pa.nulls(rows, pa.string()))
        return out[0] if n is None else out
    return kernel


def _format_type(args):
    if not (T.is_string(args[0]) or pa.types.is_null(args[0])):
        raise DataError(f"expects a VARCHAR format string as argument 1, got {T.sql_name(args[0])}")
    return pa.string()


register("format", 1, 1024, _format_type)(_format_call(False))
register("printf", 1, 1024, _format_type)(_format_call(True))
