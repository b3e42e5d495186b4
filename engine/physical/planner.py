"""Physical planning: logical nodes to ``XxxExec`` operators, with estimates attached.

Estimates and decisions come from the plan: the optimizer's cost phase annotated each node
(engine/plan/annotations.py); a plan that was not optimized plans with no estimates. Join conditions are split into equality keys (one side's columns against the other's), which
become a hash join, and a residual; joins with no equality key run as nested-loop joins.
"""
from __future__ import annotations


from engine.errors import InternalError
from engine.physical.hash_aggregate import HashAggregateExec
from engine.physical.asof_join import AsofJoinExec
from engine.physical.filter import FilterExec
from engine.physical.hash_join import HashJoinExec
from engine.physical.limit import LimitExec
from engine.physical.materialized_cte import CteScanExec, MaterializedCteExec
from engine.physical.nested_loop_join import NestedLoopJoinExec
from engine.physical.operator import Operator
from engine.physical.positional_join import PositionalJoinExec
from engine.physical.project import ProjectExec
from engine.physical.recursive_union import RecursiveUnionExec, WorkTableExec
from engine.physical.scan import ScanExec
from engine.physical.set_op import SetOpExec
from engine.physical.sort import SortExec
from engine.physical.unnest import UnnestExec
from engine.physical.values import ValuesExec
from engine.physical.window import WindowExec
from dataclasses import replace

from engine.physical.lazy_topn import LAZY_PREDICATE_SECONDS, LazyTopNExec
from engine.plan.annotations import annotation
from engine.plan.ctes import CteRef, CteScan, MaterializedCte
from engine.plan.expressions import (AggCall, Call, ColumnRef, SortKey, SubqueryExpr, UdfCall, WindowCall,
                                     and_all, conjuncts, substitute)
from engine.plan.functions.names import VOLATILE
from engine.plan.nodes import (Aggregate, Approx, Cascade, Distinct, Filter, Join, Limit, Node, Project,
                               RecursiveUnion, Sample, Scan, SetOp, Sort, Unnest, Values, Window,
                               WorkTable)


def _cheap_deterministic(e) -> bool:
    return not any(isinstance(x, (UdfCall, SubqueryExpr, WindowCall, AggCall)) or
                   (isinstance(x, Call) and x.fn in VOLATILE) for x in e.walk())


def budget_rows(op: Operator, rows: int) -> None:
    """Tell the scan under a LIMIT (through operators that pass rows on one batch at a time)
    that ``rows`` rows may be all that is needed, so it starts with small batches."""
    while isinstance(op, (ProjectExec, FilterExec)):
        op = op.children()[0]
    if isinstance(op, ScanExec):
        op.row_budget = rows


def split_join_condition(node: Join):
    lids = {c.cid for c in node.left.columns}
    rids = {c.cid for c in node.right.columns}
    lkeys, rkeys, rest = [], [], []
    for p in conjuncts(node.condition):
        if isinstance(p, Call) and p.fn == "eq":
            a, b = p.args
            ac, bc = a.columns(), b.columns()
            if ac and bc and ac <= lids and bc <= rids:
                lkeys.append(a)
                rkeys.append(b)
                continue
            if ac and bc and ac <= rids and bc <= lids:
                lkeys.append(b)
                rkeys.append(a)
                continue
        rest.append(p)
    return lkeys, rkeys, and_all(rest)


