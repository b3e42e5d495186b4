"""EXPLAIN prints the same text for the same query on any connection.

Column ids come from a process-wide counter, so two connections that ran different statements
before bind the same query to different ids; EXPLAIN renumbers them per plan. These tests run a
query on fresh connections whose earlier statements consumed different numbers of ids, and
compare the whole EXPLAIN, EXPLAIN VERBOSE and EXPLAIN ANALYZE text (ANALYZE's measured times
masked, its actual row counts kept).
"""
from __future__ import annotations

import re

import pyarrow as pa
import pytest

import engine
from engine.plan.explain import renumber_ids

QUERIES = [
    "SELECT a, b FROM t WHERE a > 1 AND b <> 'x'",
    "SELECT t.a, sum(u.c) AS s FROM t JOIN u ON t.a = u.a WHERE t.b <> 'x' GROUP BY t.a ORDER BY s DESC LIMIT 2",
    "SELECT a FROM t WHERE a IN (SELECT a FROM u WHERE u.c > t.a)",
    "SELECT a, (SELECT max(c) FROM u WHERE u.a = t.a) AS m FROM t",
    "SELECT a FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a AND u.c > 1.5)",
    "SELECT a, row_number() OVER (PARTITION BY b ORDER BY a) AS r FROM t",
    "SELECT a FROM t UNION SELECT a FROM u EXCEPT SELECT 3",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r",
    "WITH x AS (SELECT a, count(*) AS n FROM u GROUP BY a) SELECT t.b, x.n FROM t LEFT JOIN x USING (a)",
    "SELECT DISTINCT b FROM t, u, v WHERE t.a = u.a AND u.a = v.a AND v.e = 'p'",
    "SELECT b || '#1', a + 1 AS \"a#5\" FROM t ORDER BY 2 LIMIT 1 OFFSET 1",
    "SELECT unnest([a, a + 1]) AS x FROM t",
]


def _connect(warmup: int) -> engine.Connection:
    """A connection whose earlier statements used up ids (``warmup`` of them)."""
    con = engine.connect()
    con.register("t", pa.table({"a": [1, 2, 3, 4], "b": ["x", "y", "z", "x"]}))
    con.register("u", pa.table({"a": [1, 2, 3], "c": [1.0, 2.0, 3.0]}))
    con.register("v", pa.table({"a": [1, 3], "e": ["p", "q"]}))
    cur = con.cursor()
    for i in range(warmup):
        cur.execute(f"SELECT a + {i} AS x{i}, b FROM t WHERE a > {i} ORDER BY x{i}")
        cur.fetchall()
    return con


def _explain(con, sql: str) -> str:
    cur = con.cursor()
    cur.execute(sql)
    text = "\n".join(r[0] for r in cur.fetchall())
    return re.sub(r"time=[0-9.]+ms", "time=?", text)


@pytest.fixture(scope="module")
def connections():
    a, b = _connect(0), _connect(7)
    b.cursor().execute("CREATE TABLE scratch(x INTEGER, y VARCHAR)")
    yield a, b
    a.close()
    b.close()


@pytest.mark.parametrize("prefix", ["EXPLAIN", "EXPLAIN VERBOSE", "EXPLAIN ANALYZE"])
@pytest.mark.parametrize("sql", QUERIES)
def test_same_text_on_two_connections(connections, prefix, sql):
    a, b = connections
    first = _explain(a, f"{prefix} {sql}")
    second = _explain(b, f"{prefix} {sql}")
    assert first == second
    # and on the same connection again, after more ids were used
    assert _explain(a, f"{prefix} {sql}") == first


def test_ids_number_from_one_in_order_of_appearance(connections):
    a, _ = connections
    text = _explain(a, "EXPLAIN SELECT t.a, u.c FROM t JOIN u ON t.a = u.a WHERE t.b = '#99'")
    ids = [int(m) for m in re.findall(r"#(\d+)", text.replace("'#99'", ""))]
    seen: list[int] = []
    for i in ids:
        if i not in seen:
            seen.append(i)
    assert seen == list(range(1, len(seen) + 1))
    assert "'#99'" in text  # a literal is data, not an id


def test_renumber_keeps_literals_and_user_names():
    text = "Project: x#40 AS a#5#41, 'it''s #40' AS s#42\n  Scan: t filters=[(x#40 > 1)]"
    assert renumber_ids(text) == "Project: x#1 AS a#5#2, 'it''s #40' AS s#3\n  Scan: t filters=[(x#1 > 1)]"
    assert renumber_ids(renumber_ids(text)) == renumber_ids(text)


def test_explain_does_not_change_the_plan_ids(connections):
    """Renumbering is text only: the query still answers as DuckDB does after EXPLAIN ran."""
    import duckdb
    a, _ = connections
    sql = "SELECT t.a, sum(u.c) AS s FROM t JOIN u ON t.a = u.a GROUP BY t.a ORDER BY t.a"
    _explain(a, "EXPLAIN " + sql)
    cur = a.cursor()
    cur.execute(sql)
    d = duckdb.connect()
    d.register("t", pa.table({"a": [1, 2, 3, 4], "b": ["x", "y", "z", "x"]}))
    d.register("u", pa.table({"a": [1, 2, 3], "c": [1.0, 2.0, 3.0]}))
    assert cur.fetchall() == d.execute(sql).fetchall()
