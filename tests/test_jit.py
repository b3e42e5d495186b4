"""The JIT (engine/jit): compiled pipelines give the vectorized path's answers and DuckDB's.

TPC-H Q1 and Q6 (Parquet, so decimals stay decimal128 and flags stay dictionaries, and in memory),
filter/aggregate queries over random NULL-heavy data of every supported type, the code cache
(``x < 5`` then ``x < 7`` compile once; a new process loads from the disk cache and compiles
nothing), cold compile time, and shapes the JIT does not take falling back, correctly, with
EXPLAIN saying why. The existing differential, TLP/NoREC and TPC-H suites run with the JIT forced
on by ``DAWN_JIT=on``.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import textwrap

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine
from catalog import ArrowSource, ParquetSource
from tpch_compare import compare_results

pytest.importorskip("llvmlite")
HERE = os.path.dirname(__file__)


def _explain(con, sql: str, analyze: bool = False) -> str:
    kind = "EXPLAIN ANALYZE " if analyze else "EXPLAIN VERBOSE "
    return "\n".join(r[0] for r in con.execute(kind + sql).fetchall())


def _both(con, sql: str):
    con.execute("SET jit = off")
    off = con.execute(sql).fetchall()
    con.execute("SET jit = on")
    on = con.execute(sql).fetchall()
    return off, on


# ------------------------------------------------------------------ TPC-H Q1 and Q6

@pytest.fixture(scope="module")
def tpch(tmp_path_factory):
    if shutil.which("tpchgen-cli") is None:
        pytest.skip("tpchgen-cli is not installed")
    d = str(tmp_path_factory.mktemp("jit_tpch"))
    subprocess.run(["tpchgen-cli", "parquet", "-s", "0.01", "--output-dir", d, "--tables", "lineitem"],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(d, "lineitem.parquet")


def _lineitem_case(tpch: str, q: int, where: str):
    """A connection with TPC-H's lineitem (Parquet or in memory), query ``q`` and DuckDB's answer."""
    con = engine.connect()
    src = ParquetSource(tpch) if where == "parquet" else ArrowSource(pq.read_table(tpch))
    con._session.catalog.register("lineitem", src)
    sql = open(os.path.join(HERE, "tpch_queries", f"q{q:02d}.sql")).read()
    duck = duckdb.connect()
    duck.execute(f"CREATE VIEW lineitem AS SELECT * FROM read_parquet('{tpch}')")
    return con, sql, duck.execute(sql).fetchall()


@pytest.mark.parametrize("q", [1, 6])
@pytest.mark.parametrize("where", ["parquet", "memory"])
def test_tpch_q1_q6_equal_unfused_and_duckdb(tpch, q, where):
    con, sql, expected = _lineitem_case(tpch, q, where)
    off, on = _both(con, sql)
    assert compare_results(on, expected, True) is None
    assert compare_results(off, expected, True) is None
    plan = _explain(con, sql)
    assert "JitPipelineExec" in plan and "Compiled pipelines:" in plan
    text = _explain(con, sql, analyze=True)
    assert "jit=compile=" in text and "cache=" in text
    if where == "parquet":  # decimals summed exactly: Q6's revenue to the cent
        assert on[0][0] == pytest.approx(float(expected[0][-1] if q == 1 else expected[0][0]), rel=1e-15) \
            or q == 1


# ------------------------------------------------------------------ random NULL-heavy data

def _random_parquet(path: str, n: int = 6000, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)

    def nulls(p=0.3):
        return rng.random(n) < p
    words = np.array(["ant", "bee", "cat", "dog", "eel", "", "Émile"])
    cents = rng.integers(-99999, 99999, n)
    t = pa.table({
        "i": pa.array(rng.integers(-50, 50, n).astype(np.int32), mask=nulls()),
        "g": pa.array(rng.integers(0, 7, n).astype(np.int32), mask=nulls(0.1)),
        "b": pa.array(rng.integers(-10**12, 10**12, n), pa.int64(), mask=nulls()),
        "f": pa.array(rng.normal(0, 100, n), mask=nulls()),
        "d": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=int(x)) for x in rng.integers(0, 900, n)],
                      pa.date32(), mask=nulls()),
        "m": pa.array([None if z else __import__("decimal").Decimal(int(c)) / 100
                       for c, z in zip(cents, nulls())], pa.decimal128(12, 2)),
        "s": pa.array(words[rng.integers(0, len(words), n)], mask=nulls()),
        "k": pa.array(rng.random(n) < 0.5, mask=nulls(0.4)),
    })
    pq.write_table(t, path, row_group_size=1000)  # six row groups: six chunks, six dictionaries


QUERIES = [
    "SELECT count(*), count(i), sum(i), min(i), max(i), avg(i) FROM t",
    "SELECT sum(b), min(b), max(b), avg(b), count(b) FROM t WHERE i > 0",
    "SELECT sum(f), min(f), max(f), avg(f) FROM t WHERE f < 50.5 OR i IS NULL",
    "SELECT sum(m), min(m), max(m), avg(m), count(m) FROM t WHERE m >= -100.25 AND m < 500",
    "SELECT sum(m * m), sum(m * (1 - m)), sum(m + i) FROM t WHERE NOT (i < -10)",
    "SELECT min(d), max(d), count(d) FROM t WHERE d BETWEEN DATE '2020-03-01' AND DATE '2021-06-30'",
    "SELECT count(*), sum(i) FROM t WHERE s = 'cat' OR s IN ('dog', 'Émile')",
    "SELECT count(*), sum(f) FROM t WHERE s IS NULL OR s <> 'ant'",
    "SELECT count(*) FROM t WHERE k",
    "SELECT count(*), sum(i) FROM t WHERE NOT k OR k IS NULL",
    "SELECT count(*) FROM t WHERE i IN (1, 2, 3, -7) AND f > 0",
    "SELECT count(*) FROM t WHERE i NOT IN (1, 2, 3)",
    "SELECT s, count(*), sum(i), avg(f), min(m), max(d) FROM t GROUP BY s",
    "SELECT g, k, count(*), count(i), sum(b), max(f) FROM t WHERE d > DATE '2020-06-01' GROUP BY g, k",
    "SELECT d, count(*) FROM t WHERE g = 3 GROUP BY d",
    "SELECT s, g, sum(m * 2), count(*) FROM t WHERE s LIKE '%e%' GROUP BY s, g",
    "SELECT i, sum(f) FROM t WHERE i BETWEEN -5 AND 5 GROUP BY i",
    "SELECT count(*), sum(i * 3 + b) FROM t WHERE (i > 3 AND f IS NOT NULL) OR (s = 'bee' AND k)",
    "SELECT sum(f / 3.0), sum(i / 2) FROM t WHERE f <> 0",
    "SELECT count(*) FROM t WHERE f = f AND i < 1000",
    "SELECT sum(i) FROM t WHERE i > 1000",   # no row passes: NULL sum
    "SELECT s, sum(i) FROM t WHERE i > 1000 GROUP BY s",  # no groups
]


@pytest.fixture(scope="module")
def random_data(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("jit_random") / "t.parquet")
    _random_parquet(path)
    duck = duckdb.connect()
    duck.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
    cons = {}
    for where in ("parquet", "memory"):
        con = engine.connect()
        con._session.catalog.register("t", ParquetSource(path) if where == "parquet"
                                      else ArrowSource(pq.read_table(path)))
        cons[where] = con
    return cons, duck


@pytest.mark.parametrize("where", ["parquet", "memory"])
@pytest.mark.parametrize("sql", QUERIES)
def test_random_nullable_data_equals_unfused_and_duckdb(random_data, where, sql):
    cons, duck = random_data
    con = cons[where]
    off, on = _both(con, sql)
    expected = duck.execute(sql).fetchall()
    assert compare_results(off, expected, False) is None, "unfused differs from DuckDB"
    assert compare_results(on, expected, False) is None, f"JIT differs from DuckDB:\n{on}\n{expected}"
    assert compare_results(on, off, False) is None
    assert "JitPipelineExec" in _explain(con, sql), _explain(con, sql)


# ------------------------------------------------------------------ SET threads: morsel parallelism

def _exact_part(rows):
    """Each row's non-float values (integers, decimals, dates, strings): these must not move."""
    return sorted((tuple(v for v in r if not isinstance(v, float)) for r in rows), key=repr)


