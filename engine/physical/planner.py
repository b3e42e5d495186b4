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
from engine.plan.annotations import annotation
from engine.plan.ctes import CteRef, CteScan, MaterializedCte
from engine.plan.expressions import Call, and_all, conjuncts
from engine.plan.nodes import (Aggregate, Distinct, Filter, Join, Limit, Node, Project,
                               RecursiveUnion, Scan, SetOp, Sort, Unnest, Values, Window,
                               WorkTable)


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

    def plan(self, node: Node) -> Operator:
        kw = {"est_rows": annotation(node, "rows"), "est_cost": annotation(node, "cost")}
        schema = node.schema
        if isinstance(node, Scan):
            names = {c.cid: s for c, s in zip(node.out, node.source_columns)}
            return ScanExec(node.table, node.source, list(node.source_columns),
                            [c.key for c in node.out], node.filters, names,
                            costs=self._costs(node), **kw)
        if isinstance(node, Values):
            return ValuesExec(node.rows, schema, **kw)
        if isinstance(node, Filter):
            return FilterExec(self.plan(node.child), node.predicate,
                              costs=self._costs(node), **kw)
        if isinstance(node, Project):
            return ProjectExec(self.plan(node.child), list(node.exprs), schema, **kw)
        if isinstance(node, Aggregate):
            return HashAggregateExec(self.plan(node.child), list(node.groups), list(node.aggs), schema, **kw)
        if isinstance(node, Distinct):
            groups = [(c, c) for c in node.columns]
            return HashAggregateExec(self.plan(node.child), groups, [], schema, **kw)
        if isinstance(node, Sort):
            return SortExec(self.plan(node.child), list(node.keys), node.limit, **kw)
        if isinstance(node, Limit):
            return LimitExec(self.plan(node.child), node.limit, node.offset, node.percent, **kw)
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
        raise InternalError(f"No physical operator for {type(node).__name__}")
