"""Key filters: a hash join's probe-side keys, pushed into its build side before that is read.

A decorrelated subquery becomes a join with an aggregate over *every* key: TPC-H Q20 sums the
1994 lineitems of all 543,210 (part, supplier) pairs (77 ms) to keep the 8,508 pairs partsupp
asks about; Q17 averages the quantity of all 200,000 parts for 204 of them. When the probe side is
small and read whole first, the rows of the build side whose keys no probe row has cannot
contribute to an inner, left, semi or anti join (NULL keys never match), so the scan under the
build side drops them as it reads (sideways information passing; DuckDB's delim joins reach the
same end for subqueries).

``route`` finds where the keys can go, before anything runs: down through filters, projections
that pass the key columns through, aggregates that group on them and the probe side of inner,
left, semi and anti joins that carry them, to a scan. Only plain column references travel, so a
key means the same values at every level. Not into a compiled pipeline: its loop reads every row
about as fast as the filter would (Q17: 35 ms filtered and vectorized, against the loop's 25).
``HashJoinExec`` builds a ``JoinIndex`` of the probe keys and leaves it in
``ExecContext.key_filters`` under the scan while it reads its build side; the scan applies it
to each batch after its own filters.
"""
from __future__ import annotations

import pyarrow as pa

from engine.plan.expressions import ColumnRef

# probe rows a join reads ahead, before its build side, to filter that by their keys: beyond
# this the probe side is not "small", and reading ahead would delay a LIMIT above
PROBE_ROWS = 1 << 16
# the build side's scan must be estimated at this many times the probe rows, or more
GAIN = 8


def route(op, keys: list) -> tuple[object, list[ColumnRef]] | None:
    """(the scan under ``op`` that can filter by ``keys``, the keys as its columns), or None
    where the keys cannot travel that far."""
    from engine.physical.filter import FilterExec
    from engine.physical.hash_aggregate import HashAggregateExec
    from engine.physical.hash_join import HashJoinExec
    from engine.physical.project import ProjectExec
    from engine.physical.scan import ScanExec
    if not keys or not all(isinstance(k, ColumnRef) for k in keys):
        return None
    while True:
        if isinstance(op, ScanExec):
            if getattr(op.source, "kind", "") == "video":
                return None
            return op, keys
        if isinstance(op, FilterExec):
            op = op.children()[0]
            continue
        if isinstance(op, (ProjectExec, HashAggregateExec)):
            pairs = op.exprs if isinstance(op, ProjectExec) else op.groups
            if isinstance(op, HashAggregateExec) and not op.groups:
                return None
            mapping = {c.cid: e for c, e in pairs}
            keys = [mapping.get(k.cid) for k in keys]
            if not all(isinstance(k, ColumnRef) for k in keys):
                return None
            op = op.children()[0]
            continue
        if isinstance(op, HashJoinExec) and op.kind in ("inner", "left", "semi", "anti"):
            left = op.children()[0]
            if all(k.key in left.schema().names for k in keys):
                op = left
                continue
        return None


class KeyFilter:
    """The probe side's keys, indexed, applied to a scan's batches."""

    def __init__(self, keys: list[ColumnRef], index) -> None:
        self.keys = keys
        self.index = index
        self.counts = [0, 0]  # rows seen, rows kept (EXPLAIN ANALYZE)

    def apply(self, b: pa.RecordBatch) -> pa.RecordBatch:
        if not b.num_rows:
            return b
        pairs = self.index.probe([b.column(k.key) for k in self.keys])
        self.counts[0] += b.num_rows
        if pairs is None:  # types that do not compare as integers: keep every row
            self.counts[1] += b.num_rows
            return b
        rows = pairs[0]  # an ``exists`` index: each row at most once, in order
        self.counts[1] += len(rows)
        return b.take(pa.array(rows, pa.int64()))
