"""JoinIndex: a hash join's build side on integer keys, indexed once and probed with whole-array
numpy operations (a fixed number per probe chunk, no Python per row).

Why: Arrow's hash join (``hash_join.arrow_join``) builds its hash table again on every call, and
a call per probe chunk means a 1.5M-row orders table was hashed for each lineitem chunk: in TPC-H
Q9 the join of 319k lineitems to orders took 100 ms, nearly all of it building.

Keys. Every key column is integer-like on both sides (integers of any width, both sides
integers; or the same date, time, timestamp or duration type on both), so equality is equality of
int64 values. The key columns are packed into one int64 *code* by mixed radix over the build
side's ranges (``(k1 - lo1) + span1 * (k2 - lo2) + ...``), when the spans' product stays under
2**62; otherwise ``build`` returns None and the join keeps Arrow's path. SQL equality never holds
for NULL: build rows with a NULL key are left out, and probe rows with a NULL key, or a value
outside that key's build range, find nothing.

Codes to groups. A dense code range (at most ``DENSE_PER_ROW`` codes per build row, or
``DENSE_MIN`` codes: 32 MiB of int32) is its own numbering (DuckDB's perfect hashing); otherwise a
``HashIndex`` (engine/physical/key_index.py) numbers the distinct codes. Dense is worth its
memory: filling a slot costs about a nanosecond, a hashed lookup about 30 per probe row (Q9's
filtered part, 10,664 keys over 200,000 partkeys, probed by 6M lineitems: 280 ms hashed).

Groups to build rows. When every key is unique (a primary key: the common case) an array maps a
group to its row; otherwise the build rows are ordered by group (a stable counting order), and a
group's rows are a run given by its start and count, so a probe row matching ``c`` build rows
yields ``c`` pairs, in build order.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.physical.key_index import HashIndex

DENSE_PER_ROW = 8
DENSE_MIN = 1 << 23
_MAX_SPAN = 1 << 62
# probe rows per pass: the temporaries stay in cache, and under glibc's mmap threshold (a fresh
# 32 MB array per step page-faults: a 4M-row probe took 220 ms in one pass, 60 ms in slices)
SLICE = 1 << 16


def _physical(t: pa.DataType) -> pa.DataType | None:
    """The integer type a key column's values are read as, or None if not integer-like."""
    if pa.types.is_integer(t):
        return t
    if pa.types.is_date32(t) or (pa.types.is_time(t) and t.bit_width == 32):
        return pa.int32()
    if pa.types.is_date64(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t) or \
            pa.types.is_time(t):
        return pa.int64()
    return None


def compatible(build: pa.DataType, probe: pa.DataType) -> bool:
    """Whether equal int64 readings of the two key types mean equal SQL values."""
    if pa.types.is_integer(build) and pa.types.is_integer(probe):
        return build != pa.uint64() and probe != pa.uint64()
    return build == probe and _physical(build) is not None


