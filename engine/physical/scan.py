"""ScanExec: stream a table source, reading only needed columns and applying pushed filters."""
from __future__ import annotations

import datetime as _dt

import pyarrow as pa
import pyarrow.compute as pc

from catalog.sources import ScanStats
from engine.physical.evaluate import evaluate_mask
from engine.physical.operator import Operator
from engine.plan.expressions import Call, ColumnRef, Expr, Literal, and_all

_FLIP = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte", "eq": "eq"}


def prune_terms(filters, names: dict[int, str]) -> list[tuple[str, str, object]]:
    """The ``column op constant`` conjuncts a source can use to skip data (row groups)."""
    out = []
    for f in filters:
        if isinstance(f, Call) and f.fn in _FLIP:
            a, b = f.args
            op = f.fn
            if isinstance(b, ColumnRef) and isinstance(a, Literal):
                a, b, op = b, a, _FLIP[op]
            if isinstance(a, ColumnRef) and isinstance(b, Literal) and b.value is not None \
                    and a.cid in names:
                v = b.value
                if isinstance(v, _dt.datetime) and pa.types.is_date(a.dtype):
                    continue
                out.append((names[a.cid], op, v))
    return out


class ScanExec(Operator):
    def __init__(self, table: str, source, columns: list[str], out_keys: list[str],
                 filters: tuple[Expr, ...], names: dict[int, str], **kw):
        schema = pa.schema([pa.field(k, source.schema.field(c).type) for c, k in zip(columns, out_keys)])
        super().__init__(schema, (), **kw)
        self.table = table
        self.source = source
        self.columns = columns
        self.filters = filters
        self.predicate = and_all(list(filters))
        self.prune = prune_terms(filters, names)
        self.stats = ScanStats()

    def params(self) -> str:
        s = f"table={self.table} columns=[{', '.join(self.columns)}]"
        if self.filters:
            s += " filters=[" + ", ".join(f.sql() for f in self.filters) + "]"
        return s

    def _execute(self, ctx):
        self.stats = ScanStats()
        ctx.metrics_for(self).extra["scan"] = self.stats
        for b in self.source.scan(self.columns, self.prune, self.stats):
            b = pa.RecordBatch.from_arrays(b.columns, schema=self._schema) if b.num_columns else \
                b
            if self.predicate is not None and b.num_rows:
                m = evaluate_mask(self.predicate, b, ctx)
                if m is False:
                    continue
                if m is not True:
                    b = b.filter(m)
            if b.num_rows or not self.columns:
                yield b
