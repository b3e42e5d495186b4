"""approx_count_distinct as DuckDB computes it: a HyperLogLog sketch of DuckDB's own hash values,
so Dawn's estimates equal DuckDB's, not only the exact count they approximate.

DuckDB (src/common/types/hyperloglog.cpp) keeps 2^10 registers of 6 bits: a value's hash (the
one hash() returns) picks register ``h & 1023`` by its low bits and offers it one more than the
number of trailing zeros of the remaining bits (capped at 55); the estimate is Otmar Ertl's
improved raw estimator ("New cardinality estimation algorithms for HyperLogLog sketches", 2017,
Algorithm 6, with the sigma and tau series from Redis), rounded to the nearest integer.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

P = 10
M = 1 << P
Q = 64 - P
ALPHA = 0.721347520444481703680  # 1 / (2 ln 2)


def _sigma(x: np.ndarray) -> np.ndarray:
    """sum over k >= 1 of x^(2^k) 2^(k-1), plus x; infinite at x = 1 (a sketch of nothing)."""
    x = x.astype(np.float64)
    z, y = x.copy(), np.ones_like(x)
    one = x == 1.0
    x = np.where(one, 0.0, x)
    for _ in range(64):
        x = x * x
        prev = z
        z = z + x * y
        y = y + y
        if np.array_equal(prev, z):
            break
    return np.where(one, np.inf, z)


def _tau(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    edge = (x == 0.0) | (x == 1.0)
    x = np.where(edge, 0.5, x)
    z, y = 1.0 - x, np.ones_like(x)
    for _ in range(200):
        x = np.sqrt(x)
        prev = z
        y = y * 0.5
        z = z - (1.0 - x) ** 2 * y
        if np.array_equal(prev, z):
            break
    return np.where(edge, 0.0, z / 3.0)


def estimate(gid: np.ndarray, hashes: np.ndarray, ngroups: int) -> pa.Array:
    """The HyperLogLog estimate of the distinct values per group: row i, of hash ``hashes[i]``
    (uint64), belongs to group ``gid[i]``; a group without rows counts 0."""
    h = hashes.astype(np.uint64)
    reg = (h & np.uint64(M - 1)).astype(np.int64)
    w = (h >> np.uint64(P)) | (np.uint64(1) << np.uint64(Q))
    low = w & (~w + np.uint64(1))  # the lowest set bit, a power of two (exact in float64)
    rank = (np.log2(low.astype(np.float64)).astype(np.int64) + 1)
    # the highest rank per (group, register): one sort, then the last of each run
    key = gid.astype(np.int64) * M + reg
    order = np.lexsort((rank, key))
    key, rank = key[order], rank[order]
    last = np.ones(len(key), dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    g, r = key[last] // M, rank[last]
    counts = np.zeros((ngroups, Q + 2), dtype=np.int64)
    np.add.at(counts, (g, r), 1)
    counts[:, 0] = M - counts[:, 1:].sum(axis=1)
    z = M * _tau((M - counts[:, Q + 1]) / M)
    for k in range(Q, 0, -1):
        z = (z + counts[:, k]) * 0.5
    z = z + M * _sigma(counts[:, 0] / M)
    with np.errstate(divide="ignore"):
        out = np.rint(ALPHA * M * M / z)
    return pa.array(np.where(np.isfinite(out), out, 0).astype(np.int64))
