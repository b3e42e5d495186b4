"""An index from 64-bit integer keys (and NULL) to positions, for the statement's UDF memo.

Built for what the memo does per batch: look a batch of keys up, and give the keys not found the
next positions, finding the rows of a batch that repeat a key (computed once). A batch costs a
fixed, small number of whole-array numpy operations, whatever the index holds and however its
keys collide: no probe loop whose length the worst key sets, no sort, no Python per row. On a
256-row batch each operation costs a few microseconds (far more right after the process slept
through a model call, when caches are cold), so their count, not the rows, sets the memo's
share of a statement.

Two layouts. Dense, while the keys span a range at most ``_DENSE_PER_KEY`` times their number
(frame ids, row ids, dates, small integers): key k's position sits at ``direct[k - base]``
(DuckDB's perfect hashing of small ranges). Hashed otherwise: a key sits in its home slot of a
numpy table kept at most a quarter full, else in the slot after it, else (about one key in fifty)
in a dict.

New keys are added in two steps: each row puts its *mark* (``-2 - row``; the dense layout puts
``start + row``) where its key goes, and reads back the mark that stayed there: rows with equal
keys read one row's mark, that of the row that stands for the key (``settle`` turns marks into
positions); then the final positions replace the marks (``_store``).
"""
from __future__ import annotations

from itertools import repeat

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_FOLD = np.uint64(31)
_ABSENT = repeat(-1)                              # dict.get's default for every row (a C iterator)
_ROWS = np.arange(1 << 12, dtype=np.int64)        # 0, 1, 2, ...: row numbers
_MARKS = -2 - _ROWS                               # -2, -3, ...: row r's mark while it claims a slot

_DENSE_SLOTS = 1 << 16  # a dense index may always span this many keys (512 KiB) ...
_DENSE_PER_KEY = 8      # ... or this many slots per key kept (a hashed index has 4 to 8)
_DENSE_REACH = 1 << 62  # keys within +-2**62: an offset k - base then never wraps into range


