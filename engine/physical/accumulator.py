"""The accumulators of the registry's aggregates and of user aggregates (the interface is
``udfs.accumulator.Accumulator``; this module builds one for a bound ``AggCall``).

``make_accumulator(call, ctx)`` picks, from the call's registry entry:

* ``StateAccumulator``: aggregates whose per-group state is a few values that combine by an
  aggregate of their own (count, sum, avg, min, max, bool_and/or, product, first/last/any_value):
  ``update`` runs the Arrow hash kernels of ``aggregate_kernels.arrow_plan`` over the group ids,
  ``merge`` folds states (sums of sums and counts, min of mins, ...). The hash aggregation also
  hands it states it computed itself, all calls of a GROUP BY in one Arrow pass (``absorb``), so
  the fast path stays one pass and a big input streams through in chunks.
* ``BufferAccumulator``: holistic aggregates (DISTINCT, ORDER BY inside the call, quantiles, mode,
  list, string_agg, arg_max, variance and the bivariate statistics, ...): the state is each
  group's rows (as lists); ``finalize`` runs the family's vectorized kernel
  (``aggregate_kernels.grouped``) once over all of them.
* ``UserAccumulator``: a user aggregate class (``@udf.aggregate`` on a class with the accumulator
  methods), with its errors and result type checked as a UDF's; ``ListUdfAccumulator``: a user
  aggregate written as a function over each group's values as list arrays (one per argument).
"""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, Error, NotSupportedError
from engine.physical import aggregate_kernels as K
from engine.plan import aggregates as R
from engine.plan.expressions import AggCall
from udfs.accumulator import Accumulator

_SKIP = pc.ScalarAggregateOptions(skip_nulls=True, min_count=1)
_KEEP = pc.ScalarAggregateOptions(skip_nulls=False)


def _combined(a):
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def state_rules(call: AggCall, entry: R.AggregateFunction) -> tuple[str, ...] | None:
    """How each state column of a decomposable call combines (the Arrow hash kernel that merges
    it), or None for a holistic call, whose state is its rows."""
    if call.distinct or "order" in dict(call.options):
        return None
    fam, v = entry.family, entry.variant
    if fam == "count" and v in ("", "star"):
        return ("count",)
    if fam in ("count_if", "sum"):
        return ("sum",)
    if fam == "avg":
        return ("sum", "count")
    if fam == "minmax":
        return (v,)
    if fam == "bool":
        return ("bool_and" if v == "and" else "bool_or",)
    if fam == "product":
        return ("product",)
    if fam == "first":
        return ({"any": "any_value"}.get(v, v),)  # first non-NULL; first; last
    return None


# the Arrow hash kernel that merges a state column of each rule
_MERGE = {"count": ("sum", _SKIP), "sum": ("sum", _SKIP), "bool_and": ("all", _SKIP),
          "bool_or": ("any", _SKIP), "product": ("product", _SKIP), "first": ("first", _KEEP),
          "last": ("last", _KEEP), "any_value": ("first", _SKIP)}


