"""Expressions bound once per operator: column references resolved to positions, compiled to
closures.

``evaluate`` (engine/physical/evaluate.py) interprets a bound expression tree per batch: it
dispatches on each node's type, looks each column up by name and rebuilds each literal's Arrow
scalar. An operator instead binds its expressions when it is built, against the schema of the
batches it will receive: ``BoundExpr`` holds one closure per expression tree whose column
references are batch positions, whose literals are ready scalars and whose calls hold their
kernels. Per batch only kernels run. Nodes whose evaluation picks rows (CASE, IN lists, lazy
AND/OR and COALESCE, subqueries, user functions) run through the interpreter, as do batches whose
schema is not the one bound (checked per batch: a pointer-cheap schema comparison), so both paths
give the same values.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from engine.physical.casts import cast_value
from engine.physical.evaluate import (call_kernel, evaluate, is_lazy, literal_scalar, value_array,
                                      value_mask)
from engine.plan import functions as F
from engine.plan.expressions import Call, Cast, ColumnRef, Expr, Literal

Value = Any
Compiled = Callable[[pa.RecordBatch, Any], Value]


class BoundExpr:
    """``expr`` compiled against ``schema``: ``value``, ``array`` and ``mask`` over a batch give
    what ``evaluate``, ``evaluate_array`` and ``evaluate_mask`` give."""

    __slots__ = ("expr", "schema", "_fn")

    def __init__(self, expr: Expr, schema: pa.Schema):
        self.expr = expr
        self.schema = schema
        self._fn = _compile(expr, schema)

    def value(self, batch: pa.RecordBatch, ctx) -> Value:
        if batch.schema.equals(self.schema):
            return self._fn(batch, ctx)
        return evaluate(self.expr, batch, ctx)

    def array(self, batch: pa.RecordBatch, ctx) -> pa.Array:
        return value_array(self.expr, self.value(batch, ctx), batch.num_rows)

    def mask(self, batch: pa.RecordBatch, ctx) -> Value:
        return value_mask(self.value(batch, ctx))


def bind_all(exprs, schema: pa.Schema) -> list[BoundExpr]:
    return [BoundExpr(e, schema) for e in exprs]


def _interpreted(e: Expr) -> Compiled:
    return lambda batch, ctx: evaluate(e, batch, ctx)


def _compile(e: Expr, schema: pa.Schema) -> Compiled:
    if isinstance(e, ColumnRef):
        i = schema.get_field_index(e.key)
        if i < 0:
            return _interpreted(e)  # reports the missing column as evaluate does
        return lambda batch, ctx: batch.column(i)
    if isinstance(e, Literal):
        v = literal_scalar(e)
        return lambda batch, ctx: v
    if isinstance(e, Call) and not is_lazy(e) and e.fn in F.FUNCTIONS:
        kernel = F.FUNCTIONS[e.fn].kernel
        args = [_compile(a, schema) for a in e.args]

        def call(batch: pa.RecordBatch, ctx) -> Value:
            n = batch.num_rows
            if not n:
                return pa.nulls(0, e.dtype)  # nothing is computed over no rows (see evaluate)
            return call_kernel(e, kernel, [a(batch, ctx) for a in args], n)
        return call
    if isinstance(e, Cast):
        arg = _compile(e.arg, schema)

        def cast(batch: pa.RecordBatch, ctx) -> Value:
            if not batch.num_rows:
                return pa.nulls(0, e.dtype)
            return cast_value(arg(batch, ctx), e.dtype, e.safe, e)
        return cast
    return _interpreted(e)
