"""A statement's memo of UDF results: what was computed once is not computed again.

Rows are keyed by their input's identity (a video's content hash and the frame id) or, for a
function of one number, date or time, by the value itself (a double by its exact bits), both as
64-bit integers in ``engine.physical.key_index.HashIndex``. Other inputs (strings, several
arguments, tensors) are keyed by text, in a dict probed by C loops. Results sit in
``catalog.udf_cache.ValueChunks``. The text keys the stored cache uses are computed only for the
rows that reach it.

A batch goes through ``find`` (each row's position; the rows of keys not kept yet claim the next
positions, one row per key however often it repeats), then ``fill`` (the values computed for
those rows), then ``take``. Each costs a few whole-array operations whatever the memo holds; a
call on the very inputs of the function's last call (``f(x), f(x) + 1``) returns its last answer.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

import numpy as np
import pyarrow as pa

from catalog.udf_cache import ValueChunks
from engine.physical.key_index import HashIndex, settle

__all__ = ["BatchKeys", "HashIndex", "Memo", "int_keys", "key_domain"]

_I8, _I32, _I64, _F64 = pa.int8(), pa.int32(), pa.int64(), pa.float64()  # (made once: 2 µs a call)
_LAST_BYTES = 1 << 22  # inputs kept for a repeated call: not a batch of video frames
_ABSENT = repeat(-1)   # dict.get's default for every row (a C iterator)


@dataclass
class BatchKeys:
    """The keys of one batch's rows: 64-bit integers in a ``domain`` (with a NULL mask), or text."""
    n: int
    domain: str | None = None
    ints: np.ndarray | None = None
    nulls: np.ndarray | None = None
    text: pa.Array | None = None
    strings: Callable[[np.ndarray | None], pa.Array] | None = None  # rows -> stored-cache keys
    _listed: list | None = None

    def texts(self, rows: np.ndarray | None = None) -> list:
        """The text keys of ``rows`` (all if None) as Python strings (read from Arrow once)."""
        if self._listed is None:
            self._listed = self.text.to_pylist()
        if rows is None:
            return self._listed
        got = itemgetter(*rows.tolist())(self._listed) if len(rows) else ()
        return [got] if len(rows) == 1 else list(got)

    def cache_keys(self, rows: np.ndarray | None) -> pa.Array:
        """The text keys of ``rows`` (all if None) as the stored cache knows them."""
        if self.text is not None:
            return self.text if rows is None else self.text.take(pa.array(rows))
        return self.strings(rows)


# how each Arrow type reads as int64 keys: "int64" (as it stands), "int" (other integers),
# "view32"/"view64" (dates, times, timestamps, durations: their integer representation), "bool",
# "float" (the bits of the double), or None (text keys); and the keys' domain
_KIND: dict[pa.DataType, tuple[str | None, str]] = {}


def _kind(t: pa.DataType) -> tuple[str | None, str]:
    got = _KIND.get(t)
    if got is None:
        if t == _I64:
            kind = "int64"           # read as it stands
        elif pa.types.is_integer(t):
            kind = "int"
        elif pa.types.is_boolean(t):
            kind = "bool"
        elif pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_timestamp(t) or \
                pa.types.is_duration(t):
            kind = "view64" if t.bit_width == 64 else "view32"
        elif pa.types.is_floating(t):
            kind = "float"
        else:
            kind = None
        got = _KIND[t] = (kind, "c:" + str(t))
    return got


def key_domain(t: pa.DataType) -> str:
    """The domain of keys read from a column of type ``t`` (equal numbers of two types differ)."""
    return _kind(t)[1]


def int_keys(a: pa.Array) -> tuple[np.ndarray, np.ndarray | None] | None:
    """A column of numbers, dates or times as exact int64 keys (and its NULL mask), or None."""
    kind = _kind(a.type)[0]
    if kind is None:
        return None
    nulls = a.is_null().to_numpy(zero_copy_only=False) if a.null_count else None
    if kind == "float":
        if a.type != _F64:
            a = a.cast(_F64)
        # the exact bits: -0.0 and 0.0 (equal numbers) are different inputs (a function may well
        # print "-0"), and so are NaNs of different signs or payloads
        return (a.fill_null(0.0) if nulls is not None else a).to_numpy().view(np.int64), nulls
    if kind == "int64":
        return (a.fill_null(0) if nulls is not None else a).to_numpy(), nulls
    if kind == "bool":
        a = a.cast(_I8)
    elif kind != "int":
        a = a.view(_I64 if kind == "view64" else _I32)
    vals = (a.fill_null(0) if nulls is not None else a).to_numpy()
    return vals.astype(np.int64, copy=False), nulls