class StateAccumulator(Accumulator):
    """A decomposable built-in aggregate: per group a few state values (see ``state_rules``)."""

    def __init__(self, call: AggCall, entry: R.AggregateFunction, rules: tuple[str, ...]) -> None:
        self.call, self.entry, self.rules = call, entry, rules
        self.n = 0
        self.states: list[pa.Array] | None = None

    # -- the state the hash aggregation computes itself, one Arrow pass for all calls
    def plan(self, args: list, mask, grouped: bool) -> K.ArrowPlan | None:
        """The call's Arrow plan over a chunk's columns (None: this chunk needs ``update``)."""
        return K.arrow_plan(self.call, self.entry, args, mask, grouped)

    def absorb(self, outs: list[pa.Array], group_ids: np.ndarray, n_groups: int) -> None:
        """Fold in the outputs of the plan's specs (one entry per chunk group)."""
        self.merge([_combined(o) for o in outs], group_ids, n_groups)

    # -- the interface
    def update(self, args: list[pa.Array], group_ids: np.ndarray, n_groups: int) -> None:
        args = [_combined(a) for a in args]
        gid = np.asarray(group_ids, dtype=np.int64)
        plan = K.arrow_plan(self.call, self.entry, args, None, True)
        if plan is None:  # min/max over NaN or untyped values: the kernel's own answer is the state
            outs = [K.grouped(self.call, self.entry, gid, n_groups, args)]
        else:
            outs = K.plan_outputs(plan, gid, n_groups)
        self.merge(outs, np.arange(n_groups), n_groups)

    def merge(self, states: list[pa.Array], group_ids: np.ndarray, n_groups: int) -> None:
        gid = np.asarray(group_ids, dtype=np.int64)
        n = max(n_groups, self.n)
        if self.states is None or self.n == 0:
            if len(gid) == n and np.array_equal(gid, np.arange(n)):
                self.states, self.n = [_combined(s) for s in states], n
                return
            self.states, self.n = [pa.nulls(0, s.type) for s in states], 0
        both = np.concatenate([np.arange(self.n, dtype=np.int64), gid])
        cols = [_concat(old, _combined(new)) for old, new in zip(self.states, states)]
        self.states = [self._reduce(rule, c, both, n) for rule, c in zip(self.rules, cols)]
        self.n = n

    def _reduce(self, rule: str, col: pa.Array, gid: np.ndarray, n: int) -> pa.Array:
        if rule in ("min", "max"):  # NaN-aware (DuckDB orders NaN above every number)
            e = R.get(rule)
            return K.grouped(AggCall(rule, (), col.type), e, gid, n, [col])
        fn, o = _MERGE[rule]
        if fn == "sum" and (R.is_int(col.type) or pa.types.is_boolean(col.type)):
            col = K.sum_input(col)
        plan = K.ArrowPlan([col], [(0, fn, o)], lambda outs: outs[0])
        return K.plan_outputs(plan, gid, n)[0]

    def state(self) -> list[pa.Array]:
        return list(self.states) if self.states is not None else []

    def finalize(self) -> pa.Array:
        n, dtype = self.n, self.call.dtype
        if self.states is None:
            out = pa.nulls(n, dtype)
        elif self.entry.family == "avg":
            out = K._finish_avg(self.states)
        else:
            out = K.as_type(self.states[0], dtype)
        if self.entry.empty_zero and out.null_count:
            out = pc.fill_null(out, pa.scalar(0, out.type))
        return K.as_type(out, dtype)

    def resize(self, n_groups: int) -> None:
        """Groups that saw no rows (an aggregate without GROUP BY over no rows is one group)."""
        if self.states is not None and n_groups > self.n:
            self.states = [_concat(s, pa.nulls(n_groups - self.n, s.type)) for s in self.states]
        self.n = max(self.n, n_groups)


def _concat(a: pa.Array, b: pa.Array) -> pa.Array:
    if a.type != b.type:
        if pa.types.is_null(a.type):
            a = pa.nulls(len(a), b.type)
        elif pa.types.is_null(b.type):
            b = pa.nulls(len(b), a.type)
        elif a.type == K.HUGEINT or b.type == K.HUGEINT:
            a, b = a.cast(K.HUGEINT), b.cast(K.HUGEINT)
        else:
            b = b.cast(a.type)
    return pa.concat_arrays([a, b])


class BufferAccumulator(Accumulator):
    """A holistic built-in aggregate: keeps its rows; the kernel runs once in ``finalize``."""

    def __init__(self, call: AggCall, entry: R.AggregateFunction | None, nargs: int) -> None:
        self.call, self.entry, self.nargs = call, entry, nargs
        self.n = 0
        self.gids: list[np.ndarray] = []
        self.cols: list[list[pa.Array]] = [[] for _ in range(nargs)]

    def update(self, args: list[pa.Array], group_ids: np.ndarray, n_groups: int) -> None:
        self.n = max(self.n, n_groups)
        self.gids.append(np.asarray(group_ids, dtype=np.int64))
        for j, a in enumerate(args):
            self.cols[j].append(_combined(a))

    def rows(self) -> tuple[np.ndarray, list[pa.Array]]:
        gid = np.concatenate(self.gids) if self.gids else np.zeros(0, np.int64)
        types = [self.call.args[j].dtype if j < len(self.call.args) else pa.null() for j in range(self.nargs)]
        cols = []
        for j, parts in enumerate(self.cols):
            if not parts:
                cols.append(pa.nulls(0, types[j]))
            elif len(parts) == 1:
                cols.append(parts[0])
            else:
                t = parts[0].type
                cols.append(pa.concat_arrays([p if p.type == t else p.cast(t) for p in parts]))
        return gid, cols

    def state(self) -> list[pa.Array]:
        gid, cols = self.rows()
        order = np.argsort(gid, kind="stable")
        offsets = pa.array(np.concatenate([[0], np.cumsum(np.bincount(gid, minlength=self.n))]).astype(np.int32))
        idx = pa.array(order, pa.int64())
        return [pa.ListArray.from_arrays(offsets, c.take(idx)) for c in cols]

    def merge(self, states: list[pa.Array], group_ids: np.ndarray, n_groups: int) -> None:
        if not states:
            self.n = max(self.n, n_groups)
            return
        parents = pc.list_parent_indices(states[0]).to_numpy()
        gid = np.asarray(group_ids, dtype=np.int64)[parents]
        self.update([pc.list_flatten(s) for s in states], gid, n_groups)

    def finalize(self) -> pa.Array:
        gid, cols = self.rows()
        return K.grouped(self.call, self.entry, gid, self.n, cols)


