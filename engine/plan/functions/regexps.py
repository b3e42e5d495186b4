"""Regular expressions, DuckDB's way: regexp_matches (a match anywhere), regexp_full_match,
regexp_extract (a group of the first match, '' when there is none) and regexp_replace (the first
match, or every one with the 'g' option). Patterns are RE2, as in both DuckDB and Arrow, so they
pass through unchanged; the options c, i, s, l (literal), g and the newline options n, p, m are
DuckDB's.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, TypeMismatchError
from engine.plan import types as T
from engine.plan.functions.registry import is_scalar, register, scalar_py


def _text_rule(n_text: int, result: pa.DataType, int_at: tuple[int, ...] = ()):
    def rule(args):
        for i, a in enumerate(args):
            if pa.types.is_null(a):
                continue
            if i in int_at:
                if not T.is_integer(a):
                    raise TypeMismatchError(f"expects an integer group as argument {i + 1}, got "
                                            f"{T.sql_name(a)}")
            elif not T.is_string(a):
                raise TypeMismatchError(f"expects VARCHAR as argument {i + 1}, got {T.sql_name(a)}")
        return result
    return rule


def _null(s, t):
    return pa.scalar(None, t) if is_scalar(s) else pa.nulls(len(s), t)


def _pattern(p, options, replace: bool = False) -> tuple[str | None, bool]:
    """The RE2 pattern with DuckDB's options applied, and whether 'g' was given."""
    pat = scalar_py(p, "A regular expression")
    opts = "" if options is None else scalar_py(options, "The regular expression options")
    if pat is None or opts is None:
        return None, False
    flags, glob = "", False
    for o in opts:
        if o == "i":
            flags = flags.replace("i", "") + "i"
        elif o == "c":
            flags = flags.replace("i", "")
        elif o == "s":
            flags += "s"
        elif o == "l":
            pat = re.escape(pat)
        elif o == "g" and replace:
            glob = True
        elif o in "npm":
            pass  # newline-sensitive matching: RE2's default already keeps '.' off newlines
        else:
            raise DataError(f"Unrecognized Regex option {o}")
    return (f"(?{flags})" if flags else "") + pat, glob


@register("regexp_matches", 2, 3, _text_rule(3, pa.bool_()), constant=(1, 2))
def _regexp_matches(s, p, options=None, dtype=None):
    pat, _ = _pattern(p, options)
    if pat is None:
        return _null(s, pa.bool_())
    return pc.match_substring_regex(s, pat)


@register("regexp_full_match", 2, 3, _text_rule(3, pa.bool_()), constant=(1, 2))
def _regexp_full_match(s, p, options=None, dtype=None):
    pat, _ = _pattern(p, options)
    if pat is None:
        return _null(s, pa.bool_())
    return pc.match_substring_regex(s, f"^(?:{pat})$")


def _name_groups(pat: str) -> tuple[str, int]:
    """Name every capturing group g1, g2, ... (Arrow's extract_regex reads named groups only)."""
    out, k, i, in_class = [], 0, 0, False
    while i < len(pat):
        ch = pat[i]
        if ch == "\\":
            out.append(pat[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            if pat.startswith("(?P<", i):
                k += 1
                out.append(f"(?P<g{k}>")
                i = pat.index(">", i) + 1
                continue
            if not pat.startswith("(?", i):
                k += 1
                out.append(f"(?P<g{k}>")
                i += 1
                continue
        out.append(ch)
        i += 1
    return "".join(out), k


@register("regexp_extract", 2, 4, _text_rule(4, pa.string(), int_at=(2,)), constant=(1, 2, 3))
def _regexp_extract(s, p, group=None, options=None, dtype=None):
    pat, _ = _pattern(p, options)
    g = 0 if group is None else scalar_py(group, "regexp_extract's group")
    if pat is None:
        return _null(s, pa.string())
    if g is None:
        return pc.if_else(pc.is_valid(s), "", pa.scalar(None, pa.string())) \
            if not is_scalar(s) else pa.scalar("" if s.is_valid else None, pa.string())
    if not 0 <= g <= 9:
        raise DataError("Group index must be between 0 and 9!")
    flags = ""
    if pat.startswith("(?") and ")" in pat and pat[2:pat.index(")")].isalpha():
        flags, pat = pat[:pat.index(")") + 1], pat[pat.index(")") + 1:]
    named, count = _name_groups(pat)
    if g > count:
        return pc.if_else(pc.is_valid(s), "", pa.scalar(None, pa.string())) \
            if not is_scalar(s) else pa.scalar("" if s.is_valid else None, pa.string())
    rx = f"{flags}(?P<g0>{named})"
    arr = s if not is_scalar(s) else pa.array([s.as_py()], pa.string())
    got = pc.struct_field(pc.extract_regex(arr, rx), [g])
    # no match: '' (the row is valid), an input NULL stays NULL
    out = pc.if_else(pc.is_valid(arr), pc.fill_null(got, ""), pa.scalar(None, pa.string()))
    return out[0] if is_scalar(s) else out


@register("regexp_replace", 3, 4, _text_rule(4, pa.string()), constant=(1, 2, 3))
def _regexp_replace(s, p, r, options=None, dtype=None):
    pat, glob = _pattern(p, options, replace=True)
    rep = scalar_py(r, "The replacement")
    if pat is None or rep is None:
        return _null(s, pa.string())
    if glob:
        return pc.replace_substring_regex(s, pat, rep)
    return pc.replace_substring_regex(s, pat, rep, max_replacements=1)
