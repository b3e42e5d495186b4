"""NestedLoopJoinExec: joins without equality keys (cross joins, pure theta joins).

The cartesian product is enumerated in blocks of about ``BLOCK_PAIRS`` row pairs: each block pairs a
slice of left rows with every right row, is filtered by the condition with vectorized kernels, and
is emitted at once, so a join that produces many pairs streams in bounded memory instead of
materialising every pair (10k x 10k rows is 10^8 pairs). Outer, semi and anti joins track which
rows matched: a left row is finished with its block, unmatched right rows are emitted at the end.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.physical.hash_join import filter_pairs, pair_mask
from engine.physical.join_common import finish_join
from engine.physical.operator import Operator, collect, table_batches, SINK

BLOCK_PAIRS = 1 << 17


def _empty_batch(n: int) -> pa.RecordBatch:
    return pa.record_batch({"__n": pa.nulls(n)}).select([])


class NestedLoopJoinExec(Operator):
    ROLES = (SINK, SINK)  # both sides are gathered, then paired block by block
    def __init__(self, left: Operator, right: Operator, kind: str, condition, schema: pa.Schema, **kw):
        super().__init__(schema, (left, right), **kw)
        self.kind = kind
        self.condition = condition

    def params(self) -> str:
        return f"kind={self.kind}" + (f" condition={self.condition.sql()}" if self.condition is not None else "")

    def _execute(self, ctx) -> Iterator[pa.RecordBatch]:
        left = collect(self._children[0], ctx)
        right = collect(self._children[1], ctx)
        nl, nr = left.num_rows, right.num_rows
        kind = "inner" if self.kind == "cross" else self.kind
        if kind == "inner" and self.condition is None:
            yield from self._product(left, right)
            return
        if kind == "inner":
            yield from self._filtered_product(left, right, ctx)
            return
        pair_schema = pa.schema(list(left.schema) + list(right.schema))
        right_hit = np.zeros(nr, dtype=bool) if kind in ("right", "full") else None
        # the block's left rows meet every right row, so left-side outcomes are final per block
        block_kind = {"right": "inner", "full": "left"}.get(kind, kind)
        step = max(1, BLOCK_PAIRS // max(nr, 1))
        emitted = False
        for s in range(0, nl, step):
            e = min(nl, s + step)
            li = np.repeat(np.arange(s, e, dtype=np.int64), nr)
            ri = np.tile(np.arange(nr, dtype=np.int64), e - s)
            if self.condition is not None:
                li, ri = filter_pairs(self.condition, left, right, li, ri, pair_schema, ctx)
            if right_hit is not None:
                right_hit[ri] = True
            out = finish_join(block_kind, left.slice(s, e - s), right, li - s, ri, self._schema)
            if out.num_rows or not emitted:
                yield from table_batches(out)
                emitted = True
        if right_hit is not None and not right_hit.all():
            miss = np.nonzero(~right_hit)[0]
            rest = right.take(pa.array(miss)) if right.num_columns else \
                pa.table({"__n": pa.nulls(len(miss))}).select([])  # a take of no columns keeps no rows
            out = finish_join("right", left.slice(0, 0), rest,
                              np.array([], np.int64), np.array([], np.int64), self._schema)
            yield from table_batches(out)
            emitted = True
        if not emitted:
            yield self.empty_batch() if len(self._schema) else _empty_batch(0)

    def _filtered_product(self, left: pa.Table, right: pa.Table, ctx) -> Iterator[pa.RecordBatch]:
        """An inner theta join: each block's pairs are tested on just the condition's columns,
        and only the pairs that pass gather their output columns (or are only counted)."""
        nl, nr = left.num_rows, right.num_rows
        sides = _comparisons(self.condition, left, right, ctx)
        if sides is not None:
            yield from self._compared_product(left, right, sides)
            return
        step = max(1, BLOCK_PAIRS // max(nr, 1))
        lcols = [c.combine_chunks() for c in left.columns]
        rcols = [c.combine_chunks() for c in right.columns]
        emitted = False
        # the index pattern of a block is the same every time: left rows shift, right rows repeat
        rep = np.repeat(np.arange(step, dtype=np.int64), nr)
        tiled = pa.array(np.tile(np.arange(nr, dtype=np.int64), step))
        for s in range(0, nl if nr else 0, step):
            k = min(nl, s + step) - s
            li = pa.array(rep[:k * nr] + s)
            ri = tiled if k == step else tiled.slice(0, k * nr)
            m = pair_mask(self.condition, left, right, li, ri, ctx)
            if m is False:
                continue
            if len(self._schema) == 0:
                n = len(li) if m is True else int(pc.sum(m).as_py() or 0)
                if n:
                    emitted = True
                    yield _empty_batch(n)
                continue
            if m is not True:
                li, ri = pc.filter(li, m), pc.filter(ri, m)
            if len(li):
                emitted = True
                cols = [c.take(li) for c in lcols] + [c.take(ri) for c in rcols]
                yield pa.RecordBatch.from_arrays(cols, schema=self._schema)
        if not emitted:
            yield self.empty_batch() if len(self._schema) else _empty_batch(0)

    def _compared_product(self, left: pa.Table, right: pa.Table, sides) -> Iterator[pa.RecordBatch]:
        """A condition made of comparisons between a left and a right value: each block's pairs
        are compared by numpy broadcasting (a rows x right-rows matrix), no pair gathered."""
        nl, nr = left.num_rows, right.num_rows
        step = max(1, (BLOCK_PAIRS * 8) // max(nr, 1))  # a boolean matrix of ~1M pairs a block
        lcols = [c.combine_chunks() for c in left.columns]
        rcols = [c.combine_chunks() for c in right.columns]
        emitted = False
        for s in range(0, nl if nr else 0, step):
            e = min(nl, s + step)
            m = None
            for op, lv, lok, rv, rok in sides:
                x = op(lv[s:e, None], rv[None, :])
                if not lok[s:e].all():
                    x &= lok[s:e, None]
                if rok is not None:
                    x &= rok[None, :]
                m = x if m is None else (m & x)
            if len(self._schema) == 0:
                n = int(np.count_nonzero(m))
                if n:
                    emitted = True
                    yield _empty_batch(n)
                continue
            flat = np.flatnonzero(m)
            if len(flat):
                emitted = True
                li, ri = pa.array(flat // nr + s), pa.array(flat % nr)
                cols = [c.take(li) for c in lcols] + [c.take(ri) for c in rcols]
                yield pa.RecordBatch.from_arrays(cols, schema=self._schema)
        if not emitted:
            yield self.empty_batch() if len(self._schema) else _empty_batch(0)

    def _product(self, left: pa.Table, right: pa.Table) -> Iterator[pa.RecordBatch]:
        """Every (left, right) pair, in blocks; without columns only the counts are produced."""
        nl, nr = left.num_rows, right.num_rows
        if nl == 0 or nr == 0:
            yield self.empty_batch() if len(self._schema) else _empty_batch(0)
            return
        if len(self._schema) == 0:
            total = nl * nr
            for s in range(0, total, BLOCK_PAIRS * 8):
                yield _empty_batch(min(BLOCK_PAIRS * 8, total - s))
            return
        lcols = [c.combine_chunks() for c in left.columns]
        rcols = [c.combine_chunks() for c in right.columns]
        if nr >= BLOCK_PAIRS:  # each left row against the right side in slices
            for i in range(nl):
                for s in range(0, nr, BLOCK_PAIRS):
                    n = min(BLOCK_PAIRS, nr - s)
                    cols = [pa.repeat(c[i], n) if not pa.types.is_extension_type(c.type)
                            else c.take(pa.array(np.full(n, i, np.int64))) for c in lcols]
                    cols += [c.slice(s, n) for c in rcols]
                    yield pa.RecordBatch.from_arrays(cols, schema=self._schema)
            return
        step = max(1, BLOCK_PAIRS // nr)
        ri = pa.array(np.tile(np.arange(nr, dtype=np.int64), step))
        rblock = [c.take(ri) for c in rcols]
        for s in range(0, nl, step):
            k = min(step, nl - s)
            li = pa.array(np.repeat(np.arange(s, s + k, dtype=np.int64), nr))
            cols = [c.take(li) for c in lcols]
            cols += rblock if k == step else [c.slice(0, k * nr) for c in rblock]
            yield pa.RecordBatch.from_arrays(cols, schema=self._schema)



_NUMPY_CMP = {"eq": np.equal, "neq": np.not_equal, "lt": np.less, "lte": np.less_equal,
              "gt": np.greater, "gte": np.greater_equal}
_FLIPPED = {"eq": "eq", "neq": "neq", "lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}


def _as_numbers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Values and validity of a numeric, date or timestamp column as numpy, else None."""
    t = arr.type
    if pa.types.is_date32(t):
        arr = arr.cast(pa.int32())
    elif pa.types.is_timestamp(t):
        arr = arr.cast(pa.int64())
    elif not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        return None
    ok = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    fill = 0.0 if pa.types.is_floating(arr.type) else 0
    vals = pc.fill_null(arr, fill).to_numpy(zero_copy_only=False)
    if vals.dtype == np.uint64 or (pa.types.is_floating(arr.type) and np.isnan(vals).any()):
        return None  # NaN orders above everything in SQL; uint64 does not mix with int64
    return vals, ok


