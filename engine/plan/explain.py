"""EXPLAIN text: one line per node, indented by depth, with column ids renumbered per plan.

Column ids come from a process-wide counter, so the same query binds to ``a#17`` on one connection
and ``a#20`` on another. The text shows them renumbered in order of first appearance (``a#1``,
``b#2``, ...), which makes EXPLAIN the same for the same query anywhere and lets tests compare
whole plans. Only the text changes; the plan keeps its ids.
"""
from __future__ import annotations

import re

from engine.plan.expressions import SubqueryExpr
from engine.plan.nodes import Node

# A quoted literal is skipped whole (a string '#5' is data, not an id); a name's id is the last
# ``#<digits>`` of a word (``a#5#18``, where a user called the column "a#5", renumbers only 18).
_ID_OR_QUOTED = re.compile(r"'(?:[^']|'')*'|#(\d+)(?![\d#])")


def renumber_ids(text: str) -> str:
    """``text`` with every ``#<id>`` replaced by its rank of first appearance (1, 2, ...)."""
    ranks: dict[str, int] = {}

    def sub(m: re.Match) -> str:
        cid = m.group(1)
        if cid is None:
            return m.group(0)
        n = ranks.get(cid)
        if n is None:
            n = ranks[cid] = len(ranks) + 1
        return f"#{n}"
    return _ID_OR_QUOTED.sub(sub, text)


def render_logical(plan: Node, indent: int = 0, renumber: bool = True,
                   subqueries: bool = False) -> str:
    """The logical plan, one node a line. ``subqueries``: the plan of each subquery an expression
    holds is printed under its node, after a ``Subquery:`` line (what decorrelation works on)."""
    lines = []

    def walk(n: Node, d: int) -> None:
        lines.append("  " * d + n.describe())
        if subqueries:
            for e in n.expressions():
                for x in e.walk():
                    if isinstance(x, SubqueryExpr):
                        lines.append("  " * (d + 1) + "Subquery: " + x.sql())
                        walk(x.plan, d + 2)
        for c in n.children:
            walk(c, d + 1)
    walk(plan, indent)
    text = "\n".join(lines)
    return renumber_ids(text) if renumber else text


def _fmt_rows(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:,.0f}"


def render_physical(op, ctx=None, analyze: bool = False, renumber: bool = True) -> str:
    """Physical plan lines ``Name: params rows=… cost=…``; with ANALYZE, actual rows and time."""
    lines = []

    def self_time(o) -> float:
        m = ctx.metrics.get(id(o)) if ctx else None
        if m is None:
            return 0.0
        kids = sum(ctx.metrics[id(c)].time for c in o.children() if id(c) in ctx.metrics)
        return max(0.0, m.time - kids)

    def walk(o, d: int) -> None:
        p = o.params()
        s = f"{o.name}: {p}" if p else o.name
        s += f" rows={_fmt_rows(o.est_rows)} cost={_fmt_rows(o.est_cost)}"
        if analyze and ctx is not None:
            m = ctx.metrics.get(id(o))
            if m is not None:
                s += f" actual_rows={m.rows} time={self_time(o) * 1000:.1f}ms"
                scan = m.extra.get("scan")
                if scan is not None:
                    s += (f" bytes_read={scan.bytes_read} columns_read={len(scan.columns_read)}")
                    if scan.row_groups_total:
                        s += f" row_groups={scan.row_groups_read}/{scan.row_groups_total}"
                for k, v in m.extra.items():
                    if k != "scan":
                        s += f" {k}={v}"
        lines.append("  " * d + s)
        for c in o.children():
            walk(c, d + 1)
    walk(op, 0)
    text = "\n".join(lines)
    return renumber_ids(text) if renumber else text
