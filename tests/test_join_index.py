"""The hash join's integer-key index (engine/physical/join_index.py) and the join order of
engine/optimizer/reorder_joins.py.

The index is checked against a brute-force join of the same keys, for every layout it has (dense
or hashed codes; unique or repeated build keys; one key or several), with NULLs and probe values
outside the build range; then whole joins of every kind against DuckDB over the same Arrow tables.
"""
from __future__ import annotations

import collections

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import engine
from engine.physical.join_index import JoinIndex
from engine.physical.key_index import HashIndex
from engine.jit.hash_table import CompiledTable


def _brute(build: list[list], probe: list[list]) -> list[tuple[int, int]]:
    at = collections.defaultdict(list)
    for r, key in enumerate(zip(*build)):
        if None not in key:
            at[key].append(r)
    return [(p, r) for p, key in enumerate(zip(*probe)) for r in at.get(key, [])]


def _keys(rng, n: int, spread: int | None, nulls: float, scale: int, dtype) -> pa.Array:
    """``n`` keys out of ``spread`` values (None: distinct, a permutation), times ``scale``."""
    v = (rng.permutation(n) if spread is None else rng.integers(0, spread, n)) * scale - 3 * scale
    mask = rng.random(n) < nulls
    return pa.array(v.astype(np.int64), type=dtype, mask=mask)


LAYOUTS = [  # (build rows, key values (None: distinct), key scale, the layout expected)
    (200, None, 1, "dense"), (200, 50, 1, "dense"), (300, None, 10**9, "hashed"),
    (300, 600, 10**9, "hashed"), (300, 40, 10**9, "hashed")]


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("nkeys", [1, 2])
@pytest.mark.parametrize("rows,spread,scale,layout", LAYOUTS)
def test_index_pairs_equal_a_brute_force_join(rows, spread, scale, layout, nkeys, compiled):
    rng = np.random.default_rng(rows + (spread or 7) + nkeys)
    types = [pa.int64(), pa.int32()][:nkeys]
    sc = [scale, 1][:nkeys] if scale > 1 else [1, 1][:nkeys]
    build = [_keys(rng, rows, spread, 0.1, s, t) for s, t in zip(sc, types)]
    # probe keys spread wider than the build's: some fall outside the build range
    probe = [_keys(rng, 5000, (spread or rows) * 2, 0.1, s, pa.int64()) for s in sc]
    idx = JoinIndex.build(build, compiled=compiled)
    assert idx is not None
    table = idx.find.__self__ if idx.find is not None else None
    hashed = isinstance(table, (HashIndex, CompiledTable))
    assert ("hashed" if hashed else "dense") == layout
    if hashed:
        assert isinstance(table, CompiledTable if compiled else HashIndex)
    li, ri = idx.probe(probe)
    if compiled and nkeys == 1 and spread is None and layout == "dense":
        assert idx.layout == "dense, compiled probe"
        # the compiled pass when the probe has no NULLs: the same pairs as numpy's passes
        full = [pa.array(np.nan_to_num(np.array(probe[0].to_pylist(), dtype=float), nan=-1).astype(np.int64))]
        a, b = idx.probe(full)
        idx.compiled = False
        c, d = idx.probe(full)
        assert a.tolist() == c.tolist() and b.tolist() == d.tolist() and len(a)
    got = sorted(zip(li.tolist(), ri.tolist()))
    assert got == sorted(_brute([b.to_pylist() for b in build], [p.to_pylist() for p in probe]))
    assert list(li) == sorted(li)  # probe order: the left rows are gathered chunk by chunk


def test_index_probes_in_slices_across_the_slice_boundary(monkeypatch):
    import engine.physical.join_index as ji
    monkeypatch.setattr(ji, "SLICE", 1000)
    rng = np.random.default_rng(5)
    build = [pa.array(rng.integers(0, 300, 400))]
    probe = [pa.array(rng.integers(-10, 310, 4321))]
    li, ri = JoinIndex.build(build).probe(probe)
    assert sorted(zip(li.tolist(), ri.tolist())) == sorted(_brute([build[0].to_pylist()],
                                                                  [probe[0].to_pylist()]))


