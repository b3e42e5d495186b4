"""Result column names as DuckDB gives them: an unaliased select item is named by its expression
written DuckDB's way (``count_star()``, ``sum(x)``, ``(a + 1)``, ``CAST(a AS DOUBLE)``,
``"substring"(s, 1, 2)``), not by sqlglot's rendering (``COUNT(*)``, ``SUM(x)``).

DuckDB names a column by the ToString of its parsed expression: operators in parentheses, LIKE as
``~~``, ``<>`` as ``!=``, function names lower-case and double-quoted when they are SQL keywords,
numbers as written, CASE in its searched form. ``duckdb_name`` writes the same from the sqlglot
tree. Functions sqlglot parses into typed nodes lose the spelling the user chose between synonyms
(``substr`` and ``substring`` both become ``Substring``): those take sqlglot's DuckDB spelling.
"""
from __future__ import annotations

import functools

from sqlglot import exp

from engine.plan import aggregates as R

_BINARY = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.IntDiv: "//", exp.Mod: "%",
           exp.DPipe: "||", exp.EQ: "=", exp.NEQ: "!=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">",
           exp.GTE: ">=", exp.And: "AND", exp.Or: "OR", exp.Like: "~~", exp.ILike: "~~*",
           exp.Glob: "~~~", exp.NullSafeEQ: "IS NOT DISTINCT FROM", exp.NullSafeNEQ: "IS DISTINCT FROM",
           exp.BitwiseAnd: "&", exp.BitwiseOr: "|", exp.BitwiseXor: "xor", exp.BitwiseLeftShift: "<<",
           exp.BitwiseRightShift: ">>", exp.Pow: "**"}
_NEGATED = {exp.Like: "!~~", exp.ILike: "!~~*", exp.Glob: "!~~~"}
# DuckDB's canonical names of the types it renames in CAST(...) (others print as written)
_TYPE_NAMES = {"INT": "INTEGER", "INT4": "INTEGER", "SIGNED": "INTEGER", "INT8": "BIGINT",
               "LONG": "BIGINT", "INT2": "SMALLINT", "SHORT": "SMALLINT", "INT1": "TINYINT",
               "REAL": "FLOAT", "FLOAT4": "FLOAT", "FLOAT8": "DOUBLE", "NUMERIC": "DECIMAL",
               "BOOL": "BOOLEAN", "LOGICAL": "BOOLEAN", "BYTEA": "BLOB", "DATETIME": "TIMESTAMP",
               "TIMESTAMPNTZ": "TIMESTAMP",
               # sqlglot reads VARCHAR as TEXT; VARCHAR is what DuckDB users write
               "TEXT": "VARCHAR"}
_AGG_NAMES = R.COLUMN_NAMES  # from the aggregate registry
_INTERVAL_FN = {"YEAR": "to_years", "MONTH": "to_months", "DAY": "to_days", "WEEK": "to_weeks",
                "HOUR": "to_hours", "MINUTE": "to_minutes", "SECOND": "to_seconds"}


@functools.lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    try:
        import duckdb
        return frozenset(k for (k,) in duckdb.sql("SELECT keyword_name FROM duckdb_keywords()").fetchall())
    except Exception:  # pragma: no cover - duckdb is a dependency
        return frozenset()


def _fn_name(name: str) -> str:
    name = name.lower()
    return f'"{name}"' if name in _keywords() else name


def _ident(name: str) -> str:
    simple = name.isidentifier() and name == name.lower() and name not in _keywords()
    return name if simple else '"' + name.replace('"', '""') + '"'


def _type(dt: exp.DataType) -> str:
    text = dt.sql(dialect="duckdb")
    base, _, rest = text.partition("(")
    base = _TYPE_NAMES.get(base.upper(), base.upper())
    return base + ("(" + rest.replace(",", ", ").replace(",  ", ", ") if rest else "")


def _call(name: str, args: list[str]) -> str:
    return f"{name}({', '.join(args)})"


def duckdb_name(node: exp.Expression) -> str:
    """The column name DuckDB gives an unaliased select item ``node``."""
    n = _name(node)
    return n


def _subquery_sql(node: exp.Expression) -> str:
    return node.sql(dialect="duckdb")


