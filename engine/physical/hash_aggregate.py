"""HashAggregateExec: GROUP BY and aggregates through Arrow's C++ hash aggregation.

Inputs are first evaluated batch by batch into key columns, argument columns and FILTER masks.
Each aggregate is then computed the way its registry entry's kernel family says
(``engine.physical.aggregate_kernels``): those with an Arrow plan (sum, count, avg, min, max, ...)
join one grouped Arrow aggregation over all keys; the others (DISTINCT, ORDER BY inside the call,
exact quantiles, mode, arg_max, the bivariate statistics, ...) need each row's group id, which
that same aggregation supplies as each group's list of row numbers, and are computed from it with
vectorized numpy/Arrow kernels over the rows their FILTER keeps.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.physical import aggregate_kernels as K
from engine.physical.evaluate import evaluate_array, evaluate_mask, hash_key
from engine.physical.operator import Operator, table_batches
from engine.plan import aggregates as R
from engine.plan.expressions import AggCall


class HashAggregateExec(Operator):
    def __init__(self, child: Operator, groups, aggs, schema: pa.Schema, **kw):
        super().__init__(schema, (child,), **kw)
        self.groups = groups  # [(out ColumnRef, Expr)]
        self.aggs = aggs      # [(out ColumnRef, AggCall)]

    def params(self) -> str:
        from engine.plan.nodes import describe_groups
        a = ", ".join(f"{e.sql()} AS {c.sql()}" for c, e in self.aggs)
        return f"group=[{describe_groups(self.groups)}] aggs=[{a}]"

    def _inputs(self, b: pa.RecordBatch, ctx) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {}
        for i, (_, e) in enumerate(self.groups):
            cols[f"g{i}"] = hash_key(evaluate_array(e, b, ctx))
        for i, (_, a) in enumerate(self.aggs):
            for j, x in enumerate(a.args):
                cols[f"a{i}_{j}"] = evaluate_array(x, b, ctx)
            if a.filter is not None:
                m = evaluate_mask(a.filter, b, ctx)
                if isinstance(m, bool):
                    m = pa.repeat(pa.scalar(m), b.num_rows)
                cols[f"a{i}_f"] = pc.fill_null(m, False)
        return cols

    def _columns(self, ctx) -> tuple[dict[str, pa.ChunkedArray], int]:
        parts: dict[str, list[pa.Array]] = {}
        n = 0
        for b in self._children[0].execute(ctx):
            if not b.num_rows:
                continue
            n += b.num_rows
            for k, v in self._inputs(b, ctx).items():
                parts.setdefault(k, []).append(v)
        types = {f"g{i}": e.dtype for i, (_, e) in enumerate(self.groups)}
        for i, (_, a) in enumerate(self.aggs):
            for j, x in enumerate(a.args):
                types[f"a{i}_{j}"] = x.dtype
            if a.filter is not None:
                types[f"a{i}_f"] = pa.bool_()
        cols = {}
        for k, t in types.items():
            t = t if not pa.types.is_null(t) else pa.int32()  # untyped NULL keys hash as INTEGER
            chunks = [c.cast(t) if c.type != t else c for c in parts.get(k, [])]
            cols[k] = pa.chunked_array(chunks, type=t)
        return cols, n

    def _execute(self, ctx):
        if not self.groups and self.aggs and all(a.fn == "count_star" and a.filter is None
                                                 for _, a in self.aggs):
            # count(*) alone needs only the row counts (a cross join of 10^8 pairs streams by)
            n = sum(b.num_rows for b in self._children[0].execute(ctx))
            yield pa.RecordBatch.from_arrays([pa.array([n], pa.int64()) for _ in self.aggs],
                                             schema=self._schema)
            return
        cols, n = self._columns(ctx)
        keys = [f"g{i}" for i in range(len(self.groups))]
        grouped = bool(keys)
        table_cols = {k: cols[k] for k in keys}
        plans: dict[int, K.ArrowPlan] = {}
        for i, (_, a) in enumerate(self.aggs):
            if a.fn.startswith("udf:"):
                continue
            args = [cols[f"a{i}_{j}"] for j in range(len(a.args))]
            plan = K.arrow_plan(a, R.get(a.fn), args, cols.get(f"a{i}_f"), grouped)
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
        if slow and grouped:
            table_cols["__row"] = pa.array(np.arange(n, dtype=np.int64))
            specs.append(("__row", "list", None))
        if not table_cols:
            table_cols["__one"] = pa.nulls(n, pa.int8())
        table = pa.table(table_cols)
        res = table.group_by(keys, use_threads=False).aggregate(specs)
        ngroups = res.num_rows
        if grouped and slow:
            rows = res.column("__row_list").combine_chunks()
            gid = np.empty(n, dtype=np.int64)
            gid[pc.list_flatten(rows).to_numpy()] = pc.list_parent_indices(rows).to_numpy()
        else:
            gid = np.zeros(n, dtype=np.int64)
        out = [K.as_type(res.column(f"g{i}"), c.dtype) for i, (c, _) in enumerate(self.groups)]
        for i, (c, a) in enumerate(self.aggs):
            if i in plans:
                arr = plans[i].finish([res.column(nm).combine_chunks() for nm in names[i]])
            else:
                arr = self._slow(a, cols, i, gid, ngroups, ctx)
            out.append(K.as_type(arr, c.dtype))
        result = pa.Table.from_arrays(out, schema=self._schema) if out else \
            pa.table({"__n": pa.nulls(ngroups)}).select([])
        yield from table_batches(result)

    def _slow(self, a: AggCall, cols, i: int, gid: np.ndarray, ngroups: int, ctx) -> pa.Array:
        args = [cols[f"a{i}_{j}"].combine_chunks() for j in range(len(a.args))]
        mask = cols.get(f"a{i}_f")
        if mask is not None:
            keep = mask.combine_chunks()
            gid = gid[keep.to_numpy(zero_copy_only=False)]
            args = [x.filter(keep) for x in args]
        if a.fn.startswith("udf:"):
            return _call_aggregate_udf(dict(a.options)["udf"], _udf_lists(gid, ngroups, args[0]), a.dtype, ctx)
        return K.grouped(a, R.get(a.fn), gid, ngroups, args)


def _udf_lists(gid: np.ndarray, ngroups: int, values: pa.Array) -> pa.Array:
    """Each group's values (NULLs included, in input order) as one list; an empty group gets []."""
    order = np.argsort(gid, kind="stable")
    counts = np.bincount(gid, minlength=ngroups)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(pa.array(order, pa.int64())))


def _call_aggregate_udf(u, lists: pa.Array, dtype: pa.DataType, ctx) -> pa.Array:
    """An aggregate UDF gets each group's values as one list array and returns a value per group."""
    import time
    from engine.errors import DataError
    from engine.physical.udf_runtime import UdfRuntime
    m = ctx.udf_runtime.metric(u.name)
    t0 = time.perf_counter()
    try:
        out = u.fn(lists)
    except Exception as e:
        raise DataError(f'Aggregate UDF "{u.name}" failed: {type(e).__name__}: {e}') from None
    m.seconds += time.perf_counter() - t0
    m.batches += 1
    m.rows += len(lists)
    return UdfRuntime._check(u, out, len(lists), dtype)
