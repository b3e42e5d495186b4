"""Cardinality and cost estimates for logical plans.

Row counts come from the sources; selectivities from column statistics (statistics.py: Parquet
footers, Arrow columns, ANALYZE): a comparison with a constant interpolates uniformly between the
column's min and max (numbers, dates, timestamps, strings by their leading characters), with
the bounds on one column combined into one range; equality is ``1 / distinct``, IS NULL the
NULL fraction, an IN list the sum of its equalities, a LIKE prefix the range it spans; AND
multiplies, OR adds less the overlap. The classic System-R defaults (``selectivity``) apply only
where nothing is known. An equi-join's size is ``|L| * |R| / max(d(l), d(r))`` over its most
selective key, where ``d`` is a key's distinct count capped by the input's estimated rows; a key
whose column cannot be traced to a table falls back to the smaller input's base row count (the
primary-key side of a foreign-key join). ``cost`` counts rows touched, children included.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from engine.plan.expressions import (Call, ColumnRef, Expr, InList, Literal, SubqueryExpr, and_all,
                                     conjuncts)
from engine.plan.nodes import (Aggregate, Cascade, Distinct, Filter, Join, Limit, Node, Project, Sample,
                               Scan, SetOp, Sort, Values, Window)


@dataclass(frozen=True)
class Estimate:
    rows: float
    cost: float
    base: float  # row count of the largest base table underneath (key-side proxy for joins)


def selectivity(e: Expr | None) -> float:
    if e is None:
        return 1.0
    if isinstance(e, Literal):
        return 1.0 if e.value is True else 0.0 if e.value in (False, None) else 1.0
    if isinstance(e, Call):
        f = e.fn
        if f == "and":
            return selectivity(e.args[0]) * selectivity(e.args[1])
        if f == "or":
            a, b = selectivity(e.args[0]), selectivity(e.args[1])
            return min(1.0, a + b - a * b)
        if f == "not":
            return 1.0 - selectivity(e.args[0])
        if f == "eq":
            return 0.1 if any(isinstance(a, Literal) for a in e.args) else 0.05
        if f in ("neq", "is_distinct"):
            return 0.9
        if f in ("lt", "lte", "gt", "gte"):
            return 0.33
        if f in ("like", "ilike"):
            return 0.1
        if f in ("not_like", "not_ilike"):
            return 0.9
        if f == "is_null":
            return 0.05
        if f == "is_not_null":
            return 0.95
    if isinstance(e, InList):
        s = min(1.0, 0.1 * len(e.values))
        return 1.0 - s if e.negated else s
    if isinstance(e, SubqueryExpr):
        return 0.5
    return 0.5


class CostModel:
    def __init__(self, stats=None):
        if stats is None:
            from engine.optimizer.cost.statistics import Statistics
            stats = Statistics()
        self.stats = stats  # engine.optimizer.cost.statistics.Statistics
        # keyed by id(); the node is kept alive with its estimate so the id cannot be reused
        self._memo: dict[int, tuple[Node, Estimate]] = {}
        self._lineage: dict[int, tuple[object, str]] = {}

    def _trace(self, node: Node) -> None:
        """Remember which source column each scan output (and plain rename, and grouping key)
        comes from; children first, so a rename above a scan finds the scan's columns."""
        for n in reversed(list(node.walk())):
            if isinstance(n, Scan):
                for c, s in zip(n.out, n.source_columns):
                    self._lineage[c.cid] = (n.source, s)
            elif type(n).__name__ == "CteScan":  # its columns are the body's, by position
                self._trace(n.body)
                for c, b in zip(n.out, n.body.columns):
                    if b.cid in self._lineage:
                        self._lineage[c.cid] = self._lineage[b.cid]
            elif isinstance(n, (Project, Aggregate)):
                for c, e in (n.exprs if isinstance(n, Project) else n.groups):
                    if isinstance(e, ColumnRef) and e.cid in self._lineage:
                        self._lineage[c.cid] = self._lineage[e.cid]

    def ndv(self, e: Expr, node: Node, rows: float) -> float | None:
        if not isinstance(e, ColumnRef):
            return None
        if e.cid not in self._lineage:
            self._trace(node)
        src = self._lineage.get(e.cid)
        if src is None:
            return None
        st = self.stats.column(*src)
        d = None if st is None else st.distinct
        return None if d is None else max(1.0, min(d, rows))

    def column_stats(self, e: Expr, node: Node):
        """The statistics of the table column ``e`` reads (through casts), or None."""
        from engine.plan.expressions import Cast
        while isinstance(e, Cast):
            e = e.arg
        if not isinstance(e, ColumnRef):
            return None
        if e.cid not in self._lineage:
            self._trace(node)
        src = self._lineage.get(e.cid)
        return None if src is None else self.stats.column(*src)

    def selectivity(self, e: Expr | None, node: Node) -> float:
        """The fraction of ``node``'s input rows that pass ``e`` (``node`` is where the
        columns come from: the filter's child, or the scan itself)."""
        from engine.optimizer.cost.predicates import estimate_selectivity
        return estimate_selectivity(e, lambda x: self.column_stats(x, node), self.stats.udf)

    def udf(self, u) -> tuple[float, float | None]:
        return self.stats.udf(u)

    def estimate(self, node: Node) -> Estimate:
        hit = self._memo.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        est = self._estimate(node)
        self._memo[id(node)] = (node, est)
        return est

    def _estimate(self, node: Node) -> Estimate:
        kids = [self.estimate(c) for c in node.children]
        child_cost = sum(k.cost for k in kids)
        if isinstance(node, Scan):
            n = node.source.row_count()
            n = float(n) if n is not None else 1000.0
            rows = n * self.selectivity(and_all(list(node.filters)), node)
            return Estimate(max(rows, 1.0 if n else 0.0), n, n)
        from engine.plan.ctes import CteRef, CteScan, MaterializedCte
        if isinstance(node, CteScan):
            b = self.estimate(node.body)
            return Estimate(b.rows, b.rows, b.base)
        if isinstance(node, CteRef):
            return kids[0]
        if isinstance(node, MaterializedCte):
            b, c = kids
            return Estimate(c.rows, b.cost + b.rows + c.cost, c.base)
        if isinstance(node, Values):
            return Estimate(float(len(node.rows)), float(len(node.rows)), float(len(node.rows)))
        c = kids[0] if kids else Estimate(1, 1, 1)
        if isinstance(node, Filter):
            rows = c.rows * self.selectivity(node.predicate, node.child)
            return Estimate(max(rows, 1.0), child_cost + c.rows, c.base)
        if isinstance(node, (Project, Window)):
            return Estimate(c.rows, child_cost + c.rows, c.base)
        if isinstance(node, Aggregate):
            rows = 1.0
            if node.groups:
                ndvs = [self.ndv(e, node.child, c.rows) for _, e in node.groups]
                if all(d is not None for d in ndvs):
                    rows = min(c.rows, math.prod(ndvs))
                else:
                    rows = max(1.0, min(c.rows, c.rows ** 0.75))
            return Estimate(rows, child_cost + c.rows, rows)
        if isinstance(node, Distinct):
            rows = max(1.0, min(c.rows, c.rows ** 0.75))
            return Estimate(rows, child_cost + c.rows, rows)
        if isinstance(node, Sort):
            rows = c.rows if node.limit is None else min(c.rows, node.limit)
            return Estimate(rows, child_cost + c.rows * math.log2(max(c.rows, 2)), c.base)
        if isinstance(node, Limit):
            rows = c.rows if node.limit is None else min(c.rows, node.limit + node.offset)
            return Estimate(rows, child_cost, c.base)
        if isinstance(node, Cascade):
            rows = c.rows * self.selectivity(node.predicate, node.child)
            return Estimate(rows, child_cost + c.rows, c.base)
        if isinstance(node, Sample):
            s = node.spec
            rows = min(c.rows, s.rows) if s.rows is not None else c.rows * s.percent / 100
            src = node.child.source if isinstance(node.child, Scan) and not node.child.filters else None
            if src is not None and (s.rows is not None or getattr(src, "prefers_take", False)
                                    or (s.method == "system" and src.kind == "video")):
                return Estimate(rows, rows, c.base)  # positions chosen up front: only they are read
            return Estimate(rows, child_cost + c.rows, c.base)
        if isinstance(node, SetOp):
            l, r = kids
            return Estimate(l.rows + r.rows, child_cost + l.rows + r.rows, max(l.base, r.base))
        if isinstance(node, Join):
            l, r = kids
            rows = self.join_rows(node, l, r)
            return Estimate(rows, child_cost + l.rows + r.rows + rows, max(l.base, r.base))
        return Estimate(c.rows, child_cost + c.rows, c.base)

    def join_rows(self, node: Join, l: Estimate, r: Estimate) -> float:
        if node.kind in ("asof", "asof_left", "positional"):  # at most one partner per left row
            return l.rows if node.kind != "positional" else max(l.rows, r.rows)
        equi = [p for p in conjuncts(node.condition) if _is_equi(p, node)]
        if node.kind == "cross" or (node.kind == "inner" and not equi and node.condition is None):
            return l.rows * r.rows
        if node.kind in ("semi", "anti"):
            return max(1.0, l.rows * self._semi_fraction(node, equi, l, r))
        if equi:
            lids = {c.cid for c in node.left.columns}
            best = None
            for p in equi:
                a, b = p.args
                if not (a.columns() <= lids):
                    a, b = b, a
                da, db = self.ndv(a, node.left, l.rows), self.ndv(b, node.right, r.rows)
                if da is None or db is None:
                    continue
                d = max(da, db)
                best = d if best is None else max(best, d)
            if best is None:
                best = max(min(l.base, r.base), 1.0)
            inner = l.rows * r.rows / best
            rest = [p for p in conjuncts(node.condition) if p not in equi]
            inner *= self.selectivity(and_all(rest), node)
        else:
            inner = l.rows * r.rows * self.selectivity(node.condition, node)
        inner = max(inner, 1.0)
        if node.kind == "left":
            return max(inner, l.rows)
        if node.kind == "right":
            return max(inner, r.rows)
        if node.kind == "full":
            return max(inner, l.rows + r.rows)
        return inner


    def _semi_fraction(self, node: Join, equi: list[Expr], l: Estimate, r: Estimate) -> float:
        """The share of left rows a semi join keeps (an anti join the rest): the share of the
        left key's distinct values that the right side holds, under containment."""
        keep = None
        if equi:
            lids = {c.cid for c in node.left.columns}
            a, b = equi[0].args
            if not (a.columns() <= lids):
                a, b = b, a
            da, db = self.ndv(a, node.left, l.rows), self.ndv(b, node.right, r.rows)
            if da is not None and db is not None:
                keep = min(1.0, db / da)
        if keep is None:  # the System-R defaults
            return 0.5 if equi else 0.3
        return keep if node.kind == "semi" else max(1.0 - keep, 0.0)


def _is_equi(p: Expr, node: Join) -> bool:
    if not (isinstance(p, Call) and p.fn == "eq"):
        return False
    lc = {c.cid for c in node.left.columns}
    rc = {c.cid for c in node.right.columns}
    a, b = p.args[0].columns(), p.args[1].columns()
    return bool(a) and bool(b) and ((a <= lc and b <= rc) or (a <= rc and b <= lc))
