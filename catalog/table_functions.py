"""Table functions as table sources: table UDFs (``SELECT * FROM my_table_function(1, 'x')``)
and the built-in integer series ``range(...)`` / ``generate_series(...)``."""
from __future__ import annotations

import numpy as np
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


class SeriesSource(TableSource):
    """``range(start, stop, step)`` (stop excluded) and ``generate_series`` (stop included) as
    DuckDB has them: one BIGINT column named after the function, produced in batches."""
    kind = "series"
    BATCH = 1 << 17

    def __init__(self, name: str, start: int, stop: int, step: int, inclusive: bool):
        if step == 0:
            raise ValueError(f"{name}() step must not be 0")
        self.name = name
        self.start, self.step = start, step
        end = stop + ((1 if step > 0 else -1) if inclusive else 0)
        self.n = len(range(start, end, step))
        self.schema = pa.schema([pa.field(name, pa.int64())])

    def describe(self) -> str:
        return f"{self.name}({self.start}, step {self.step}, {self.n} values)"

    def row_count(self) -> int:
        return self.n

    def scan(self, columns, prune=None, stats=None):
        schema = pa.schema([self.schema.field(c) for c in columns])
        for lo in range(0, self.n, self.BATCH) if self.n else [0]:
            k = min(self.BATCH, self.n - lo)
            vals = self.start + self.step * np.arange(lo, lo + k, dtype=np.int64)
            yield pa.RecordBatch.from_arrays([pa.array(vals) for _ in columns], schema=schema) \
                if columns else pa.record_batch({"__n": pa.nulls(k)}).select([])

    def take(self, positions, columns, stats=None):
        positions = np.asarray(positions, dtype=np.int64)
        vals = pa.array(self.start + self.step * positions)
        schema = pa.schema([self.schema.field(c) for c in columns])
        if not columns:
            yield pa.record_batch({"__n": pa.nulls(len(positions))}).select([])
            return
        yield pa.RecordBatch.from_arrays([vals for _ in columns], schema=schema)