def _threads_1_2(con, sql: str):
    con.execute("SET jit = on")
    con.execute("SET threads = 1")
    one = con.execute(sql).fetchall()
    con.execute("SET threads = 2")
    try:
        two = con.execute(sql).fetchall()
    finally:
        con.execute("SET threads = 1")
    return one, two


@pytest.fixture
def small_morsels(monkeypatch):
    """Morsels of 777 rows: chunks split mid-byte of their validity bitmaps, with a longer tail."""
    from engine.jit import execute
    monkeypatch.setattr(execute, "MORSEL", 777)


def test_morsels_cover_a_chunk_with_odd_offsets(small_morsels):
    from engine.jit import execute
    arr = pa.array([None if i % 3 == 0 else i for i in range(5000)], pa.int64())
    ch = execute._ready(len(arr), [execute._prepare(arr, None, "x")])
    ms = list(execute._morsels(ch, 2))
    assert sum(m.n for m in ms) == 5000 and len(ms) > 2
    assert [m.c_offs[0] for m in ms] == [sum(x.n for x in ms[:k]) for k in range(len(ms))]
    assert list(execute._morsels(ch, 1)) == [ch]


@pytest.mark.parametrize("q", [1, 6])
@pytest.mark.parametrize("where", ["parquet", "memory"])
def test_tpch_q1_q6_two_threads_equal_one_and_duckdb(tpch, q, where, small_morsels):
    con, sql, expected = _lineitem_case(tpch, q, where)
    one, two = _threads_1_2(con, sql)
    assert compare_results(two, expected, True) is None
    assert compare_results(two, one, True) is None
    assert _exact_part(two) == _exact_part(one)
    if where == "parquet":   # decimal sums are exact on every thread count: the same doubles
        assert two == one
    con.execute("SET threads = 2")
    text = _explain(con, sql, analyze=True)
    assert "JitPipelineExec" in text and "fell back" not in text, text


