"""The physical operator contract and the execution context every operator receives.

An operator (``XxxExec``, one per module) has ``schema()``, ``children()`` and
``execute(ctx) -> Iterator[pa.RecordBatch]``; no work happens before the first batch is pulled.
``execute`` wraps the operator's own ``_execute`` to count rows and time for EXPLAIN ANALYZE.

Every operator also declares the role it plays for each child (DuckDB's ``IsSource``/``IsSink``):
``STREAM`` when the child's batches pass through it one at a time (Project, Filter, the probe
side of a hash join), ``SINK`` when it consumes all of the child's rows before it emits any (an
aggregate, a sort, a hash join's build side). An operator with no streamed child starts a
pipeline (a scan, or a sink emitting what it gathered); engine/physical/pipelines.py cuts a plan
into pipelines from these declarations.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from engine.errors import InternalError


@dataclass
class Metrics:
    rows: int = 0
    batches: int = 0
    time: float = 0.0  # inclusive of children
    extra: dict[str, Any] = field(default_factory=dict)


class ExecContext:
    """Per-statement state: metrics, the subquery cache, settings, and the planner for subplans."""

    def __init__(self, settings: dict[str, Any] | None = None, analyze: bool = False,
                 planner=None, udf_runtime=None):
        from engine.physical.udf_runtime import UdfRuntime
        self.settings = settings or {}
        self.analyze = analyze
        self.metrics: dict[int, Metrics] = {}
        self._subqueries: dict[int, pa.Table] = {}
        self.work_tables: dict[int, pa.Table] = {}  # WITH RECURSIVE: token -> this iteration's rows
        # a hash join's probe keys for the scan under its build side (engine/physical/key_filter.py),
        # by id of the scan (a KeyFilter)
        self.key_filters: dict[int, object] = {}
        self.planner = planner
        self.udf_runtime = udf_runtime or UdfRuntime()
        # what this statement's run records beyond the standard metrics (catalog/tracking.py):
        # choices the planner or an operator made (thresholds, sample sizes) and their measures
        self.run_params: dict[str, Any] = {}
        self.run_metrics: dict[str, float] = {}
        self.run_artifacts: dict[str, Any] = {}   # path -> text or bytes (a PNG, a model)
        # the database the statement runs against (catalog.store.ConnectionStore) and the
        # catalog writes an operator wants made when the statement ends (op(duckdb) callables,
        # as Session.write takes them): a trained specialized model, a video's index
        self.store = None
        self.pending_writes: list = []
        self.root: "Operator | None" = None     # the statement's physical plan (progress display)
        # called before every batch any operator produces: raises (QueryCancelledError) to stop
        # the statement when its client cancelled it or its time ran out (the Flight server)
        self.interrupt: Callable[[], None] | None = None

    def metrics_for(self, op: "Operator") -> Metrics:
        m = self.metrics.get(id(op))
        if m is None:
            m = self.metrics[id(op)] = Metrics()
        return m

    def subquery_result(self, e) -> pa.Table:
        key = id(e.plan)
        if key not in self._subqueries:
            if self.planner is None:
                raise InternalError("No planner to run a subquery")
            op = self.planner(e.plan)
            self._subqueries[key] = collect(op, self)
        return self._subqueries[key]


STREAM = "stream"  # the child's batches flow through the operator one at a time
SINK = "sink"      # the operator consumes all of the child's rows before it emits


class Operator:
    """Base of physical operators; subclasses implement ``_execute`` and ``params`` and declare
    ``ROLES`` (one role per child, ``()`` for a source) or override ``child_roles``."""

    ROLES: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, schema: pa.Schema, children: tuple["Operator", ...] = (),
                 est_rows: float | None = None, est_cost: float | None = None):
        self._schema = schema
        self._children = tuple(children)
        self.est_rows = est_rows
        self.est_cost = est_cost

    @property
    def name(self) -> str:
        return type(self).__name__

    def schema(self) -> pa.Schema:
        return self._schema

    def children(self) -> tuple["Operator", ...]:
        return self._children

    def params(self) -> str:
        return ""

    def child_roles(self) -> tuple[str, ...]:
        """Per child, ``STREAM`` or ``SINK`` (see the module docstring)."""
        if self.ROLES is None:
            raise InternalError(f"{type(self).__name__} declares no pipeline roles")
        return self.ROLES

    def is_source(self) -> bool:
        """Does a pipeline start here (no child streams through this operator)?"""
        return STREAM not in self.child_roles()

    def is_sink(self) -> bool:
        """Does a pipeline end here (some child is consumed whole)?"""
        return SINK in self.child_roles()

    def execute(self, ctx: ExecContext) -> Iterator[pa.RecordBatch]:
        m = ctx.metrics_for(self)
        gen = self._execute(ctx)
        interrupt = ctx.interrupt
        while True:
            if interrupt is not None:
                interrupt()
            t0 = time.perf_counter()
            try:
                b = next(gen)
            except StopIteration:
                m.time += time.perf_counter() - t0
                return
            m.time += time.perf_counter() - t0
            m.rows += b.num_rows
            m.batches += 1
            yield b

    def _execute(self, ctx: ExecContext) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def empty_batch(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in self._schema], schema=self._schema)


def collect(op: Operator, ctx: ExecContext) -> pa.Table:
    """Run an operator to completion as one table with the operator's schema."""
    batches = [b for b in op.execute(ctx)]
    schema = op.schema()
    if not batches:
        return schema.empty_table()
    if len(schema) == 0:
        n = sum(b.num_rows for b in batches)
        return pa.table({"__n": pa.nulls(n)}).select([])
    return pa.Table.from_batches(batches, schema=schema)


def table_batches(t: pa.Table, max_rows: int = 1 << 17) -> Iterator[pa.RecordBatch]:
    """A table as record batches; always at least one (possibly empty) batch."""
    if t.num_columns == 0:
        yield pa.record_batch({"__n": pa.nulls(t.num_rows)}).select([])
        return
    got = False
    for b in t.to_batches(max_chunksize=max_rows):
        got = True
        yield b
    if not got:
        yield pa.RecordBatch.from_arrays([pa.array([], f.type) for f in t.schema], schema=t.schema)


def combine(t: pa.Table) -> pa.Table:
    return t.combine_chunks() if any(c.num_chunks > 1 for c in t.columns) else t
