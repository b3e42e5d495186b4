"""ProjectExec: compute output columns from input columns, batch by batch."""
from __future__ import annotations

import pyarrow as pa

from engine.physical.bound import bind_all
from engine.plan.expressions import ColumnRef
from engine.physical.operator import Operator, STREAM


class ProjectExec(Operator):
    ROLES = (STREAM,)
    def __init__(self, child: Operator, exprs, schema: pa.Schema, **kw):
        super().__init__(schema, (child,), **kw)
        self.exprs = exprs  # list of (out ColumnRef, Expr)
        self.bound = bind_all([e for _, e in exprs], child.schema())

    def params(self) -> str:
        return ", ".join(e.sql() if isinstance(e, ColumnRef) and e.cid == c.cid else f"{e.sql()} AS {c.sql()}"
                         for c, e in self.exprs)

    def _execute(self, ctx):
        for b in self._children[0].execute(ctx):
            if not self.exprs:
                yield b.select([])
                continue
            cols = [e.array(b, ctx) for e in self.bound]
            cols = [c if c.type == f.type else c.cast(f.type) for c, f in zip(cols, self._schema)]
            yield pa.RecordBatch.from_arrays(cols, schema=self._schema)
