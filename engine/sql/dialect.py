"""The Dawn SQL dialect: DuckDB's grammar plus Dawn's own statements.

Queries parse with sqlglot through ``Dawn`` (later features add clauses such as
``ERROR WITHIN ... AT CONFIDENCE``). Dawn's catalog statements, which no sqlglot dialect knows,
are recognised here first:

    CREATE [OR REPLACE] FUNCTION name FROM 'package.module:attribute'
    DROP FUNCTION [IF EXISTS] name
    SHOW FUNCTIONS
    CREATE [OR REPLACE] VIDEO name FROM 'path.mp4' [WITH (fps = 5, width = 320, height = 240)]
    DROP VIDEO [IF EXISTS] name
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlglot.dialects.duckdb import DuckDB


class Dawn(DuckDB):
    class Tokenizer(DuckDB.Tokenizer):
        pass

    class Parser(DuckDB.Parser):
        pass

    class Generator(DuckDB.Generator):
        pass


@dataclass
class DawnStatement:
    kind: str                 # create_function | drop_function | show_functions | create_video | drop_video
    name: str = ""
    target: str = ""
    replace: bool = False
    if_exists: bool = False
    options: dict = field(default_factory=dict)


_I = re.IGNORECASE | re.DOTALL
_STR = r"'((?:[^']|'')*)'"
_PATTERNS = [
    ("create_function", re.compile(r"^\s*CREATE\s+(?P<r>OR\s+REPLACE\s+)?FUNCTION\s+(?P<n>\w+)\s+FROM\s+"
                                   + _STR + r"\s*;?\s*$", _I)),
    ("drop_function", re.compile(r"^\s*DROP\s+FUNCTION\s+(?P<e>IF\s+EXISTS\s+)?(?P<n>\w+)\s*;?\s*$", _I)),
    ("show_functions", re.compile(r"^\s*SHOW\s+FUNCTIONS\s*;?\s*$", _I)),
    ("create_video", re.compile(r"^\s*CREATE\s+(?P<r>OR\s+REPLACE\s+)?VIDEO\s+(?P<n>\w+)\s+FROM\s+" + _STR
                                + r"(?:\s+WITH\s*\((?P<o>[^)]*)\))?\s*;?\s*$", _I)),
    ("drop_video", re.compile(r"^\s*DROP\s+VIDEO\s+(?P<e>IF\s+EXISTS\s+)?(?P<n>\w+)\s*;?\s*$", _I)),
]


def parse_dawn_statement(sql: str) -> DawnStatement | None:
    """Recognise one of Dawn's own statements, or return None for ordinary SQL."""
    head = sql.lstrip()[:40].upper()
    if not any(w in head for w in ("FUNCTION", "VIDEO")):
        return None
    for kind, pat in _PATTERNS:
        m = pat.match(sql)
        if m is None:
            continue
        d = m.groupdict()
        st = DawnStatement(kind, name=(d.get("n") or ""), replace=bool(d.get("r")),
                           if_exists=bool(d.get("e")))
        if m.lastindex and kind in ("create_function", "create_video"):
            st.target = m.group(3).replace("''", "'")
        if d.get("o"):
            from engine.errors import ProgrammingError
            for item in d["o"].split(","):
                k, eq, v = item.partition("=")
                if not eq:
                    raise ProgrammingError(f"Cannot read video option {item.strip()!r}: use name = value")
                v = v.strip().strip("'")
                try:
                    st.options[k.strip().lower()] = float(v) if "." in v else int(v)
                except ValueError:
                    raise ProgrammingError(f"Video option {k.strip()} must be a number, got {v!r}") from None
        return st
    return None
