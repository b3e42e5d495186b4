"""The constructs DuckDB users write: each gives DuckDB's answer on the same data, or is refused with
NotSupportedError naming it; none is silently ignored (engine/sql/bind/coverage.py).

Each case runs on Dawn and on DuckDB over the same registered Arrow tables. ``REFUSED`` lists the
cases Dawn refuses today: a case there must raise NotSupportedError (so a silent wrong answer fails
the test), and a case that starts to work must leave the list (so the list stays honest).
"""
from __future__ import annotations

import os
import sys

import duckdb
import pyarrow as pa
import pytest
import sqlglot

sys.path.insert(0, os.path.dirname(__file__))
from tpch_compare import compare_results  # noqa: E402

import engine  # noqa: E402
from engine.sql.dialect import Dawn  # noqa: E402

T = pa.table({"a": pa.array([1, 1, 2, None, 3, 2], pa.int32()),
              "b": pa.array([10, 20, 10, 10, None, 30], pa.int64()),
              "s": pa.array(["x", "y", None, "x", "z", "y"]),
              "d": pa.array([1.5, -2.0, 3.25, None, 0.0, 8.0])})
U = pa.table({"a": pa.array([1, 2, 2, 4], pa.int32()), "c": pa.array(["p", "q", "r", None])})
L = pa.table({"id": [1, 2, 3, 4], "l": pa.array([[1, 2], [], None, [5]], pa.list_(pa.int32()))})
P = pa.table({"g": ["a", "a", "b", "b", "b"], "k": ["u", "v", "u", "u", "v"], "v": [1, 2, 3, 4, 5]})

CASES = {
    "exclude": "SELECT * EXCLUDE (a) FROM t",
    "exclude_two": "SELECT * EXCLUDE (a, s) FROM t",
    "exclude_qualified": "SELECT t.* EXCLUDE (b), u.c FROM t JOIN u USING (a)",
    "exclude_join": "SELECT * EXCLUDE (a) FROM t, u",
    "replace": "SELECT * REPLACE (a + 100 AS a) FROM t",
    "exclude_replace": "SELECT * EXCLUDE (s) REPLACE (b * 2 AS b) FROM t",
    "columns_regex": "SELECT COLUMNS('^[ab]$') FROM t",
    "columns_star_agg": "SELECT min(COLUMNS(* EXCLUDE (s))) FROM t",
    "columns_expr": "SELECT COLUMNS('[ab]') + 1 FROM t",
    "columns_list": "SELECT COLUMNS(['a', 'd']) FROM t",
    "distinct_on": "SELECT DISTINCT ON (a) a, b FROM t ORDER BY a, b",
    "distinct_on_desc": "SELECT DISTINCT ON (s) s, d FROM t ORDER BY s, d DESC",
    "qualify": "SELECT a, b FROM t QUALIFY row_number() OVER (PARTITION BY a ORDER BY b) = 1",
    "filter": "SELECT count(*) FILTER (WHERE b > 10), sum(b) FILTER (WHERE a = 1) FROM t",
    "grouping_sets": "SELECT a, s, count(*) FROM t GROUP BY GROUPING SETS ((a), (s), ())",
    "rollup": "SELECT a, b, sum(d), grouping(a, b) FROM t GROUP BY ROLLUP (a, b)",
    "cube": "SELECT a, s, count(*) FROM t GROUP BY CUBE (a, s)",
    "group_by_mixed": "SELECT a, s, count(*) FROM t GROUP BY a, ROLLUP (s)",
    "within_group": "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY b) FROM t",
    "lateral": "SELECT t.a, l.x FROM t, LATERAL (SELECT t.b + 1 AS x) l",
    "lateral_rows": "SELECT t.a, l.c FROM t, LATERAL (SELECT c FROM u WHERE u.a <= t.a) l",
    "lateral_left": "SELECT t.a, l.n FROM t LEFT JOIN LATERAL (SELECT count(*) AS n FROM u WHERE u.a = t.a) l ON true",
    "lateral_limit": "SELECT t.a, l.c FROM t, LATERAL (SELECT c FROM u WHERE u.a >= t.a ORDER BY c LIMIT 1) l",
    "unnest_select": "SELECT id, unnest(l) FROM lists",
    "unnest_two": "SELECT id, unnest(l), unnest(l) + 1 AS y FROM lists",
    "unnest_after_agg": "SELECT unnest(list(a)) FROM t",
    "unnest_from_lateral": "SELECT id, u FROM lists, unnest(l) AS x(u)",
    "unnest_from_star": "SELECT * FROM lists, unnest(lists.l)",
    "pivot": "PIVOT p ON k USING sum(v) GROUP BY g ORDER BY g",
    "pivot_implicit_groups": "PIVOT p ON k USING sum(v) AS s, count(*) ORDER BY ALL",
    "pivot_two_columns": "PIVOT p ON k, g USING max(v) ORDER BY ALL",
    "pivot_count": "PIVOT p ON k GROUP BY g ORDER BY g",
    "pivot_in": "SELECT * FROM p PIVOT (sum(v) FOR k IN ('u', 'v'))",
    "unpivot": "UNPIVOT (SELECT 1 AS id, 2 AS x, 3 AS y) ON x, y INTO NAME k VALUE v",
    "unpivot_standard": "SELECT * FROM t UNPIVOT (val FOR col IN (a, b)) ORDER BY ALL",
    "asof": "SELECT t.a, u.c FROM t ASOF JOIN (SELECT * FROM u WHERE c <> 'q') u ON t.a >= u.a",
    "asof_left": "SELECT t.a, t.b, u.c FROM t ASOF LEFT JOIN (SELECT * FROM u WHERE c <> 'r') u ON t.a < u.a",
    "positional": "SELECT * FROM (SELECT a FROM t) POSITIONAL JOIN (SELECT c FROM u)",
    "named_window": "SELECT a, sum(b) OVER w FROM t WINDOW w AS (PARTITION BY a)",
    "named_window_extended": "SELECT a, b, sum(b) OVER (w ORDER BY b) FROM t WINDOW w AS (PARTITION BY a)",
    "agg_order_by": "SELECT string_agg(s, ',' ORDER BY s DESC) FROM t",
    "list_order_by": "SELECT a, list(b ORDER BY b) FROM t GROUP BY a",
    "agg_order_by_ignored": "SELECT sum(b ORDER BY a) FROM t",
    "limit_percent": "SELECT a FROM t ORDER BY a NULLS FIRST, b LIMIT 50%",
    "limit_percent_offset": "SELECT a FROM t ORDER BY a NULLS FIRST, b LIMIT 50% OFFSET 1",
    "sample_all": "SELECT count(*) FROM t USING SAMPLE 100%",
    "sample_rows": "SELECT count(*) FROM t TABLESAMPLE RESERVOIR (3 ROWS)",
    "list_literal": "SELECT [1, 2, 3], [a, a + 1] FROM t",
    "struct_literal": "SELECT {'x': 1, 'y': 'a'}, {'k': a} FROM t",
    "struct_field": "SELECT ({'x': 1, 'y': 'a'}).x, {'k': a}.k FROM t",
    "list_index": "SELECT [10, 20, 30][2], [a, b][1] FROM t",
    "unnest_literal": "SELECT unnest([1, 2, 3])",
    "unnest_from_literal": "SELECT * FROM unnest([1, 2, 3])",
    "cast_colons": "SELECT a::VARCHAR, '5'::INTEGER + 1, DATE '2000-02-29'::VARCHAR FROM t",
    "union_by_name": "SELECT a, b FROM t UNION ALL BY NAME SELECT c, a FROM u",
    "parenthesised_join": "SELECT count(*) FROM (t AS x CROSS JOIN t y)",
    "parenthesised_join_on": "SELECT x.a, y.c FROM (t AS x JOIN u AS y ON x.a = y.a) WHERE y.c <> 'q'",
    "natural_join": "SELECT * FROM t NATURAL JOIN u",
    "semi_join": "SELECT * FROM t SEMI JOIN u ON t.a = u.a",
    "anti_join": "SELECT * FROM t ANTI JOIN u ON t.a = u.a",
    "group_by_all": "SELECT a, s, count(*) FROM t GROUP BY ALL",
    "order_by_all": "SELECT a, s FROM t ORDER BY ALL",
}

