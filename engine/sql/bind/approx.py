"""Binding a query that ends in Dawn's approximation clauses (issue 8/11) to an ``Approx`` node.

Three shapes are answered, over one table, stored table, registered Arrow table or video:

* ``SELECT AGG(x) FROM t [WHERE ...] ERROR WITHIN e [RELATIVE] AT CONFIDENCE p%`` with AGG one of
  COUNT(*), COUNT(x), SUM(x), AVG(x), FCOUNT(*) and FCOUNT(x) (x per frame, averaged over the
  frames: FCOUNT(x) = SUM(x over the rows passing WHERE) / rows passing the cheap part of WHERE);
* ``SELECT items FROM t WHERE ... LIMIT k [GAP g] [USING PROXY expr]``: k rows passing the
  predicate, at least g rows apart, found in the order of the proxy's score;
* ``SELECT items FROM t WHERE ... RECALL|PRECISION TARGET r WITH PROBABILITY p ORACLE LIMIT n``.

The query's parts are bound against the table as one hidden projection (so every name resolves,
and every error names what the user wrote), then split: WHERE conjuncts that call no UDF are the
*cheap* filters, applied to every row by the scan; those that do are the *oracle* predicate,
evaluated only on the rows the sampler picks. Anything else in the query (joins, GROUP BY,
ORDER BY, DISTINCT, ...) is refused by name: an approximation that dropped it would be wrong.
"""
from __future__ import annotations

from sqlglot import exp

from engine.errors import NotSupportedError, ProgrammingError
from engine.plan.expressions import ColumnRef, Literal, UdfCall, and_all, conjuncts
from engine.plan.oracles import is_oracle
from engine.plan.nodes import Approx, ApproxSpec, Project, Scan

AGGREGATES = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg"}

# what a clause's query may not have, by the sqlglot arg that holds it
REFUSED = {"joins": "a JOIN", "group": "GROUP BY", "having": "HAVING", "distinct": "DISTINCT",
           "qualify": "QUALIFY", "windows": "WINDOW", "with_": "WITH", "with": "WITH",
           "offset": "OFFSET", "laterals": "LATERAL", "pivots": "PIVOT", "prewhere": "PREWHERE",
           "sample": "TABLESAMPLE"}


def _clause_name(clause) -> str:
    if clause.kind == "aggregate":
        return "ERROR WITHIN"
    if clause.kind == "select":
        return f"{clause.target_kind.upper()} TARGET"
    return "LIMIT ... GAP" if clause.gap is not None else "LIMIT ... USING PROXY"


def _refuse(node: exp.Select, clause, kind: str) -> None:
    name = _clause_name(clause)
    if not isinstance(node, exp.Select):
        raise NotSupportedError(f"{name} on a {type(node).__name__.upper()} is not supported: "
                                "it applies to one SELECT over one table")
    for key, what in REFUSED.items():
        if node.args.get(key):
            raise NotSupportedError(f"{name} with {what} is not supported: the approximation "
                                    "answers one SELECT over one table")
    if node.args.get("order"):
        raise NotSupportedError(f"{name} with ORDER BY is not supported" + (
            ": a limit query visits rows by proxy score and returns them in table order"
            if kind == "limit" else ""))
    if kind != "limit" and node.args.get("limit"):
        raise NotSupportedError(f"{name} with LIMIT is not supported")
    if kind == "limit" and not node.args.get("limit"):
        raise ProgrammingError(f"{name} needs LIMIT k (the number of rows to find)")
    frm = node.args.get("from_") or node.args.get("from")
    if frm is None or not isinstance(frm.this, exp.Table) or frm.this.args.get("joins"):
        raise NotSupportedError(f"{name} needs FROM one table or video (not a subquery or "
                                "table function)")
    if any(isinstance(x, (exp.Subquery, exp.Exists)) for x in node.walk()
           if x is not node and not isinstance(x, exp.Table)):
        raise NotSupportedError(f"{name} with a subquery is not supported")


def _aggregate(node: exp.Select, clause) -> tuple[str, exp.Expression | None, str]:
    """(aggregate, its argument or None for *, the output column's name)."""
    items = node.expressions
    if len(items) != 1:
        raise NotSupportedError(f"ERROR WITHIN answers one aggregate; this query has {len(items)} "
                                "select items")
    item = items[0]
    inner = item.this if isinstance(item, exp.Alias) else item
    if isinstance(inner, exp.Anonymous) and inner.name.upper() == "FCOUNT":
        agg = "fcount"
        args = inner.expressions
    elif type(inner) in AGGREGATES:
        agg = AGGREGATES[type(inner)]
        args = [inner.this] if inner.this is not None else []
    else:
        raise NotSupportedError(f"ERROR WITHIN answers COUNT, SUM, AVG or FCOUNT of the rows; "
                                f"'{inner.sql(dialect='duckdb')}' is not one of them")
    if len(args) != 1:
        raise ProgrammingError(f"{agg.upper()} takes one argument, got {len(args)}")
    arg = args[0]
    if isinstance(arg, exp.Distinct):
        raise NotSupportedError(f"{agg.upper()}(DISTINCT ...) ERROR WITHIN is not supported")
    if isinstance(arg, exp.Star):
        if agg in ("sum", "avg"):
            raise ProgrammingError(f"{agg.upper()}(*) is not an aggregate; name a column")
        arg = None
    if isinstance(item, exp.Alias):
        out = item.alias
    else:
        out = inner.sql(dialect="duckdb").lower() if agg != "fcount" else \
            "fcount(" + ("*" if arg is None else arg.sql(dialect="duckdb")) + ")"
    return agg, arg, out