def _rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers and claim marks for ``n`` rows (grown, never rebuilt per batch)."""
    global _ROWS, _MARKS
    if n > len(_ROWS):
        _ROWS = np.arange(max(n, 2 * len(_ROWS)), dtype=np.int64)
        _MARKS = -2 - _ROWS
    return _ROWS[:n], _MARKS[:n]


def settle(first_row: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """From each row's representative (the row that stands for its key in the batch: ``-2 -
    mark``) to its position: keys get ``start``, ``start + 1``, ... in the order of those rows.
    Returns the positions and the representative rows (ascending)."""
    is_first = first_row == _rows(len(first_row))[0]
    first = is_first.nonzero()[0]
    m = len(first)
    if m == len(first_row) or first[m - 1] == m - 1:  # the rows are 0 .. m-1: rank = row
        return first_row + start, first
    return is_first.cumsum()[first_row] + (start - 1), first


class HashIndex:
    """int64 key (or NULL) -> int64 position, dense or hashed (see the module docstring). The
    dense layout's first and last entries are never a key's and stay -1, so a gather that clips
    offsets to the array reads -1 (absent) for every key outside the range: a lookup is one
    subtraction and one gather, with no range test."""

    def __init__(self, capacity: int = 1 << 10):
        self.capacity = capacity  # of the hashed layout's first table
        self.n = 0                # distinct keys kept, NULL included
        self.null = -1            # the NULL key's position
        self.base = 0
        self.direct: np.ndarray | None = np.full(2, -1, dtype=np.int64)  # None: hashed
        self.ends = self.direct[::1]              # a view of its first and last entries
        self.over: dict = {}

    # -- reading -------------------------------------------------------------------------------
    def lookup(self, keys: np.ndarray, nulls: np.ndarray | None = None) -> np.ndarray:
        """The position of each key (a fresh array), -1 where absent; NULL where ``nulls``."""
        if self.direct is not None:
            out = self.direct.take(keys - self.base, mode="clip")
        elif not self.n:
            out = np.empty(len(keys), dtype=np.int64)
            out.fill(-1)
        else:
            out = self._hashed_lookup(keys)
        if nulls is not None:         # NULL rows carry a placeholder 0, not a key
            out[nulls] = self.null
        return out

    def _hashed_lookup(self, keys: np.ndarray) -> np.ndarray:
        slot = self._slots(keys)
        out = self.pos[slot]          # a free slot reads -1 already
        other = self.keys[slot] != keys
        held = other & (out >= 0)     # the home holds another key: the key may sit further on
        out[other] = -1
        rest = held.nonzero()[0]
        if len(rest):
            s2 = (slot[rest] + 1) & self.mask
            got = self.pos[s2]
            other = self.keys[s2] != keys[rest]
            held = other & (got >= 0)
            got[other] = -1
            out[rest] = got
            if self.over:
                far = rest[held]
                if len(far):
                    out[far] = np.fromiter(map(self.over.get, keys[far].tolist(), _ABSENT),
                                           np.int64, len(far))
        return out

    def find(self, keys: np.ndarray, start: int, nulls: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """``lookup``, then ``claim`` for the rows not found: every row's position and the rows
        that claimed one (a dense index does it in about a dozen array operations)."""
        direct = self.direct
        if direct is not None and nulls is None:
            idx = keys - self.base
            out = direct.take(idx, mode="clip")
            miss = (out < 0).nonzero()[0]
            m = len(miss)
            if not m:
                return out, miss
            at = idx[miss]
            # each new key's row puts the next position there, and the one that stayed is read
            # back: a row whose own stayed stands for its key (marks are positions here)
            pos = np.arange(start, start + m)
            direct.put(at, pos, mode="clip")
            if self.ends.tolist() == [-1, -1]:    # no key outside the range wrote an end
                got = direct[at]
                if got.tobytes() == pos.tobytes():  # the new keys are distinct (no reduction:
                    first = miss                     # cheaper on a cold cache)
                else:
                    pos, first = settle(got - start, start)
                    direct[at] = pos
                    first = miss[first]
                out[miss] = pos
                self.n += len(first)
                return out, first
            direct.put(at, -1, mode="clip")       # undo (those keys were absent): grow below
            self.ends[:] = -1
        else:
            out = self.lookup(keys, nulls)
        miss = (out < 0).nonzero()[0]
        if not len(miss):
            return out, miss
        if len(miss) == len(keys):
            return self.claim(keys, start, nulls)
        pos, first = self.claim(keys[miss], start, None if nulls is None else nulls[miss])
        out[miss] = pos
        return out, miss[first]

    # -- adding --------------------------------------------------------------------------------
    def insert(self, keys: np.ndarray, positions: np.ndarray) -> None:
        """Add keys that are distinct and not yet present, at the given positions."""
        n = len(keys)
        if not n:
            return
        out, state = self._mark(keys, _rows(n)[1])
        self._store(state, np.asarray(positions, dtype=np.int64))
        self.n += n

    def claim(self, keys: np.ndarray, start: int, nulls: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Add keys none of which is present yet, some possibly repeated (the NULL rows, where
        ``nulls``, being one key): each distinct key gets the next position from ``start``, in
        the order of one row that has it. Returns every row's position and those rows."""
        n = len(keys)
        rows, marks = _rows(n)
        if nulls is None or not np.count_nonzero(nulls):
            out, state = self._mark(keys, marks)
            pos, first = settle(-2 - out, start)
            self._store(state, pos)
        else:
            keep = (~nulls).nonzero()[0]
            lead = int(nulls.argmax())              # the row standing for NULL
            out = np.empty(n, dtype=np.int64)
            out.fill(-2 - lead)
            state = None
            if len(keep):
                out[keep], state = self._mark(keys[keep], marks[keep])
            pos, first = settle(-2 - out, start)
            if state is not None:
                self._store(state, pos[keep])
            self.null = int(pos[lead])
        self.n += len(first)
        return pos, first

    def _mark(self, keys: np.ndarray, marks: np.ndarray, reserve: bool = True):
        """Put each row's mark where its key goes and read back what stayed: every row's mark of
        the row standing for its key. Returns the marks read and what ``_store`` needs."""
        if self.direct is not None:
            idx = self._fit(keys)
            if idx is not None:
                self.direct[idx] = marks
                return self.direct[idx], idx
        if reserve:
            self._reserve(len(keys))
        slot = self._slots(keys)
        out, ws, won, rest = self._round(slot, keys, marks)
        state = [(ws, won, None)]
        if len(rest):                             # the home holds another key: the next slot
            out2, ws2, won2, rest2 = self._round((slot[rest] + 1) & self.mask, keys[rest], marks[rest])
            out[rest] = out2
            state.append((ws2, won2, rest))
            if len(rest2):                        # that one too: the dict
                far = rest[rest2]
                listed = keys[far].tolist()
                out[far] = np.fromiter(map(self.over.setdefault, listed, marks[far].tolist()),
                                       np.int64, len(far))
                state.append((far, listed))
        return out, state

    def _round(self, slot: np.ndarray, keys: np.ndarray, marks: np.ndarray):
        """Marks put at ``slot`` where it is free: the marks read there, the slots won, which
        rows won them (None: all), and the rows whose slot holds another key."""
        free = self.pos[slot] == -1                 # (marks are below -1)
        n = len(keys)
        if np.count_nonzero(free) == n:
            self.pos[slot] = marks
            out = self.pos[slot]
            if np.count_nonzero(out == marks) == n:  # distinct slots, so distinct keys
                self.keys[slot] = keys
                return out, slot, None, _ROWS[:0]
            won = out == marks
        else:
            self.pos[slot[free]] = marks[free]     # rows sharing a free slot: one mark stays
            won = self.pos[slot] == marks
        ws = slot[won]
        self.keys[ws] = keys[won]
        # rows repeating a winner's key read its mark; the others' slot holds another key
        out = self.pos[slot]
        mine = self.keys[slot] == keys
        mine &= out < -1
        return out, ws, won, (~mine).nonzero()[0]

    def _store(self, state, pos: np.ndarray) -> None:
        """Replace the marks ``_mark`` left with the final positions ``pos`` (of its rows)."""
        if isinstance(state, np.ndarray):          # dense: the rows' offsets
            self.direct[state] = pos
            return
        for part in state:
            if len(part) == 2:                     # the dict's rows
                far, listed = part
                self.over.update(zip(listed, pos[far].tolist()))
                continue
            ws, won, rows = part
            got = pos if rows is None else pos[rows]
            self.pos[ws] = got if won is None else got[won]

    # -- the dense layout ----------------------------------------------------------------------
    def _fit(self, keys: np.ndarray) -> np.ndarray | None:
        """The offsets of ``keys`` in ``direct``, grown to cover them; None (and the index
        hashed) where they spread too far for a dense index."""
        inner = len(self.direct) - 2             # the offsets 1 .. inner hold keys
        idx = keys - self.base
        if np.count_nonzero((idx - 1).view(np.uint64) < inner) == len(keys):
            return idx
        lo, hi = int(keys.min()), int(keys.max())
        if inner:
            lo, hi = min(lo, self.base + 1), max(hi, self.base + inner)
        span = hi - lo + 1
        limit = max(_DENSE_SLOTS, _DENSE_PER_KEY * (self.n + len(keys)))
        if span > limit or lo < -_DENSE_REACH or hi > _DENSE_REACH:
            self._to_hashed()
            return None
        size = min(max(span, 2 * inner, 1024), limit)
        # room to grow on the side the keys went
        base = lo - 1 if not inner or lo > self.base else hi - size
        grown = np.empty(size + 2, dtype=np.int64)
        grown.fill(-1)
        if inner:
            at = self.base - base
            grown[at + 1:at + 1 + inner] = self.direct[1:1 + inner]
        self.direct, self.base = grown, base
        self.ends = grown[::size + 1]
        return keys - base

    def _to_hashed(self) -> None:
        kept = (self.direct >= 0).nonzero()[0]  # the ends are -1
        keys = kept + self.base
        positions = self.direct[kept]
        self.direct = None
        cap = self.capacity
        while 4 * len(kept) > cap:
            cap *= 2
        self._alloc(cap)
        _, state = self._mark(keys, _rows(len(keys))[1], reserve=False)
        self._store(state, positions)

    # -- the hashed layout ---------------------------------------------------------------------
    def _alloc(self, capacity: int) -> None:
        self.shift = np.uint64(64 - (int(capacity).bit_length() - 1))
        self.mask = capacity - 1
        self.keys = np.zeros(capacity, dtype=np.int64)
        self.pos = np.empty(capacity, dtype=np.int64)
        self.pos.fill(-1)                           # -1: free

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        # multiply, fold the high bits down, multiply again, keep the high bits (a SplitMix64-like
        # mixer; wrapping multiplication, arrays do not warn on overflow): Fibonacci hashing alone
        # piles arithmetic progressions such as timestamps k * 1000003 onto a few slots
        h = keys.view(np.uint64) * _GOLDEN
        h ^= h >> _FOLD
        h *= _MIX
        h >>= self.shift
        return h.view(np.int64)

    def _reserve(self, more: int) -> None:
        """Grow (doubling, so each key is moved O(1) times on average) to keep a quarter full."""
        cap = len(self.pos)
        if 4 * (self.n + more) <= cap:
            return
        while 4 * (self.n + more) > cap:
            cap *= 2
        used = (self.pos >= 0).nonzero()[0]
        keys = self.keys[used]
        positions = self.pos[used]
        if self.over:
            keys = np.concatenate([keys, np.fromiter(self.over.keys(), np.int64, len(self.over))])
            positions = np.concatenate([positions, np.fromiter(self.over.values(), np.int64,
                                                               len(self.over))])
        self._alloc(cap)
        self.over = {}
        _, state = self._mark(keys, _rows(len(keys))[1], reserve=False)
        self._store(state, positions)
