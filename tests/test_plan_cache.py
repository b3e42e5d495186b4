"""Plans kept for repeated queries (engine/statements/plan_cache.py).

The same query text on the same connection skips parsing, binding and optimizing; the tests check
that it then gives the same answer as planning afresh, and that nothing a kept plan was made from
can change under it: a table registered again, a SET, a statement that changes the database, another
connection writing a stored table, the clock, a UDF.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import engine
from udfs import udf

Q = "SELECT k, sum(v) AS s, count(*) AS n FROM t WHERE v > 2 GROUP BY k ORDER BY k"


def _table(seed: int, n: int = 2000) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"k": rng.integers(0, 5, n), "v": rng.integers(0, 10, n)})


def _expected(t: pa.Table) -> list[tuple]:
    import duckdb
    return duckdb.connect().from_arrow(t).query("t", Q).fetchall()


@pytest.fixture
def con():
    c = engine.connect()
    c.register("t", _table(1))
    yield c
    c.close()


def _rows(con, sql: str) -> list[tuple]:
    cur = con.cursor()
    cur.execute(sql)
    return cur.fetchall()


def _exec(con, sql: str) -> None:
    con.cursor().execute(sql)


def _hits(con) -> int:
    return con._session.plan_cache.hits


def test_repeated_query_reuses_its_plan_and_gives_the_same_answer(con):
    first = _rows(con, Q)
    assert first == _expected(_table(1))
    for _ in range(3):
        assert _rows(con, Q) == first
    assert _hits(con) == 3
    sub = _rows(con, "SELECT count(*) FROM t WHERE k IN (SELECT k FROM t WHERE v = 9)")
    assert _rows(con, "SELECT count(*) FROM t WHERE k IN (SELECT k FROM t WHERE v = 9)") == sub
    assert _hits(con) == 4


def test_a_table_registered_again_is_read_afresh(con):
    assert _rows(con, Q) == _expected(_table(1))
    con.register("t", _table(2))
    assert _rows(con, Q) == _expected(_table(2))
    assert _hits(con) == 0
    con.unregister("t")
    with pytest.raises(engine.Error, match='"t"|t'):
        _rows(con, Q)


def test_settings_are_part_of_the_key(con):
    a = _rows(con, Q)
    _exec(con, "SET jit = off")
    assert _rows(con, Q) == a
    assert _hits(con) == 0  # SET emptied the cache, and the key differs anyway
    _rows(con, Q)
    assert _hits(con) == 1
    _exec(con, "SET plan_cache = off")
    _rows(con, Q)
    _rows(con, Q)
    assert _hits(con) == 1


def test_stored_tables_are_never_kept(tmp_path):
    path = str(tmp_path / "db.dawn")
    a = engine.connect(path, autocommit=True)
    a.cursor().execute("CREATE TABLE s (x INTEGER)")
    a.cursor().execute("INSERT INTO s VALUES (1), (2)")
    q = "SELECT sum(x) FROM s"
    assert _rows(a, q) == [(3,)]
    assert _rows(a, q) == [(3,)]
    b = engine.connect(path, autocommit=True)
    b.cursor().execute("INSERT INTO s VALUES (10)")
    b.close()
    assert _rows(a, q) == [(13,)]
    assert _hits(a) == 0
    a.register("t", _table(1))
    a.cursor().execute("CREATE VIEW w AS SELECT k FROM t WHERE v > 7")
    assert _rows(a, "SELECT count(*) FROM w") == _rows(a, "SELECT count(*) FROM w")
    assert _hits(a) == 0
    a.close()


def test_changes_on_the_connection_empty_the_cache(tmp_path):
    con = engine.connect(str(tmp_path / "db.dawn"), autocommit=True)
    con.register("t", _table(1))
    con.cursor().execute("CREATE TABLE s (x INTEGER)")
    _rows(con, Q)
    assert len(con._session.plan_cache) == 1
    con.cursor().execute("INSERT INTO s VALUES (1)")
    assert len(con._session.plan_cache) == 0
    _rows(con, Q)
    _rows(con, "EXPLAIN " + Q)  # EXPLAIN changes nothing: the plan stays
    assert len(con._session.plan_cache) == 1
    con.close()


@pytest.mark.parametrize("sql", [
    "SELECT current_date AS d, count(*) FROM t",
    "SELECT count(*) FROM t WHERE v < random() * 10",
    "SELECT now() AS ts FROM t LIMIT 1",
    "SELECT count(*) FROM t USING SAMPLE 10 PERCENT (bernoulli)",
    "PIVOT t ON k USING sum(v)",  # the binder ran a query for the columns
])
def test_what_is_decided_at_planning_from_the_clock_or_chance_is_not_kept(con, sql):
    _rows(con, sql)
    assert len(con._session.plan_cache) == 0


def test_queries_calling_udfs_are_not_kept(con):
    @udf.scalar(returns="BIGINT")
    def twice(x):
        return pa.compute.multiply(x, 2)
    con.register_function(twice)
    q = "SELECT sum(twice(v)) FROM t"
    expected = 2 * int(_table(1).column("v").to_numpy().sum())
    assert _rows(con, q) == [(expected,)]
    assert _rows(con, q) == [(expected,)]
    assert len(con._session.plan_cache) == 0

    @udf.aggregate(returns="BIGINT")
    def biggest(xs):  # one list per group
        return [max(x) for x in xs.to_pylist()]
    con.register_function(biggest)
    q = "SELECT k, biggest(v) FROM t GROUP BY k ORDER BY k"
    assert _rows(con, q) == _rows(con, q) == _rows(con, "SELECT k, max(v) FROM t GROUP BY k ORDER BY k")
    assert len(con._session.plan_cache) == 1  # only the max(v) query: a user aggregate is not kept


def test_parameters_and_errors_are_not_kept(con):
    cur = con.cursor()
    cur.execute("SELECT count(*) FROM t WHERE v > ?", [5])
    n5 = cur.fetchall()
    cur.execute("SELECT count(*) FROM t WHERE v > ?", [8])
    assert cur.fetchall() != n5
    assert len(con._session.plan_cache) == 0
    for _ in range(2):
        with pytest.raises(engine.Error):
            _rows(con, "SELECT nope FROM t")
    assert len(con._session.plan_cache) == 0


def test_each_kept_run_is_still_tracked(con):
    _rows(con, Q)
    _rows(con, Q)
    runs = _rows(con, "SELECT count(*) FROM dawn.runs WHERE sql = '%s'" % Q.replace("'", "''"))
    assert runs == [(2,)]


def test_an_error_in_a_kept_plan_names_its_line_as_the_first_time(con):
    """A repeated text skips the splitting into statements; its error still says which line
    the statement started on (what the shell prints)."""
    sql = "\n\n  SELECT CAST('x' || k AS INTEGER) AS bad FROM t"
    lines = []
    for _ in range(2):
        with pytest.raises(engine.DataError) as e:
            list(con._session.execute_each(sql))  # the first rows are read as the statement runs
        lines.append(getattr(e.value, "statement_line", None))
    assert _hits(con) == 1
    assert lines == [3, 3]
