"""Parsing: SQL text to sqlglot ASTs through the Dawn dialect, with located syntax errors.

Parameters are substituted here as AST literals (never by string interpolation), so a placeholder
inside a string literal is left alone and a value can never change the statement's shape.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError as _SqlglotParseError
from sqlglot.errors import TokenError as _SqlglotTokenError

from engine.errors import DataError, NotSupportedError, ParseError, ProgrammingError
from engine.sql.dialect import Dawn


_VALUE_END = {"VAR", "IDENTIFIER", "R_PAREN", "R_BRACKET", "R_BRACE", "NUMBER", "STRING", "NULL",
              "TRUE", "FALSE", "STAR"}


def number_placeholders(sql: str) -> str:
    """Rewrite each positional ``?`` token as ``$N`` so parameters bind in textual order, and each
    ``:name`` placeholder as ``$name`` (DuckDB's grammar reads ``SELECT :x`` as a prefix alias
    ``alias: expression`` with the alias missing).

    Only placeholder tokens change (the tokenizer knows string literals and comments), never the
    values: these are bound later as AST literals.
    """
    if "?" not in sql and ":" not in sql:
        return sql
    try:
        tokens = Dawn().tokenize(sql)
    except _SqlglotTokenError:
        return sql
    out, last, n = [], 0, 0
    for i, t in enumerate(tokens):
        if t.token_type.name == "PLACEHOLDER" and t.text == "?":
            n += 1
            out.append(sql[last:t.start])
            out.append(f"${n}")
            last = t.end + 1
        elif t.token_type.name == "COLON" and i + 1 < len(tokens):
            nxt = tokens[i + 1]
            prev = tokens[i - 1].token_type.name if i else ""
            if nxt.start == t.end + 1 and nxt.token_type.name in ("VAR", "IDENTIFIER") \
                    and prev not in _VALUE_END:
                out.append(sql[last:t.start])
                out.append("$")
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
    out = [s for s in stmts if s is not None]
    for s in out:
        # a dollar-quoted string ($$text$$, $tag$text$tag$) is a string literal in DuckDB
        for raw in list(s.find_all(exp.RawString)):
            raw.replace(exp.Literal.string(raw.this))
    return out


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


BIGINT_MIN, BIGINT_MAX = -(1 << 63), (1 << 63) - 1
UBIGINT_MAX = (1 << 64) - 1
# Dawn holds HUGEINT as decimal128(38, 0) (DuckDB's Arrow form): 38 digits, not all of 2^127
HUGEINT_MAX = 10 ** 38 - 1
HUGEINT_MIN = -HUGEINT_MAX
_SUPPORTED = ("None, bool, int, float, decimal.Decimal, str, bytes/bytearray/memoryview, "
              "datetime.date/datetime/time/timedelta, numpy scalars and pandas Timestamp/Timedelta/NaT")


def plain_value(value: Any, where: str) -> Any:
    """A parameter as one of the Python types the binder turns into SQL literals: None, bool,
    int, float (numpy.float32 for a single-precision value, which binds as FLOAT), str, bytes,
    datetime.datetime/date/time/timedelta.

    numpy scalars become their Python values (numpy integers bind as Python integers do, so
    arithmetic on them follows the literal rules, not TINYINT overflow); ``Decimal`` becomes a
    float because Dawn computes DECIMAL as DOUBLE (engine/plan/types.py), as it does a decimal
    literal; pandas ``NaT``/``NA`` and numpy ``NaT`` are NULL. ``where`` ("parameter 2",
    "parameter :name") names the value in errors."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    what = where[:1].upper() + where[1:]
    pd = sys.modules.get("pandas")
    if pd is not None:
        if value is pd.NaT or value is pd.NA:
            return None
        if isinstance(value, pd.Timestamp):  # nanoseconds dropped, as DuckDB does
            value = value.replace(nanosecond=0).to_pydatetime()
        elif isinstance(value, pd.Timedelta):
            value = _dt.timedelta(microseconds=value.value // 1000)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        value = _numpy_value(np, value, what)
        if value is None or isinstance(value, (bool, np.float32)):
            return value
    if isinstance(value, int):
        if not HUGEINT_MIN <= value <= HUGEINT_MAX:
            raise DataError(f"{what} ({value}) is out of the range of HUGEINT, the widest integer "
                            "type (38 digits here)")
        return int(value)
    if isinstance(value, (float, decimal.Decimal)):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.astimezone(_dt.timezone.utc)
        return value.replace(tzinfo=None)
    if isinstance(value, (_dt.date, _dt.timedelta)):
        return value
    if isinstance(value, _dt.time):
        if value.tzinfo is not None and value.utcoffset() is not None:
            raise NotSupportedError(f"{what} is a time with a time zone (TIME WITH TIME ZONE), which "
                                    "Dawn does not support; pass a naive datetime.time")
        return value
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    raise ProgrammingError(f"{what} has type {name}, which Dawn cannot bind as a SQL value "
                           f"(supported: {_SUPPORTED})")


def _numpy_value(np, value, what: str):
    """A numpy scalar as the Python value it stands for (float32 stays numpy.float32)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        if np.datetime_data(value.dtype)[0] in ("Y", "M", "W", "D"):
            return value.astype("datetime64[D]").astype(_dt.date)
        us = int(np.array(value).astype("datetime64[us]").astype(np.int64))
        return _dt.datetime(1970, 1, 1) + _dt.timedelta(microseconds=us)
    if isinstance(value, np.timedelta64):
        if np.isnat(value):
            return None
        unit = np.datetime_data(value.dtype)[0]
        if unit in ("Y", "M"):
            raise ProgrammingError(f"{what} is a numpy timedelta64 in {unit} units, which has no fixed "
                                   "length; pass it in days or finer units")
        return _dt.timedelta(microseconds=int(np.array(value).astype("timedelta64[us]").astype(np.int64)))
    if isinstance(value, np.integer):  # after timedelta64, which is a numpy integer too
        return int(value)
    if isinstance(value, np.floating):
        return np.float32(value) if value.dtype.itemsize <= 4 else float(value)
    if isinstance(value, (np.str_, np.bytes_)):
        return value.item()
    raise ProgrammingError(f"{what} has type numpy.{type(value).__name__}, which Dawn cannot bind "
                           f"as a SQL value (supported: {_SUPPORTED})")


def _cast(node: exp.Expression, type_name: str) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build(type_name, dialect=Dawn))


def _number(text: str, negative: bool) -> exp.Expression:
    lit = exp.Literal.number(text)
    return exp.Neg(this=lit) if negative else lit


def _literal(value: Any, where: str = "parameter") -> exp.Expression:
    """The SQL literal a parameter value binds as (DuckDB's choice of type where it has one)."""
    value = plain_value(value, where)
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        # the literal rules type 2^63 and beyond as DOUBLE; DuckDB binds such a parameter as
        # UBIGINT or HUGEINT, and BIGINT's minimum has no positive literal to negate
        if value < BIGINT_MIN or value > BIGINT_MAX:
            kind = "UBIGINT" if 0 < value <= UBIGINT_MAX else "HUGEINT"
            return _cast(exp.Literal.string(str(value)), kind)
        if value == BIGINT_MIN:
            return _cast(exp.Literal.string(str(value)), "BIGINT")
        return _number(str(abs(value)), value < 0)
    if type(value).__name__ == "float32":
        return _cast(_literal(float(value), where), "FLOAT")
    if isinstance(value, float):
        if value != value or value in (math.inf, -math.inf):
            return _cast(exp.Literal.string(str(value)), "DOUBLE")
        return _number(repr(abs(value)), math.copysign(1.0, value) < 0)
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, bytes):
        return _cast(exp.Literal.string(value.hex()), "BLOB")  # decoded by the binder
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            return _cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMPTZ")
        return _cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, _dt.date):
        return _cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, _dt.time):
        # through TIMESTAMP: that cast reads fractional seconds, VARCHAR -> TIME does not yet
        stamp = _cast(exp.Literal.string(f"1970-01-01 {value.isoformat()}"), "TIMESTAMP")
        return _cast(stamp, "TIME")
    if isinstance(value, _dt.timedelta):
        # days and whole seconds exactly; microseconds as milliseconds with half a nanosecond
        # added, so the interval parser's float product truncates to the exact nanosecond
        ms = (value.microseconds * 1000 + 0.5) / 1e6
        return exp.Interval(this=exp.Literal.string(
            f"{value.days} day {value.seconds} second {ms!r} millisecond"))
    raise AssertionError(type(value))


