"""Nothing the user wrote is silently ignored: every argument of a parsed query node is one the binder
reads, or the statement is refused by name.

sqlglot parses far more than Dawn binds, and the binder reads the arguments it knows; an argument
it does not read would vanish from the query (``SELECT * EXCLUDE (a)`` once did: sqlglot renamed
the argument and the binder kept reading the old name). ``check`` walks a statement before binding
and raises NotSupportedError, naming the construct and its position, for any argument of a query
node that is set but not in ``HANDLED``. Function nodes (``exp.Func``) are checked by the function
binder, which maps each of their arguments or refuses them; node classes absent here are refused by
the binder's dispatch when it meets them.
"""
from __future__ import annotations

from sqlglot import exp

from engine.errors import NotSupportedError
from engine.sql.parser import location

_QUERY_MODIFIERS = frozenset({"where", "group", "having", "qualify", "order", "limit", "offset",
                              "with_", "windows", "sample"})

# the arguments of each node class that the binder reads
HANDLED: dict[type, frozenset[str]] = {
    exp.Select: frozenset({"expressions", "from_", "joins", "distinct"}) | _QUERY_MODIFIERS,
    exp.Union: frozenset({"this", "expression", "distinct", "order", "limit", "offset", "with_", "by_name"}),
    exp.Intersect: frozenset({"this", "expression", "distinct", "order", "limit", "offset", "with_"}),
    exp.Except: frozenset({"this", "expression", "distinct", "order", "limit", "offset", "with_"}),
    exp.From: frozenset({"this"}),
    exp.Join: frozenset({"this", "kind", "side", "on", "using", "method"}),
    exp.Table: frozenset({"this", "alias", "db", "sample", "joins", "pivots"}),
    exp.Subquery: frozenset({"this", "alias", "order", "limit", "offset", "with_", "sample", "pivots",
                             "joins"}),
    exp.Pivot: frozenset({"this", "expressions", "using", "group", "unpivot", "into", "fields",
                          "columns", "pivot_column_naming", "alias"}),
    exp.TableAlias: frozenset({"this", "columns"}),
    # MATERIALIZED / NOT MATERIALIZED is a hint about how to compute a CTE, not what it returns
    exp.With: frozenset({"expressions", "recursive"}),
    exp.CTE: frozenset({"this", "alias", "materialized"}),
    exp.Where: frozenset({"this"}),
    exp.Having: frozenset({"this"}),
    exp.Qualify: frozenset({"this"}),
    exp.Group: frozenset({"expressions", "all", "grouping_sets", "cube", "rollup"}),
    exp.Order: frozenset({"this", "expressions"}),
    exp.Ordered: frozenset({"this", "desc", "nulls_first"}),
    exp.Limit: frozenset({"this", "expression", "limit_options"}),
    exp.LimitOptions: frozenset({"percent"}),
    exp.Offset: frozenset({"this", "expression"}),
    exp.Window: frozenset({"this", "partition_by", "order", "spec", "alias", "over"}),
    exp.WindowSpec: frozenset({"kind", "start", "start_side", "end", "end_side"}),
    # a schema (db) part is read as a struct field access (t.s.a) or refused by the binder
    exp.Column: frozenset({"this", "table", "db"}),
    exp.Star: frozenset({"except_", "replace"}),
    exp.Alias: frozenset({"this", "alias"}),
    exp.Cast: frozenset({"this", "to"}),
    exp.TryCast: frozenset({"this", "to", "safe"}),
    exp.In: frozenset({"this", "expressions", "query"}),
    exp.Between: frozenset({"this", "low", "high"}),
    exp.Values: frozenset({"expressions", "alias"}),
    exp.Distinct: frozenset({"expressions", "on"}),
    exp.Filter: frozenset({"this", "expression"}),
    exp.TableSample: frozenset({"method", "percent", "rows", "size", "seed"}),
}

# how a refused argument is named to the user (otherwise by its SQL text)
_NAMES: dict[tuple[type, str], str] = {
    (exp.Select, "pivots"): "PIVOT", (exp.Table, "pivots"): "PIVOT", (exp.Subquery, "pivots"): "PIVOT",
    (exp.Select, "laterals"): "LATERAL VIEW", (exp.Table, "laterals"): "LATERAL VIEW",
    (exp.Select, "kind"): "SELECT AS STRUCT/VALUE", (exp.Select, "into"): "SELECT INTO",
    (exp.Select, "locks"): "FOR UPDATE/SHARE", (exp.Select, "connect"): "CONNECT BY",
    (exp.Select, "prewhere"): "PREWHERE", (exp.Select, "settings"): "SETTINGS",
    (exp.Union, "by_name"): "UNION BY NAME", (exp.Intersect, "by_name"): "INTERSECT BY NAME",
    (exp.Except, "by_name"): "EXCEPT BY NAME",
    (exp.Group, "totals"): "WITH TOTALS",
    (exp.Ordered, "with_fill"): "WITH FILL",
    (exp.Limit, "expressions"): "LIMIT ... BY",
    (exp.WindowSpec, "exclude"): "EXCLUDE in a window frame",
    (exp.Window, "first"): "KEEP (DENSE_RANK FIRST/LAST)",
    (exp.Star, "rename"): "* RENAME", (exp.Star, "ilike"): "* ILIKE",
    (exp.Column, "db"): "a schema-qualified column", (exp.Column, "catalog"): "a catalog-qualified column",
    (exp.Table, "catalog"): "a catalog-qualified table name",
    (exp.Cast, "format"): "CAST ... FORMAT", (exp.TryCast, "format"): "TRY_CAST ... FORMAT",
    (exp.Cast, "default"): "CAST ... DEFAULT ON CONVERSION ERROR",
    (exp.Between, "symmetric"): "BETWEEN SYMMETRIC",
    (exp.In, "unnest"): "IN UNNEST",
    (exp.Join, "match_condition"): "MATCH_CONDITION", (exp.Join, "directed"): "DIRECTED joins",
    (exp.Join, "expressions"): "a join with a column list",
    (exp.TableSample, "bucket_numerator"): "TABLESAMPLE BUCKET",
}


def _is_set(v) -> bool:
    return v is not None and v is not False and v != [] and v != ""


def check(node: exp.Expression) -> None:
    """Raise NotSupportedError for the first construct in ``node`` that the binder would ignore."""
    for n in node.walk():
        spec = HANDLED.get(type(n))
        if spec is None:
            continue
        for key, value in n.args.items():
            if key in spec or not _is_set(value):
                continue
            name = _NAMES.get((type(n), key))
            if name is None:
                shown = value.sql(dialect="duckdb") if isinstance(value, exp.Expression) else \
                    " ".join(v.sql(dialect="duckdb") for v in value) if isinstance(value, list) else str(value)
                name = f'"{shown[:60]}" ({key.rstrip("_").replace("_", " ").upper()})'
            where = location(value if isinstance(value, exp.Expression) else n)
            if not where:
                where = location(n)
            raise NotSupportedError(f"{name} is not supported{where}")