class Memo:
    """One function's results in this statement, by key."""

    def __init__(self, dtype: pa.DataType):
        self.values = ValueChunks(dtype)
        self.ints: dict[str, HashIndex] = {}  # domain -> index
        self.text: dict = {}
        self.claimed = 0  # positions claimed beyond the values kept (``fill`` stores them)
        self.last: tuple[list, list, pa.Array] | None = None  # the last call's inputs and result

    def saw(self, keys: BatchKeys, arrays: list, identity: list, result: pa.Array) -> None:
        """Remember a call's inputs and result, if small (a call on equal inputs returns it)."""
        if keys.ints is not None and not identity:  # one column of numbers: 8 bytes a row
            size = 9 * keys.n
        else:
            size = 0
            for a in arrays:
                size += a.get_total_buffer_size()
        self.last = (arrays, identity, result) if size <= _LAST_BYTES else None

    def __len__(self) -> int:
        return len(self.values)

    def lookup(self, k: BatchKeys) -> np.ndarray:
        """The position of each row's result (a fresh array), -1 where not computed yet."""
        if k.text is not None:
            if not self.text:
                out = np.empty(k.n, dtype=np.int64)
                out.fill(-1)
                return out
            return np.fromiter(map(self.text.get, k.texts(), _ABSENT), np.int64, k.n)
        index = self.ints.get(k.domain)
        if index is None:
            out = np.empty(k.n, dtype=np.int64)
            out.fill(-1)
            return out
        return index.lookup(k.ints, k.nulls)

    def take(self, pos: np.ndarray) -> pa.Array:
        return self.values.take(pos)

    def claim(self, k: BatchKeys, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Positions for ``rows`` (all if None), whose keys are not kept yet: each distinct key
        gets the next free position, in the order of the row that stands for it (one of its
        rows). Returns the positions of ``rows`` and those rows (of the batch): the values to
        compute, which ``fill`` then keeps at those positions."""
        assert not self.claimed, "fill the claimed positions first"
        start = len(self.values)
        if k.text is not None:
            keys = k.texts(rows)
            n = len(keys)
            # each key's first row stays in the dict (the keys are new): its representative
            first_row = np.fromiter(map(self.text.setdefault, keys, range(n)), np.int64, n)
            pos, first = settle(first_row, start)
            self.text.update(zip(keys, pos.tolist()))
        else:
            index = self.ints.get(k.domain)
            if index is None:
                index = self.ints[k.domain] = HashIndex()
            if rows is None:
                pos, first = index.claim(k.ints, start, k.nulls)
            else:
                pos, first = index.claim(k.ints[rows], start, None if k.nulls is None else k.nulls[rows])
        self.claimed = len(first)
        return pos, (first if rows is None else rows[first])

    def find(self, k: BatchKeys) -> tuple[np.ndarray, np.ndarray]:
        """Each row's position: a kept result's, or one that ``claim`` gives the rows whose keys
        are not kept. Returns the positions and the claiming rows (``fill`` keeps their values)."""
        if k.text is not None:
            pos = self.lookup(k)
            miss = (pos < 0).nonzero()[0]
            if len(miss):
                claimed, first = self.claim(k, None if len(miss) == k.n else miss)
                pos[miss] = claimed
                return pos, first
            return pos, miss
        assert not self.claimed, "fill the claimed positions first"
        index = self.ints.get(k.domain)
        if index is None:
            index = self.ints[k.domain] = HashIndex()
        pos, first = index.find(k.ints, len(self.values), k.nulls)
        self.claimed = len(first)
        return pos, first

    def fill(self, values: pa.Array) -> None:
        """Keep the values of the rows the last ``claim`` returned."""
        assert len(values) == self.claimed, "one value per claimed position"
        self.values.append(values, typed=True)
        self.claimed = 0
