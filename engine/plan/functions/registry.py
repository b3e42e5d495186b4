"""The registry of built-in scalar functions and operators, their shared type rules and helpers.

One table, ``FUNCTIONS``, maps a name to a ``Function``: an arity range, a rule that computes the
result type from argument types (raising TypeMismatchError when they do not fit), and a kernel over
Arrow arrays/scalars built on pyarrow.compute and numpy. Semantics follow DuckDB; where Dawn differs
(DECIMAL is DOUBLE), engine.plan.types says so.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import NotSupportedError, TypeMismatchError
from engine.plan import types as T

Value = Any  # pa.Array | pa.ChunkedArray | pa.Scalar


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    rtype: Callable[[list[pa.DataType]], pa.DataType]
    kernel: Callable[..., Value]
    coerce: str = "none"  # "common": cast all args to their common type before the call


FUNCTIONS: dict[str, Function] = {}
ALIASES = {"char_length": "length", "len": "length", "character_length": "length",
           "substr": "substring", "pow": "power", "ceiling": "ceil", "instr": "strpos",
           "position": "strpos", "ifnull": "coalesce", "lcase": "lower",
           "ucase": "upper", "datepart": "date_part", "datetrunc": "date_trunc",
           "starts_with": "starts_with", "prefix": "starts_with", "suffix": "ends_with",
           "str_split": "string_split", "string_to_array": "string_split", "mod": "mod_fn",
           "day": "dayofmonth"}


def register(name: str, min_args: int, max_args: int, rtype, coerce: str = "none",
             constant: tuple[int, ...] = ()):
    """``constant``: positions of arguments the kernel reads as one value (a LIKE pattern, a pad
    width); when a column is passed there instead, the kernel runs once per distinct value."""
    def deco(kernel):
        k = _per_distinct(kernel, constant) if constant else kernel
        FUNCTIONS[name] = Function(name, min_args, max_args, rtype, k, coerce)
        return kernel
    return deco


def _per_distinct(kernel, positions: tuple[int, ...]):
    """Wrap a kernel whose arguments at ``positions`` must be scalars so that it also takes
    columns there: rows are grouped by the distinct values of those columns (one hash pass), the
    kernel runs once per group on that group's rows, and the results are put back in row order.
    Every such function is NULL when one of those arguments is NULL, as in DuckDB."""
    def k(*args, dtype=None):
        varying = [i for i in positions if i < len(args) and not is_scalar(args[i])]
        if not varying:
            return kernel(*args, dtype=dtype)
        arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in args]
        n = len(arrays[varying[0]])
        if n == 0:
            return pa.nulls(0, dtype if dtype is not None else pa.null())
        names = [f"k{j}" for j in range(len(varying))]
        keys = pa.table({nm: arrays[i] for nm, i in zip(names, varying)})
        keys = keys.append_column("__row", pa.array(np.arange(n, dtype=np.int64)))
        groups = keys.group_by(names, use_threads=False).aggregate([("__row", "list")])
        rows_of = groups.column("__row_list").combine_chunks()
        results, order, null_rows = [], [], []
        for g in range(groups.num_rows):
            rows = rows_of[g].values
            vals = {i: groups.column(nm)[g] for nm, i in zip(names, varying)}
            if not all(v.is_valid for v in vals.values()):
                null_rows.append(rows)
                continue
            sub = [vals[i] if i in vals else a if is_scalar(a) else a.take(rows)
                   for i, a in enumerate(arrays)]
            r = kernel(*sub, dtype=dtype)
            results.append(pa.repeat(r, len(rows)) if is_scalar(r) else
                           r.combine_chunks() if isinstance(r, pa.ChunkedArray) else r)
            order.append(rows)
        t = results[0].type if results else (dtype or pa.null())
        results = [r.cast(t) if r.type != t else r for r in results]
        results.append(pa.nulls(sum(len(r) for r in null_rows), t))
        where = pa.concat_arrays(order + null_rows).to_numpy()
        inverse = np.empty(n, dtype=np.int64)
        inverse[where] = np.arange(n, dtype=np.int64)
        return pa.concat_arrays(results).take(pa.array(inverse))
    k.__doc__ = kernel.__doc__
    return k


def lookup(name: str) -> Function | None:
    name = name.lower()
    return FUNCTIONS.get(ALIASES.get(name, name))


# ---------------------------------------------------------------- type rules

def _fixed(t: pa.DataType):
    return lambda args: t


def _first(args):
    return args[0]


def _need(pred, what: str):
    def rule(args):
        for a in args:
            if not pa.types.is_null(a) and not pred(a):
                raise TypeMismatchError(f"expects {what} arguments, got {T.sql_name(a)}")
        return None
    return rule


def _numeric_result(args):
    """DuckDB's result type of arithmetic on these argument types: integers combine by
    ``T.integer_arith`` (INTEGER + INTEGER is INTEGER, TINYINT + UTINYINT is BIGINT), FLOAT with
    integers stays FLOAT, anything with DOUBLE is DOUBLE; NULLs alone are BIGINT."""
    _need(T.is_numeric, "numeric")(args)
    typed = [a for a in args if not pa.types.is_null(a)]
    if not typed:
        return pa.int64()
    t = typed[0]
    for a in typed[1:]:
        t = T.integer_arith(t, a) if T.is_integer(t) and T.is_integer(a) else T.float_common(t, a)
    return t


def _float_result(args):
    _need(T.is_numeric, "numeric")(args)
    return pa.float64()


def _string_result(args):
    return pa.string()


def _bool_result(args):
    return pa.bool_()


# ---------------------------------------------------------------- helpers

def is_scalar(v: Value) -> bool:
    return isinstance(v, pa.Scalar)


def scalar_py(v: Value, what: str) -> Any:
    if not is_scalar(v):
        raise NotSupportedError(f"{what} must be a constant")
    return v.as_py()


def _to_numpy(v: Value, fill) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(v, pa.ChunkedArray):
        v = pa.concat_arrays(v.chunks) if v.num_chunks != 1 else v.chunk(0)
    mask = None
    if v.null_count:
        mask = v.is_null().to_numpy(zero_copy_only=False)
        v = pc.fill_null(v, fill)
    return v.to_numpy(zero_copy_only=False), mask




def implicit_int(args, widest: pa.DataType, what: str) -> None:
    """DuckDB casts an argument to an integer parameter only from a narrower integer type: no
    DOUBLE or DECIMAL, nor a wider integer (chr(BIGINT) has no match). TypeMismatchError else."""
    limit = T.INT_RANK.get(widest, 4)
    for a in args:
        if pa.types.is_null(a):
            continue
        if not T.is_integer(a) or a == T.HUGEINT or T.INT_RANK.get(a, 5) > limit \
                or (pa.types.is_unsigned_integer(a) and a.bit_width >= widest.bit_width):
            raise TypeMismatchError(f"has no form taking {T.sql_name(a)} ({what} is {T.sql_name(widest)})")
