"""Rule: order chains of inner joins by estimated cardinality (greedy).

A maximal tree of inner/cross joins is flattened into its inputs and conditions; starting from
the connected pair with the smallest estimated result, the rule repeatedly joins the connected
input that keeps the intermediate result smallest, so no cross product appears while an equality
connects the inputs, and selective dimensions are joined early. The estimated smaller input of
each join goes on the right (the build side). A projection restores the original column order.

Example: ``FROM lineitem, orders, customer WHERE c_mktsegment = 'X' AND ...`` joins the filtered
customer and orders first, then lineitem.
"""
from __future__ import annotations

from engine.optimizer.cost import CostModel
from engine.plan.expressions import Expr, and_all, conjuncts
from engine.plan.nodes import Join, Node, Project


def _flatten(node: Node, leaves: list[Node], conds: list[Expr]) -> None:
    if isinstance(node, Join) and node.kind in ("inner", "cross"):
        _flatten(node.left, leaves, conds)
        _flatten(node.right, leaves, conds)
        conds.extend(conjuncts(node.condition))
    else:
        leaves.append(node)


def _order(node: Join, cm: CostModel, ctx) -> Node:
    leaves: list[Node] = []
    conds: list[Expr] = []
    _flatten(node, leaves, conds)
    leaves = [reorder(l, cm, ctx) for l in leaves]
    if len(leaves) < 2:
        return node
    ids = [{c.cid for c in l.columns} for l in leaves]
    remaining = list(range(len(leaves)))
    pending = list(conds)

    def applicable(cols: set[int]) -> list[Expr]:
        return [p for p in pending if p.columns() <= cols]

    def connected(a: set[int], b: set[int]) -> bool:
        return any(p.columns() & a and p.columns() & b and p.columns() <= (a | b) for p in pending)

    def make(left: Node, right: Node, preds: list[Expr]) -> Join:
        le, re_ = cm.estimate(left), cm.estimate(right)
        if le.rows < re_.rows:
            left, right = right, left
        return Join(left, right, "inner" if preds else "cross", and_all(preds))

    best = None
    for i in remaining:
        for j in remaining:
            if i < j and connected(ids[i], ids[j]):
                cand = make(leaves[i], leaves[j], applicable(ids[i] | ids[j]))
                r = cm.estimate(cand).rows
                if best is None or r < best[0]:
                    best = (r, i, j, cand)
    if best is None:  # nothing connects: keep the written order
        return node
    _, i, j, cur = best
    cur_ids = ids[i] | ids[j]
    for p in applicable(cur_ids):
        pending.remove(p)
    remaining = [k for k in remaining if k not in (i, j)]
    while remaining:
        choice = None
        for k in remaining:
            conn = connected(cur_ids, ids[k])
            cand = make(cur, leaves[k], applicable(cur_ids | ids[k]))
            r = cm.estimate(cand).rows
            key = (0 if conn else 1, r)
            if choice is None or key < choice[0]:
                choice = (key, k, cand)
        _, k, cur = choice
        cur_ids |= ids[k]
        for p in applicable(cur_ids):
            pending.remove(p)
        remaining.remove(k)
    if pending:  # predicates that reference columns outside the leaves (should not happen)
        return node
    if [c.cid for c in cur.columns] != [c.cid for c in node.columns]:
        return Project(cur, tuple((c, c) for c in node.columns))
    return cur


def reorder(node: Node, cm: CostModel, ctx=None) -> Node:
    if isinstance(node, Join) and node.kind in ("inner", "cross"):
        return _order(node, cm, ctx)
    kids = node.children
    if not kids:
        return node
    new = tuple(reorder(k, cm, ctx) for k in kids)
    return node.with_children(new) if any(a is not b for a, b in zip(new, kids)) else node


def reorder_joins(plan: Node, ctx=None) -> Node:
    cm = getattr(ctx, "cost", None) or CostModel(getattr(ctx, "stats", None))
    return reorder(plan, cm, ctx)
