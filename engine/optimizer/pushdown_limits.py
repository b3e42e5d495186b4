"""Rule: turn ORDER BY + LIMIT into a top-N sort and move LIMIT below projections.

Example: ``Limit(10, Sort(x, child))`` becomes ``Limit(10, Sort(x, child, limit=10))``, which
keeps only the first rows of the sorted order instead of materialising the whole sort output.
"""
from __future__ import annotations

from dataclasses import replace

from engine.plan.expressions import WindowCall, contains
from engine.plan.nodes import Limit, Node, Project, Sort, transform_up


def _rewrite(node: Node) -> Node:
    if not isinstance(node, Limit) or node.limit is None:
        return node
    child = node.child
    if isinstance(child, Project) and not any(contains(e, (WindowCall,)) for _, e in child.exprs):
        inner = _rewrite(Limit(child.child, node.limit, node.offset))
        return replace(child, child=inner)
    if isinstance(child, Sort):
        n = node.limit + node.offset
        if child.limit is None or child.limit > n:
            return replace(node, child=replace(child, limit=n))
    return node


def pushdown_limits(plan: Node, ctx=None) -> Node:
    return transform_up(plan, _rewrite)
