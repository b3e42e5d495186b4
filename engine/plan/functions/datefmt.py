"""strftime and strptime with DuckDB's format specifiers, vectorized.

strftime splits the (constant) format into literal text and specifiers, computes each specifier
for the whole column from the calendar fields (dates.Fields) and joins the pieces with one Arrow
kernel. strptime compiles the format into a regular expression with one group per specifier,
extracts the groups with Arrow and builds the timestamps with numpy; a string that does not
match raises (strptime) or is NULL (try_strptime), as in DuckDB. Numbers may be written with
fewer digits than their width and with leading spaces; a space in the format matches one or more
white-space characters; trailing white space is ignored.

Not supported (refused by name): %z and %Z in strptime (they make a TIMESTAMP WITH TIME ZONE),
%n (nanoseconds, a TIMESTAMP_NS).
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, NotSupportedError, TypeMismatchError
from engine.plan import types as T
from engine.plan.functions.calendar import month_days, month_start
from engine.plan.functions.dates import (
    _DAYS,
    _MONTHS,
    US_PER_DAY,
    Fields,
    _days_from_ymd,
)
from engine.plan.functions.registry import is_scalar, register

_SPEC = re.compile(r"%(-?)([a-zA-Z%])")


def _tokens(fmt: str) -> list[tuple[str, str]]:
    """('lit', text) and ('spec', letter or -letter) pieces of a format."""
    out, pos = [], 0
    for m in _SPEC.finditer(fmt):
        if m.start() > pos:
            out.append(("lit", fmt[pos:m.start()]))
        out.append(("spec", m.group(1) + m.group(2)))
        pos = m.end()
    if pos < len(fmt):
        out.append(("lit", fmt[pos:]))
    stray = re.sub(_SPEC, "", fmt)
    if "%" in stray:
        raise DataError(f"Failed to parse format specifier {fmt}: a '%' is not followed by a "
                        "format letter")
    return out


_KNOWN = set("aAwdbBmyYHIpMSfzZjUWcxXTgGVu%n") | {"-d", "-m", "-y", "-H", "-I", "-M", "-S", "-j"}


def validate_format(fmt: str) -> None:
    """Refuse a format DuckDB refuses, when the statement is bound (as DuckDB does), not only when
    a row reaches it."""
    for kind, text in _tokens(fmt):
        if kind == "spec" and text not in _KNOWN:
            raise DataError(f"Failed to parse format specifier {fmt}: Unrecognized format for "
                            f"strftime/strptime: %{text}")


# ---------------------------------------------------------------- strftime


def _num(values: np.ndarray, width: int, pad: bool) -> pa.Array:
    """Numbers as text, zero-padded to ``width``; a negative year is not padded (DuckDB: -2)."""
    values = values.astype(np.int64)
    s = pa.array(values).cast(pa.string())
    if not (pad and width > 1):
        return s
    padded = pc.utf8_lpad(s, width, "0")
    neg = values < 0
    return pc.if_else(pa.array(neg), s, padded) if neg.any() else padded


def _names(names: list[str], idx: np.ndarray, short: bool) -> pa.Array:
    table = pa.array([n[:3] for n in names] if short else names)
    return table.take(pa.array(idx.astype(np.int64)))


def _spec_text(spec: str, f: Fields) -> pa.Array | str:
    pad = not spec.startswith("-")
    c = spec.lstrip("-")
    if c == "Y":
        return _num(f.year, 4, True)
    if c == "y":
        return _num(np.abs(f.year) % 100, 2, pad)  # the year -2 is 02, as C's % and DuckDB
    if c == "m":
        return _num(f.month, 2, pad)
    if c == "d":
        return _num(f.day, 2, pad)
    if c == "H":
        return _num(f.hour, 2, pad)
    if c == "I":
        return _num((f.hour + 11) % 12 + 1, 2, pad)
    if c == "M":
        return _num(f.minute, 2, pad)
    if c == "S":
        return _num(f.second, 2, pad)
    if c == "f":
        return _num(f.micro, 6, True)
    if c == "g":
        return _num(f.micro // 1000, 3, True)
    if c == "n":
        return _num(f.micro * 1000, 9, True)
    if c == "j":
        return _num(f.doy, 3, pad)
    if c == "p":
        return pa.array(np.where(f.hour < 12, "AM", "PM"))
    if c in ("a", "A"):
        return _names(_DAYS, f.dow, c == "a")
    if c in ("b", "h", "B"):
        return _names(_MONTHS, f.month - 1, c != "B")
    if c == "w":
        return _num(f.dow, 1, False)
    if c == "u":
        return _num((f.dow + 6) % 7 + 1, 1, False)
    if c == "U":
        return _num((f.doy - 1 + 7 - f.dow) // 7, 2, True)
    if c == "W":
        return _num((f.doy - 1 + 7 - (f.dow + 6) % 7) // 7, 2, True)
    if c == "V":
        return _num(f.iso()[1], 2, True)
    if c == "G":
        return _num(f.iso()[0], 4, True)
    if c == "z":
        return "+00"
    if c == "Z":
        return ""
    if c == "%":
        return "%"
    if c in ("c", "x", "X", "T"):
        sub = {"c": "%Y-%m-%d %H:%M:%S", "x": "%Y-%m-%d", "X": "%H:%M:%S", "T": "%H:%M:%S"}[c]
        return _format(_tokens(sub), f)
    raise DataError(f"Failed to parse format specifier %{spec}: Unrecognized format for "
                    f"strftime/strptime: %{spec}")


def _format(tokens: list[tuple[str, str]], f: Fields) -> pa.Array:
    pieces = [text if kind == "lit" else _spec_text(text, f) for kind, text in tokens]
    arrays = [p for p in pieces if not isinstance(p, str)]
    n = len(f.year)
    if not arrays:
        return pa.array(["".join(pieces)] * n, pa.string())
    return pc.binary_join_element_wise(*pieces, "")


def _strftime_type(args):
    a, b = args
    if (T.is_temporal(a) or pa.types.is_null(a)) and (T.is_string(b) or pa.types.is_null(b)):
        return pa.string()
    if T.is_string(a) and T.is_temporal(b):
        return pa.string()  # strftime(format, value), DuckDB's other order
    raise TypeMismatchError(f"expects (DATE or TIMESTAMP, VARCHAR), got ({T.sql_name(a)}, "
                            f"{T.sql_name(b)})")


@register("strftime", 2, 2, _strftime_type)
def _strftime(x, fmt, dtype=None):
    if T.is_string(x.type):
        x, fmt = fmt, x
    if not is_scalar(fmt):
        raise NotSupportedError("strftime's format must be a constant")
    spec = fmt.as_py()
    if spec is None or pa.types.is_null(x.type):
        return pa.scalar(None, pa.string()) if is_scalar(x) else pa.nulls(len(x), pa.string())
    f = Fields(x)
    out = _format(_tokens(spec), f)
    if f.mask.any():
        out = pc.if_else(pa.array(f.mask), pa.scalar(None, pa.string()), out)
    return out[0] if f.scalar else out


# ---------------------------------------------------------------- strptime

_NUM = {"Y": r"\s*([+-]?\d{1,4})", "y": r"\s*(\d{1,2})", "m": r"\s*(\d{1,2})",
        "d": r"\s*(\d{1,2})", "H": r"\s*(\d{1,2})", "I": r"\s*(\d{1,2})", "M": r"\s*(\d{1,2})",
        "S": r"\s*(\d{1,2})", "j": r"\s*(\d{1,3})", "f": r"(\d{1,6})", "g": r"(\d{1,3})",
        "p": r"\s*([AaPp][Mm])", "b": r"\s*([A-Za-z]{3})", "h": r"\s*([A-Za-z]{3})",
        "B": r"\s*([A-Za-z]+)", "a": r"\s*([A-Za-z]{3})", "A": r"\s*([A-Za-z]+)",
        "w": r"\s*(\d)", "u": r"\s*(\d)"}


def _compile(fmt: str) -> tuple[str, list[str]]:
    """A format as a regular expression, and the specifier of each of its groups."""
    parts, fields = ["^"], []
    for kind, text in _tokens(fmt):
        if kind == "lit":
            for ch in text:
                parts.append(r"\s+" if ch.isspace() else re.escape(ch))
            continue
        c = text.lstrip("-")
        if c in ("c", "x", "X", "T"):
            sub = {"c": "%Y-%m-%d %H:%M:%S", "x": "%Y-%m-%d", "X": "%H:%M:%S", "T": "%H:%M:%S"}[c]
            rx, fl = _compile(sub)
            parts.append(rx[1:-4])
            fields.extend(fl)
            continue
        if c == "%":
            parts.append("%")
            continue
        if c in ("z", "Z", "n"):
            raise NotSupportedError(f"strptime's %{c} is not supported (DuckDB returns a "
                                    f"{'TIMESTAMP_NS' if c == 'n' else 'TIMESTAMP WITH TIME ZONE'} for it)")
        if c not in _NUM:
            raise DataError(f"Failed to parse format specifier {fmt}: Unrecognized format for "
                            f"strftime/strptime: %{c}")
        parts.append(_NUM[c])
        fields.append(c)
    parts.append(r"\s*$")
    return "".join(parts), fields


def _month_number(names: pa.Array, full: bool) -> np.ndarray:
    low = pc.utf8_lower(names)
    table = pa.array([m.lower() if full else m[:3].lower() for m in _MONTHS])
    idx = pc.index_in(low, value_set=table)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False) + 1


def parse_with(s: pa.Array, fmt: str, safe: bool) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the epoch of each string read with ``fmt``, and which rows parsed."""
    rx, fields = _compile(fmt)
    n = len(s)
    matched = pc.fill_null(pc.match_substring_regex(s, rx), False).to_numpy(zero_copy_only=False)
    groups = None
    if fields:
        groups = pc.extract_regex(pc.if_else(pa.array(matched), s, pa.scalar(_sample(fmt))),
                                  _named(rx, len(fields)))
    values: dict[str, np.ndarray] = {}
    for i, c in enumerate(fields):
        g = pc.struct_field(groups, [i])
        if c in ("b", "h", "B"):
            v = _month_number(g, c == "B")
            matched &= v > 0
            values["m"] = v
        elif c in ("a", "A"):
            continue  # the weekday's name is read and ignored
        elif c == "p":
            values["p"] = pc.equal(pc.utf8_lower(g), "pm").to_numpy(zero_copy_only=False)
        elif c in ("f", "g"):
            padded = pc.utf8_rpad(g, 6 if c == "f" else 3, "0")
            v = pc.cast(padded, pa.int64()).to_numpy(zero_copy_only=False)
            values["us"] = v if c == "f" else v * 1000
        else:
            v = pc.cast(pc.utf8_trim_whitespace(g), pa.int64()).to_numpy(zero_copy_only=False)
            values[c] = v
    one = np.ones(n, np.int64)
    zero = np.zeros(n, np.int64)
    year = values.get("Y")
    if year is None and "y" in values:
        yy = values["y"]
        year = np.where(yy < 69, 2000 + yy, 1900 + yy)
    if year is None:
        year = np.full(n, 1900, np.int64)
    hour = values.get("H", zero)
    if "I" in values:
        h12 = values["I"]
        matched &= (h12 >= 1) & (h12 <= 12)
        pm = values.get("p", np.zeros(n, bool))
        hour = h12 % 12 + np.where(pm, 12, 0)
    minute, second, us = values.get("M", zero), values.get("S", zero), values.get("us", zero)
    matched &= (hour < 24) & (minute < 60) & (second < 60)
    if "j" in values:
        jan1 = _days_from_ymd(year, one, one, ~matched)
        days = jan1 + values["j"] - 1
        matched &= (values["j"] >= 1) & (values["j"] <= 366)
    else:
        month, day = values.get("m", one), values.get("d", one)
        ok = (month >= 1) & (month <= 12) & (day >= 1)
        bad_date = matched & ~ok
        if not safe and bad_date.any():
            i = int(np.argmax(bad_date))
            raise DataError(f"Date out of range: {year[i]}-{month[i]}-{day[i]}")
        matched &= ok
        try:
            days = _days_from_ymd(year, np.where(matched, month, 1), np.where(matched, day, 1),
                                  ~matched)
        except DataError:
            if not safe:
                raise
            days = _days_or_invalid(year, month, day, matched)
            matched &= days >= -10 ** 9
    us_total = days * US_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000_000 + us
    return us_total, matched


