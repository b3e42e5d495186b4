"""The optimizer: rewrite rules to a fixpoint, then one ordered cost-based phase.

Phase 1 (``REWRITE_RULES``) runs rules that make a plan better whatever the data: constant
folding, decorrelation, filter pushdown, column pruning, limit pushdown, repeated until the plan
stops changing. Phase 2 (``COST_RULES``) runs once, in order, over the whole statement (the main
plan and every subquery's plan): choices that need the cost model and its statistics, namely
profiling unknown UDFs on a sample, join order, predicate order, specialized-model cascades and
CTE materialisation (later sampling plans go here). Last, every node is annotated with its
estimated rows and cost (engine/plan/annotations.py), and each aggregate with whether its pipeline
is to be compiled (engine/optimizer/cost/compile_choice.py), which the physical planner reads.

Each rule is one module exposing ``rule(plan, ctx) -> plan``. The driver checks that every rule
keeps the plan's output columns and types, skips rules named in ``ctx.disabled`` (set with
``SET disabled_rules = 'a,b'``) and records which rules changed the plan (``EXPLAIN VERBOSE``).
A cost rule may execute a subplan on a sample through ``ctx.run_on_sample(subplan, n_rows)``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from engine.errors import InternalError
from engine.optimizer.cost import CostModel
from engine.optimizer.decorrelate_subqueries import decorrelate_subqueries
from engine.optimizer.fold_constants import fold_constants
from engine.optimizer.insert_cascades import insert_cascades
from engine.optimizer.materialize_ctes import materialize_ctes
from engine.optimizer.order_predicates import order_predicates
from engine.optimizer.profile_udfs import profile_udfs
from engine.optimizer.prune_columns import prune_columns
from engine.optimizer.pushdown_filters import pushdown_filters
from engine.optimizer.pushdown_limits import pushdown_limits
from engine.optimizer.reorder_joins import reorder_joins
from engine.optimizer.rewrite import map_expressions
from engine.plan.expressions import SubqueryExpr
from engine.plan.nodes import Node

REWRITE_RULES = (
    fold_constants,
    decorrelate_subqueries,
    pushdown_filters,
    prune_columns,
    pushdown_limits,
)
COST_RULES = (
    profile_udfs,
    reorder_joins,
    order_predicates,
    insert_cascades,
    materialize_ctes,
)
RULES = REWRITE_RULES + COST_RULES
RULE_NAMES = tuple(r.__name__ for r in RULES)
MAX_PASSES = 4


@dataclass
class OptimizerContext:
    disabled: set[str] = field(default_factory=set)
    fired: list[str] = field(default_factory=list)
    stats: object = None  # engine.optimizer.cost.statistics.Statistics
    # callable(subplan, n_rows) -> engine.optimizer.cost.SampleRun: runs ``subplan`` with every
    # scan reading at most n_rows rows (profiling a UDF now, training a proxy model later)
    run_on_sample: Callable | None = None
    settings: dict = field(default_factory=dict)  # the session's SET values (cascade targets, seed)
    _cost: CostModel | None = None

    @property
    def cost(self) -> CostModel:
        """The statement's cost model (estimates are memoised per plan node)."""
        if self._cost is None:
            self._cost = CostModel(self.stats)
            self.stats = self._cost.stats
        return self._cost

    def udf_cost(self, u) -> tuple[float, float | None]:
        """(seconds per row, pass rate or None) of a UDF, from the statistics."""
        return self.cost.udf(u)


def fingerprint(plan: Node) -> str:
    from engine.plan.explain import render_logical
    return render_logical(plan)


def _signature(plan: Node):
    return [(c.cid, str(c.dtype)) for c in plan.columns]


def _check_disabled(ctx: OptimizerContext) -> None:
    unknown = ctx.disabled - set(RULE_NAMES)
    if unknown:
        from engine.errors import ProgrammingError, did_you_mean
        name = sorted(unknown)[0]
        raise ProgrammingError(f'Unknown optimizer rule "{name}" in disabled_rules.'
                               + did_you_mean(name, RULE_NAMES))