class Planner:
    def _costs(self, node: Node) -> dict:
        """Per conjunct (cost per row, selectivity), shown by EXPLAIN."""
        return annotation(node, "conjuncts") or {}

    def _lazy_top_n(self, node: Sort, kw: dict) -> Operator | None:
        """A top-N over a filter with an expensive conjunct: sort without it, then evaluate it
        in sort order until the limit is met (LazyTopNExec). A projection of plain columns or
        deterministic built-in expressions between them moves above the top-N."""
        child, proj = node.child, None
        if isinstance(child, Project) and all(_cheap_deterministic(e) for _, e in child.exprs):
            proj, child = child, child.child
        if isinstance(child, Scan):
            parts = list(child.filters)
        elif isinstance(child, Filter):
            parts = conjuncts(child.predicate)
        else:
            return None
        costs = self._costs(child)   # the cost phase's (seconds per row, selectivity) per conjunct
        lazy = [p for p in parts if p in costs and costs[p][0] >= LAZY_PREDICATE_SECONDS]
        if not lazy:
            return None
        cheap = [p for p in parts if p not in lazy]
        if isinstance(child, Scan):
            base = replace(child, filters=tuple(cheap))
        else:
            base = Filter(child.child, and_all(cheap)) if cheap else child.child
        keys = list(node.keys)
        if proj is not None:
            mapping = {c.cid: e for c, e in proj.exprs}
            keys = [SortKey(substitute(k.expr, mapping), k.ascending, k.nulls_first) for k in keys]
        op = LazyTopNExec(self.plan(base), keys, node.limit, lazy, costs, **kw)
        if proj is not None:
            op = ProjectExec(op, list(proj.exprs), proj.schema, **kw)
        return op

    def plan(self, node: Node) -> Operator:
        kw = {"est_rows": annotation(node, "rows"), "est_cost": annotation(node, "cost")}
        schema = node.schema
        if isinstance(node, Scan):
            names = {c.cid: s for c, s in zip(node.out, node.source_columns)}
            op = ScanExec(node.table, node.source, list(node.source_columns),
                          [c.key for c in node.out], node.filters, names,
                          costs=self._costs(node), **kw)
            choice = annotation(node, "jit")
            if choice is not None and choice[0]:  # the optimizer chose to compile its filters
                op.jit_wanted = True
            return op
        if isinstance(node, Values):
            return ValuesExec(node.rows, schema, **kw)
        if isinstance(node, Filter):
            op = FilterExec(self.plan(node.child), node.predicate, costs=self._costs(node), **kw)
            if isinstance(node.child, Sample):  # a sampled video: cheap conjuncts before decoding
                from engine.physical.sample import screen_sample
                screen_sample(op)
            return op
        if isinstance(node, Project):
            return ProjectExec(self.plan(node.child), list(node.exprs), schema, **kw)
        if isinstance(node, Aggregate):
            op = HashAggregateExec(self.plan(node.child), list(node.groups), list(node.aggs), schema, **kw)
            choice = annotation(node, "jit")
            if choice is not None and choice[0]:  # the optimizer chose to compile its pipeline
                from engine.physical.jit_pipeline import fuse
                return fuse(op)
            if choice is not None and choice[2]:  # the JIT could not take it: EXPLAIN says why
                op.jit_note = f"not compiled: {choice[1]}"
            return op
        if isinstance(node, Distinct):
            groups = [(c, c) for c in node.columns]
            return HashAggregateExec(self.plan(node.child), groups, [], schema, **kw)
        if isinstance(node, Sort):
            if node.limit is not None:
                lazy = self._lazy_top_n(node, kw)
                if lazy is not None:
                    return lazy
            return SortExec(self.plan(node.child), list(node.keys), node.limit, **kw)
        if isinstance(node, Limit):
            child = self.plan(node.child)
            if node.limit is not None:
                budget_rows(child, node.limit + node.offset)
            return LimitExec(child, node.limit, node.offset, node.percent, **kw)
        if isinstance(node, SetOp):
            return SetOpExec(self.plan(node.left), self.plan(node.right), node.kind, node.all, schema, **kw)
        if isinstance(node, Unnest):
            return UnnestExec(self.plan(node.child), list(node.lists), schema, **kw)
        if isinstance(node, Window):
            return WindowExec(self.plan(node.child), list(node.funcs), schema, **kw)
        if isinstance(node, Join):
            left, right = self.plan(node.left), self.plan(node.right)
            if node.kind == "positional":
                return PositionalJoinExec(left, right, schema, **kw)
            if node.kind in ("asof", "asof_left"):
                return AsofJoinExec(left, right, node.kind, node.condition,
                                    {c.cid for c in node.left.columns}, {c.cid for c in node.right.columns},
                                    schema, **kw)
            lk, rk, rest = split_join_condition(node)
            if lk:
                return HashJoinExec(left, right, node.kind, lk, rk, rest, schema, **kw)
            return NestedLoopJoinExec(left, right, node.kind, node.condition, schema, **kw)
        if isinstance(node, RecursiveUnion):
            return RecursiveUnionExec(self.plan(node.anchor), self.plan(node.step), node.token,
                                      node.all, schema, **kw)
        if isinstance(node, WorkTable):
            return WorkTableExec(node.token, schema, **kw)
        if isinstance(node, CteRef):  # not materialised (the rule was disabled): inline
            return self.plan(node.child)
        if isinstance(node, MaterializedCte):
            return MaterializedCteExec(self.plan(node.body), self.plan(node.child), node.key,
                                       node.name, schema, **kw)
        if isinstance(node, CteScan):
            return CteScanExec(node.key, node.name, schema, **kw)
        if isinstance(node, Cascade):
            from engine.physical.cascade import CascadeExec
            return CascadeExec(self.plan(node.child), node.predicate, node.spec, **kw)
        if isinstance(node, Approx):
            from engine.physical.approx import ApproxExec
            scan = node.child
            if getattr(scan.source, "kind", "") == "video":
                # frames are decoded for the rows the oracle sees, and for all only if the proxy
                # or a cheap filter reads them
                need = {x.key for e in (node.proxy, *scan.filters) if e is not None
                        for x in e.walk() if isinstance(x, ColumnRef)}
                keep = [(c, n) for c, n in zip(scan.out, scan.source_columns) if n != "frame" or c.key in need]
                scan = replace(scan, out=tuple(c for c, _ in keep), source_columns=tuple(n for _, n in keep))
            return ApproxExec(self.plan(scan), node, schema, **kw)
        if isinstance(node, Sample):
            from engine.physical.sample import SampleExec
            video = isinstance(node.child, Scan) and getattr(node.child.source, "kind", "") == "video"
            return SampleExec(self.plan(node.child), node.spec,
                              node.prob.key if node.prob is not None else None, video, **kw)
        raise InternalError(f"No physical operator for {type(node).__name__}")