def _days_or_invalid(year, month, day, matched) -> np.ndarray:
    """Days since the epoch, with -10**9 where the day does not exist in its month."""
    mm = np.clip(month, 1, 12)
    months = (year - 1970) * 12 + mm - 1
    first = month_start(months)
    nxt = first + month_days(months)
    return np.where(matched & (day <= nxt - first), first + day - 1, -10 ** 9)


def _named(rx: str, k: int) -> str:
    """Arrow's extract_regex wants named groups: name the format's groups g0, g1, ..."""
    out, i = [], 0
    j = 0
    while j < len(rx):
        if rx[j] == "\\":
            out.append(rx[j:j + 2])
            j += 2
            continue
        if rx[j] == "(" and not rx.startswith("(?", j):
            out.append(f"(?P<g{i}>")
            i += 1
        else:
            out.append(rx[j])
        j += 1
    return "".join(out)


def _sample(fmt: str) -> str:
    """A string that matches ``fmt`` (stands in for the rows that did not match)."""
    fill = {"Y": "1970", "y": "70", "m": "1", "d": "1", "H": "0", "I": "12", "M": "0", "S": "0",
            "j": "1", "f": "0", "g": "0", "p": "AM", "b": "Jan", "h": "Jan", "B": "January",
            "a": "Thu", "A": "Thursday", "w": "4", "u": "4", "%": "%"}
    out = []
    for kind, text in _tokens(fmt):
        if kind == "lit":
            out.append(text)
        else:
            c = text.lstrip("-")
            if c in ("c", "x", "X", "T"):
                out.append(_sample({"c": "%Y-%m-%d %H:%M:%S", "x": "%Y-%m-%d",
                                    "X": "%H:%M:%S", "T": "%H:%M:%S"}[c]))
            else:
                out.append(fill.get(c, "0"))
    return "".join(out)


