"""Plans of repeated queries, kept per connection (a prepared statement without the preparing).

A dashboard, a notebook cell run again, or a Flight client repeats the same query text; each time
Dawn would parse, bind and optimize it again (3-4 ms, which is most of a fast query over an
in-memory table: TPC-H Q6 at SF 1 runs its compiled loop in ~11 ms). The cache keeps the optimized
logical plan (frozen nodes; a new physical plan is built from it each run) under the statement's
text and every SET value, and is used only when nothing the plan was made from can change without
the cache knowing. A plan is kept only when:

* the statement is a query with no bound parameters (EXPLAIN is not kept);
* every table it names is an in-memory table registered on this connection (``con.register`` of
  an Arrow table or a frame: immutable once registered). Stored tables, views, files (registered
  or not) and the run log are never kept: other statements, connections and processes change them;
* nothing in it was decided from the data or the clock while planning: no UDF (its measured cost
  and selectivity steer the plan), no current_date/now/random, no TABLESAMPLE, no approximate or
  cascade clause (only the relational plan nodes below), no subquery the binder ran (PIVOT).

Registering or unregistering a table on the connection (the catalog's ``generation``) and any
statement other than a query (SET, DDL, DML, ANALYZE, CREATE FUNCTION, BEGIN/COMMIT) empty it.
``SET plan_cache = off`` bypasses it.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from sqlglot import exp

from engine.plan.functions.names import VOLATILE

MAX_PLANS = 64

# functions whose value is fixed when the statement is bound, or differs from run to run
_VOLATILE_NODES = tuple(getattr(exp, n) for n in (
    "CurrentDate", "CurrentTime", "CurrentTimestamp", "CurrentDatetime", "CurrentUser",
    "CurrentSchema", "Rand", "Random", "Uuid", "TableSample") if hasattr(exp, n))
_VOLATILE_NAMES = VOLATILE | frozenset({
    "now", "today", "current_date", "current_time", "current_timestamp", "get_current_timestamp",
    "transaction_timestamp", "localtime", "localtimestamp", "rand", "uuid",
    "gen_random_uuid", "current_user", "current_setting", "version"})


@dataclass
class CachedPlan:
    kind: str     # the statement's kind, as the run log records it
    plan: object  # engine.plan.nodes.Node, optimized


def _settings_key(settings: dict) -> tuple:
    return tuple(sorted((str(k), repr(v)) for k, v in settings.items()))


class PlanCache:
    def __init__(self, catalog, size: int = MAX_PLANS) -> None:
        self.catalog = catalog
        self.size = size
        self._plans: OrderedDict[tuple, CachedPlan] = OrderedDict()
        self._generation = catalog.generation
        self.hits = 0

    @staticmethod
    def enabled(settings: dict) -> bool:
        return str(settings.get("plan_cache", "on")).strip().lower() not in ("off", "false", "0", "no")

    def _current(self) -> None:
        if self.catalog.generation != self._generation:
            self._plans.clear()
            self._generation = self.catalog.generation

    def get(self, text: str, settings: dict) -> CachedPlan | None:
        if not self._plans or not self.enabled(settings):
            return None
        self._current()
        key = (text, _settings_key(settings))
        hit = self._plans.get(key)
        if hit is not None:
            self._plans.move_to_end(key)
            self.hits += 1
        return hit

    def put(self, text: str, settings: dict, kind: str, stmt: exp.Expression, plan) -> bool:
        """Keep ``plan`` for ``text`` if it may be kept (see the module's docstring)."""
        if not self.enabled(settings) or not cacheable(stmt, plan, self.catalog):
            return False
        self._current()
        self._plans[(text, _settings_key(settings))] = CachedPlan(kind, plan)
        while len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return True

    def clear(self) -> None:
        self._plans.clear()

    def __len__(self) -> int:
        return len(self._plans)


def cacheable(stmt: exp.Expression, plan, catalog) -> bool:
    return _statement_ok(stmt, catalog) and _plan_ok(plan)


def _statement_ok(stmt: exp.Expression, catalog) -> bool:
    ctes = {c.alias_or_name.lower() for c in stmt.find_all(exp.CTE)}
    for node in stmt.walk():
        if isinstance(node, _VOLATILE_NODES) or isinstance(node, (exp.Placeholder, exp.Parameter)):
            return False
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _VOLATILE_NAMES:
                return False
        if isinstance(node, exp.Table):
            if not isinstance(node.this, exp.Identifier) or node.args.get("db") or node.args.get("catalog"):
                return False  # a table function, a file, a qualified (stored or run-log) name
            name = node.name.lower()
            if name in ctes:
                continue
            src = catalog.registered(name)
            if src is None or getattr(src, "kind", "") != "arrow":
                return False
    return True


def _plan_ok(plan) -> bool:
    from engine.plan import nodes as N
    from engine.plan.expressions import SubqueryExpr, UdfCall
    allowed = (N.Scan, N.Values, N.Filter, N.Project, N.Aggregate, N.Unnest, N.Join, N.Sort,
               N.Limit, N.Distinct, N.SetOp, N.Window, N.WorkTable, N.RecursiveUnion)
    for node in plan.walk():
        if type(node) not in allowed:
            return False
        if isinstance(node, N.Scan) and getattr(node.source, "kind", "") != "arrow":
            return False
        for e in node.expressions():
            for x in e.walk():
                # a UDF call, or a user aggregate (an AggCall of "udf:name")
                if isinstance(x, UdfCall) or str(getattr(x, "fn", "")).startswith("udf:"):
                    return False
                if isinstance(x, SubqueryExpr) and not _plan_ok(x.plan):
                    return False
    return True