def _values(arr) -> tuple[np.ndarray, np.ndarray | None]:
    """A key column's values as int64 (0 where NULL) and its validity (None: no NULLs)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    phys = _physical(arr.type)
    if phys != arr.type:
        arr = arr.view(phys)
    valid = None
    if arr.null_count:
        valid = np.asarray(arr.is_valid())
        arr = arr.fill_null(0)
    return arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), valid


def _runs(group: np.ndarray, groups: int, compiled: bool):
    """(the rows ordered by group, each group's start and count in that order)."""
    count = np.bincount(group, minlength=groups)
    start = np.cumsum(count) - count
    if compiled:
        from engine.jit.hash_table import group_order
        return group_order(group, start), start, count
    return np.argsort(group, kind="stable"), start, count


class JoinIndex:
    """The build side's key columns, indexed (see the module docstring)."""

    def __init__(self, types, lo, hi, strides, find, row_of: np.ndarray | None,
                 runs: tuple | None, layout: str, compiled: bool = False) -> None:
        self.types = types
        self.lo, self.hi, self.strides = lo, hi, strides
        self.find = find      # codes -> groups (-1: absent); None: a dense code is its group
        self.row_of = row_of  # unique keys: group -> build row (-1: no row)
        self.runs = runs      # repeated keys: (rows ordered by group, start, count per group)
        self.layout = layout  # for EXPLAIN ANALYZE: dense, hash or compiled hash (repeated keys)
        self.compiled = compiled  # probe with the JIT's kernels (dense unique keys: one pass)

    @classmethod
    def build(cls, columns: list, compiled: bool = False, exists: bool = False) -> JoinIndex | None:
        """The index over the build side's key ``columns``, or None where keys are not integer-like
        or their ranges are too wide to pack into one code. ``compiled``: sparse codes go into the
        JIT's compiled hash table (engine/jit/hash_table.py) rather than numpy's ``HashIndex``.
        ``exists``: only whether a probe row has a match matters (a semi or anti join): each key
        keeps one of its rows, and a probe row meets at most one (no runs are built)."""
        types = [c.type for c in columns]
        if not columns or any(_physical(t) is None or t == pa.uint64() for t in types):
            return None
        vals = [_values(c) for c in columns]
        n = len(columns[0])
        ok = None
        for _, valid in vals:
            if valid is not None:
                ok = valid if ok is None else ok & valid
        rows = np.arange(n, dtype=np.int64) if ok is None else np.nonzero(ok)[0]
        lo, hi, strides, span = [], [], [], 1
        code = np.zeros(len(rows), dtype=np.int64)
        for v, _ in vals:
            v = v if ok is None else v[rows]
            a, b = (int(v.min()), int(v.max())) if len(v) else (0, -1)
            lo.append(a)
            hi.append(b)
            strides.append(span)
            if len(v):
                code += (v - a) * span
            span *= max(1, b - a + 1)
            if span > _MAX_SPAN:
                return None
        index = np.int32 if n < 1 << 31 else np.int64
        if span <= max(DENSE_MIN, DENSE_PER_ROW * len(rows)):  # dense: the code is the group
            row_of = np.full(span, -1, dtype=index)
            row_of[code] = rows  # a repeated code keeps one of its rows: checked next
            if exists or np.array_equal(row_of[code], rows):
                return cls(types, lo, hi, strides, None, row_of, None,
                           "dense, compiled probe" if compiled and len(columns) == 1 else "dense",
                           compiled)
            # repeated keys: number the distinct codes in the span-sized array (reused), so
            # the runs' starts and counts are per distinct key, not per code of the span
            gid = row_of
            gid.fill(-1)
            present = np.zeros(span, dtype=bool)
            present[code] = True
            keys = np.nonzero(present)[0]
            gid[keys] = np.arange(len(keys), dtype=index)
            group = gid[code]
            order, start, count = _runs(group, len(keys), compiled)
            return cls(types, lo, hi, strides, gid.take, None, (rows[order], start, count),
                       "dense, repeated keys")
        if compiled:
            from engine.jit.hash_table import CompiledTable
            table = CompiledTable(code)
            group, groups, find = table.first, table.n, table.lookup
        else:
            table = HashIndex()
            group, _ = table.find(code, 0)
            groups, find = table.n, table.lookup
        how = "compiled hash" if compiled else "hash"
        if groups == len(rows):  # unique keys: groups are numbered in row order
            return cls(types, lo, hi, strides, find, rows, None, how)
        if exists:
            row_of = np.empty(groups, dtype=np.int64)
            row_of[group] = rows
            return cls(types, lo, hi, strides, find, row_of, None, how)
        order, start, count = _runs(group, groups, compiled)
        return cls(types, lo, hi, strides, find, None, (rows[order], start, count),
                   how + ", repeated keys")

    def probe(self, columns: list) -> tuple[np.ndarray, np.ndarray] | None:
        """The matching (probe row, build row) pairs for the probe side's key ``columns``, in
        probe-row order; None if a column's type cannot be compared with the build key's."""
        if any(not compatible(b, c.type) for b, c in zip(self.types, columns)):
            return None
        vals = [_values(c) for c in columns]
        n = len(columns[0])
        if self.compiled and self.find is None and len(vals) == 1 and vals[0][1] is None and \
                self.row_of.dtype == np.int32:
            from engine.jit.hash_table import dense_probe  # one key, unique, no NULLs
            return dense_probe(vals[0][0], self.lo[0], self.row_of)
        if n <= SLICE:
            return self._probe(vals, 0)
        got = [self._probe([(v[s:s + SLICE], None if m is None else m[s:s + SLICE]) for v, m in vals], s)
               for s in range(0, n, SLICE)]
        return np.concatenate([g[0] for g in got]), np.concatenate([g[1] for g in got])

    def _probe(self, vals, offset: int) -> tuple[np.ndarray, np.ndarray]:
        """``probe`` for one slice of probe rows, the first being row ``offset``."""
        keep = None
        for (v, valid), a, b in zip(vals, self.lo, self.hi):
            if valid is None and a <= int(v.min()) and int(v.max()) <= b:
                continue  # every row is in this key's range (the usual foreign key)
            m = (v >= a) & (v <= b)
            if valid is not None:
                m &= valid
            keep = m if keep is None else keep & m
        cand = None if keep is None else np.nonzero(keep)[0]
        code = None
        for (v, _), a, s in zip(vals, self.lo, self.strides):
            part = v if cand is None else v[cand]
            part = part - a if a else part
            if s != 1:
                part = part * s
            code = part if code is None else code + part
        if cand is None:
            cand = np.arange(offset, offset + len(code), dtype=np.int64)
        elif offset:
            cand += offset
        if self.find is None:  # dense and unique: one gather
            row = self.row_of[code]
            hit = np.nonzero(row >= 0)[0]
            return cand[hit], row[hit].astype(np.int64)
        group = self.find(code)
        found = np.nonzero(group >= 0)[0]
        cand, group = cand[found], group[found]
        if self.row_of is not None:
            return cand, self.row_of[group].astype(np.int64)
        rows, start, count = self.runs
        c = count[group]
        total = int(c.sum())
        li = np.repeat(cand, c)
        first = np.cumsum(c) - c  # where each probe row's pairs begin in the output
        at = np.repeat(start[group] - first, c) + np.arange(total, dtype=np.int64)
        return li, rows[at]
