"""Helpers the rules share: rebuilding a node with rewritten expressions."""
from __future__ import annotations

from dataclasses import replace

from engine.plan.expressions import SortKey
from engine.plan.nodes import (Aggregate, Cascade, Filter, Join, Node, Project, Scan, Sort, Values, Window,
                               transform_up)


def map_node_expressions(node: Node, fn) -> Node:
    """Apply ``fn`` to every expression held directly by ``node``."""
    if isinstance(node, Filter):
        p = fn(node.predicate)
        return node if p is node.predicate else replace(node, predicate=p)
    if isinstance(node, Cascade):
        p = fn(node.predicate)
        return node if p is node.predicate else replace(node, predicate=p)
    if isinstance(node, Project):
        ex = tuple((c, fn(e)) for c, e in node.exprs)
        return node if all(a[1] is b[1] for a, b in zip(ex, node.exprs)) else replace(node, exprs=ex)
    if isinstance(node, Aggregate):
        g = tuple((c, fn(e)) for c, e in node.groups)
        a = tuple((c, fn(e)) for c, e in node.aggs)
        return replace(node, groups=g, aggs=a)
    if isinstance(node, Join) and node.condition is not None:
        c = fn(node.condition)
        return node if c is node.condition else replace(node, condition=c)
    if isinstance(node, Scan) and node.filters:
        return replace(node, filters=tuple(fn(f) for f in node.filters))
    if isinstance(node, Sort):
        return replace(node, keys=tuple(SortKey(fn(k.expr), k.ascending, k.nulls_first) for k in node.keys))
    if isinstance(node, Window):
        return replace(node, funcs=tuple((c, fn(f)) for c, f in node.funcs))
    if isinstance(node, Values):
        return replace(node, rows=tuple(tuple(fn(e) for e in r) for r in node.rows))
    return node


def map_expressions(plan: Node, fn) -> Node:
    return transform_up(plan, lambda n: map_node_expressions(n, fn))
