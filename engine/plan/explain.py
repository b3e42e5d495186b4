"""EXPLAIN text: one line per node, indented by depth."""
from __future__ import annotations

from engine.plan.nodes import Node


def render_logical(plan: Node, indent: int = 0) -> str:
    lines = []

    def walk(n: Node, d: int) -> None:
        lines.append("  " * d + n.describe())
        for c in n.children:
            walk(c, d + 1)
    walk(plan, indent)
    return "\n".join(lines)


def _fmt_rows(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:,.0f}"


def render_physical(op, ctx=None, analyze: bool = False) -> str:
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
    return "\n".join(lines)
