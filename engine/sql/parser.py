"""Parsing: SQL text to sqlglot ASTs through the Dawn dialect, with located syntax errors.

Parameters are substituted here as AST literals (never by string interpolation), so a placeholder
inside a string literal is left alone and a value can never change the statement's shape.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError as _SqlglotParseError
from sqlglot.errors import TokenError as _SqlglotTokenError

from engine.errors import ParseError, ProgrammingError
from engine.sql.dialect import Dawn


def number_placeholders(sql: str) -> str:
    """Rewrite each positional ``?`` token as ``$N`` so parameters bind in textual order.

    Only placeholder tokens change (the tokenizer knows string literals and comments), never the
    values: these are bound later as AST literals.
    """
    if "?" not in sql:
        return sql
    try:
        tokens = Dawn().tokenize(sql)
    except _SqlglotTokenError:
        return sql
    out, last, n = [], 0, 0
    for t in tokens:
        if t.token_type.name == "PLACEHOLDER" and t.text == "?":
            n += 1
            out.append(sql[last:t.start])
            out.append(f"${n}")
            last = t.end + 1
    out.append(sql[last:])
    return "".join(out)


def parse(sql: str) -> list[exp.Expression]:
    """Parse one or more ';'-separated statements."""
    sql = number_placeholders(sql)
    try:
        stmts = sqlglot.parse(sql, read=Dawn)
    except _SqlglotParseError as e:
        err = e.errors[0] if e.errors else {}
        line, col = err.get("line"), err.get("col")
        tok = err.get("highlight") or ""
        if col is not None and tok:
            col = max(1, col - len(tok) + 1)
        desc = _user_words(err.get("description") or str(e), tok)
        near = f' near "{tok}"' if tok else ""
        raise ParseError(f"{desc}{near}", line, col) from None
    except _SqlglotTokenError as e:
        raise ParseError(_token_error(sql, str(e))) from None
    return [s for s in stmts if s is not None]


_REQUIRED = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*\.(\w+)'>")
_TOKEN_REPR = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+, col: \d+, "
                         r"start: \d+, end: \d+, comments: \[.*?\]>")
# sqlglot's node class -> the SQL words a user wrote
_CONSTRUCTS = {"Where": "WHERE", "Order": "ORDER BY", "Group": "GROUP BY", "Having": "HAVING",
               "Limit": "LIMIT", "Offset": "OFFSET", "Union": "UNION", "Intersect": "INTERSECT",
               "Except": "EXCEPT", "Qualify": "QUALIFY", "Add": "+", "Sub": "-", "Mul": "*",
               "Div": "/", "Mod": "%", "EQ": "=", "NEQ": "<>", "GT": ">", "GTE": ">=", "LT": "<",
               "LTE": "<=", "And": "AND", "Or": "OR", "Not": "NOT", "Like": "LIKE", "In": "IN",
               "Between": "BETWEEN", "Cast": "CAST", "Case": "CASE", "Alias": "AS", "Join": "JOIN"}


def _user_words(desc: str, tok: str) -> str:
    """sqlglot's messages name its Python classes and token objects; say it in SQL instead."""
    m = _REQUIRED.search(desc)
    if m:
        what = _CONSTRUCTS.get(m.group(2))
        if what is None:  # a function: the token the user wrote names it
            what = tok.strip("(") or m.group(2).lower()
            return f"{what}(...) is missing an argument"
        return f"Expected an expression after {what}"

    def token(mt: re.Match) -> str:
        return "the end of the statement" if mt.group(1) == "SENTINEL" else f'"{mt.group(2)}"'
    return _TOKEN_REPR.sub(token, desc)


def _token_error(sql: str, msg: str) -> str:
    """A tokenizer failure: almost always a string or quoted name that is never closed."""
    for quote, what in (("'", "string"), ('"', "quoted identifier")):
        opened = None
        i = 0
        while i < len(sql):
            ch = sql[i]
            if ch == quote:
                if opened is None:
                    opened = i
                elif i + 1 < len(sql) and sql[i + 1] == quote:
                    i += 1  # doubled quote inside
                else:
                    opened = None
            i += 1
        if opened is not None:
            line = sql.count("\n", 0, opened) + 1
            col = opened - (sql.rfind("\n", 0, opened) + 1) + 1
            return f"Unterminated {what} starting at line {line}, column {col}"
    return msg


def location(node: exp.Expression | None) -> str:
    """' at line L, column C' for a node whose tokens carry positions, else ''."""
    if node is None:
        return ""
    target = node
    for cand in ([node] + list(node.find_all(exp.Identifier))):
        meta = getattr(cand, "_meta", None) or {}
        if "line" in meta:
            target = cand
            break
    meta = getattr(target, "_meta", None) or {}
    if "line" not in meta:
        return ""
    col = meta["col"] - (meta.get("end", 0) - meta.get("start", 0))
    return f" at line {meta['line']}, column {col}"


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            return exp.cast(exp.Literal.string(str(value)), "DOUBLE")
        lit = exp.Literal.number(repr(value) if isinstance(value, float) else str(value))
        return exp.Neg(this=exp.Literal.number(str(-value))) if value < 0 else lit
    if isinstance(value, decimal.Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, _dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, _dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, _dt.time):
        return exp.cast(exp.Literal.string(value.isoformat()), "TIME")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return exp.cast(exp.Literal.string(bytes(value).hex()), "BLOB")  # decoded by the binder
    raise ProgrammingError(f"Unsupported parameter type {type(value).__name__}")


def bind_parameters(stmt: exp.Expression, params: Sequence[Any] | Mapping[str, Any] | None) -> exp.Expression:
    """Replace ? / $n / :name placeholders with literal AST nodes; counts must match exactly."""
    holders = list(stmt.find_all(exp.Placeholder, exp.Parameter))
    if not holders:
        if params:
            raise ProgrammingError(
                f"The statement has no parameters but {len(params)} were supplied")
        return stmt
    if params is None:
        raise ProgrammingError(f"The statement has {len(holders)} parameter(s) but none were supplied")
    stmt = stmt.copy()
    holders = list(stmt.find_all(exp.Placeholder, exp.Parameter))
    if isinstance(params, Mapping):
        for h in holders:
            name = h.name if isinstance(h, exp.Placeholder) else h.this.name
            if not name or name not in params:
                raise ProgrammingError(f"No value supplied for parameter :{name or '?'}")
            h.replace(_literal(params[name]))
        return stmt
    params = list(params)
    names = [h.name if isinstance(h, exp.Placeholder) else h.this.name for h in holders]
    if not all(n.isdigit() for n in names):
        raise ProgrammingError("Named parameters (:name) need a mapping of values, not a sequence")
    wanted = max(int(n) for n in names)
    if wanted != len(params):
        raise ProgrammingError(
            f"The statement has {wanted} parameter(s) but {len(params)} were supplied")
    for h, n in zip(holders, names):
        h.replace(_literal(params[int(n) - 1]))
    return stmt