def _comparisons(cond, left: pa.Table, right: pa.Table, ctx):
    """The condition as [(numpy op, left values, left valid, right values, right valid)] when
    it is an AND of comparisons between an expression of the left rows and one of the right
    rows over numbers, dates or timestamps; None otherwise."""
    from engine.physical.evaluate import evaluate_array
    from engine.physical.sort import as_batch
    from engine.plan.expressions import Call, conjuncts
    lids = {int(f.name[1:]) for f in left.schema if f.name.startswith("#")}
    rids = {int(f.name[1:]) for f in right.schema if f.name.startswith("#")}
    out = []
    lb = rb = None
    for p in conjuncts(cond):
        if not (isinstance(p, Call) and p.fn in _NUMPY_CMP):
            return None
        a, b = p.args
        ac, bc = a.columns(), b.columns()
        op = p.fn
        if ac and bc and ac <= rids and bc <= lids:
            a, b, op = b, a, _FLIPPED[op]
        elif not (ac and bc and ac <= lids and bc <= rids):
            return None
        lb = lb if lb is not None else as_batch(left)
        rb = rb if rb is not None else as_batch(right)
        lv, rv = _as_numbers(evaluate_array(a, lb, ctx)), _as_numbers(evaluate_array(b, rb, ctx))
        if lv is None or rv is None or (lv[0].dtype.kind == "f") != (rv[0].dtype.kind == "f"):
            return None
        out.append((_NUMPY_CMP[op], lv[0], lv[1], rv[0], None if rv[1].all() else rv[1]))
    return out or None
