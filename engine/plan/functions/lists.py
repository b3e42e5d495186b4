"""List functions over Arrow list arrays: list_value ([a, b]), list_extract (x[i]: 1-based,
negative from the end, NULL out of range; also on strings), list_contains, list_sum, list_sort,
list_distinct, and len() through ``length``.

Each kernel works on the list's flat values with its offsets (one Arrow or numpy pass over all
rows' elements), never row by row. list_distinct drops NULLs and returns the distinct values in
ascending order; DuckDB's order is that of its hash table, which no query can rely on.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import TypeMismatchError
from engine.plan import types as T
from engine.plan.functions.registry import ALIASES, Value, is_scalar, register

# ---------------------------------------------------------------- helpers


def is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _as_array(v: Value, n: int | None = None) -> pa.Array:
    if is_scalar(v):
        return pa.repeat(v, n if n is not None else 1) if v.is_valid else pa.nulls(n or 1, v.type)
    if isinstance(v, pa.ChunkedArray):
        return v.combine_chunks() if v.num_chunks != 1 else v.chunk(0)
    return v


def _rows(*args: Value) -> int | None:
    return next((len(a) for a in args if not is_scalar(a)), None)


def _back(out: pa.Array, n: int | None) -> Value:
    return out[0] if n is None else out


def _offsets(lst: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start offset into lst.values, length, null mask) of each list."""
    off = lst.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    mask = pc.is_null(lst).to_numpy(zero_copy_only=False)
    starts, lengths = off[:-1], off[1:] - off[:-1]
    return starts, np.where(mask, 0, lengths), mask


def _rebuild(lengths: np.ndarray, values: pa.Array, mask: np.ndarray, t: pa.DataType) -> pa.Array:
    off = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=off[1:])
    out = pa.ListArray.from_arrays(pa.array(off), values, type=t,
                                   mask=pa.array(mask) if mask.any() else None)
    return out


# ---------------------------------------------------------------- construction


def _list_value_type(args):
    t = pa.null()
    for a in args:
        t = T.common_type(t, a, "a list")
    return pa.list_(t)


@register("list_value", 0, 1024, _list_value_type, "common")
def _list_value(*args, dtype=None):
    n = _rows(*args)
    rows = 1 if n is None else n
    k = len(args)
    t = dtype.value_type
    if k == 0:
        out = pa.ListArray.from_arrays(pa.array(np.zeros(rows + 1, np.int32)), pa.nulls(0, t))
        return _back(out, n)
    cols = [_as_array(a, rows).cast(t) if _as_array(a, rows).type != t else _as_array(a, rows)
            for a in args]
    flat = pa.concat_arrays(cols)
    order = (np.arange(k)[None, :] * rows + np.arange(rows)[:, None]).ravel()
    values = flat.take(pa.array(order))
    off = pa.array(np.arange(0, rows * k + 1, k, dtype=np.int32))
    return _back(pa.ListArray.from_arrays(off, values, type=dtype), n)


ALIASES["list_pack"] = "list_value"


# ---------------------------------------------------------------- element access


def _extract_type(args):
    lt, it = args
    if not (T.is_integer(it) or pa.types.is_null(it)):
        raise TypeMismatchError(f"expects an integer index, got {T.sql_name(it)}")
    if is_list(lt):
        return lt.value_type
    if T.is_string(lt) or pa.types.is_null(lt):
        return pa.string()
    raise TypeMismatchError(f"expects a list or VARCHAR, got {T.sql_name(lt)}")


@register("list_extract", 2, 2, _extract_type)
def _list_extract(lst, idx, dtype=None):
    """x[i]: 1-based, negative from the end, NULL when out of range (or i = 0)."""
    n = _rows(lst, idx)
    rows = 1 if n is None else n
    if T.is_string(lst.type):
        return _char_at(lst, idx, n)
    arr = _as_array(lst, rows)
    starts, lengths, mask = _offsets(arr)
    i = _as_array(idx, rows).cast(pa.int64())
    iv = pc.fill_null(i, 0).to_numpy(zero_copy_only=False)
    pos = np.where(iv > 0, iv - 1, lengths + iv)
    ok = (iv != 0) & (pos >= 0) & (pos < lengths) & ~mask & pc.is_valid(i).to_numpy(zero_copy_only=False)
    take = pa.array(np.where(ok, starts + pos, 0), mask=~ok)
    values = arr.values
    out = values.take(take) if len(values) else pa.nulls(rows, dtype)
    return _back(out, n)