@pytest.mark.parametrize("where", ["parquet", "memory"])
@pytest.mark.parametrize("sql", QUERIES)
def test_random_nullable_data_two_threads_equal_one_and_duckdb(random_data, where, sql, small_morsels):
    cons, duck = random_data
    con = cons[where]
    one, two = _threads_1_2(con, sql)
    expected = duck.execute(sql).fetchall()
    assert compare_results(two, expected, False) is None, f"threads=2 differs from DuckDB:\n{two}\n{expected}"
    assert compare_results(two, one, False) is None
    assert _exact_part(two) == _exact_part(one)
    con.execute("SET threads = 2")
    try:
        text = _explain(con, sql, analyze=True)
    finally:
        con.execute("SET threads = 1")
    assert "jit=compile=" in text and "fell back" not in text, text


# ------------------------------------------------------------------ the code cache

def _jit_line(con, sql: str) -> str:
    return next(l for l in _explain(con, sql, analyze=True).split("\n") if "JitPipelineExec" in l)


def test_literals_are_parameters_one_compile(tmp_path, monkeypatch):
    monkeypatch.setenv("DAWN_JIT_CACHE", str(tmp_path))
    con = engine.connect()
    con.execute("SET jit = on")
    con.execute("CREATE TABLE lit AS SELECT range::INTEGER AS x, range * 0.5 AS y FROM range(1000)")
    # a shape no other test compiles: max(y) and count(y) with x < ? AND y <> ?
    first = _jit_line(con, "SELECT max(y), count(y) FROM lit WHERE x < 5 AND y <> 1.25")
    second = _jit_line(con, "SELECT max(y), count(y) FROM lit WHERE x < 7 AND y <> 2.75")
    assert "cache=miss(compiled)" in first, first
    assert "cache=hit(memory)" in second and "compile=0.0ms" in second, second
    assert con.execute("SELECT max(y), count(y) FROM lit WHERE x < 7 AND y <> 2.75").fetchall() == [(3.0, 7)]


_SUBPROCESS = textwrap.dedent("""
    import engine
    con = engine.connect()
    con.execute("SET jit = on")
    con.execute("CREATE TABLE t AS SELECT range::BIGINT AS x, (range % 3)::INTEGER AS g FROM range(5000)")
    sql = "SELECT g, sum(x), min(x), count(*) FROM t WHERE x > 17 OR x = 3 GROUP BY g"
    line = [r[0] for r in con.execute("EXPLAIN ANALYZE " + sql).fetchall() if "JitPipeline" in r[0]]
    rows = sorted(con.execute(sql).fetchall())
    print(rows)
    print("HOW", line[0].split("cache=")[1].split(" ")[0] if line else "none")
""")


