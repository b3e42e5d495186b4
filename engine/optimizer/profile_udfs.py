"""Rule (cost phase): profile, on a sample, a UDF predicate whose cost nobody knows yet.

Predicate order (rank = (selectivity - 1) / cost) needs each UDF's cost per row and pass rate.
They come from catalog statistics, measured whenever a UDF runs; a UDF that never ran and
declares no ``cost`` hint is run once, before the statement, on the first ``PROFILE_ROWS`` rows
of the filter's input through ``ctx.run_on_sample``. The measurement lands in the catalog like
any other (and in the session's statistics), so later rules and statements order by it. Only
deterministic UDFs in filters with a choice to make (several conjuncts, or AND/OR) are profiled,
and a profile that fails is skipped: the statement itself reports the error, if it recurs.
The plan is returned unchanged.

Example: ``WHERE slow_check(x) AND y > 3`` with an unmeasured ``slow_check`` runs
``Filter(slow_check(x), Scan t)`` on 64 rows, measures 2 ms/row and a 10% pass rate; then
``order_predicates`` puts ``y > 3`` first.
"""
from __future__ import annotations

from dataclasses import replace

from engine.plan.expressions import Call, Expr, UdfCall, conjuncts
from engine.plan.nodes import Filter, Node, Scan

PROFILE_ROWS = 64


def _unknown_udfs(p: Expr, stats) -> list:
    out = []
    for x in p.walk():
        u = getattr(x, "udf", None) if isinstance(x, UdfCall) else None
        if u is None or not x.deterministic or u.cost is not None or stats.udf_known(u):
            continue
        out.append(u)
    return out


def _choice(parts: list[Expr]) -> bool:
    return len(parts) > 1 or any(isinstance(x, Call) and x.fn in ("and", "or")
                                 for p in parts for x in p.walk())


def profile_udfs(plan: Node, ctx=None) -> Node:
    run = getattr(ctx, "run_on_sample", None)
    if run is None:
        return plan
    stats = ctx.cost.stats
    for n in plan.walk():
        if isinstance(n, Filter):
            parts, base = conjuncts(n.predicate), n.child
        elif isinstance(n, Scan) and n.filters:
            parts, base = list(n.filters), replace(n, filters=())
        else:
            continue
        if not _choice(parts):
            continue
        have = {c.cid for c in base.columns}
        for p in parts:
            todo = _unknown_udfs(p, stats)
            if not todo or not p.columns() <= have:
                continue
            try:
                result = run(Filter(base, p), PROFILE_ROWS)
            except Exception:  # the statement will say what is wrong, if it happens there too
                continue
            for u in todo:
                m = result.udf_metrics.get(u.name)
                if m is not None and m.rows:
                    stats.record_profile(u, m.seconds / m.rows,
                                         m.passed / m.tested if m.tested else None)
    return plan