def _char_at(s: Value, idx: Value, n: int | None) -> Value:
    from engine.plan.functions.strings import _substring
    if is_scalar(idx):
        i = idx.as_py()
        if i is None:
            return pa.scalar(None, pa.string()) if n is None else pa.nulls(n, pa.string())
        if i == 0:
            return _substring(s, pa.scalar(0), pa.scalar(0))
        return _substring(s, pa.scalar(i), pa.scalar(1))
    raise TypeMismatchError("A string's index must be a constant")


for _alias in ("list_element", "array_extract", "list_index"):
    ALIASES[_alias] = "list_extract"


# ---------------------------------------------------------------- membership and sums


def list_contains_type(args):
    lt, x = args
    if pa.types.is_null(lt):
        return pa.bool_()
    if not is_list(lt):
        raise TypeMismatchError(f"expects a list as argument 1, got {T.sql_name(lt)}")
    T.common_type(lt.value_type, x, "list_contains")
    return pa.bool_()


def list_contains(lst: Value, x: Value) -> Value:
    n = _rows(lst, x)
    rows = 1 if n is None else n
    arr = _as_array(lst, rows)
    if pa.types.is_null(arr.type):
        return _back(pa.nulls(rows, pa.bool_()), n)
    t = T.common_type(arr.type.value_type, x.type, "list_contains")
    xs = _as_array(x, rows)
    xs = xs.cast(t) if xs.type != t else xs
    starts, lengths, mask = _offsets(arr)
    values = arr.values
    values = values.cast(t) if values.type != t else values
    parent = np.repeat(np.arange(rows), lengths)
    flat_idx = _flat_positions(starts, lengths)
    elems = values.take(pa.array(flat_idx)) if len(flat_idx) else pa.nulls(0, t)
    wanted = xs.take(pa.array(parent)) if len(parent) else pa.nulls(0, t)
    eq = pc.fill_null(pc.equal(elems, wanted), False).to_numpy(zero_copy_only=False)
    hit = np.zeros(rows, bool)
    np.logical_or.at(hit, parent[eq], True)
    # DuckDB: an empty list contains nothing, not even NULL; otherwise a NULL needle is NULL
    unknown = pc.is_null(xs).to_numpy(zero_copy_only=False) & (lengths > 0)
    out = pa.array(hit, mask=mask | unknown)
    return _back(out, n)


def _flat_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions in the values array of every list's elements, in row order."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    row_first = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + row_first


register("list_contains", 2, 2, list_contains_type)(lambda lst, x, dtype=None: list_contains(lst, x))
for _alias in ("list_has", "array_contains", "array_has"):
    ALIASES[_alias] = "list_contains"


def _elements(lst: Value) -> tuple[pa.Array, np.ndarray, np.ndarray, int | None]:
    """Every list's elements in row order, their row numbers, and the list null mask."""
    n = _rows(lst)
    arr = _as_array(lst)
    starts, lengths, mask = _offsets(arr)
    pos = _flat_positions(starts, lengths)
    elems = arr.values.take(pa.array(pos)) if len(pos) else pa.nulls(0, arr.type.value_type)
    return elems, np.repeat(np.arange(len(arr)), lengths), mask, n


def _sum_type(args):
    lt = args[0]
    if pa.types.is_null(lt):
        return T.HUGEINT
    if not is_list(lt) or not (T.is_numeric(lt.value_type) or pa.types.is_decimal(lt.value_type)):
        raise TypeMismatchError(f"expects a list of numbers, got {T.sql_name(lt)}")
    vt = lt.value_type
    return T.HUGEINT if T.is_integer(vt) or pa.types.is_null(vt) else pa.float64()


@register("list_sum", 1, 1, _sum_type)
def _list_sum(lst, dtype=None):
    elems, parent, mask, n = _elements(lst)
    rows = len(mask)
    if pa.types.is_null(elems.type):
        return _back(pa.nulls(rows, dtype), n)
    table = pa.table({"p": pa.array(parent, pa.int64()),
                      "v": elems.cast(pa.float64() if dtype == pa.float64() else pa.int64())})
    sums = table.group_by("p").aggregate([("v", "sum")])
    p = sums.column("p").to_numpy()
    out_valid = np.zeros(rows, bool)
    got = sums.column("v_sum").combine_chunks()
    valid = pc.is_valid(got).to_numpy(zero_copy_only=False)
    out_valid[p[valid]] = True
    idx = np.full(rows, -1, np.int64)
    idx[p] = np.arange(len(p))
    take = pa.array(np.where(out_valid, idx, 0), mask=~out_valid)
    out = got.take(take) if len(got) else pa.nulls(rows, got.type)
    return _back(out.cast(dtype), n)


