"""Any accumulator over window frames: each output row is one group whose rows are its frame.

``frame_values(make, args, lo, hi)`` computes, for every row i of the sorted input, the aggregate
of rows ``lo[i] .. hi[i]`` (inclusive; empty when hi < lo) with accumulators from ``make()``,
vectorized: a handful of accumulator calls, never one per row or per partition.

* Narrow frames (every frame within ``DIRECT_WIDTH`` offsets of its row, as ``ROWS BETWEEN 2
  PRECEDING AND 1 FOLLOWING``): one ``update`` per offset, each adding, for all rows at once, the
  row at that offset to the row's group.
* Wide frames: a segment tree of states. The leaves are one group per row (one ``update``); each
  level merges pairs of the level below (one ``merge``); a frame is the O(log n) tree nodes that
  tile it, merged into its row's group one tree level at a time, in input order (left pieces
  rising, then right pieces descending), so an order-dependent aggregate sees its rows in order.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from udfs.accumulator import Accumulator

DIRECT_WIDTH = 16


def frame_values(make: Callable[[], Accumulator], args: list[pa.Array], lo: np.ndarray,
                 hi: np.ndarray) -> pa.Array:
    n = len(lo)
    pos = np.arange(n, dtype=np.int64)
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    nonempty = hi >= lo
    out = make()
    out.update([a.slice(0, 0) for a in args], np.zeros(0, np.int64), n)  # n groups, some empty
    if not nonempty.any():
        return out.finalize()
    first, last = int((lo - pos)[nonempty].min()), int((hi - pos)[nonempty].max())
    if last - first + 1 <= DIRECT_WIDTH:
        for j in range(first, last + 1):
            src = pos + j
            inside = nonempty & (src >= lo) & (src <= hi)
            if inside.any():
                idx = pa.array(src[inside])
                out.update([a.take(idx) for a in args], pos[inside], n)
        return out.finalize()
    levels = [_leaves(make, args, n)]
    while len(levels[-1][0]) > 1 if levels[-1] else False:
        below = levels[-1]
        m = len(below[0])
        acc = make()
        acc.merge(below, np.arange(m, dtype=np.int64) // 2, (m + 1) // 2)
        levels.append(acc.state())
    a, b = np.where(nonempty, lo, 0), np.where(nonempty, hi + 1, 0)
    lefts, rights = [], []
    for states in levels:
        left = (a < b) & (a & 1 == 1)
        if left.any():
            lefts.append((states, pos[left], a[left]))
        a = a + left
        right = (a < b) & (b & 1 == 1)
        b = b - right
        if right.any():
            rights.append((states, pos[right], b[right]))
        if not (a < b).any():
            break
        a >>= 1
        b >>= 1
    for states, rows, nodes in lefts + rights[::-1]:
        idx = pa.array(nodes)
        out.merge([s.take(idx) for s in states], rows, n)
    return out.finalize()


def _leaves(make, args, n: int) -> list[pa.Array]:
    acc = make()
    acc.update(args, np.arange(n, dtype=np.int64), n)
    return acc.state()
