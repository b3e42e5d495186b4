"""HashAggregateExec: GROUP BY and aggregates through Arrow's C++ hash aggregation.

Inputs are first projected batch by batch into key and argument columns (aggregate FILTERs become
NULLed arguments); Arrow's grouped aggregation then runs once over them. DISTINCT aggregates other
than count use Arrow's per-group distinct lists, reduced with a second grouped pass.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import NotSupportedError
from engine.physical.evaluate import evaluate_array, evaluate_mask, hash_key
from engine.physical.operator import Operator, table_batches
from engine.plan.expressions import AggCall

_SIMPLE = {"sum": "sum", "avg": "mean", "mean": "mean", "min": "min", "max": "max",
           "bool_and": "all", "every": "all", "bool_or": "any", "any_value": "first",
           "first": "first", "arbitrary": "first", "list": "list", "array_agg": "list",
           "product": "product", "median": "approximate_median"}
_HASH_ONLY = {"list", "distinct"}  # Arrow aggregate functions with no ungrouped kernel
_VAR = {"stddev": ("stddev", 1), "stddev_samp": ("stddev", 1), "stddev_pop": ("stddev", 0),
        "variance": ("variance", 1), "var_samp": ("variance", 1), "var_pop": ("variance", 0)}


def _spec(fn: str, col: str, distinct: bool):
    """(column, arrow function, options) for one aggregate, and a finisher for its output."""
    if fn.startswith("udf:"):
        return (col, "list", None), "udf"
    if fn == "count_star":
        return ([], "count_all", None), None
    if fn == "count":
        if distinct:
            return (col, "count_distinct", pc.CountOptions(mode="only_valid")), None
        return (col, "count", pc.CountOptions(mode="only_valid")), None
    if fn == "count_if":
        return (col, "sum", pc.ScalarAggregateOptions(min_count=0)), None
    if distinct:
        return (col, "distinct", pc.CountOptions(mode="only_valid")), fn
    if fn in _SIMPLE:
        opts = pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
        if fn in ("list", "array_agg", "any_value", "first", "arbitrary", "median"):
            opts = None
        return (col, _SIMPLE[fn], opts), None
    if fn in _VAR:
        name, ddof = _VAR[fn]
        return (col, name, pc.VarianceOptions(ddof=ddof)), None
    if fn == "string_agg":
        return (col, "list", None), "string_agg"
    raise NotSupportedError(f"Aggregate {fn} is not supported")


def _reduce_lists(lists: pa.Array, fn: str, dtype: pa.DataType) -> pa.Array:
    """Apply an aggregate to each list of a list array (DISTINCT aggregates)."""
    n = len(lists)
    values = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    spec, _ = _spec(fn, "v", False)
    t = pa.table({"p": parents, "v": values})
    g = t.group_by(["p"], use_threads=False).aggregate([spec])
    out_col = g.column(f"v_{spec[1]}")  # by name: Arrow puts the key columns first or last by version
    # scatter back: groups with an empty list get NULL
    pos = pc.index_in(pa.array(range(n), pa.int64()), value_set=g.column("p").cast(pa.int64()))
    return out_col.take(pos).cast(dtype)


class HashAggregateExec(Operator):
    def __init__(self, child: Operator, groups, aggs, schema: pa.Schema, **kw):
        super().__init__(schema, (child,), **kw)
        self.groups = groups  # [(out ColumnRef, Expr)]
        self.aggs = aggs      # [(out ColumnRef, AggCall)]

    def params(self) -> str:
        g = ", ".join(e.sql() for _, e in self.groups)
        a = ", ".join(f"{e.sql()} AS {c.sql()}" for c, e in self.aggs)
        return f"group=[{g}] aggs=[{a}]"

    def _inputs(self, b: pa.RecordBatch, ctx) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {}
        for i, (_, e) in enumerate(self.groups):
            cols[f"g{i}"] = hash_key(evaluate_array(e, b, ctx))
        for i, (_, a) in enumerate(self.aggs):
            if not a.args and a.filter is None:
                continue
            if a.fn == "count_star":
                arg = pa.repeat(pa.scalar(1, pa.int8()), b.num_rows)
            else:
                arg = evaluate_array(a.args[0], b, ctx)
            if _order_of(a):
                # ordered aggregate: its value and keys go aside; the groups collect row numbers
                # (see _execute), and each group's rows are sorted by the keys at the end
                cols[f"a{i}_v"] = arg
                for j, k in enumerate(a.args[1:]):
                    cols[f"a{i}_o{j}"] = evaluate_array(k, b, ctx)
                arg = pa.array(np.zeros(b.num_rows, np.int64))
            if a.fn == "count" and not a.distinct and (isinstance(arg.type, pa.BaseExtensionType)
                                                       or pa.types.is_nested(arg.type)):
                # counting needs validity only: do not push tensors through the hash aggregation
                arg = pc.if_else(pc.is_valid(arg), pa.scalar(1, pa.int8()), pa.scalar(None, pa.int8()))
            if a.distinct:
                arg = hash_key(arg)  # DISTINCT sees -0.0 and 0.0 as one value
            if a.fn == "count_if":
                arg = pc.if_else(pc.fill_null(arg, False), 1, 0).cast(pa.int64())
            if pa.types.is_boolean(arg.type) and a.fn in ("sum", "product"):
                arg = arg.cast(pa.int64())
            if a.filter is not None:
                m = evaluate_mask(a.filter, b, ctx)
                if m is not True:
                    mask = m if not isinstance(m, bool) else pa.repeat(pa.scalar(m), b.num_rows)
                    arg = pc.if_else(mask, arg, pa.scalar(None, arg.type))
            cols[f"a{i}"] = arg
        if not cols:  # e.g. a lone count(*): the rows still need to be counted
            cols["__one"] = pa.nulls(b.num_rows, pa.int8())
        return cols

    def _execute(self, ctx):
        if not self.groups and self.aggs and all(a.fn == "count_star" and a.filter is None
                                                 for _, a in self.aggs):
            # count(*) alone needs only the row counts (a cross join of 10^8 pairs streams by)
            n = sum(b.num_rows for b in self._children[0].execute(ctx))
            yield pa.RecordBatch.from_arrays([pa.array([n], pa.int64()) for _ in self.aggs],
                                             schema=self._schema)
            return
        parts: dict[str, list[pa.Array]] = {}
        for b in self._children[0].execute(ctx):
            if not b.num_rows:
                continue
            for k, v in self._inputs(b, ctx).items():
                parts.setdefault(k, []).append(v)
        cols = {}
        names = [f"g{i}" for i in range(len(self.groups))] + \
            [f"a{i}" for i, (_, a) in enumerate(self.aggs) if a.args or a.filter is not None]
        if not names:
            names = ["__one"]
        types = {f"g{i}": e.dtype for i, (_, e) in enumerate(self.groups)}
        types["__one"] = pa.int8()
        for i, (_, a) in enumerate(self.aggs):
            if a.args:
                t = a.args[0].dtype
                if _order_of(a):
                    t = pa.int64()
                    types[f"a{i}_v"] = a.args[0].dtype
                    names.append(f"a{i}_v")
                    for j, k in enumerate(a.args[1:]):
                        types[f"a{i}_o{j}"] = k.dtype
                        names.append(f"a{i}_o{j}")
                elif a.fn == "count_if":
                    t = pa.int64()
                elif a.fn == "count" and not a.distinct and (isinstance(t, pa.BaseExtensionType) or pa.types.is_nested(t)):
                    t = pa.int8()
                types[f"a{i}"] = t
            elif a.filter is not None:
                types[f"a{i}"] = pa.int8()
        for k in names:
            chunks = parts.get(k, [])
            t = types[k] if not pa.types.is_null(types[k]) else pa.int32()
            chunks = [c.cast(t) if c.type != t else c for c in chunks]
            cols[k] = pa.chunked_array(chunks, type=t) if chunks else pa.chunked_array([], type=t)
        for i, (_, a) in enumerate(self.aggs):
            if _order_of(a):  # row numbers, NULL where the aggregate's FILTER dropped the row
                c = cols[f"a{i}"]
                cols[f"a{i}"] = pc.if_else(pc.is_valid(c), pa.array(np.arange(len(c), dtype=np.int64)),
                                           pa.scalar(None, pa.int64()))
        yield from self._aggregate(pa.table(cols), ctx)

    def _aggregate(self, table: pa.Table, ctx):
        keys = [f"g{i}" for i in range(len(self.groups))]
        specs, finish, out_names = [], [], []
        for i, (_, a) in enumerate(self.aggs):
            col = f"a{i}"
            if a.fn == "count_star" and a.filter is not None:
                spec, fin = (col, "count", pc.CountOptions(mode="only_valid")), None
            else:
                spec, fin = _spec(a.fn, col, a.distinct)
            specs.append(spec)
            finish.append((fin, a))
            if spec[0] == []:
                out_names.append("count_all")
            else:
                out_names.append(f"{col}_{spec[1]}")
        padded = False
        if not self.aggs and keys:
            res = table.group_by(keys, use_threads=False).aggregate([])
        else:
            seen, uniq = set(), []
            for s in specs:
                key = (tuple(s[0]) if isinstance(s[0], list) else s[0], s[1])
                if key not in seen:
                    seen.add(key)
                    uniq.append(s)
            if not keys and any(s[1] in _HASH_ONLY for s in uniq):
                # Arrow has these only as grouped kernels: group by a constant key instead, over
                # one all-NULL row when the input is empty (its count(*) and lists are fixed below)
                if table.num_rows == 0:
                    table = pa.table({k: pa.nulls(1, table.schema.field(k).type) for k in table.column_names})
                    padded = True
                table = table.append_column("__k", pa.array(np.zeros(table.num_rows, np.int8)))
                keys = ["__k"]
            res = table.group_by(keys, use_threads=False).aggregate(uniq)
        out = []
        for i, (c, _) in enumerate(self.groups):
            out.append(_as_type(res.column(f"g{i}"), c.dtype))
        for i, ((fin, a), name, (c, _)) in enumerate(zip(finish, out_names, self.aggs)):
            arr = res.column(name).combine_chunks()
            if padded and name == "count_all":
                arr = pa.array([0], arr.type)
            elif padded and pa.types.is_list(arr.type):
                # an aggregate UDF sees the empty input; list() of no rows is NULL
                arr = pa.array([[]], arr.type) if fin == "udf" else pa.nulls(1, arr.type)
            if _order_of(a):
                arr = _sort_lists(arr, table, f"a{i}", len(a.args) - 1, _order_of(a))
            if fin == "string_agg":
                sep = dict(a.options).get("separator", ",")
                lists = _drop_null_items(arr)
                joined = pc.binary_join(lists, sep)
                empty = pc.equal(pc.list_value_length(lists), 0)
                arr = pc.if_else(empty, pa.scalar(None, pa.string()), joined)
            elif fin == "udf":
                arr = _call_aggregate_udf(dict(a.options)["udf"], arr, c.dtype, ctx)
            elif fin is not None:
                arr = _reduce_lists(arr, fin, c.dtype)
            out.append(_as_type(arr, c.dtype))
        result = pa.Table.from_arrays(out, schema=self._schema) if out else \
            pa.table({"__n": pa.nulls(res.num_rows)}).select([])
        yield from table_batches(result)


def _as_type(arr, t: pa.DataType):
    """An output column as its planned type; untyped NULL columns were aggregated as INTEGER."""
    if arr.type == t:
        return arr
    return pa.nulls(len(arr), t) if pa.types.is_null(t) else arr.cast(t)


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


def _order_of(a: AggCall) -> tuple:
    """The (ascending, nulls_first) directions of an ordered aggregate's keys, or ()."""
    return dict(a.options).get("order", ())