def bind_parameters(stmt: exp.Expression, params: Sequence[Any] | Mapping[str, Any] | None) -> exp.Expression:
    """Replace ? / $n / :name placeholders with literal AST nodes; counts must match exactly."""
    holders = list(stmt.find_all(exp.Placeholder, exp.Parameter))
    if not holders:
        if params:
            raise ProgrammingError(
                f"The statement has no parameters but {len(params)} were supplied")
        return stmt
    if params is None:
        names = [h.name if isinstance(h, exp.Placeholder) else h.this.name for h in holders]
        named = sorted({f":{n}" for n in names if n and not n.isdigit()})
        if named:
            raise ProgrammingError(f"No value supplied for parameter {', '.join(named)}")
        raise ProgrammingError(f"The statement has {len(holders)} parameter(s) but none were supplied")
    stmt = stmt.copy()
    holders = list(stmt.find_all(exp.Placeholder, exp.Parameter))
    if isinstance(params, Mapping):
        for h in holders:
            name = h.name if isinstance(h, exp.Placeholder) else h.this.name
            if not name or name not in params:
                raise ProgrammingError(f"No value supplied for parameter :{name or '?'}")
            h.replace(_literal(params[name], f"parameter :{name}"))
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
        h.replace(_literal(params[int(n) - 1], f"parameter {n}"))
    return stmt