def _user_error(u, e: Exception) -> Error:
    from udfs.weak_supervision import VotesError
    if isinstance(e, Error):
        return e
    if isinstance(e, VotesError):
        return DataError(str(e))
    if isinstance(e, NotImplementedError) and u.source == "builtin":
        return NotSupportedError(str(e))
    return DataError(f'Aggregate UDF "{u.name}" failed: {type(e).__name__}: {e}')


class _Timed:
    """Measures a user aggregate's calls into the statement's UDF metrics (EXPLAIN ANALYZE)."""

    def __init__(self, u, ctx) -> None:
        self.u = u
        rt = getattr(ctx, "udf_runtime", None) if ctx is not None else None
        self.m = rt.metric(u.name) if rt is not None else None

    def call(self, fn, *args, rows: int = 0):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        except Exception as e:
            raise _user_error(self.u, e) from None
        finally:
            if self.m is not None:
                self.m.seconds += time.perf_counter() - t0
                self.m.batches += 1
                self.m.rows += rows


def _checked(u, out, n: int, dtype: pa.DataType) -> pa.Array:
    from engine.physical.udf_runtime import UdfRuntime
    return UdfRuntime._check(u, out, n, dtype)


class UserAccumulator(Accumulator):
    """A user aggregate class, called through the interface; its result checked against the
    declared type."""

    def __init__(self, u, dtype: pa.DataType, ctx=None) -> None:
        self.u, self.dtype, self.ctx = u, dtype, ctx
        self.timed = _Timed(u, ctx)
        self.inner = self.timed.call(u.fn)
        self.n = 0
        self.supports_retract = bool(getattr(self.inner, "supports_retract", hasattr(self.inner, "retract")))

    def update(self, args, group_ids, n_groups) -> None:
        self.n = max(self.n, n_groups)
        self.timed.call(self.inner.update, [_combined(a) for a in args],
                        np.asarray(group_ids, dtype=np.int64), n_groups, rows=len(group_ids))

    def retract(self, args, group_ids, n_groups) -> None:
        self.timed.call(self.inner.retract, [_combined(a) for a in args],
                        np.asarray(group_ids, dtype=np.int64), n_groups, rows=len(group_ids))

    def merge(self, states, group_ids, n_groups) -> None:
        self.n = max(self.n, n_groups)
        self.timed.call(self.inner.merge, list(states), np.asarray(group_ids, dtype=np.int64), n_groups)

    def state(self) -> list[pa.Array]:
        out = self.timed.call(self.inner.state)
        return [_combined(s) if isinstance(s, (pa.Array, pa.ChunkedArray)) else pa.array(s) for s in out]

    def finalize(self) -> pa.Array:
        out = self.timed.call(self.inner.finalize)
        self._report()
        return _checked(self.u, out, self.n, self.dtype)

    @property
    def per_row(self) -> bool:
        """Whether it returns one value per row of its group (``evaluate_rows``), as
        LABEL_MODEL does, instead of one per group."""
        return hasattr(self.inner, "evaluate_rows")

    def evaluate_rows(self, args, group_ids) -> pa.Array:
        out = self.timed.call(self.inner.evaluate_rows, [_combined(a) for a in args],
                              np.asarray(group_ids, dtype=np.int64), rows=len(group_ids))
        self._report()
        return _checked(self.u, out, len(group_ids), self.dtype)

    def _report(self) -> None:
        """Metrics, params and artifacts the aggregate keeps for the statement's run."""
        record = getattr(self.inner, "run_record", None)
        if record is None or self.ctx is None or not hasattr(self.ctx, "run_metrics"):
            return
        rec = record()
        self.ctx.run_metrics.update(rec.get("metrics", {}))
        self.ctx.run_params.update(rec.get("params", {}))
        self.ctx.run_artifacts.update(rec.get("artifacts", {}))


class ListUdfAccumulator(BufferAccumulator):
    """A user aggregate written as a function: it receives each group's values (NULLs included,
    in input order) as one list array per argument and returns one value per group."""

    def __init__(self, u, call: AggCall, ctx=None) -> None:
        super().__init__(call, None, len(call.args))
        self.u, self.timed = u, _Timed(u, ctx)

    def finalize(self) -> pa.Array:
        lists = self.state()
        out = self.timed.call(self.u.fn, *lists, rows=self.n)
        return _checked(self.u, out, self.n, self.call.dtype)


def make_accumulator(call: AggCall, ctx=None) -> Accumulator:
    """The accumulator computing ``call`` (built-in or user aggregate)."""
    if call.fn.startswith("udf:"):
        u = dict(call.options)["udf"]
        if isinstance(u.fn, type):
            return UserAccumulator(u, call.dtype, ctx)
        return ListUdfAccumulator(u, call, ctx)
    entry = R.get(call.fn)
    rules = state_rules(call, entry)
    if rules is not None:
        return StateAccumulator(call, entry, rules)
    return BufferAccumulator(call, entry, len(call.args))