def test_new_process_loads_the_disk_cache_and_compiles_nothing(tmp_path):
    env = dict(os.environ, DAWN_JIT_CACHE=str(tmp_path / "cache"), PYTHONPATH=os.path.dirname(HERE))
    outs, objects = [], []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", _SUBPROCESS], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.strip().split("\n"))
        cache = tmp_path / "cache"
        objects.append({f: (cache / f).read_bytes() for f in sorted(os.listdir(cache))})
    assert outs[0][0] == outs[1][0]
    assert outs[0][1] == "HOW miss(compiled)", outs
    assert outs[1][1] == "HOW hit(disk)", outs
    assert objects[0] and all(f.startswith("dawn_") for f in objects[0]), list(objects[0])
    # the second process ran the stored (optimized) object: it did not compile the module again
    # and store that in its place (the cached object once went to the engine's empty module,
    # and the kernel was compiled without the optimizer, 2x slower, and written over it)
    assert objects[1] == objects[0]


def test_cold_compile_time_per_pipeline(tmp_path, monkeypatch):
    """Distinct shapes, nothing cached: the compile time of each pipeline (printed)."""
    monkeypatch.setenv("DAWN_JIT_CACHE", str(tmp_path))
    from engine.jit.runtime import jit
    jit()  # the engine's one-time start is not a pipeline's compile
    con = engine.connect()
    con.execute("SET jit = on")
    con.execute("CREATE TABLE ct AS SELECT range::INTEGER AS a, range::BIGINT AS b, range * 1.5 AS c, "
                "(range % 5)::INTEGER AS g FROM range(2000)")
    aggs = ["sum(a)", "min(b)", "max(c)", "avg(c)", "count(b)", "sum(b * 2)", "avg(a + b)", "max(a)",
            "sum(c * c)", "min(c)"]
    times = []
    for k in range(10):
        sel = ", ".join(aggs[k:] + aggs[:k][:k % 3])
        group = " GROUP BY g" if k % 2 else ""
        line = _jit_line(con, f"SELECT {sel} FROM ct WHERE a > {k} AND c < 2000.5{group}")
        assert "cache=miss(compiled)" in line, line
        times.append(float(line.split("jit=compile=")[1].split("ms")[0]))
    med = statistics.median(times)
    print(f"\ncold compile per pipeline: median {med:.1f} ms, max {max(times):.1f} ms "
          f"({', '.join(f'{t:.1f}' for t in times)})")
    assert med <= 200


# ------------------------------------------------------------------ falling back

FALLBACKS = [
    ("SELECT count(DISTINCT i) FROM t", "DISTINCT"),
    ("SELECT sum(i) FILTER (WHERE f > 0) FROM t", "FILTER"),
    ("SELECT f, count(*) FROM t GROUP BY f", "not compiled"),
    ("SELECT sum(length(s)) FROM t", "function length"),
    ("SELECT string_agg(s, ',') FROM t WHERE i = 1", "aggregate string_agg"),
    ("SELECT i % 3 AS r, count(*) FROM t GROUP BY r", "not compiled"),
]


@pytest.mark.parametrize("sql,why", FALLBACKS)
def test_unsupported_shapes_fall_back_correctly(random_data, sql, why):
    cons, duck = random_data
    con = cons["parquet"]
    off, on = _both(con, sql)
    assert compare_results(on, off, False) is None
    text = _explain(con, sql)
    assert "JitPipelineExec" not in text
    assert "Not compiled (vectorized):" in text and why in text, text