# what Dawn refuses today (NotSupportedError); everything else must equal DuckDB
REFUSED: set[str] = set()


@pytest.fixture(scope="module")
def engines():
    con = engine.connect()
    duck = duckdb.connect()
    for name, tbl in (("t", T), ("u", U), ("p", P), ("lists", L)):
        con.register(name, tbl)
        duck.register(name, tbl)
    yield con, duck
    con.close()
    duck.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_construct_equals_duckdb_or_is_refused(engines, name):
    con, duck = engines
    sql = CASES[name]
    if name in REFUSED:
        with pytest.raises(engine.NotSupportedError):
            con.execute(sql).fetchall()
        return
    got = con.execute(sql).fetchall()
    want = duck.execute(sql).fetchall()
    ordered = sqlglot.parse_one(sql, read=Dawn).args.get("order") is not None
    problem = compare_results(got, want, ordered=ordered)
    assert problem is None, f"{name}: {sql}\n{problem}\nDawn: {got}\nDuckDB: {want}"


def test_refused_constructs_name_themselves(engines):
    con, _ = engines
    for name in sorted(REFUSED):
        with pytest.raises(engine.NotSupportedError) as err:
            con.execute(CASES[name]).fetchall()
        msg = str(err.value)
        assert "#" not in msg and "sqlglot" not in msg, msg


def test_unread_arguments_are_refused(engines):
    """Arguments sqlglot parses that the binder has no use for raise instead of vanishing."""
    con, _ = engines
    for sql, what in [
        ("SELECT sum(b) OVER (ORDER BY b ROWS BETWEEN 1 PRECEDING AND CURRENT ROW EXCLUDE CURRENT ROW) FROM t",
         "EXCLUDE"),
        ("SELECT CAST(a AS VARCHAR FORMAT 'x') FROM t", "FORMAT"),
        ("SELECT * FROM t ASOF RIGHT JOIN u ON t.a >= u.a", "ASOF RIGHT"),
    ]:
        with pytest.raises(engine.NotSupportedError, match=what):
            con.execute(sql).fetchall()
