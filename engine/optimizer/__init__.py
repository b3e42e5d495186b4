"""The optimizer: an ordered tuple of rewrite rules run to a fixpoint by a driver.

Each rule is one module exposing ``rule(plan, ctx) -> plan``. The driver checks that every rule
keeps the plan's output columns and types, skips rules named in ``ctx.disabled`` (set with
``SET disabled_rules = 'a,b'``), records which rules changed the plan (``EXPLAIN VERBOSE``), and
optimizes the plans of subqueries that stay subqueries.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from engine.errors import InternalError
from engine.optimizer.decorrelate_subqueries import decorrelate_subqueries
from engine.optimizer.fold_constants import fold_constants
from engine.optimizer.order_predicates import order_predicates
from engine.optimizer.prune_columns import prune_columns
from engine.optimizer.pushdown_filters import pushdown_filters
from engine.optimizer.pushdown_limits import pushdown_limits
from engine.optimizer.reorder_joins import reorder_joins
from engine.optimizer.rewrite import map_expressions
from engine.plan.expressions import SubqueryExpr
from engine.plan.nodes import Node

RULES = (
    fold_constants,
    decorrelate_subqueries,
    pushdown_filters,
    reorder_joins,
    order_predicates,
    prune_columns,
    pushdown_limits,
)
RULE_NAMES = tuple(r.__name__ for r in RULES)
MAX_PASSES = 4


@dataclass
class OptimizerContext:
    disabled: set[str] = field(default_factory=set)
    fired: list[str] = field(default_factory=list)
    stats: object = None
    udf_cost: object = None  # callable(UDF) -> (seconds per row, measured selectivity or None)


def fingerprint(plan: Node) -> str:
    from engine.plan.explain import render_logical
    return render_logical(plan)


def _signature(plan: Node):
    return [(c.cid, str(c.dtype)) for c in plan.columns]


def optimize(plan: Node, ctx: OptimizerContext | None = None) -> Node:
    ctx = ctx or OptimizerContext()
    unknown = ctx.disabled - set(RULE_NAMES)
    if unknown:
        from engine.errors import ProgrammingError, did_you_mean
        name = sorted(unknown)[0]
        raise ProgrammingError(f'Unknown optimizer rule "{name}" in disabled_rules.'
                               + did_you_mean(name, RULE_NAMES))
    sig = _signature(plan)
    prev = fingerprint(plan)
    for _ in range(MAX_PASSES):
        for rule in RULES:
            if rule.__name__ in ctx.disabled:
                continue
            new = rule(plan, ctx)
            if _signature(new) != sig:
                raise InternalError(f"Optimizer rule {rule.__name__} changed the output columns")
            if new is not plan:
                fp = fingerprint(new)
                if fp != fingerprint(plan):
                    if rule.__name__ not in ctx.fired:
                        ctx.fired.append(rule.__name__)
                plan = new
        cur = fingerprint(plan)
        if cur == prev:
            break
        prev = cur
    return _optimize_subqueries(plan, ctx)


def _optimize_subqueries(plan: Node, ctx: OptimizerContext) -> Node:
    def fn(e):
        def visit(x):
            if isinstance(x, SubqueryExpr):
                sub = OptimizerContext(ctx.disabled, ctx.fired, ctx.stats, ctx.udf_cost)
                return replace(x, plan=optimize(x.plan, sub))
            return x
        return e.transform(visit)
    return map_expressions(plan, fn)