def _strptime_type(args):
    s, f = args
    if not (T.is_string(s) or pa.types.is_null(s)):
        raise TypeMismatchError(f"expects VARCHAR as argument 1, got {T.sql_name(s)}")
    if not (T.is_string(f) or pa.types.is_null(f) or
            (pa.types.is_list(f) and T.is_string(f.value_type))):
        raise TypeMismatchError(f"expects a VARCHAR format (or a list of them), got {T.sql_name(f)}")
    return T.TIMESTAMP


def _strptime(safe: bool):
    def kernel(s, fmt, dtype=None):
        if not is_scalar(fmt):
            raise NotSupportedError("strptime's format must be a constant")
        spec = fmt.as_py()
        if spec is None or pa.types.is_null(s.type):
            return pa.scalar(None, T.TIMESTAMP) if is_scalar(s) else pa.nulls(len(s), T.TIMESTAMP)
        formats = spec if isinstance(spec, list) else [spec]
        arr = s if not is_scalar(s) else pa.array([s.as_py()], pa.string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        us = np.zeros(len(arr), np.int64)
        done = np.zeros(len(arr), bool)
        for f in formats:  # the first format that reads a value wins
            got, ok = parse_with(arr, f, True if len(formats) > 1 else safe)
            take = ok & ~done
            us = np.where(take, got, us)
            done |= ok
        valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        bad = valid & ~done
        if not safe and bad.any():
            first = arr[int(np.argmax(bad))].as_py()
            raise DataError(f'Could not parse string "{first}" according to format specifier '
                            f'"{spec if not isinstance(spec, list) else formats[0]}"')
        out = pa.array(us, pa.int64(), mask=~(valid & done)).cast(T.TIMESTAMP)
        return out[0] if is_scalar(s) else out
    return kernel


register("strptime", 2, 2, _strptime_type)(_strptime(False))
register("try_strptime", 2, 2, _strptime_type)(_strptime(True))