def _name(e: exp.Expression) -> str:  # noqa: C901 - one case per node kind
    if isinstance(e, exp.Column):
        if isinstance(e.this, exp.Star):
            return "*"
        return _ident(e.name)
    if isinstance(e, exp.Literal):
        return "'" + e.this.replace("'", "''") + "'" if e.is_string else e.this
    if isinstance(e, exp.Boolean):
        return "true" if e.this else "false"
    if isinstance(e, exp.Null):
        return "NULL"
    if isinstance(e, exp.Paren):
        return _name(e.this)
    if isinstance(e, exp.Neg):
        if isinstance(e.this, exp.Literal) and not e.this.is_string:
            return "-" + e.this.this
        return f"(-({_name(e.this)}))"
    if isinstance(e, exp.BitwiseNot):
        return f"(~({_name(e.this)}))"
    if isinstance(e, exp.Not):
        inner = e.this.this if isinstance(e.this, exp.Paren) else e.this
        if type(inner) in _NEGATED:
            return f"({_name(inner.this)} {_NEGATED[type(inner)]} {_name(inner.expression)})"
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            return f"({_name(inner.this)} IS NOT NULL)"
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Boolean):
            return f"(CAST({_name(inner.this)} AS BOOLEAN) IS DISTINCT FROM {_name(inner.expression)})"
        if isinstance(inner, exp.Exists):
            return f"(NOT {_name(inner)})"
        return f"(NOT {_name(inner)})"
    if type(e) in _NEGATED and e.args.get("negate"):
        return f"({_name(e.this)} {_NEGATED[type(e)]} {_name(e.expression)})"
    if type(e) in _BINARY:
        return f"({_name(e.this)} {_BINARY[type(e)]} {_name(e.expression)})"
    if isinstance(e, exp.Is):
        if isinstance(e.expression, exp.Null):
            return f"({_name(e.this)} IS NULL)"
        if isinstance(e.expression, exp.Boolean):
            return f"(CAST({_name(e.this)} AS BOOLEAN) IS NOT DISTINCT FROM {_name(e.expression)})"
        return f"({_name(e.this)} IS NOT DISTINCT FROM {_name(e.expression)})"
    if isinstance(e, exp.Between):
        return f"({_name(e.this)} BETWEEN {_name(e.args['low'])} AND {_name(e.args['high'])})"
    if isinstance(e, exp.In):
        q = e.args.get("query")
        if q is not None:
            return f"({_name(e.this)} = ANY({_subquery_sql(q.this if isinstance(q, exp.Subquery) else q)}))"
        return f"({_name(e.this)} IN ({', '.join(_name(x) for x in e.expressions)}))"
    if isinstance(e, exp.Exists):
        q = e.this
        return f"EXISTS({_subquery_sql(q.this if isinstance(q, exp.Subquery) else q)})"
    if isinstance(e, exp.Subquery):
        return f"({_subquery_sql(e.this)})"
    if isinstance(e, exp.Select):
        return f"({_subquery_sql(e)})"
    if isinstance(e, (exp.Cast, exp.TryCast)):
        word = "TRY_CAST" if isinstance(e, exp.TryCast) or e.args.get("safe") else "CAST"
        inner = e.this
        return f"{word}({_name(inner)} AS {_type(e.args['to'])})"
    if isinstance(e, exp.Case):
        operand = e.args.get("this")
        parts = []
        for w in e.args.get("ifs") or []:
            cond = _name(w.this) if operand is None else f"({_name(operand)} = {_name(w.this)})"
            parts.append(f" WHEN ({cond}) THEN ({_name(w.args['true'])})")
        default = e.args.get("default")
        return "CASE " + "".join(parts) + f" ELSE {_name(default) if default is not None else 'NULL'} END"
    if isinstance(e, exp.If):
        args = [_name(e.this), _name(e.args["true"])]
        if e.args.get("false") is not None:
            args.append(_name(e.args["false"]))
        return _call('"if"', args)
    if isinstance(e, exp.Coalesce):
        return _call("COALESCE", [_name(e.this)] + [_name(x) for x in e.expressions])
    if isinstance(e, exp.Nullif):
        return _call('"nullif"', [_name(e.this), _name(e.expression)])
    if isinstance(e, exp.Extract):
        return _call("date_part", ["'" + e.this.name.upper() + "'", _name(e.expression)])
    if isinstance(e, exp.Interval):
        unit = (e.args.get("unit").name if e.args.get("unit") is not None else "").upper()
        value = e.this
        if isinstance(value, exp.Literal) and value.is_string and _is_number(value.this):
            value = exp.Literal.number(value.this)  # sqlglot quotes INTERVAL 1 DAY's number
        fn = _INTERVAL_FN.get(unit.rstrip("S"))
        if fn is None:
            return f"CAST({_name(value)} AS INTERVAL)"
        to = "BIGINT" if fn in ("to_hours", "to_minutes") else "INTEGER"
        if fn == "to_seconds":
            return f"to_seconds(CAST({_name(value)} AS DOUBLE))"
        return f"{fn}(CAST(trunc(CAST({_name(value)} AS DOUBLE)) AS {to}))"
    if isinstance(e, exp.Window):
        return _window(e)
    if isinstance(e, exp.Filter):
        return f"{_name(e.this)} FILTER (WHERE {_name(e.expression.this)})"
    if isinstance(e, exp.Count):
        inner = e.this
        if inner is None or isinstance(inner, exp.Star):
            return "count_star()"
        return _agg("count", inner)
    if type(e) in _AGG_NAMES:
        extra = []
        if isinstance(e, exp.GroupConcat) and e.args.get("separator") is not None:
            extra = [_name(e.args["separator"])]
        return _agg(_AGG_NAMES[type(e)], e.this, extra)
    if isinstance(e, exp.CurrentDate):
        return "current_date"
    if isinstance(e, exp.CurrentTimestamp):
        return "current_timestamp"
    if isinstance(e, exp.Explode):
        return _call("unnest", [_name(e.this)] + [_name(x) for x in e.expressions])
    if isinstance(e, exp.Array):
        return _call("list_value", [_name(x) for x in e.expressions])
    if isinstance(e, exp.Struct):
        fields = []
        for x in e.expressions:
            if isinstance(x, (exp.PropertyEQ, exp.Alias)):
                key = x.this.name if isinstance(x, exp.PropertyEQ) else x.alias
                val = x.expression if isinstance(x, exp.PropertyEQ) else x.this
                fields.append(f"{_ident(key)} := {_name(val)}")
            else:
                fields.append(_name(x))
        return _call("struct_pack", fields)
    if isinstance(e, exp.Anonymous):
        return _call(_fn_name(e.name), [_name(x) for x in e.expressions])
    if isinstance(e, exp.Func):
        return _typed_function(e)
    return e.sql(dialect="duckdb")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _agg(name: str, inner: exp.Expression | None, extra: list[str] | None = None) -> str:
    order = ""
    if isinstance(inner, exp.Order):
        order = " ORDER BY " + ", ".join(_ordered(o) for o in inner.expressions)
        inner = inner.this
    distinct = ""
    if isinstance(inner, exp.Distinct):
        distinct = "DISTINCT "
        args = [_name(x) for x in inner.expressions]
    else:
        args = [_name(inner)] if inner is not None else []
    return f"{_fn_name(name)}({distinct}{', '.join(args + (extra or []))}{order})"


