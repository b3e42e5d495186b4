"""Hash functions: md5 and sha256 as hex text, and hash(), which returns DuckDB's own 64-bit
hash values (UBIGINT), bit for bit.

md5/sha256 call hashlib once per distinct value of the column (Arrow has no digest kernels);
duplicates, common in the columns people hash, are hashed once.

hash() reproduces DuckDB's algorithm (src/common/types/hash.cpp, vector_hash.cpp) with numpy
uint64 arithmetic: integers, booleans, dates and timestamps go through MurmurHash64 of their
value (32-bit types zero-extended, 64-bit ones as is), doubles through MurmurHash64 of their bits
(-0.0 and NaN normalised), strings through DuckDB's 8-byte-block hash; NULL hashes to a constant;
several arguments combine left to right with CombineHashScalar. Types whose hash Dawn does not
reproduce (lists, structs, intervals, HUGEINT) are refused.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import NotSupportedError, TypeMismatchError
from engine.plan import types as T
from engine.plan.functions.registry import Value, is_scalar, register

# ---------------------------------------------------------------- md5, sha256


def _digest(algorithm: str):
    def kernel(s, dtype=None):
        arr = s if not is_scalar(s) else pa.array([s.as_py()], s.type)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        data = arr.cast(pa.binary()) if not pa.types.is_binary(arr.type) else arr
        uniq = pc.unique(data)
        digests = pa.array([None if u is None else hashlib.new(algorithm, u).hexdigest()
                            for u in uniq.to_pylist()], pa.string())
        out = digests.take(pc.index_in(data, value_set=uniq))
        return out[0] if is_scalar(s) else out
    return kernel


def _text_or_blob(args):
    t = args[0]
    if not (T.is_string(t) or pa.types.is_binary(t) or pa.types.is_null(t)):
        raise TypeMismatchError(f"expects VARCHAR or BLOB, got {T.sql_name(t)}")
    return pa.string()


register("md5", 1, 1, _text_or_blob)(_digest("md5"))
register("sha256", 1, 1, _text_or_blob)(_digest("sha256"))
register("sha1", 1, 1, _text_or_blob)(_digest("sha1"))


# ---------------------------------------------------------------- hash()

_M = np.uint64(0xD6E8FEB86659FD93)
_NULL_HASH = np.uint64(0xBF58476D1CE4E5B9)
_SEED = np.uint64(0xE17A1465)
_LEN_MUL = np.uint64(0xC6A4A7935BD1E995)
_32 = np.uint64(32)


def murmur64(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> _32)
    x = x * _M
    x = x ^ (x >> _32)
    x = x * _M
    return x ^ (x >> _32)


def _combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a ^ (a >> _32)
    return (a * _M) ^ b


def _string_hash(arr: pa.Array) -> np.ndarray:
    """DuckDB's Hash(string_t): 8-byte little-endian blocks folded with a multiply, then
    MurmurHash64; the last block is zero-padded. One numpy pass per block position."""
    data_buf = arr.buffers()[2]
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    offsets = offsets.astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    lengths = offsets[1:] - offsets[:-1]
    padded = np.concatenate([data, np.zeros(8, np.uint8)])
    h = _SEED ^ (lengths.astype(np.uint64) * _LEN_MUL)
    blocks = (lengths + 7) // 8
    weights = (np.uint64(1) << (np.arange(8, dtype=np.uint64) * np.uint64(8)))
    for b in range(int(blocks.max()) if len(blocks) else 0):
        live = np.flatnonzero(blocks > b)
        start = offsets[:-1][live] + 8 * b
        take = np.minimum(lengths[live] - 8 * b, 8)
        idx = start[:, None] + np.arange(8)[None, :]
        byte = np.where(np.arange(8)[None, :] < take[:, None], padded[idx], 0).astype(np.uint64)
        word = (byte * weights[None, :]).sum(axis=1, dtype=np.uint64)
        h[live] = (h[live] ^ word) * _M
    return murmur64(h)


def _hash_column(v: Value, n: int) -> np.ndarray:
    t = v.type
    arr = pa.repeat(v, n) if is_scalar(v) else v
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_null(t):
        return np.full(n, _NULL_HASH, dtype=np.uint64)
    mask = pc.is_null(arr).to_numpy(zero_copy_only=False)
    if T.is_string(t) or pa.types.is_binary(t):
        h = _string_hash(pc.fill_null(arr.cast(pa.string()) if T.is_string(t) else arr, ""))
    elif pa.types.is_floating(t):
        x = pc.fill_null(arr, 0.0).to_numpy(zero_copy_only=False)
        if t == pa.float32():
            x = x.astype(np.float32)
            x = np.where(x == 0, np.float32(0.0), x)
            x = np.where(np.isnan(x), np.float32(np.nan), x)
            h = murmur64(x.view(np.uint32).astype(np.uint64))
        else:
            x = x.astype(np.float64)
            x = np.where(x == 0, 0.0, x)
            x = np.where(np.isnan(x), np.nan, x)
            h = murmur64(x.view(np.uint64))
    elif pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_date(t) \
            or pa.types.is_timestamp(t) or pa.types.is_time(t):
        if pa.types.is_boolean(t):
            ints = arr.cast(pa.uint8())
        elif pa.types.is_date(t):
            ints = arr.cast(pa.int32())
        elif pa.types.is_timestamp(t) or pa.types.is_time(t):
            ints = arr.cast(pa.int64())
        else:
            ints = arr
        x = pc.fill_null(ints, 0).to_numpy(zero_copy_only=False)
        wide = x.dtype.itemsize == 8
        if wide:
            u = x.view(np.uint64) if x.dtype != np.uint64 else x
        else:  # 8, 16 and 32-bit values hash as their uint32 (sign bits do not widen)
            u = x.astype(np.int64).astype(np.uint32).astype(np.uint64) if x.dtype.kind == "i" \
                else x.astype(np.uint64)
        h = murmur64(u.astype(np.uint64))
    else:
        raise NotSupportedError(f"hash() of {T.sql_name(t)} values is not supported")
    return np.where(mask, _NULL_HASH, h)


def hashable(t: pa.DataType) -> bool:
    """Types whose DuckDB hash ``_hash_column`` reproduces."""
    return (pa.types.is_null(t) or T.is_string(t) or pa.types.is_binary(t) or pa.types.is_floating(t)
            or pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_date(t)
            or pa.types.is_timestamp(t) or pa.types.is_time(t))


def hash_values(arr: pa.Array) -> np.ndarray:
    """DuckDB's hash of each value of a ``hashable`` array, as uint64."""
    return _hash_column(arr, len(arr))


@register("hash", 1, 64, lambda args: pa.uint64())
def _hash(*args, dtype=None):
    n = next((len(a) for a in args if not is_scalar(a)), None)
    rows = 1 if n is None else n
    with np.errstate(over="ignore"):
        h = _hash_column(args[0], rows)
        for a in args[1:]:
            h = _combine(h, _hash_column(a, rows))
    out = pa.array(h, pa.uint64())
    return out[0] if n is None else out
