"""approx_count_distinct as DuckDB computes it: a HyperLogLog sketch of 2^10 one-byte registers
over DuckDB's own 64-bit hash of each value, estimated with Ertl's improved estimator
("New cardinality estimation algorithms for HyperLogLog sketches", arXiv:1702.01284), so the
approximate count is DuckDB's, number for number, not merely close to it.

Per row: register = hash & 1023, rank = trailing zeros of (hash >> 10 | 1 << 54) + 1; per group
the register keeps its largest rank. The estimate is vectorized over groups: the sigma and tau
series iterate until every group's value stops changing (as DuckDB's loops do per sketch).
Types whose DuckDB hash Dawn does not reproduce (``hashing.hashable``) are counted exactly, which
is within the sketch's error and the answer DuckDB gives for small inputs.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

P = 10
Q = 64 - P
M = 1 << P
ALPHA = 0.721347520444481703680  # 1 / (2 ln 2)


def _trailing_zeros(x: np.ndarray) -> np.ndarray:
    """Trailing zero bits of nonzero uint64 values."""
    low = x & (~x + np.uint64(1))  # the lowest set bit
    # log2 of a power of two is exact through float64 (its mantissa is 1)
    return np.log2(low.astype(np.float64)).astype(np.int64)


def _sigma(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64).copy()
    z = x.copy()
    y = np.ones_like(x)
    live = np.ones(len(x), dtype=bool)  # x < 1: some register was reached
    while live.any():
        x[live] = x[live] * x[live]
        before = z.copy()
        z[live] += x[live] * y[live]
        y[live] += y[live]
        live &= z != before
    return z


def _tau(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64).copy()
    zero = (x == 0.0) | (x == 1.0)
    z = 1.0 - x
    y = np.ones_like(x)
    live = ~zero
    while live.any():
        x[live] = np.sqrt(x[live])
        before = z.copy()
        y[live] *= 0.5
        z[live] -= (1.0 - x[live]) ** 2 * y[live]
        live &= z != before
    return np.where(zero, 0.0, z / 3.0)


def estimate(gid: np.ndarray, hashes: np.ndarray, ngroups: int) -> np.ndarray:
    """DuckDB's approx_count_distinct of each group from the hashes of its non-NULL values."""
    out = np.zeros(ngroups, dtype=np.int64)
    if len(hashes) == 0:
        return out
    h = hashes.astype(np.uint64)
    reg = (h & np.uint64(M - 1)).astype(np.int64)
    rest = (h >> np.uint64(P)) | (np.uint64(1) << np.uint64(Q))
    rank = _trailing_zeros(rest) + 1
    # largest rank per (group, register): sort by the pair, keep each pair's last (largest) rank
    key = gid.astype(np.int64) * M + reg
    order = np.lexsort((rank, key))
    key, rank = key[order], rank[order]
    last = np.ones(len(key), dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    key, rank = key[last], rank[last]
    groups, counted = key // M, np.zeros((ngroups, Q + 2), dtype=np.float64)
    np.add.at(counted, (groups, rank), 1.0)
    counted[:, 0] = M - counted[:, 1:].sum(axis=1)  # registers no value reached
    present = np.unique(groups)
    c = counted[present]
    z = M * _tau((M - c[:, Q]) / M)  # DuckDB reads c[Q] here; kept so the numbers agree
    for k in range(Q, 0, -1):
        z = (z + c[:, k]) * 0.5
    z = z + M * _sigma(c[:, 0] / M)  # every present group reached a register: c[0] < M
    est = ALPHA * M * M / z
    out[present] = np.floor(est + 0.5).astype(np.int64)  # llroundl: halves away from zero
    return out


def approx_count_distinct(gid: np.ndarray, values: pa.Array, ngroups: int) -> np.ndarray | None:
    """The sketch's counts per group, or None where the values' type has no DuckDB hash here."""
    from engine.plan.functions.hashing import hashable, hash_values
    if not hashable(values.type):
        return None
    with np.errstate(over="ignore"):
        return estimate(gid, hash_values(values), ngroups)