def test_index_takes_only_integer_like_keys():
    assert JoinIndex.build([pa.array(["a", "b"])]) is None
    assert JoinIndex.build([pa.array([1.0, 2.0])]) is None
    assert JoinIndex.build([pa.array([1, 2], pa.uint64())]) is None
    # spans whose product passes 2**62 cannot be packed into one code
    wide = pa.array([-(1 << 40), 1 << 40])
    assert JoinIndex.build([wide, wide]) is None
    d = JoinIndex.build([pa.array([0, 19000], pa.date32())])
    assert d is not None
    assert d.probe([pa.array([0, 1], pa.int32())]) is None  # a date against an integer: no
    li, ri = d.probe([pa.array([19000, None, 0], pa.date32())])
    assert li.tolist() == [0, 2] and ri.tolist() == [1, 0]


def test_empty_build_side_matches_nothing():
    idx = JoinIndex.build([pa.array([None, None], pa.int64())])
    li, ri = idx.probe([pa.array([0, 1, None], pa.int64())])
    assert len(li) == 0 and len(ri) == 0


def _engines(**tables):
    """A Dawn connection and a DuckDB one with the same Arrow tables registered."""
    con, d = engine.connect(), duckdb.connect()
    for name, t in tables.items():
        con.register(name, t)
        d.register(name, t)
    return con, d


def _tables(seed: int, sparse: bool):
    rng = np.random.default_rng(seed)
    scale = 10**10 if sparse else 1

    def t(n, spread):
        k = rng.integers(0, spread, n) * scale
        return pa.table({"k": pa.array(k, mask=rng.random(n) < 0.1),
                         "j": pa.array(rng.integers(0, 3, n), pa.int32()),
                         "v": pa.array(rng.integers(0, 100, n))})
    return t(3000, 500), t(400, 300)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"])
def test_joins_equal_duckdb(kind, sparse):
    a, b = _tables(11, sparse)
    con, d = _engines(a=a, b=b)
    # both ways round: b (400 rows) probing a (3,000) indexes b itself (the swapped path)
    for x, y in (("a", "b"), ("b", "a")):
        for q in (f"SELECT {x}.v, {y}.v, {x}.k FROM {x} {kind} {y} ON {x}.k = {y}.k",
                  f"SELECT {x}.v, {y}.v FROM {x} {kind} {y} ON {x}.k = {y}.k AND {x}.j = {y}.j",
                  f"SELECT {x}.v, {y}.v FROM {x} {kind} {y} ON {x}.k = {y}.k AND {x}.v < {y}.v",
                  f"SELECT v FROM {x} WHERE k IN (SELECT k FROM {y})",
                  f"SELECT v FROM {x} WHERE NOT EXISTS (SELECT 1 FROM {y} WHERE {y}.k = {x}.k)",
                  f"SELECT v FROM {x} WHERE EXISTS (SELECT 1 FROM {y} WHERE {y}.k = {x}.k "
                  f"AND {y}.v <> {x}.v)"):
            assert sorted(con.execute(q).fetchall(), key=repr) == \
                sorted(d.execute(q).fetchall(), key=repr), q


def test_explain_analyze_names_the_index():
    a, b = _tables(2, sparse=False)
    con = engine.connect()
    con.register("a", a)
    con.register("b", b)
    text = "\n".join(r[0] for r in con.execute(
        "EXPLAIN ANALYZE SELECT count(*) FROM a JOIN b ON a.k = b.k").fetchall())
    assert "index=dense, repeated keys" in text, text


