"""A statement's memo of UDF results: what was computed once is not computed again.

Rows are keyed by their input's identity (a video's content hash and the frame id) or, for a
function of one number, date or time, by the value itself, both as 64-bit integers in an open-
addressing hash table probed with numpy (``HashIndex``: a batch is looked up and added in
time linear in the batch, about 20 ns a row, whatever the memo holds). Other inputs (strings,
several arguments, tensors) are keyed by text, in a dict probed by C loops. Results sit in
``catalog.udf_cache.ValueChunks``. The text keys the stored cache uses are computed only for the
rows that reach it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.udf_cache import ValueChunks

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class HashIndex:
    """uint64 key -> int64 position; linear probing, kept at most a quarter full (few probe rounds)."""

    def __init__(self, capacity: int = 1 << 10):
        self._alloc(capacity)
        self.n = 0

    def _alloc(self, capacity: int) -> None:
        self.bits = int(capacity).bit_length() - 1
        self.mask = np.uint64(capacity - 1)
        self.keys = np.zeros(capacity, dtype=np.uint64)
        self.pos = np.full(capacity, -1, dtype=np.int64)

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        # wrapping multiplication (arrays do not warn on overflow): Fibonacci hashing
        return ((keys * _GOLDEN) >> np.uint64(64 - self.bits)).astype(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        if not self.n or not len(keys):
            return np.full(len(keys), -1, dtype=np.int64)
        slot = self._slots(keys)
        # the first probe settles nearly every key: whole-array operations, no index lists
        p = self.pos[slot]
        hit = self.keys[slot] == keys
        hit &= p >= 0
        out = np.where(hit, p, -1)
        active = np.flatnonzero((p >= 0) & ~hit)
        mask = int(self.mask)
        if active.size:
            slot = (slot[active] + 1) & mask
        while active.size:
            p = self.pos[slot]
            hit = (p >= 0) & (self.keys[slot] == keys[active])
            out[active[hit]] = p[hit]
            go_on = (p >= 0) & ~hit
            active = active[go_on]
            slot = (slot[go_on] + 1) & mask
        return out

    def insert(self, keys: np.ndarray, positions: np.ndarray) -> None:
        """Add keys that are distinct and not yet present."""
        if not len(keys):
            return
        if 4 * (self.n + len(keys)) > len(self.pos):
            used = self.pos >= 0
            old_k, old_p = self.keys[used], self.pos[used]
            cap = len(self.pos)
            while 4 * (self.n + len(keys)) > cap:
                cap *= 2
            self._alloc(cap)
            self.n = 0
            self._place(old_k, old_p)
        self._place(keys, np.asarray(positions, dtype=np.int64))

    def _place(self, keys: np.ndarray, positions: np.ndarray) -> None:
        slot = self._slots(keys)
        active = np.arange(len(keys))
        mask = int(self.mask)
        self.n += len(keys)
        while active.size:
            free = self.pos[slot] < 0
            cand, cs = active[free], slot[free]
            # several keys may want one free slot: all write, the one whose write stayed won
            # (positions are distinct); the others probe on
            self.pos[cs] = positions[cand]
            won = self.pos[cs] == positions[cand]
            self.keys[cs[won]] = keys[cand[won]]
            rest = np.ones(len(active), dtype=bool)
            rest[np.flatnonzero(free)[won]] = False
            active = active[rest]
            slot = (slot[rest] + 1) & mask


@dataclass
class BatchKeys:
    """The keys of one batch's rows: 64-bit integers in a ``domain`` (with a NULL mask), or text."""
    n: int
    domain: str | None = None
    ints: np.ndarray | None = None
    nulls: np.ndarray | None = None
    text: pa.Array | None = None
    strings: Callable[[np.ndarray | None], pa.Array] | None = None  # rows -> stored-cache keys

    def cache_keys(self, rows: np.ndarray | None) -> pa.Array:
        """The text keys of ``rows`` (all if None) as the stored cache knows them."""
        if self.text is not None:
            return self.text if rows is None else self.text.take(pa.array(rows))
        return self.strings(rows)


_INT_KINDS = (pa.types.is_integer, pa.types.is_boolean, pa.types.is_date, pa.types.is_time,
              pa.types.is_timestamp, pa.types.is_duration)


def int_keys(a: pa.Array) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A column of numbers, dates or times as exact uint64 keys (and its NULL mask), or None."""
    t = a.type
    if any(k(t) for k in _INT_KINDS):
        if pa.types.is_boolean(t):
            a = a.cast(pa.int8())
        elif not pa.types.is_integer(t):
            a = a.view(pa.int64()) if t.bit_width == 64 else a.view(pa.int32())
        vals = a.fill_null(0).to_numpy() if a.null_count else a.to_numpy()
        ints = vals.astype(np.int64, copy=False).view(np.uint64)
    elif pa.types.is_floating(t):
        x = (a.cast(pa.float64()).fill_null(0.0) if a.null_count else a.cast(pa.float64())).to_numpy()
        x = x + 0.0  # -0.0 is 0.0; every NaN one key
        x = np.where(np.isnan(x), np.nan, x)
        ints = x.view(np.uint64)
    else:
        return None
    nulls = a.is_null().to_numpy(zero_copy_only=False) if a.null_count else None
    return ints, nulls


class Memo:
    """One function's results in this statement, by key."""

    def __init__(self, dtype: pa.DataType):
        self.values = ValueChunks(dtype)
        self.ints: dict[str, list] = {}  # domain -> [HashIndex, position of the NULL key]
        self.text: dict = {}

    def __len__(self) -> int:
        return len(self.values)

    def lookup(self, k: BatchKeys) -> np.ndarray:
        """The position of each row's result, -1 where not computed yet."""
        if k.text is not None:
            if not self.text:
                return np.full(k.n, -1, dtype=np.int64)
            pos = list(map(self.text.get, k.text.to_pylist()))
            return pc.fill_null(pa.array(pos, pa.int64()), -1).to_numpy()
        entry = self.ints.get(k.domain)
        if entry is None:
            return np.full(k.n, -1, dtype=np.int64)
        out = entry[0].lookup(k.ints)
        if k.nulls is not None:
            out[k.nulls] = entry[1]
        return out

    def take(self, pos: np.ndarray) -> pa.Array:
        return self.values.take(pos)

    def add(self, k: BatchKeys, rows: np.ndarray | None, values: pa.Array, distinct: bool = True) -> None:
        """Keep ``values``, the results of ``rows`` (all if None) whose keys are not kept yet
        (and, unless ``distinct`` is False, differ from each other)."""
        start = self.values.append(values)
        positions = np.arange(start, start + len(values), dtype=np.int64)
        if k.text is not None:
            keys = k.text if rows is None else k.text.take(pa.array(rows))
            self.text.update(zip(keys.to_pylist(), positions.tolist()))
            return
        entry = self.ints.get(k.domain)
        if entry is None:
            entry = self.ints[k.domain] = [HashIndex(), -1]
        ints = k.ints if rows is None else k.ints[rows]
        nulls = None if k.nulls is None else (k.nulls if rows is None else k.nulls[rows])
        if nulls is not None and nulls.any():
            entry[1] = int(positions[np.flatnonzero(nulls)[0]])
            ints, positions = ints[~nulls], positions[~nulls]
        if not distinct:  # equal keys keep their first result
            uniq, first = np.unique(ints, return_index=True)
            if len(uniq) != len(ints):
                ints, positions = uniq, positions[first]
        entry[0].insert(ints, positions)
