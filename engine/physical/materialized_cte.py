"""MaterializedCteExec and CteScanExec: a CTE the statement reads several times, computed once.

MaterializedCteExec runs its body to completion when its first batch is pulled, keeps the rows
in the statement's context, then streams its child; every CteScanExec of the same CTE (in the
child, or in a subquery the child evaluates) reads those rows under its own column names.
"""
from __future__ import annotations

import pyarrow as pa

from engine.errors import InternalError
from engine.physical.operator import Operator, collect, table_batches, SINK, STREAM


def _slot(key: int) -> tuple[str, int]:
    return ("cte", key)  # beside WITH RECURSIVE's integer tokens in ctx.work_tables


class MaterializedCteExec(Operator):
    ROLES = (SINK, STREAM)  # the body is gathered, then the child streams through
    def __init__(self, body: Operator, child: Operator, key: int, name: str, schema: pa.Schema, **kw):
        super().__init__(schema, (body, child), **kw)
        self.key = key
        self.cte_name = name

    def params(self) -> str:
        return f"cte={self.cte_name}"

    def _execute(self, ctx):
        body, child = self._children
        ctx.work_tables[_slot(self.key)] = collect(body, ctx)
        try:
            yield from child.execute(ctx)
        finally:
            ctx.work_tables.pop(_slot(self.key), None)


class CteScanExec(Operator):
    ROLES = ()  # reads what MaterializedCteExec gathered
    def __init__(self, key: int, name: str, schema: pa.Schema, **kw):
        super().__init__(schema, (), **kw)
        self.key = key
        self.cte_name = name

    def params(self) -> str:
        return f"cte={self.cte_name}"

    def _execute(self, ctx):
        t = ctx.work_tables.get(_slot(self.key))
        if t is None:
            raise InternalError(f"CTE {self.cte_name} read before it was materialised")
        yield from table_batches(pa.Table.from_arrays(t.columns, schema=self._schema))
