"""AsofJoinExec: ``left ASOF [LEFT] JOIN right ON l.k = r.k AND l.t >= r.t``, as DuckDB does it.

Each left row meets at most one right row: among the right rows equal on the equality keys, the
nearest one on the inequality's side (for ``>=``, the right row with the greatest ``r.t <= l.t``).
A NULL key or NULL ordering value matches nothing; ASOF LEFT JOIN keeps unmatched left rows with
NULLs. Vectorized: both sides' keys become dense group ids, the ordering values dense ranks, and
each left row finds its match by one binary search (numpy searchsorted) over the right side
sorted by (group, rank).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import BindError
from engine.physical.evaluate import evaluate_array
from engine.physical.operator import Operator, collect, table_batches, SINK
from engine.physical.sort import as_batch
from engine.plan.expressions import Call, Expr, conjuncts, user_sql

_FLIP = {"gte": "lte", "gt": "lt", "lte": "gte", "lt": "gt"}


def split_asof(condition: Expr | None, lids: set[int], rids: set[int]):
    """(left keys, right keys, left ordering expr, op, right ordering expr) with ``op`` read as
    ``left op right``; BindError unless the condition is equalities and exactly one inequality
    between the sides."""
    lkeys, rkeys, ineq = [], [], []
    for p in conjuncts(condition):
        if not (isinstance(p, Call) and p.fn in ("eq", "gte", "gt", "lte", "lt")):
            raise BindError("An ASOF JOIN condition is equalities and one inequality (>=, >, <=, <) "
                            f"between the two sides, not {user_sql(p)}")
        a, b = p.args
        ac, bc = a.columns(), b.columns()
        if ac and bc and ac <= lids and bc <= rids:
            pair, op = (a, b), p.fn
        elif ac and bc and ac <= rids and bc <= lids:
            pair, op = (b, a), _FLIP.get(p.fn, p.fn)
        else:
            raise BindError("Each ASOF JOIN condition must compare a column of each side")
        if op == "eq":
            lkeys.append(pair[0])
            rkeys.append(pair[1])
        else:
            ineq.append((pair[0], op, pair[1]))
    if len(ineq) != 1:
        raise BindError("An ASOF JOIN needs exactly one inequality (>=, >, <=, <) in its condition"
                        + ("" if not ineq else f", it has {len(ineq)}"))
    lt, op, rt = ineq[0]
    return lkeys, rkeys, lt, op, rt


def _numbers(arr: pa.Array) -> np.ndarray:
    t = arr.type
    if pa.types.is_date(t):
        arr = arr.cast(pa.int32())
    elif pa.types.is_timestamp(t) or pa.types.is_duration(t):
        arr = arr.cast(pa.int64())
    elif pa.types.is_boolean(t):
        arr = arr.cast(pa.int8())
    if pa.types.is_floating(arr.type):
        return pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)
    if pa.types.is_integer(arr.type):
        return pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    raise BindError(f"An ASOF JOIN orders by a number, date or timestamp, not {t}")


def _dense(values: list[pa.Array]) -> np.ndarray:
    """Dense ranks of the concatenated values (any orderable type)."""
    arr = pa.concat_arrays([v.cast(values[0].type) if v.type != values[0].type else v for v in values])
    ranks = pc.rank(arr, sort_keys="ascending", tiebreaker="dense")
    return ranks.to_numpy(zero_copy_only=False).astype(np.int64)


class AsofJoinExec(Operator):
    ROLES = (SINK, SINK)
    def __init__(self, left: Operator, right: Operator, kind: str, condition, lids: set[int],
                 rids: set[int], schema: pa.Schema, **kw):
        super().__init__(schema, (left, right), **kw)
        self.kind = kind  # asof | asof_left
        self.condition = condition
        self.parts = split_asof(condition, lids, rids)

    def params(self) -> str:
        return f"kind={self.kind} condition={self.condition.sql()}"

    def _execute(self, ctx) -> Iterator[pa.RecordBatch]:
        left = collect(self._children[0], ctx)
        right = collect(self._children[1], ctx)
        nl, nr = left.num_rows, right.num_rows
        lkeys, rkeys, lt, op, rt = self.parts
        lb, rb = as_batch(left), as_batch(right)
        lvals = [evaluate_array(k, lb, ctx) for k in lkeys] + [evaluate_array(lt, lb, ctx)]
        rvals = [evaluate_array(k, rb, ctx) for k in rkeys] + [evaluate_array(rt, rb, ctx)]
        lvalid = np.ones(nl, dtype=bool)
        rvalid = np.ones(nr, dtype=bool)
        for a in lvals:
            lvalid &= pc.is_valid(a).to_numpy(zero_copy_only=False) if nl else lvalid
        for a in rvals:
            rvalid &= pc.is_valid(a).to_numpy(zero_copy_only=False) if nr else rvalid
        # one dense id per equality-key combination, shared by both sides
        group = np.zeros(nl + nr, dtype=np.int64)
        for a, b in zip(lvals[:-1], rvals[:-1]):
            r = _dense([a, b])
            group = np.unique(group * (int(r.max()) + 1 if len(r) else 1) + r, return_inverse=True)[1]
        order = np.concatenate([_numbers(lvals[-1]), _numbers(rvals[-1])]) if nl + nr else np.zeros(0)
        rank = np.unique(order, return_inverse=True)[1].astype(np.int64) if nl + nr else order.astype(np.int64)
        span = int(rank.max()) + 2 if len(rank) else 2
        comp = group * span + rank
        lcomp, rcomp = comp[:nl], comp[nl:]
        rows = np.nonzero(rvalid)[0]
        rows = rows[np.argsort(rcomp[rows], kind="stable")]
        rsorted, rgroup = rcomp[rows], group[nl:][rows]
        lgroup = group[:nl]
        side = "right" if op in ("gte", "lt") else "left"
        pos = np.searchsorted(rsorted, lcomp, side=side)
        if op in ("gte", "gt"):
            pos = pos - 1
        inside = (pos >= 0) & (pos < len(rows))
        hit = inside & lvalid
        safe_pos = np.where(inside, pos, 0)
        if len(rows):
            hit &= rgroup[safe_pos] == lgroup
        match = np.where(hit, rows[safe_pos] if len(rows) else 0, -1)
        if self.kind == "asof":
            li = np.nonzero(hit)[0]
            ri = match[li]
            cols = [c.take(pa.array(li)) for c in left.columns] + [c.take(pa.array(ri)) for c in right.columns]
        else:
            ri = pa.array(np.where(hit, match, 0), mask=~hit) if nl else pa.array([], pa.int64())
            cols = list(left.columns) + [c.take(ri) for c in right.columns]
        if not cols:
            yield pa.record_batch({"__n": pa.nulls(int(hit.sum()) if self.kind == "asof" else nl)}).select([])
            return
        yield from table_batches(pa.Table.from_arrays(cols, schema=self._schema))
