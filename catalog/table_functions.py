"""Table UDFs as table sources: ``SELECT * FROM my_table_function(1, 'x')``."""
from __future__ import annotations

import pyarrow as pa

from catalog.sources import TableSource, normalize_batch, normalize_schema


class TableUdfError(Exception):
    pass


class TableUdfSource(TableSource):
    kind = "table_function"

    def __init__(self, udf, args: list):
        self.udf = udf
        self.args = args
        self.declared = udf.returns
        self.schema = normalize_schema(udf.returns)

    def describe(self) -> str:
        return f"table function {self.udf.name}"

    def row_count(self) -> int | None:
        return None

    def scan(self, columns, prune=None, stats=None):
        try:
            out = self.udf.fn(*self.args)
        except Exception as e:
            raise TableUdfError(f'Table function "{self.udf.name}" failed: {type(e).__name__}: {e}') from None
        if isinstance(out, pa.Table):
            batches = out.to_batches()
        elif isinstance(out, pa.RecordBatch):
            batches = [out]
        else:
            batches = list(out)
        want = [f.name for f in self.declared]
        schema = pa.schema([self.schema.field(c) for c in columns])
        emitted = False
        for b in batches:
            if b.schema.names != want:
                raise TableUdfError(f'Table function "{self.udf.name}" returned columns {b.schema.names}, '
                                    f"declared {want}")
            try:
                b = normalize_batch(b.cast(self.declared) if hasattr(b, "cast") else b, self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise TableUdfError(f'Table function "{self.udf.name}" returned values that do not '
                                    f"fit its declared types: {e}") from None
            emitted = True
            yield pa.RecordBatch.from_arrays([b.column(c) for c in columns], schema=schema)
        if not emitted:
            yield pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)
