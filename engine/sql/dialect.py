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
from sqlglot.errors import ErrorLevel
from sqlglot.expressions import Expr, Func
from sqlglot.tokens import TokenType


def _counting(builder):
    if getattr(builder, "__func__", None) is Func.from_arg_list.__func__:
        return builder  # the default builder keeps every argument (or raises)

    def build(args, dialect=None):
        # the parser calls builder(args) and, on TypeError, builder(args, dialect=...)
        node = builder(args) if dialect is None else builder(args, dialect=dialect)
        if isinstance(node, Expr):
            node.meta["dawn_argc"] = len(args)
        return node
    return build


class Dawn(DuckDB):
    # the parser records each function's name as written (node.meta["dawn_name"]): messages and
    # name lookups use the user's spelling, not sqlglot's class for it (instr parses as StrPosition)
    ORIGINAL_NAME_META_KEY = "dawn_name"

    class Tokenizer(DuckDB.Tokenizer):
        pass

    class Parser(DuckDB.Parser):
        # sqlglot's custom function builders read the arguments they know and drop the rest
        # (regexp_extract's fifth): each node records how many arguments were written, so the
        # binder can refuse a call whose arguments it did not all receive
        FUNCTIONS = {name: _counting(builder) for name, builder in DuckDB.Parser.FUNCTIONS.items()}

        def validate_expression(self, expression, args=None):
            # a function call with the wrong arguments is reported by the name the user wrote,
            # not as "Required keyword: 'substr' missing for <class ...StrPosition>"
            if isinstance(expression, Func) and self.error_level != ErrorLevel.IGNORE \
                    and expression.error_messages(args):
                name = self._call_name() or expression.sql_name().lower()
                if args is not None:
                    self.raise_error(f'Function "{name}" does not take {len(args)} argument(s)')
                else:
                    self.raise_error(f'Function "{name}" is missing an argument')
            return super().validate_expression(expression, args)

        def _call_name(self) -> str | None:
            """The name before the '(' of the call being parsed."""
            depth, i = 0, min(self._index, len(self._tokens)) - 1
            while i > 0:
                kind = self._tokens[i].token_type
                if kind == TokenType.R_PAREN:
                    depth += 1
                elif kind == TokenType.L_PAREN:
                    if depth == 0:
                        return self._tokens[i - 1].text
                    depth -= 1
                i -= 1
            return None

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
