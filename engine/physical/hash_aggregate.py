"""HashAggregateExec: GROUP BY and aggregates through accumulators and Arrow's C++ hash aggregation.

Each aggregate call has an accumulator (``engine.physical.accumulator``, the interface of
``udfs.accumulator``). The input streams by in chunks of up to ``CHUNK_ROWS`` rows, evaluated batch
by batch into key columns, argument columns and FILTER masks: memory holds one chunk and the
groups' states, not the whole input, where the aggregates allow it (a sum over 10^8 pairs of a
cross join). Per chunk, the calls whose state Arrow's hash kernels compute (sum, count, avg, min,
max, ...) join one grouped Arrow aggregation over the keys, whose outputs their accumulators
absorb; the others (DISTINCT, ORDER BY inside the call, exact quantiles, user aggregates, ...) get
each row's group id, which the same aggregation supplies as each group's list of row numbers, and
update their accumulators with the rows their FILTER keeps. ``_Groups`` gives a chunk's groups
their ids across chunks (one Arrow aggregation over the groups seen and the chunk's, NULL keys
included); an input of one chunk pays nothing for it.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.physical import aggregate_kernels as K
from engine.physical.accumulator import StateAccumulator, make_accumulator
from engine.physical.bound import BoundExpr
from engine.physical.evaluate import hash_key
from engine.physical.operator import Operator, table_batches, SINK

# rows per chunk: one chunk covers most inputs (TPC-H SF 0.1's lineitem), so they take one Arrow
# pass as before; bigger inputs stream, holding a chunk at a time
CHUNK_ROWS = 1 << 20
# ...unless the first chunk's first rows show many groups (more than one per MANY_GROUPS rows):
# every later chunk would regroup and merge all the groups seen (TPC-H Q18's 1.5M orders over 6M lineitems:
# 2.3 s in 1M-row chunks against 0.8 s in one pass), and the groups' states take memory in
# proportion to the input anyway, so the rest is gathered into one chunk
MANY_GROUPS = 16


def _column(parts: dict[str, list[pa.Array]], key: str, t: pa.DataType) -> pa.ChunkedArray:
    """One evaluated input column of a chunk, as type ``t``."""
    return pa.chunked_array([c.cast(t) if c.type != t else c for c in parts.get(key, [])], type=t)


class HashAggregateExec(Operator):
    ROLES = (SINK,)
    def __init__(self, child: Operator, groups, aggs, schema: pa.Schema, **kw):
        super().__init__(schema, (child,), **kw)
        self.groups = groups  # [(out ColumnRef, Expr)]
        self.aggs = aggs      # [(out ColumnRef, AggCall)]
        # the inputs' expressions, bound to the child's batch schema once
        src = child.schema()
        self.bound_groups = [BoundExpr(e, src) for _, e in groups]
        self.bound_args = [[BoundExpr(x, src) for x in a.args] for _, a in aggs]
        self.bound_filters = [BoundExpr(a.filter, src) if a.filter is not None else None for _, a in aggs]

    def params(self) -> str:
        from engine.plan.nodes import describe_groups
        a = ", ".join(f"{e.sql()} AS {c.sql()}" for c, e in self.aggs)
        s = f"group=[{describe_groups(self.groups)}] aggs=[{a}]"
        note = getattr(self, "jit_note", None)  # set when the JIT was asked and could not fuse
        return s + f" jit=[{note}]" if note else s

    def _inputs(self, b: pa.RecordBatch, ctx) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {}
        for i, e in enumerate(self.bound_groups):
            cols[f"g{i}"] = hash_key(e.array(b, ctx))
        for i, (args, f) in enumerate(zip(self.bound_args, self.bound_filters)):
            for j, x in enumerate(args):
                cols[f"a{i}_{j}"] = x.array(b, ctx)
            if f is not None:
                m = f.mask(b, ctx)
                if isinstance(m, bool):
                    m = pa.repeat(pa.scalar(m), b.num_rows)
                cols[f"a{i}_f"] = pc.fill_null(m, False)
        return cols

    def _types(self) -> dict[str, pa.DataType]:
        types = {f"g{i}": e.dtype for i, (_, e) in enumerate(self.groups)}
        for i, (_, a) in enumerate(self.aggs):
            for j, x in enumerate(a.args):
                types[f"a{i}_{j}"] = x.dtype
            if a.filter is not None:
                types[f"a{i}_f"] = pa.bool_()
        # untyped NULL keys hash as INTEGER
        return {k: (t if not pa.types.is_null(t) else pa.int32()) for k, t in types.items()}

    def _execute(self, ctx):
        if not self.groups and self.aggs and all(a.fn == "count_star" and a.filter is None
                                                 for _, a in self.aggs):
            # count(*) alone needs only the row counts (a cross join of 10^8 pairs streams by)
            n = sum(b.num_rows for b in self._children[0].execute(ctx))
            yield pa.RecordBatch.from_arrays([pa.array([n], pa.int64()) for _ in self.aggs],
                                             schema=self._schema)
            return
        accs = [make_accumulator(a, ctx) for _, a in self.aggs]
        groups = _Groups() if self.groups else None
        types = self._types()
        parts: dict[str, list[pa.Array]] = {}
        n = total = 0
        limit = CHUNK_ROWS
        for b in self._children[0].execute(ctx):
            if not b.num_rows:
                continue
            n += b.num_rows
            for k, v in self._inputs(b, ctx).items():
                parts.setdefault(k, []).append(v)
            if n >= limit:
                if total == 0 and groups is not None and self._many_groups(parts, types):
                    limit = float("inf")  # one pass over everything, as before chunking
                    continue
                self._chunk(parts, n, types, accs, groups)
                total += n
                parts, n = {}, 0
        if n:
            self._chunk(parts, n, types, accs, groups)
            total += n
        ngroups = groups.n if groups is not None else 1
        if groups is None and total == 0:  # no rows: each aggregate's answer over nothing
            for (_, a), acc in zip(self.aggs, accs):
                acc.update([pa.nulls(0, x.dtype) for x in a.args], np.zeros(0, np.int64), 1)
        out = [K.as_type(groups.column(i), c.dtype) for i, (c, _) in enumerate(self.groups)] \
            if groups is not None else []
        for (c, _), acc in zip(self.aggs, accs):
            if isinstance(acc, StateAccumulator):
                acc.resize(ngroups)
            out.append(K.as_type(acc.finalize(), c.dtype))
        result = pa.Table.from_arrays(out, schema=self._schema) if out else \
            pa.table({"__n": pa.nulls(ngroups)}).select([])
        yield from table_batches(result)

    def _many_groups(self, parts, types, sample: int = 1 << 16) -> bool:
        """Do the first ``sample`` rows hold more than one group per MANY_GROUPS rows?"""
        keys = [f"g{i}" for i in range(len(self.groups))]
        cols = {}
        for k in keys:
            cols[k] = _column(parts, k, types[k]).slice(0, sample)
        t = pa.table(cols)
        try:
            d = t.group_by(keys, use_threads=False).aggregate([]).num_rows
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # keys Arrow cannot hash here
            return False
        return d * MANY_GROUPS > t.num_rows

    def _chunk(self, parts, n: int, types, accs, groups: "_Groups | None") -> None:
        """Aggregate one chunk of evaluated input into the accumulators."""
        cols = {k: _column(parts, k, t) for k, t in types.items()}
        keys = [f"g{i}" for i in range(len(self.groups))]
        table_cols = {k: cols[k] for k in keys}
        plans: dict[int, K.ArrowPlan] = {}
        for i, ((_, a), acc) in enumerate(zip(self.aggs, accs)):
            if not isinstance(acc, StateAccumulator):
                continue
            args = [cols[f"a{i}_{j}"] for j in range(len(a.args))]
            plan = acc.plan(args, cols.get(f"a{i}_f"), bool(keys))
            if plan is not None:
                plans[i] = plan
                for j, c in enumerate(plan.columns):
                    table_cols[f"p{i}_{j}"] = c
        slow = [i for i in range(len(self.aggs)) if i not in plans]
        specs, names = [], {}
        for i, plan in plans.items():
            names[i] = []
            for col, fn, o in plan.specs:
                if col is None:
                    specs.append(([], fn, o))
                    names[i].append("count_all")
                else:
                    specs.append((f"p{i}_{col}", fn, o))
                    names[i].append(f"p{i}_{col}_{fn}")
        if slow and keys:
            table_cols["__row"] = pa.array(np.arange(n, dtype=np.int64))
            specs.append(("__row", "list", None))
        if not table_cols:
            table_cols["__one"] = pa.nulls(n, pa.int8())
        res = pa.table(table_cols).group_by(keys, use_threads=False).aggregate(specs)
        if groups is not None:
            gmap = groups.add(res.select(keys))
        else:
            gmap = np.zeros(1, dtype=np.int64)
        ngroups = groups.n if groups is not None else 1
        if keys and slow:
            rows = res.column("__row_list").combine_chunks()
            gid = np.empty(n, dtype=np.int64)
            gid[pc.list_flatten(rows).to_numpy()] = gmap[pc.list_parent_indices(rows).to_numpy()]
        else:
            gid = np.zeros(n, dtype=np.int64)
        for i, ((_, a), acc) in enumerate(zip(self.aggs, accs)):
            if i in plans:
                acc.absorb([res.column(nm) for nm in names[i]], gmap, ngroups)
                continue
            args = [cols[f"a{i}_{j}"].combine_chunks() for j in range(len(a.args))]
            g = gid
            mask = cols.get(f"a{i}_f")
            if mask is not None:
                keep = mask.combine_chunks()
                g = gid[keep.to_numpy(zero_copy_only=False)]
                args = [x.filter(keep) for x in args]
            acc.update(args, g, ngroups)


class _Groups:
    """The groups seen so far: their key rows, in order of first appearance; a group's id is its
    row number."""

    def __init__(self) -> None:
        self.table: pa.Table | None = None

    @property
    def n(self) -> int:
        return self.table.num_rows if self.table is not None else 0

    def column(self, i: int) -> pa.ChunkedArray | pa.Array:
        return self.table.column(i) if self.table is not None else pa.nulls(0)

    def add(self, chunk: pa.Table) -> np.ndarray:
        """The ids of a chunk's (distinct) key rows, new keys becoming new groups."""
        if self.table is None:
            self.table = chunk
            return np.arange(chunk.num_rows, dtype=np.int64)
        n, m = self.n, chunk.num_rows
        keys = chunk.column_names
        both = pa.concat_tables([self.table, chunk.cast(self.table.schema)])
        both = both.append_column("__pos", pa.array(np.arange(n + m, dtype=np.int64)))
        # each key is at most once among the groups and once in the chunk: min and max find both
        res = both.group_by(keys, use_threads=False).aggregate([("__pos", "min"), ("__pos", "max")])
        lo, hi = res.column("__pos_min").to_numpy(), res.column("__pos_max").to_numpy()
        in_chunk = hi >= n
        pos, old = hi[in_chunk] - n, lo[in_chunk]
        gmap = np.empty(m, dtype=np.int64)
        seen = old < n
        gmap[pos[seen]] = old[seen]
        fresh = np.sort(pos[~seen])
        gmap[fresh] = n + np.arange(len(fresh))
        if len(fresh):
            self.table = pa.concat_tables([self.table, chunk.cast(self.table.schema).take(pa.array(fresh))])
        return gmap