def _ordered(o: exp.Ordered) -> str:
    s = _name(o.this)
    desc = bool(o.args.get("desc"))
    if desc:
        s += " DESC"
    # the Dawn dialect parses with DuckDB's default null order (NULLS LAST), so the flag says
    # whether the user asked for NULLS FIRST
    if o.args.get("nulls_first"):
        s += " NULLS FIRST"
    return s


def _window(w: exp.Window) -> str:
    head = _name(w.this)
    if head == "count_star()":
        head = "count()"  # DuckDB's window form of count(*)
    if w.args.get("alias") is not None and not (w.args.get("partition_by") or w.args.get("order")):
        return f"{head} OVER {w.args['alias'].name}"
    parts = []
    if w.args.get("partition_by"):
        parts.append("PARTITION BY " + ", ".join(_name(p) for p in w.args["partition_by"]))
    if w.args.get("order") is not None:
        parts.append("ORDER BY " + ", ".join(_ordered(o) for o in w.args["order"].expressions))
    spec = w.args.get("spec")
    if spec is not None:
        kind = (spec.args.get("kind") or "ROWS").upper()

        def bound(v, side):
            text = v.upper() if isinstance(v, str) else (v.sql().upper() if v is not None else "")
            if text in ("UNBOUNDED", ""):
                return f"UNBOUNDED {side or 'PRECEDING'}"
            if text == "CURRENT ROW":
                return "CURRENT ROW"
            return f"{text} {side}"
        start = bound(spec.args.get("start"), spec.args.get("start_side"))
        end = bound(spec.args.get("end"), spec.args.get("end_side")) if spec.args.get("end") is not None \
            else "CURRENT ROW"
        if not (kind == "RANGE" and start == "UNBOUNDED PRECEDING" and end == "CURRENT ROW"):
            parts.append(f"{kind} BETWEEN {start} AND {end}")
    return f"{head} OVER ({' '.join(parts)})"


def _typed_function(e: exp.Func) -> str:
    """A function sqlglot parsed into its own node: sqlglot's DuckDB spelling of the name, the
    arguments in the node's argument order."""
    head = e.sql(dialect="duckdb").split("(", 1)[0].strip()
    name = _fn_name(head) if head.replace("_", "").isalnum() else head
    args = []
    for key in e.arg_types:
        v = e.args.get(key)
        if v is None or isinstance(v, bool):
            continue
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, exp.Expression):
                args.append(_name(x))
    return _call(name, args)