def _sort_lists(lists: pa.Array, table: pa.Table, col: str, nkeys: int, order: tuple) -> pa.Array:
    """Lists of row numbers -> lists of the aggregate's values, each sorted by its keys."""
    n = len(lists)
    rows = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    keep = pc.is_valid(rows)
    rows, parents = rows.filter(keep), parents.filter(keep)
    cols, spec = {"p": parents}, [("p", "ascending", "at_end")]
    for j, (asc, nulls_first) in enumerate(order[:nkeys]):
        cols[f"o{j}"] = table.column(f"{col}_o{j}").take(rows)
        spec.append((f"o{j}", "ascending" if asc else "descending", "at_start" if nulls_first else "at_end"))
    idx = pc.sort_indices(pa.table(cols), sort_keys=spec)
    values = table.column(f"{col}_v").take(rows.take(idx)).combine_chunks()
    lens = np.bincount(parents.to_numpy(zero_copy_only=False).astype(np.int64), minlength=n)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _drop_null_items(lists: pa.Array) -> pa.Array:
    if pc.list_flatten(lists).null_count == 0:
        return lists
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    keep = pc.is_valid(flat)
    flat, parents = flat.filter(keep), parents.filter(keep)
    counts = pc.value_counts(parents)
    n = len(lists)
    lens = np.zeros(n, dtype=np.int32)
    if len(counts):
        vals = counts.field("values").to_numpy()
        cnt = counts.field("counts").to_numpy()
        lens[vals] = cnt
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), flat)
