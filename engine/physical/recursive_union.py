"""RecursiveUnionExec and WorkTableExec: WITH RECURSIVE as iteration over a work table.

The anchor runs once; its rows are the first work table. Each iteration runs the step, whose
WorkTableExec leaves read the work table, and the rows it produces become the next one, until an
iteration produces none. UNION (without ALL) keeps only rows not seen before, with NULLs equal,
so a cycle ends; ``SET max_recursion = N`` (default 10,000 iterations) stops a runaway query with
an error instead of running forever.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.errors import DataError
from engine.physical.operator import Operator, collect, table_batches, SINK
from engine.physical.set_op import distinct_with_counts

DEFAULT_MAX_RECURSION = 10_000


class WorkTableExec(Operator):
    ROLES = ()  # reads the iteration's work table
    def __init__(self, token: int, schema: pa.Schema, **kw):
        super().__init__(schema, (), **kw)
        self.token = token

    def params(self) -> str:
        return f"#{self.token}"

    def _execute(self, ctx):
        t = ctx.work_tables[self.token]
        yield from table_batches(pa.Table.from_arrays(t.columns, schema=self._schema))


def _new_rows(seen: pa.Table | None, rows: pa.Table) -> pa.Table:
    """The distinct rows of ``rows`` that are not in ``seen`` (NULLs equal, -0.0 = 0.0)."""
    parts = [rows] if seen is None else [rows, seen]
    distinct, counts = distinct_with_counts(parts, rows.schema)
    if seen is None:
        return distinct
    return distinct.take(pa.array(np.nonzero(counts[1] == 0)[0], pa.int64()))


class RecursiveUnionExec(Operator):
    ROLES = (SINK, SINK)  # the anchor once, the step once per iteration
    def __init__(self, anchor: Operator, step: Operator, token: int, all_: bool,
                 schema: pa.Schema, **kw):
        super().__init__(schema, (anchor, step), **kw)
        self.token = token
        self.all = all_

    def params(self) -> str:
        return f"#{self.token} " + ("all=true" if self.all else "distinct=true")

    def _as_output(self, t: pa.Table) -> pa.Table:
        return pa.Table.from_arrays(t.columns, schema=self._schema)

    def _execute(self, ctx):
        limit = int(ctx.settings.get("max_recursion", DEFAULT_MAX_RECURSION))
        work = self._as_output(collect(self._children[0], ctx))
        seen = None
        if not self.all:
            work = _new_rows(None, work)
            seen = work
        iterations = 0
        while work.num_rows:
            yield from table_batches(work)
            if iterations >= limit:
                raise DataError(f"WITH RECURSIVE did not finish after {limit} iterations "
                                "(SET max_recursion = N allows more)")
            iterations += 1
            ctx.work_tables[self.token] = work
            work = self._as_output(collect(self._children[1], ctx))
            if not self.all:
                work = _new_rows(seen, work)
                seen = pa.concat_tables([seen, work])
        ctx.work_tables.pop(self.token, None)
        ctx.run_metrics["recursion_iterations"] = ctx.run_metrics.get("recursion_iterations", 0) + iterations
