"""The built-in window functions that return one value per row of a partition, as
``PartitionEvaluator``s (``udfs.accumulator``): ranking (row_number, rank, dense_rank,
percent_rank, cume_dist, ntile) and offsets (lag, lead). Each evaluates every partition of the
sorted input at once from the partition and peer-group boundaries, vectorized with numpy.
The functions themselves are listed in ``engine.plan.window_functions``.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.plan.expressions import WindowCall
from udfs.accumulator import PartitionEvaluator, WindowRows


def _const(arg: pa.Array, default):
    return arg[0].as_py() if len(arg) else default


class RowNumber(PartitionEvaluator):
    def evaluate_all(self, args, n_rows, rows: WindowRows) -> pa.Array:
        return pa.array(rows.position - rows.partition_start + 1, pa.int64())


class Rank(PartitionEvaluator):
    def evaluate_all(self, args, n_rows, rows: WindowRows) -> pa.Array:
        return pa.array(rows.peer_start - rows.partition_start + 1, pa.int64())


class DenseRank(PartitionEvaluator):
    def evaluate_all(self, args, n_rows, rows: WindowRows) -> pa.Array:
        c = np.cumsum(rows.peer_change)
        return pa.array(c - c[rows.partition_start] + 1, pa.int64())


class PercentRank(PartitionEvaluator):
    def evaluate_all(self, args, n_rows, rows: WindowRows) -> pa.Array:
        size = rows.partition_end - rows.partition_start
        rank = rows.peer_start - rows.partition_start
        return pa.array(np.where(size > 1, rank / np.maximum(size - 1, 1), 0.0), pa.float64())


class CumeDist(PartitionEvaluator):
    def evaluate_all(self, args, n_rows, rows: WindowRows) -> pa.Array:
        return pa.array((rows.peer_end - rows.partition_start) / (rows.partition_end - rows.partition_start),
                        pa.float64())


class Ntile(PartitionEvaluator):
    def evaluate_all(self, args, n_rows, rows: WindowRows) -> pa.Array:
        buckets = int(_const(args[0], 1)) if args else 1
        size = rows.partition_end - rows.partition_start
        rn0 = rows.position - rows.partition_start
        q, r = np.divmod(size, buckets)
        boundary = r * (q + 1)
        small = np.where(q > 0, q, 1)
        return pa.array(np.where(rn0 < boundary, rn0 // (q + 1), r + (rn0 - boundary) // small) + 1,
                        pa.int64())


class Offset(PartitionEvaluator):
    """lag / lead: the value ``offset`` rows before / after in the partition, else the default."""

    def __init__(self, call: WindowCall) -> None:
        self.sign = -1 if call.fn == "lag" else 1
        self.dtype = call.dtype

    def evaluate_all(self, args, n_rows, rows: WindowRows) -> pa.Array:
        off = int(_const(args[1], 1)) if len(args) > 1 else 1
        pos = rows.position
        src = pos + self.sign * off
        ok = (src >= rows.partition_start) & (src < rows.partition_end)
        taken = args[0].take(pa.array(np.where(ok, src, 0)))
        default = args[2] if len(args) > 2 else pa.nulls(n_rows, self.dtype)
        return pc.if_else(pa.array(ok), taken, default.cast(self.dtype))


_EVALUATORS = {"row_number": RowNumber, "rank": Rank, "dense_rank": DenseRank,
               "percent_rank": PercentRank, "cume_dist": CumeDist, "ntile": Ntile}


def evaluator(call: WindowCall) -> PartitionEvaluator | None:
    """The evaluator of a window-only function that returns one value per row, or None."""
    if call.fn in ("lag", "lead"):
        return Offset(call)
    cls = _EVALUATORS.get(call.fn)
    return cls() if cls is not None else None