def test_join_order_joins_a_selective_dimension_before_an_unfiltered_one():
    """TPC-H Q9's shape: supplier x nation is the smallest pair, but supplier connects only to
    the fact table; the filtered part must be joined to the facts first (greedy did not)."""
    rng = np.random.default_rng(3)
    n = 50_000
    con = engine.connect()
    con.register("fact", pa.table({"f_part": rng.integers(0, 5000, n), "f_supp": rng.integers(0, 200, n),
                                   "f_val": rng.integers(0, 10, n)}))
    con.register("part", pa.table({"p_key": np.arange(5000), "p_tag": np.arange(5000) % 100}))
    con.register("supp", pa.table({"s_key": np.arange(200), "s_nat": np.arange(200) % 5}))
    con.register("nat", pa.table({"n_key": np.arange(5), "n_name": [f"n{i}" for i in range(5)]}))
    q = ("SELECT n_name, sum(f_val) FROM fact, part, supp, nat WHERE f_part = p_key AND p_tag = 7 "
         "AND f_supp = s_key AND s_nat = n_key GROUP BY n_name")
    plan = "\n".join(r[0] for r in con.execute("EXPLAIN " + q).fetchall())
    joins = [line for line in plan.splitlines() if "Join" in line]
    deepest_over_fact = [line for line in joins if "f_part" in line or "f_supp" in line][-1]
    assert "p_key" in deepest_over_fact, plan


def _facts(seed: int = 9):
    rng = np.random.default_rng(seed)
    n = 60_000
    fact = pa.table({"f_key": pa.array(rng.integers(0, 3000, n), mask=rng.random(n) < 0.05),
                     "f_sub": rng.integers(0, 4, n), "f_val": rng.integers(0, 100, n)})
    dim = pa.table({"d_key": pa.array(list(range(0, 400, 2)) + [None, None]),
                    "d_sub": pa.array([i % 4 for i in range(200)] + [0, 1]),
                    "d_lim": pa.array([50 + i % 30 for i in range(202)])})
    return fact, dim


KEYED = [  # each reads the small dim first and filters the big fact's scan by its keys
    # Q17's shape: a correlated aggregate, decorrelated to a left join with an aggregate
    "SELECT d_key, d_lim FROM dim WHERE d_lim < (SELECT avg(f_val) + 10 FROM fact WHERE f_key = d_key)",
    # Q20's: two keys
    "SELECT d_key, d_sub FROM dim WHERE d_lim > (SELECT 0.02 * sum(f_val) FROM fact "
    "WHERE f_key = d_key AND f_sub = d_sub)",
    "SELECT d_key, s FROM dim LEFT JOIN (SELECT f_key, sum(f_val) AS s FROM fact GROUP BY f_key) q "
    "ON q.f_key = d_key",
    "SELECT d_key FROM dim WHERE EXISTS (SELECT 1 FROM fact WHERE f_key = d_key AND f_val > 50)",
    "SELECT d_key FROM dim WHERE NOT EXISTS (SELECT 1 FROM fact WHERE f_key = d_key AND f_val > 60)",
]


@pytest.mark.parametrize("q", KEYED)
def test_probe_keys_filter_the_build_side_scan_and_answers_equal_duckdb(q):
    fact, dim = _facts()
    con, d = _engines(fact=fact, dim=dim)
    assert sorted(con.execute(q).fetchall(), key=repr) == sorted(d.execute(q).fetchall(), key=repr), q
    text = "\n".join(r[0] for r in con.execute("EXPLAIN ANALYZE " + q).fetchall())
    scans = [line for line in text.splitlines() if "table=fact" in line]
    assert scans and all("key_filter=[" in line for line in scans), text
    seen, kept = map(int, scans[0].split("key_filter=[")[1].split("]")[0].split(", "))
    assert 0 < kept < seen // 5, text  # 200 of 3,000 keys: about one row in 15 read on


def test_probe_keys_pass_down_a_join_probe_side_to_its_scan():
    fact, dim = _facts()
    sub = pa.table({"s_id": np.arange(4), "s_name": ["a", "b", "c", "d"]})
    con, d = _engines(fact=fact, dim=dim, sub=sub)
    q = ("SELECT d_key, n FROM dim LEFT JOIN (SELECT f_key, count(*) AS n FROM fact JOIN sub "
         "ON f_sub = s_id GROUP BY f_key) q ON q.f_key = d_key")
    assert sorted(con.execute(q).fetchall(), key=repr) == sorted(d.execute(q).fetchall(), key=repr)
    text = "\n".join(r[0] for r in con.execute("EXPLAIN ANALYZE " + q).fetchall())
    assert "key_filter=[60000, " in next(line for line in text.splitlines() if "table=fact" in line), text
    assert "kind=left" in text and "kind=inner keys=[f_sub" in text, text
