"""The statement's UDF memo: hashed and linear in batches, exact on every key kind, and a small
share of a statement that calls a cached function over hundreds of batches."""
from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import engine
from engine.physical.udf_memo import HashIndex
from udfs import udf


def test_hash_index_finds_exactly_what_was_inserted():
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(-2 ** 63, 2 ** 63 - 1, 50_000, dtype=np.int64))
    idx = HashIndex()
    for part in np.array_split(np.arange(len(keys)), 37):  # grows through several rehashes
        idx.insert(keys[part], part)
    assert (idx.lookup(keys) == np.arange(len(keys))).all()
    absent = rng.integers(-2 ** 63, 2 ** 63 - 1, 10_000, dtype=np.int64)
    absent = absent[~np.isin(absent, keys)]
    assert (idx.lookup(absent) == -1).all()


@pytest.mark.parametrize("spread", ["dense", "sparse", "extremes"])
def test_key_index_agrees_with_a_dict_through_growth_repeats_and_nulls(spread):
    """Batches of keys looked up and added (``find``) give each distinct key one position, in
    order, and later lookups return it: whether the index stays dense (an array by key), grows
    downwards, or turns hashed (home slot, next slot, dict) as keys spread."""
    rng = np.random.default_rng({"dense": 3, "sparse": 4, "extremes": 5}[spread])
    idx, model, null, start = HashIndex(), {}, -1, 0
    for b in range(60):
        n = int(rng.integers(0, 400))
        if spread == "dense":  # consecutive ids moving up, then down, repeats within a batch
            q = rng.integers(-30, 30, n) + (b * 200 if b < 30 else -b * 200)
        elif spread == "sparse":  # dense at first, then 64-bit values: the index turns hashed
            q = rng.integers(0, 500, n) if b < 10 else rng.integers(-2 ** 63, 2 ** 63 - 1, n)
            q[: n // 3] = q[n // 3: 2 * (n // 3)]  # repeated keys in the batch
        else:  # the int64 limits beside small keys
            q = rng.choice(np.array([-2 ** 63, 2 ** 63 - 1, -2 ** 62 - 1, 2 ** 62 + 1, 0, 1, -1, 7]), n)
        q = q.astype(np.int64)
        nulls = rng.random(n) < 0.05 if b % 3 == 0 else None
        expect = np.array([null if nulls is not None and nulls[i] else model.get(int(q[i]), -1)
                           for i in range(n)], dtype=np.int64)
        assert (idx.lookup(q, nulls) == expect).all()
        pos, first = idx.find(q, start, nulls)
        new_keys = {}
        for i in range(n):
            key = None if nulls is not None and nulls[i] else int(q[i])
            if expect[i] >= 0:
                assert pos[i] == expect[i]
            else:  # a new key: one position per key, shared by its rows
                assert new_keys.setdefault(key, pos[i]) == pos[i]
        assert sorted(new_keys.values()) == list(range(start, start + len(new_keys)))
        assert len(first) == len(new_keys) and list(pos[first]) == list(range(start, start + len(first)))
        for key, p in new_keys.items():
            if key is None:
                null = p
            else:
                model[key] = p
        start += len(first)
    kept = np.array(list(model), dtype=np.int64)
    assert (idx.lookup(kept) == np.array(list(model.values()))).all()
    assert (idx.direct is None) == (spread != "dense")


def _many_batches(values: np.ndarray, rows: int) -> pa.Table:
    return pa.Table.from_batches([pa.record_batch({"a": values[i:i + rows]})
                                  for i in range(0, len(values), rows)])


@pytest.mark.parametrize("kind", ["bigint", "double", "varchar", "date"])
def test_memo_answers_equal_full_evaluation_with_nulls(kind):
    calls = []

    @udf.scalar(returns="VARCHAR", cache=True)
    def tag(x):
        calls.append(len(x))
        return pc.binary_join_element_wise(pc.cast(x, pa.string()), "!", "")

    rng = np.random.default_rng(7)
    raw = rng.integers(-50, 50, 6_000)
    arr = {"bigint": pa.array(raw), "double": pa.array(raw / 4.0), "varchar": pa.array([f"s{v}" for v in raw]),
           "date": pa.array(raw.astype("datetime64[D]"))}[kind]
    arr = pc.if_else(pa.array(raw % 11 == 0), pa.nulls(len(arr), arr.type), arr)
    t = pa.Table.from_batches([pa.record_batch({"a": arr.slice(i, 500)}) for i in range(0, len(arr), 500)])
    con = engine.connect()
    con.register_function(tag)
    con.register("t", t)
    con.execute("SET use_model_cache = false")
    got = con.execute("SELECT tag(a) AS r FROM t").fetch_arrow_table().column("r").to_pylist()
    calls.clear()
    assert got == tag.fn(arr).to_pylist()  # the function over the whole column at once
    m = con._session.last_udf_metrics["tag"]
    # each distinct value computed once (NULL included), the rest answered from the memo
    assert m.rows == len(set(arr.to_pylist()))
    assert m.rows + m.memo_hits == len(arr)


def _mixed_batches(kind: str, batches: int = 24, rows: int = 256) -> pa.Array:
    """Batches of half new, distinct keys and half keys of earlier batches; some batches repeat
    keys within themselves, some hold NULLs."""
    rng = np.random.default_rng(11)
    parts = []
    for i in range(batches):
        new = np.arange(i * rows, i * rows + rows // 2)
        seen = rng.integers(0, max(i, 1) * rows // 2, rows - rows // 2) if i else new[: rows - rows // 2]
        part = np.concatenate([new, seen])
        if i % 4 == 3:
            part[: rows // 8] = part[rows // 8: rows // 4]
        parts.append(part)
    raw = np.concatenate(parts)
    if kind == "bigint":
        arr = pa.array(raw)
    elif kind == "bigint_sparse":  # 64-bit values spread over the whole range: a hashed index
        arr = pa.array((raw.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)).view(np.int64))
    elif kind == "timestamp":      # an arithmetic progression that plain Fibonacci hashing piles up
        arr = pa.array(raw * 1_000_003, pa.timestamp("us"))
    elif kind == "double":
        arr = pa.array(raw / 8.0 - 100)
    elif kind == "varchar":
        arr = pa.array([f"k{v}" for v in raw])
    else:
        arr = pa.array(raw.astype("datetime64[D]"))
    nulls = np.zeros(len(raw), dtype=bool)
    nulls[5 * rows: 6 * rows: 7] = True
    return pc.if_else(pa.array(nulls), pa.nulls(len(arr), arr.type), arr)


@pytest.mark.parametrize("kind", ["bigint", "bigint_sparse", "timestamp", "double", "varchar", "date"])
def test_memo_answers_batches_mixing_new_and_seen_keys(kind):
    """Each batch computes only its new keys (once each, however often they repeat), answers the
    rest from the memo, and the results are the function's over the whole column. (A text key
    batch whose new keys were distinct used to fail writing into a read-only lookup result.)"""
    computed = []

    @udf.scalar(returns="VARCHAR", cache=True)
    def tag(x):
        computed.extend(x.to_pylist())
        return pc.binary_join_element_wise(pc.cast(x, pa.string()), "!", "")

    arr = _mixed_batches(kind)
    con = engine.connect()
    con.register_function(tag)
    con.register("t", pa.Table.from_batches([pa.record_batch({"a": arr.slice(i, 256)})
                                             for i in range(0, len(arr), 256)]))
    con.execute("SET use_model_cache = false")
    got = con.execute("SELECT tag(a) AS r FROM t").fetch_arrow_table().column("r").to_pylist()
    ran = list(computed)
    assert got == tag.fn(arr).to_pylist()  # the function over the whole column at once
    assert len(ran) == len(set(ran)) == len(set(arr.to_pylist()))  # NULL included
    m = con._session.last_udf_metrics["tag"]
    assert m.rows + m.memo_hits == len(arr)


def test_memo_keeps_negative_zero_apart_from_zero():
    """-0.0 equals 0.0 but is another input: a function printing its argument says "-0" for it,
    within a batch and across batches (the memo used to answer -0.0 with 0.0's result)."""
    @udf.scalar(returns="VARCHAR", cache=True)
    def text_of(x):
        return pc.cast(x, pa.string())

    nan = float("nan")
    batches = [[0.0, 1.5, -0.0], [-0.0, nan, 0.0, -nan], [0.0, -0.0, None, -nan]]
    con = engine.connect()
    con.register_function(text_of)
    con.register("t", pa.Table.from_batches([pa.record_batch({"a": pa.array(b, pa.float64())})
                                             for b in batches]))
    con.execute("SET use_model_cache = false")
    got = [r[0] for r in con.execute("SELECT text_of(a) FROM t").fetchall()]
    assert got == text_of.fn(pa.array([v for b in batches for v in b], pa.float64())).to_pylist()
    assert got[0] == got[5] == got[7] == "0" and got[2] == got[3] == got[8] == "-0"
    # two columns equal as numbers, called one after the other on the same batch
    con.register("u", pa.table({"a": [0.0, 2.0], "b": [-0.0, 2.0]}))
    assert con.execute("SELECT text_of(a), text_of(b) FROM u").fetchall() == [("0", "-0"), ("2", "2")]


def test_memo_and_stored_cache_answer_repeated_calls():
    """``f(a)`` twice in a select list, with the stored cache on: the function runs once per
    distinct value in the first statement, not at all in the second (the cache answers), and
    every answer is the function's."""
    computed = []

    @udf.scalar(returns="BIGINT", cache=True)
    def triple(x):
        computed.extend(x.to_pylist())
        return pc.multiply(x, 3)

    arr = _mixed_batches("bigint", batches=12)
    con = engine.connect()
    con.register_function(triple)
    con.register("t", pa.Table.from_batches([pa.record_batch({"a": arr.slice(i, 256)})
                                             for i in range(0, len(arr), 256)]))
    expect = [(None if v is None else 3 * v, None if v is None else 3 * v + 1) for v in arr.to_pylist()]
    for run in range(2):
        computed.clear()
        got = con.execute("SELECT triple(a), triple(a) + 1 FROM t").fetchall()
        assert got == expect
        m = con._session.last_udf_metrics["triple"]
        if run == 0:
            assert len(computed) == len(set(computed)) == len(set(arr.to_pylist()))
        else:
            assert computed == [] and m.cache_hits > 0
        assert m.rows + m.memo_hits + m.cache_hits == 2 * len(arr)


@pytest.mark.parametrize("kind", ["bigint", "varchar"])
def test_stored_cache_memo_and_new_keys_in_one_batch(kind):
    """With the stored cache on, after a statement over half the values a statement over all of
    them answers each batch partly from the cache, partly from its own memo and computes the
    rest: the function's answers every time, each value computed once across both."""
    computed = []

    @udf.scalar(returns="VARCHAR", cache=True)
    def tag(x):
        computed.extend(x.to_pylist())
        return pc.binary_join_element_wise(pc.cast(x, pa.string()), "?", "")

    arr = _mixed_batches(kind, batches=12)
    con = engine.connect()
    con.register_function(tag)
    batches = [pa.record_batch({"a": arr.slice(i, 256)}) for i in range(0, len(arr), 256)]
    con.register("half", pa.Table.from_batches(batches[::2]))
    con.register("t", pa.Table.from_batches(batches))
    for table in ("half", "t"):
        got = con.execute(f"SELECT tag(a) FROM {table}").fetch_arrow_table().column(0)
        m = con._session.last_udf_metrics["tag"]
        ran = len(computed)
        assert got.to_pylist() == tag.fn(con.execute(f"SELECT a FROM {table}").fetch_arrow_table()
                                          .column(0).combine_chunks()).to_pylist()
        del computed[ran:]
    assert m.cache_hits > 0 and m.memo_hits > 0 and m.rows > 0
    assert len(computed) == len(set(computed)) == len(set(arr.to_pylist()))


def _bookkeeping_share(batches: int, rows: int, call_seconds: float):
    @udf.scalar(returns="BIGINT", cache=True)
    def model(x):
        time.sleep(call_seconds)  # a model call: a fixed cost per batch
        return pc.multiply(x, 3)

    con = engine.connect()
    con.register_function(model)
    # half of each batch repeats values of earlier batches
    vals = np.concatenate([np.concatenate([np.arange(i * rows, i * rows + rows // 2),
                                           np.arange(0, rows - rows // 2) + (i // 2) * rows])
                           for i in range(batches)])
    con.register("t", _many_batches(vals, rows))
    con.execute("SET use_model_cache = false")
    t0 = time.perf_counter()
    got = con.execute("SELECT sum(model(a)), sum(model(a) + 1) FROM t").fetchall()
    total = time.perf_counter() - t0
    assert got == [(int(vals.sum()) * 3, int(vals.sum()) * 3 + len(vals))]
    m = con._session.last_udf_metrics["model"]
    return m, total


def test_memo_bookkeeping_is_linear_in_batches():
    """Per batch, the memo costs the same after 400 batches as after 50 (it used to rebuild a
    hash set of everything kept, and concatenate it, on every batch)."""
    share = {}
    for batches in (50, 400):
        m, total = _bookkeeping_share(batches, 256, 0.0)
        share[batches] = m.bookkeeping / batches
        assert m.rows + m.memo_hits == 2 * batches * 256
    assert share[400] < 4 * share[50] + 2e-4  # generous: a noisy shared machine


@pytest.mark.slow
def test_cached_udf_over_400_batches_spends_under_one_percent_in_the_memo():
    _bookkeeping_share(50, 256, 0.0)  # the process's first statement pays one-time imports
    shares = []
    for _ in range(3):  # the least of three: a shared machine delays CPU work, not sleeping
        m, total = _bookkeeping_share(400, 256, 0.03)
        shares.append(m.bookkeeping / total)
        print(f"bookkeeping {m.bookkeeping * 1000:.1f} ms of {total * 1000:.0f} ms "
              f"({100 * m.bookkeeping / total:.2f}%)")
    # the target. A batch's bookkeeping is a couple of dozen array operations (about
    # 40 us back to back); on a machine shared with other work each runs on a cold cache after
    # every sleeping call (5-50 us each), and that is what the share measures: 0.6-0.9% on two
    # cores at load 4 (2.3-2.7% there before the memo's batch path was cut down)
    assert min(shares) < 0.01