def has_udf(e) -> bool:
    return any(isinstance(x, UdfCall) for x in e.walk())


def bind_approx(binder, node: exp.Expression, clause) -> Approx:
    kind = clause.kind
    _refuse(node, clause, kind)
    frm = node.args.get("from_") or node.args.get("from")
    where = node.args.get("where")
    pred_ast = where.this.copy() if where is not None else exp.true()
    proxy_ast = clause.proxy.copy() if clause.proxy is not None else exp.Null()
    if kind == "aggregate":
        agg, arg, out_name = _aggregate(node, clause)
        value_ast = arg.copy() if arg is not None else exp.true()
        items = [exp.alias_(value_ast, "__value")]
    else:
        agg, out_name = None, None
        items = [x.copy() for x in node.expressions]
        if any(x.find(exp.AggFunc) is not None for x in items):
            raise NotSupportedError(f"{_clause_name(clause)} returns rows: an aggregate in its "
                                    "select list is not supported (use ERROR WITHIN for aggregates)")
    items += [exp.alias_(pred_ast, "__pred"), exp.alias_(proxy_ast, "__proxy")]
    pop = exp.Select(expressions=items).from_(frm.copy())
    from engine.sql.bind.coverage import check
    check(pop)
    plan = binder.bind_query(pop)
    if not (isinstance(plan, Project) and isinstance(plan.child, Scan)):
        raise NotSupportedError(f"{_clause_name(clause)} needs FROM one table or video")
    scan = plan.child
    exprs = list(plan.exprs)
    (_, pred), (_, proxy) = exprs[-2], exprs[-1]
    proxy = None if isinstance(proxy, Literal) and proxy.value is None else proxy
    if proxy is not None and has_udf(proxy) and any(
            is_oracle(x.udf) for x in proxy.walk() if isinstance(x, UdfCall)):
        raise ProgrammingError("USING PROXY names an expensive model (an oracle); a proxy is the "
                               "cheap score that stands in for it")
    parts = [] if isinstance(pred, Literal) and pred.value is True else conjuncts(pred)
    cheap = tuple(p for p in parts if not has_udf(p))
    oracle = [p for p in parts if has_udf(p)]
    oracle_pred = and_all(oracle) if oracle else None
    frame_id = None
    if getattr(scan.source, "kind", "") == "video":
        frame_id = next(c for c, n in zip(scan.out, scan.source_columns) if n == "frame_id")
    name = _clause_name(clause)
    if kind == "aggregate":
        (vcol, value) = exprs[0]
        import pyarrow as pa
        if agg in ("sum", "avg") and not (pa.types.is_integer(value.dtype) or pa.types.is_floating(value.dtype)
                                          or pa.types.is_decimal(value.dtype) or pa.types.is_boolean(value.dtype)):
            raise ProgrammingError(f"{agg.upper()} ERROR WITHIN needs a number, got {value.dtype}")
        out = ((ColumnRef(vcol.cid, out_name, pa.float64()), value),)
        value = None if arg is None else value
    else:
        if oracle_pred is None:
            raise ProgrammingError(f"{name} needs a WHERE condition with an expensive model "
                                   "predicate (a UDF) to select rows by; this query has none")
        out = tuple(exprs[:-2])
        value = None
    limit = None
    if kind == "limit":
        lim = node.args["limit"].expression
        if not isinstance(lim, exp.Literal) or lim.is_string or not lim.this.isdigit() or int(lim.this) <= 0:
            raise ProgrammingError(f"{name} needs LIMIT k with k a positive whole number")
        limit = int(lim.this)
    spec = ApproxSpec(kind=kind, agg=agg, error=clause.error, relative=clause.relative,
                      confidence=clause.confidence, limit=limit, gap=clause.gap or 0,
                      target_kind=clause.target_kind, target=clause.target,
                      probability=clause.probability, oracle_limit=clause.oracle_limit,
                      clause=clause.describe(), proxy_sql=clause.proxy_sql)
    return Approx(scan if not cheap else Scan(scan.table, scan.source, scan.out, scan.source_columns, cheap),
                  spec, out, oracle_pred, value, proxy, frame_id)