def test_runtime_fallbacks_give_the_vectorized_answer(tmp_path):
    con = engine.connect()
    con.execute("SET jit = on")
    # a key range too wide for dense keys: known from the statistics, so not compiled at all ...
    con.execute("CREATE TABLE wide AS SELECT (range * 100000)::BIGINT AS k, range AS v FROM range(3000)")
    sql = "SELECT k, sum(v) FROM wide GROUP BY k"
    got = sorted(con.execute(sql).fetchall())
    assert len(got) == 3000 and got[1] == (100000, 1)
    assert "group keys span ~299,900,002 dense slots" in _explain(con, sql)
    # ... and where the file has no statistics, found when the chunk arrives
    import pyarrow.parquet as pq
    path = str(tmp_path / "wide.parquet")
    pq.write_table(con.execute("SELECT * FROM wide").fetch_arrow_table(), path,
                   write_statistics=False)
    sql = f"SELECT k, sum(v) FROM '{path}' GROUP BY k"
    assert sorted(con.execute(sql).fetchall()) == got
    assert "fell back at run time" in _explain(con, sql, analyze=True)
    # an INTEGER overflow in the compiled loop: the vectorized path raises Dawn's error
    con.execute("CREATE TABLE ov AS SELECT (2000000000 + range)::INTEGER AS x FROM range(10)")
    with pytest.raises(engine.DataError):
        con.execute("SELECT sum(x + x) FROM ov").fetchall()
    con.execute("SET jit = off")
    with pytest.raises(engine.DataError):
        con.execute("SELECT sum(x + x) FROM ov").fetchall()
    # ...and no error where the overflowing rows are filtered out by an earlier conjunct
    con.execute("SET jit = on")
    assert con.execute("SELECT count(*) FROM ov WHERE x < 0 AND x + x > 0").fetchall() == [(0,)]


def test_set_jit_values_and_auto_threshold():
    con = engine.connect()
    with pytest.raises(engine.ProgrammingError):
        con.execute("SET jit = sometimes")
    con.execute("CREATE TABLE small AS SELECT range AS x FROM range(100)")
    con.execute("SET jit = auto")
    assert "JitPipelineExec" not in _explain(con, "SELECT sum(x) FROM small")  # 100 rows: not worth it
    con.execute("CREATE TABLE big AS SELECT range AS x FROM range(200000)")
    assert "JitPipelineExec" in _explain(con, "SELECT sum(x) FROM big WHERE x > 5")
    assert con.execute("SELECT sum(x) FROM big WHERE x > 5").fetchall() == [(sum(range(6, 200000)),)]
    con.execute("SET jit = off")
    assert "JitPipelineExec" not in _explain(con, "SELECT sum(x) FROM big WHERE x > 5")


def test_import_engine_does_not_import_llvmlite():
    code = "import sys, engine; print('llvmlite' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)))
    assert r.stdout.strip() == "False", r.stderr


def test_many_integer_groups_compile_and_finish_exactly():
    """200,000 part keys (TPC-H Q17's subquery) fit the dense slots; their sums and averages are
    finished with whole-array operations where a float64 is exact, group by group where not."""
    rng = np.random.default_rng(17)
    n = 400_000
    t = pa.table({"k": rng.integers(1, 200_001, n),
                  "q": pa.array([f"{x}.{y:02d}" for x, y in zip(rng.integers(1, 51, n), rng.integers(0, 100, n))]).cast(pa.decimal128(15, 2)),
                  "big": pa.array(rng.integers(1 << 60, 1 << 61, n) * np.where(rng.random(n) < 0.5, 1, -1))})
    con = engine.connect()
    con.register("t", t)
    d = duckdb.connect()
    d.register("t", t)
    for sql in ("SELECT k, avg(q), sum(q), count(*) FROM t GROUP BY k",
                "SELECT k, sum(big) FROM t GROUP BY k"):
        off, on = _both(con, sql)
        assert sorted(on) == sorted(off), sql
        assert compare_results(on, d.execute(sql).fetchall(), False) is None, sql
        con.execute("SET jit = on")
        text = _explain(con, sql, analyze=True)
        con.execute("SET jit = off")
        assert "JitPipelineExec" in text and "fell back" not in text, text


# ------------------------------------------------------------------ compiled scan filters

def _filter_table(n: int = 300_000, seed: int = 4) -> pa.Table:
    rng = np.random.default_rng(seed)
    modes = np.array(["MAIL", "SHIP", "AIR", "RAIL", "TRUCK"])
    mask = rng.random(n) < 0.1
    t = pa.table({
        "mode": pa.array(modes[rng.integers(0, 5, n)], mask=rng.random(n) < 0.05),
        "d1": pa.array(rng.integers(8000, 10000, n).astype(np.int32)).view(pa.date32()),
        "d2": pa.array(rng.integers(8000, 10000, n).astype(np.int32), mask=mask).view(pa.date32()),
        "q": pa.array(rng.integers(1, 51, n), mask=rng.random(n) < 0.1),
        "p": pa.array(rng.random(n) * 100),
        "k": pa.array(rng.integers(0, 1000, n)),
    })
    return pa.Table.from_batches(t.to_batches(max_chunksize=65_536))  # several chunks


