"""Result column names follow DuckDB's: an unaliased select item is named by its expression written
DuckDB's way (``count_star()``, ``sum(a)``, ``(a + 1)``), checked against DuckDB itself."""
from __future__ import annotations

import datetime

import duckdb
import pyarrow as pa
import pytest

import engine

T = pa.table({"a": pa.array([1], pa.int32()), "b": pa.array([2], pa.int32()), "s": ["x"], "d": [1.5],
              "dt": pa.array([datetime.date(2020, 1, 1)])})

EXPRESSIONS = [
    "count(*)", "count()", "COUNT(a)", "sum(a)", "SUM(DISTINCT a)", "avg(a + b)", "a + 1", "a+b*2",
    "(a + b) * 2", "-a", "- 1", "NOT (a = 1)", "a = 1", "a <> b", "a IS NULL", "a IS NOT NULL",
    "a BETWEEN 1 AND 2", "a IN (1, 2)", "a NOT IN (1,2)", "s LIKE 'x%'", "s NOT LIKE 'x'", "s ILIKE 'x'",
    "CAST(a AS DOUBLE)", "a::VARCHAR", "TRY_CAST(s AS INT)", "1", "1.5", "'x'", "NULL", "TRUE",
    "CASE WHEN a = 1 THEN 'p' ELSE 'q' END", "CASE a WHEN 1 THEN 2 END", "coalesce(a, b)", "upper(s)",
    "UPPER(s)", "s || 'y'", "concat(s, 'y')", "a % 2", "a // 2", "a / 2", "EXTRACT(year FROM dt)",
    "date_part('year', dt)", "dt + INTERVAL 1 DAY", "DATE '2020-01-01'", "a > 1 AND b < 3",
    "a > 1 OR b < 3", "row_number() OVER (ORDER BY a)", "sum(a) OVER (PARTITION BY b)", "(SELECT 1)",
    "EXISTS (SELECT 1)", "count(*) FILTER (WHERE a > 1)", "string_agg(s, ',')", "abs(a)", "round(d, 1)",
    "substring(s, 1, 2)", "trim(s)", "nullif(a, 1)", "IF(a = 1, 2, 3)", "a IS DISTINCT FROM b",
    "max(a) + 1", "greatest(a, b)", "current_date", "a*1.0", "year(dt)", "replace(s, 'x', 'y')",
    "lower(s)", "length(s)", "sum(a) OVER (ORDER BY b ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)",
    "count(*) OVER ()", "string_agg(s, ',' ORDER BY s DESC)", "a IS TRUE", "ln(d)", "sqrt(d)",
    "left(s, 1)", "starts_with(s, 'x')", "a::INT", "min(a) FILTER (WHERE b > 1 AND a < 2)", "1e3", "1.50",
]


@pytest.fixture(scope="module")
def engines():
    con = engine.connect()
    con.register("t", T)
    duck = duckdb.connect()
    duck.register("t", T)
    yield con, duck


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_column_name_is_duckdbs(engines, expr):
    con, duck = engines
    want = duck.execute(f"SELECT {expr} FROM t").description[0][0]
    got = con.execute(f"SELECT {expr} FROM t").description[0][0]
    assert got == want


def test_aliases_and_columns_keep_their_names(engines):
    con, duck = engines
    sql = 'SELECT a AS "Total Sum", t.b, s, * EXCLUDE (a, b, s) FROM t'
    assert [d[0] for d in con.execute(sql).description] == [d[0] for d in duck.execute(sql).description]