def _apply(rule, plan: Node, ctx: OptimizerContext, sig) -> Node:
    new = rule(plan, ctx)
    if _signature(new) != sig:
        raise InternalError(f"Optimizer rule {rule.__name__} changed the output columns")
    if new is not plan and fingerprint(new) != fingerprint(plan):
        if rule.__name__ not in ctx.fired:
            ctx.fired.append(rule.__name__)
    return new


def rewrite(plan: Node, ctx: OptimizerContext) -> Node:
    """Phase 1: the rewrite rules to a fixpoint, on the plan and its subqueries' plans."""
    sig = _signature(plan)
    prev = fingerprint(plan)
    for _ in range(MAX_PASSES):
        for rule in REWRITE_RULES:
            if rule.__name__ not in ctx.disabled:
                plan = _apply(rule, plan, ctx, sig)
        cur = fingerprint(plan)
        if cur == prev:
            break
        prev = cur
    return each_subquery(plan, lambda p: rewrite(p, ctx))


def each_subquery(plan: Node, fn: Callable[[Node], Node]) -> Node:
    """``plan`` with ``fn`` applied to the plan of every subquery it holds (not recursively:
    ``fn`` decides whether to descend)."""
    def on_expr(e):
        def visit(x):
            if isinstance(x, SubqueryExpr):
                return replace(x, plan=fn(x.plan))
            return x
        return e.transform(visit)
    return map_expressions(plan, on_expr)


def each_plan(plan: Node, fn: Callable[[Node], Node]) -> Node:
    """``fn`` applied to ``plan`` and, inside out, to the plans of all its subqueries."""
    return fn(each_subquery(plan, lambda p: each_plan(p, fn)))


def optimize(plan: Node, ctx: OptimizerContext | None = None) -> Node:
    ctx = ctx or OptimizerContext()
    _check_disabled(ctx)
    plan = rewrite(plan, ctx)
    for rule in COST_RULES:
        if rule.__name__ in ctx.disabled:
            continue
        if getattr(rule, "statement_wide", False):
            plan = _apply(rule, plan, ctx, _signature(plan))
        else:
            plan = each_plan(plan, lambda p, rule=rule: _apply(rule, p, ctx, _signature(p)))
        if rule is reorder_joins and "prune_columns" not in ctx.disabled:
            # a reordered join restores its column order with a projection of every column of
            # both sides: prune again so only what is read above stays
            plan = each_plan(plan, lambda p: _apply(prune_columns, p, ctx, _signature(p)))
    return annotate_estimates(plan, ctx)


def annotate_estimates(plan: Node, ctx: OptimizerContext) -> Node:
    """Leave estimated rows and cost on every node (and per conjunct cost and selectivity on
    filters and scans) for the physical planner and EXPLAIN."""
    from engine.optimizer.order_predicates import predicate_cost
    from engine.plan.annotations import annotate
    from engine.plan.expressions import conjuncts
    from engine.optimizer.cost.compile_choice import choose, dense_slots
    from engine.plan.nodes import Aggregate, Filter, Scan
    cm = ctx.cost

    def visit(p: Node) -> Node:
        for n in p.walk():
            est = cm.estimate(n)
            annotate(n, rows=est.rows, cost=est.cost)
            if isinstance(n, (Filter, Scan)):
                parts = list(n.filters) if isinstance(n, Scan) else conjuncts(n.predicate)
                base = n if isinstance(n, Scan) else n.child
                annotate(n, conjuncts={q: (predicate_cost(q, ctx.udf_cost), cm.selectivity(q, base))
                                       for q in parts})
            if isinstance(n, Scan) and n.filters:  # compile its filters? (engine/jit/filter.py)
                try:
                    rows = n.source.row_count()
                except Exception:
                    rows = None
                annotate(n, jit=choose(rows, ctx.settings))
            if isinstance(n, Aggregate):  # compile its pipeline? (the JIT says whether it can)
                slots = dense_slots(n, cm) if n.groups else None
                annotate(n, jit=choose(cm.estimate(n.child).rows, ctx.settings, slots))
        return p
    return each_plan(plan, visit)
