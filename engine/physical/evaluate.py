"""Vectorized evaluation of bound expressions over one Arrow record batch.

Each call works on whole columns with pyarrow.compute kernels; constants stay Arrow scalars until
an operator needs a column. CASE evaluates a branch only on the rows that take it, so a guarded
``CASE WHEN x <> 0 THEN 10 // x END`` never divides by zero. Uncorrelated subqueries run once per
statement and are cached on the execution context.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DataError, InternalError, NotSupportedError
from engine.plan import functions as F
from engine.plan.functions.logic import compare
from engine.plan.functions.names import VOLATILE
from engine.physical.casts import cast_value
from engine.plan.expressions import (AggCall, Call, Case, Cast, ColumnRef, Expr, InList, Literal,
                                     SubqueryExpr, UdfCall, WindowCall, user_sql)

Value = Any

_FALLIBLE = {"intdiv", "mod", "mod_fn", "add", "subtract", "multiply", "negate", "sqrt", "ln",
             "log10", "log2", "substring", "strftime", "date_trunc", "make_date", "abs"}


def to_array(v: Value, n: int) -> pa.Array:
    if isinstance(v, pa.ChunkedArray):
        return v.combine_chunks() if v.num_chunks != 1 else v.chunk(0)
    if isinstance(v, pa.Scalar):
        if v.type == pa.null():
            return pa.nulls(n)
        return pa.repeat(v, n)
    return v


def literal_scalar(e: Literal) -> pa.Scalar:
    if pa.types.is_interval(e.dtype):
        return pa.scalar(e.value, type=e.dtype)
    return pa.scalar(e.value, type=e.dtype)


def evaluate(e: Expr, batch: pa.RecordBatch, ctx) -> Value:
    if batch.num_rows == 0 and not isinstance(e, (ColumnRef, Literal)):
        # nothing is computed over no rows (as in DuckDB, a failing cast there does not fail)
        return pa.nulls(0, e.dtype)
    if isinstance(e, ColumnRef):
        idx = batch.schema.get_field_index(e.key)
        if idx < 0:
            raise InternalError(f"Column {user_sql(e)} is not in the batch")
        return batch.column(idx)
    if isinstance(e, Literal):
        return literal_scalar(e)
    if is_lazy(e):
        return _lazy_logic(e, batch, ctx) if e.fn in ("and", "or") else _lazy_coalesce(e, batch, ctx)
    if isinstance(e, UdfCall):
        args = [evaluate(a, batch, ctx) for a in e.args]
        ident = [evaluate(a, batch, ctx) for a in e.identity]
        return ctx.udf_runtime.call(e, args, ident, batch.num_rows)
    if isinstance(e, Call):
        fn = F.FUNCTIONS.get(e.fn)
        if fn is None:
            raise InternalError(f"No kernel for function {e.fn}")
        args = [evaluate(a, batch, ctx) for a in e.args]
        return call_kernel(e, fn.kernel, args, batch.num_rows)
    if isinstance(e, Cast):
        return cast_value(evaluate(e.arg, batch, ctx), e.dtype, e.safe, e)
    if isinstance(e, Case):
        return _case(e, batch, ctx)
    if isinstance(e, InList):
        return _in_list(e, batch, ctx)
    if isinstance(e, SubqueryExpr):
        return _subquery(e, batch, ctx)
    if isinstance(e, (AggCall, WindowCall)):
        raise InternalError(f"{user_sql(e)} must be computed by its operator, not evaluated")
    raise InternalError(f"Cannot evaluate {type(e).__name__}")


def call_kernel(e: Call, kernel, args: list, rows: int) -> Value:
    """A function's kernel over its evaluated arguments, with errors in the user's words."""
    if e.fn in ("and", "or") and all(isinstance(a, pa.Scalar) for a in args):
        return kernel(*args, dtype=e.dtype)
    if e.fn in VOLATILE:  # random(): one value per row
        return kernel(*args, dtype=e.dtype, rows=rows)
    try:
        return kernel(*args, dtype=e.dtype)
    except pa.ArrowInvalid as err:
        raise DataError(f'Cannot evaluate "{user_sql(e)}": {err}') from None
    except pa.ArrowNotImplementedError as err:
        if any(pa.types.is_null(a.type) for a in args):
            # no kernel takes an untyped NULL (a bare NULL literal): the function's value is NULL
            n = next((len(a) for a in args if not isinstance(a, pa.Scalar)), None)
            return pa.scalar(None, e.dtype) if n is None else pa.nulls(n, e.dtype)
        raise NotSupportedError(f'Cannot evaluate "{user_sql(e)}": {err}') from None


def is_lazy(e: Expr) -> bool:
    """Is ``e`` a call that evaluates some arguments only on some rows (see ``evaluate``)?"""
    if isinstance(e, Call) and e.fn in ("and", "or") and is_expensive(e.args[1]):
        return True
    return isinstance(e, Call) and e.fn == "coalesce" and any(_is_fallible(a) for a in e.args[1:])


def is_expensive(e: Expr) -> bool:
    """Does evaluating ``e`` call a user function (worth skipping rows for)?"""
    return any(isinstance(x, UdfCall) for x in e.walk())


def _lazy_coalesce(e: Call, batch: pa.RecordBatch, ctx) -> Value:
    """COALESCE computing each argument only on the rows the ones before left NULL (as DuckDB:
    ``coalesce(x, 1 // 0)`` fails only where x is NULL)."""
    n = batch.num_rows
    out = to_array(evaluate(e.args[0], batch, ctx), n).cast(e.dtype)
    for arg in e.args[1:]:
        missing = pc.is_null(out)
        if not pc.any(missing).as_py():
            break
        idx = pc.indices_nonzero(missing)
        vals = to_array(evaluate(arg, batch.take(idx), ctx), len(idx)).cast(e.dtype)
        scatter = np.zeros(n, dtype=np.int64)
        scatter[idx.to_numpy()] = np.arange(len(idx))
        out = pc.if_else(missing, vals.take(pa.array(scatter)), out)
    return out


def _lazy_logic(e: Call, batch: pa.RecordBatch, ctx) -> Value:
    """AND / OR that evaluates its (expensive) right side only on rows the left side leaves
    undecided: for AND where the left is not FALSE, for OR where it is not TRUE."""
    n = batch.num_rows
    left = to_array(evaluate(e.args[0], batch, ctx), n)
    decided = False if e.fn == "and" else True
    need = pc.fill_null(pc.not_equal(left, decided), True)
    if not pc.any(need).as_py():
        return left
    idx = pc.indices_nonzero(need)
    sub = batch.take(idx)
    right = to_array(evaluate(e.args[1], sub, ctx), len(sub))
    kleene = pc.and_kleene if e.fn == "and" else pc.or_kleene
    combined = kleene(left.take(idx), right)
    scatter = np.full(n, -1, dtype=np.int64)
    scatter[idx.to_numpy()] = np.arange(len(idx))
    full = combined.take(pa.array(np.maximum(scatter, 0)))
    return pc.if_else(need, full, left)


def evaluate_array(e: Expr, batch: pa.RecordBatch, ctx) -> pa.Array:
    return value_array(e, evaluate(e, batch, ctx), batch.num_rows)


def value_array(e: Expr, v: Value, n: int) -> pa.Array:
    """``e``'s evaluated value as an array of ``n`` values of its type."""
    arr = to_array(v, n)
    if arr.type != e.dtype and not pa.types.is_null(e.dtype):
        arr = arr.cast(e.dtype)
    return arr


def hash_key(arr):
    """A column as a hashing key: -0.0 becomes 0.0, since SQL groups, joins and compares them as
    one value while hash kernels see two bit patterns."""
    if pa.types.is_floating(arr.type):
        return pc.add(arr, pa.scalar(0.0, arr.type))
    return arr


def evaluate_mask(e: Expr, batch: pa.RecordBatch, ctx) -> Value:
    """A predicate as a filter mask: NULL counts as false."""
    return value_mask(evaluate(e, batch, ctx))


def value_mask(v: Value) -> Value:
    """An evaluated predicate as a filter mask: True, False or a BOOLEAN array."""
    if isinstance(v, pa.Scalar):
        return bool(v.as_py())
    if v.type == pa.null():
        return False
    return v


# ---------------------------------------------------------------- CASE and IN

def _is_fallible(e: Expr) -> bool:
    for x in e.walk():
        if isinstance(x, Call) and x.fn in _FALLIBLE:
            return True
        if isinstance(x, Cast) and not x.safe:
            return True
        if isinstance(x, UdfCall):
            return True  # user functions: evaluate only where needed
    return False


def _case(e: Case, batch: pa.RecordBatch, ctx) -> Value:
    n = batch.num_rows
    conds = []
    for c, _ in e.whens:
        m = evaluate(c, batch, ctx)
        m = pc.fill_null(to_array(m, n), False) if not isinstance(m, pa.Scalar) else \
            pa.repeat(pa.scalar(bool(m.as_py()), pa.bool_()), n)
        conds.append(m)
    if not any(_is_fallible(v) for _, v in e.whens) and not _is_fallible(e.default):
        vals = [to_array(evaluate(v, batch, ctx), n).cast(e.dtype) for _, v in e.whens]
        default = to_array(evaluate(e.default, batch, ctx), n).cast(e.dtype)
        if not conds:
            return default
        return pc.case_when(pc.make_struct(*conds, field_names=[str(i) for i in range(len(conds))]),
                            *vals, default)
    # lazy path: evaluate each branch on exactly the rows that take it
    branch = np.full(n, len(conds), dtype=np.int64)
    for i in range(len(conds) - 1, -1, -1):
        branch[conds[i].to_numpy(zero_copy_only=False)] = i
    order = np.argsort(branch, kind="stable")
    pieces = []
    exprs = [v for _, v in e.whens] + [e.default]
    counts = np.bincount(branch, minlength=len(exprs))
    start = 0
    for i, ex in enumerate(exprs):
        k = int(counts[i])
        if k:
            idx = pa.array(order[start:start + k])
            sub = batch.take(idx)
            pieces.append(to_array(evaluate(ex, sub, ctx), k).cast(e.dtype))
        start += k
    if not pieces:
        return pa.nulls(0, e.dtype)
    merged = pa.concat_arrays(pieces)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return merged.take(pa.array(inverse))


def in_set(x: Value, values: pa.Array, negated: bool) -> Value:
    """SQL ``x [NOT] IN (values)`` with three-valued logic."""
    has_null = values.null_count > 0
    vals = hash_key(values.drop_null() if has_null else values)  # the set is hashed: -0.0 = 0.0
    if isinstance(x, pa.Scalar):
        if not x.is_valid:
            r = None if len(values) else False
        else:
            found = pc.is_in(hash_key(pa.array([x.as_py()], x.type)), value_set=vals)[0].as_py()
            r = True if found else (None if has_null else False)
        if negated and r is not None:
            r = not r
        return pa.scalar(r, pa.bool_())
    if len(values) == 0:
        return pa.repeat(pa.scalar(negated, pa.bool_()), len(x))
    found = pc.is_in(hash_key(x), value_set=vals)
    if has_null:
        found = pc.if_else(found, True, pa.scalar(None, pa.bool_()))
    found = pc.if_else(pc.is_valid(x), found, pa.scalar(None, pa.bool_()))
    return pc.invert(found) if negated else found


def _in_list(e: InList, batch: pa.RecordBatch, ctx) -> Value:
    x = evaluate(e.arg, batch, ctx)
    if all(isinstance(v, Literal) for v in e.values):
        vals = pa.array([v.value for v in e.values], type=e.arg.dtype)
        return in_set(x, vals, e.negated)
    # non-constant list: OR of equalities with SQL NULL semantics
    out = None
    for v in e.values:
        eq = compare("eq", x, evaluate(v, batch, ctx))
        out = eq if out is None else pc.or_kleene(out, eq)
    return pc.invert(out) if e.negated else out


def _subquery(e: SubqueryExpr, batch: pa.RecordBatch, ctx) -> Value:
    if e.outer:
        raise NotSupportedError(
            f"This correlated subquery cannot be decorrelated: {user_sql(e)}; rewrite it as a join")
    table = ctx.subquery_result(e)
    if e.kind == "exists":
        r = table.num_rows > 0
        return pa.scalar(r != e.negated, pa.bool_())
    col = table.column(0)
    if e.kind == "scalar":
        if table.num_rows > 1:
            raise DataError("More than one row returned by a subquery used as an expression")
        return pa.scalar(col[0].as_py() if table.num_rows else None, e.dtype)
    values = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    x = evaluate(e.arg, batch, ctx)
    return in_set(x, values, e.negated)