ALIASES["array_sum"] = "list_sum"


# ---------------------------------------------------------------- sorting and distinct


def _same_list(args):
    lt = args[0]
    if not (is_list(lt) or pa.types.is_null(lt)):
        raise TypeMismatchError(f"expects a list, got {T.sql_name(lt)}")
    for i, a in enumerate(args[1:], 2):
        if not (T.is_string(a) or pa.types.is_null(a)):
            raise TypeMismatchError(f"expects a VARCHAR sort order as argument {i}, got "
                                    f"{T.sql_name(a)}")
    return lt if not pa.types.is_null(lt) else pa.list_(pa.null())


def _order_arg(v: Value | None, default: str, allowed: tuple[str, ...], what: str) -> str:
    if v is None:
        return default
    if not is_scalar(v):
        raise TypeMismatchError(f"{what} must be a constant")
    s = str(v.as_py()).strip().upper()
    if s not in allowed:
        raise TypeMismatchError(f"{what} must be one of {', '.join(allowed)}, got {v.as_py()!r}")
    return s


@register("list_sort", 1, 3, _same_list)
def _list_sort(lst, order=None, nulls=None, dtype=None):
    o = _order_arg(order, "ASC", ("ASC", "DESC"), "list_sort's order")
    nl = _order_arg(nulls, "NULLS LAST", ("NULLS FIRST", "NULLS LAST"), "list_sort's null order")
    elems, parent, mask, n = _elements(lst)
    if pa.types.is_null(elems.type) or len(elems) == 0:
        return lst
    # an explicit NULL flag places the NULLs (sort options' null_placement moved across
    # pyarrow versions)
    keys = {"p": pa.array(parent, pa.int64()), "n": pc.is_null(elems), "v": elems}
    direction = "ascending" if o == "ASC" else "descending"
    spec = [("p", "ascending"), ("n", "descending" if nl == "NULLS FIRST" else "ascending")]
    if pa.types.is_floating(elems.type):  # NaN above every number, as DuckDB (Arrow: by the NULLs)
        keys["f"] = pc.fill_null(pc.is_nan(elems), False)
        spec.append(("f", direction))
    idx = pc.sort_indices(pa.table(keys), sort_keys=spec + [("v", direction)])
    lengths = np.bincount(parent, minlength=len(mask))
    out = _rebuild(lengths, elems.take(idx), mask, dtype)
    return _back(out, n)


ALIASES["array_sort"] = "list_sort"


@register("list_reverse_sort", 1, 2, _same_list)
def _list_reverse_sort(lst, nulls=None, dtype=None):
    return _list_sort(lst, pa.scalar("DESC"), nulls, dtype=dtype)


@register("list_distinct", 1, 1, _same_list)
def _list_distinct(lst, dtype=None):
    elems, parent, mask, n = _elements(lst)
    rows = len(mask)
    if pa.types.is_null(elems.type) or len(elems) == 0:
        if pa.types.is_null(elems.type) and len(elems):
            return _back(_rebuild(np.zeros(rows, np.int64), pa.nulls(0), mask, dtype), n)
        return lst
    keys = pa.table({"p": pa.array(parent, pa.int64()), "n": pc.is_null(elems), "v": elems})
    idx = pc.sort_indices(keys, sort_keys=[("p", "ascending"), ("n", "ascending"),
                                           ("v", "ascending")])
    v = elems.take(idx)
    p = parent[idx.to_numpy()]
    keep = pc.is_valid(v).to_numpy(zero_copy_only=False)
    if len(v) > 1:
        same = pc.fill_null(pc.equal(v[1:], v[:-1]), False).to_numpy(zero_copy_only=False)
        keep[1:] &= ~(same & (p[1:] == p[:-1]))
    lengths = np.bincount(p[keep], minlength=rows)
    out = _rebuild(lengths, v.filter(pa.array(keep)), mask, dtype)
    return _back(out, n)


ALIASES["array_distinct"] = "list_distinct"
ALIASES["array_length"] = "length"
ALIASES["list_length"] = "length"
