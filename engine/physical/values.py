"""ValuesExec: literal rows (VALUES lists and SELECT without FROM)."""
from __future__ import annotations

import pyarrow as pa

from engine.physical.evaluate import evaluate_array
from engine.physical.operator import Operator


class ValuesExec(Operator):
    ROLES = ()
    def __init__(self, rows, schema: pa.Schema, **kw):
        super().__init__(schema, (), **kw)
        self.rows = rows

    def params(self) -> str:
        return f"rows={len(self.rows)}"

    def _execute(self, ctx):
        one = pa.record_batch({"__n": pa.nulls(1)}).select([])
        if not self._schema:
            yield pa.record_batch({"__n": pa.nulls(len(self.rows))}).select([])
            return
        cols = []
        for j, f in enumerate(self._schema):
            parts = [evaluate_array(r[j], one, ctx).cast(f.type) for r in self.rows]
            cols.append(pa.concat_arrays(parts) if parts else pa.array([], f.type))
        yield pa.RecordBatch.from_arrays(cols, schema=self._schema)