FILTERS = [
    "mode IN ('MAIL', 'SHIP') AND d1 < d2 AND d2 >= DATE '1994-01-01'",
    "(q < 10 OR p > 90.5) AND NOT (mode = 'AIR')",
    "mode LIKE '%AI%' AND q IS NOT NULL AND q * 2 + 1 > 30",
    "d2 IS NULL OR (q BETWEEN 5 AND 7 AND mode <> 'RAIL')",
]


@pytest.mark.parametrize("where", FILTERS)
def test_compiled_scan_filters_equal_the_vectorized_path_and_duckdb(where):
    t = _filter_table()
    con = engine.connect()
    con.register("t", t)
    d = duckdb.connect()
    d.register("t", t)
    sql = f"SELECT k, mode, q, p, d1, d2 FROM t WHERE {where}"
    off, on = _both(con, sql)
    assert sorted(on, key=repr) == sorted(off, key=repr)
    assert compare_results(on, d.execute(sql).fetchall(), False) is None
    con.execute("SET jit = on")
    text = _explain(con, sql, analyze=True)
    assert "(compiled)" in text and "'fallbacks': 0" in text, text
    # the filtered rows feed a join and an ORDER BY as they would unfused
    q2 = f"SELECT t.k, count(*) FROM t JOIN (SELECT DISTINCT k FROM t WHERE {where}) s ON s.k = t.k " \
         f"GROUP BY t.k ORDER BY t.k"
    assert con.execute(q2).fetchall() == d.execute(q2).fetchall()


def test_compiled_scan_filter_overflow_takes_the_vectorized_error():
    con = engine.connect()
    con.register("ov", pa.table({"x": pa.array(np.full(200_000, 2_000_000_000, dtype=np.int32))}))
    con.execute("SET jit = on")
    assert "(compiled)" in _explain(con, "SELECT x FROM ov WHERE x + x > 0")
    with pytest.raises(engine.DataError):
        con.execute("SELECT x FROM ov WHERE x + x > 0").fetchall()


def test_scan_filters_compile_by_cost_and_say_why_not():
    con = engine.connect()
    con.register("small", pa.table({"x": list(range(1000))}))
    con.register("big", _filter_table(150_000))
    con.execute("SET jit = auto")
    assert "(compiled)" not in _explain(con, "SELECT x FROM small WHERE x < 10")
    assert "(compiled)" in _explain(con, "SELECT k FROM big WHERE q < 10")
    con.execute("SET jit = on")
    text = _explain(con, "SELECT k FROM big WHERE upper(mode) || 'x' = 'MAILx' AND p < sqrt(p)")
    assert "filters not compiled:" in text, text
    con.execute("SET jit = off")
    assert "(compiled)" not in _explain(con, "SELECT k FROM big WHERE q < 10")


def test_a_repeated_query_replays_its_kernel_calls_and_a_new_literal_does_not():
    """Over an in-memory table the same query again makes the same kernel calls: they are kept
    and made again without the Python around them; another literal is another run."""
    rng = np.random.default_rng(8)
    n = 300_000
    t = pa.table({"flag": pa.array(np.array(["A", "N", "R"])[rng.integers(0, 3, n)]),
                  "x": pa.array(rng.integers(0, 100, n), mask=rng.random(n) < 0.1),
                  "v": pa.array(rng.random(n))})
    t = pa.Table.from_batches(t.to_batches(max_chunksize=50_000))
    con = engine.connect()
    con.register("t", t)
    d = duckdb.connect()
    d.register("t", t)
    con.execute("SET jit = on")
    for threads in (1, 2):
        con.execute(f"SET threads = {threads}")
        for lit in (30, 30, 60, 30):
            sql = f"SELECT flag, count(*), sum(x), avg(v) FROM t WHERE x < {lit} GROUP BY flag ORDER BY flag"
            assert compare_results(con.execute(sql).fetchall(), d.execute(sql).fetchall(), True) is None
        text = _explain(con, sql, analyze=True)
        assert "replayed" in text, text
        sql = "SELECT flag, count(*) FROM t WHERE x < 61 GROUP BY flag"  # a literal not seen yet
        text = _explain(con, sql, analyze=True)
        assert "JitPipelineExec" in text and "replayed" not in text, text
    con.execute("SET threads = 1")
