"""Regression tests for the cases a long run of benchmarks/fuzz.py found (issue 5/11, list A):
each minimal case runs on Dawn and on DuckDB over the same small tables and must give DuckDB's
answer, or be refused where DuckDB refuses it (an ``engine.Error``, never rows or a crash)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow as pa
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from duckdb_pair import assert_both_refuse, assert_same_answer, connect_pair  # noqa: E402

NAN = float("nan")
N = pa.table({"k": [1, 2, 3, 4], "x": [1.0, NAN, None, 3.0], "y": [NAN, NAN, 1.0, 2.0]})
_rng = np.random.default_rng(7)
H = pa.table({"g": _rng.integers(0, 6, 3000), "i": pa.array(_rng.integers(-500, 2500, 3000), pa.int32()),
              "s": pa.array([f"v{v}" for v in _rng.integers(0, 900, 3000)]),
              "f": _rng.integers(0, 700, 3000) / 4.0})


@pytest.fixture(scope="module")
def engines():
    return connect_pair({"n": N, "h": H})


SAME_AS_DUCKDB = [
    # NaN (ln or sqrt of a negative number) is equal to itself and above every number: a WHERE
    # comparing with it kept no rows (diff:10067:5, diff:10221:19, diff:10228:40)
    "SELECT k FROM n WHERE 3.25 <= ln(-7.5) ORDER BY k",
    "SELECT k FROM n WHERE -4 < sqrt(-2.25) ORDER BY k",
    "SELECT k FROM n WHERE ln(x - 2) >= 1.25 ORDER BY k",
    "SELECT k, x < y, x <= y, x = y, x <> y, x > y, x >= y, x = x, x < 2 FROM n ORDER BY k",
    "SELECT k, x IN (y, 3.0), x NOT IN (y), x BETWEEN y AND 5, x IS DISTINCT FROM y FROM n ORDER BY k",
    "SELECT k, x IS NOT DISTINCT FROM 'nan'::DOUBLE, nullif(x, 'nan'::DOUBLE), greatest(x, 2), least(x, 2) "
    "FROM n ORDER BY k",
    # date_part of a constant NULL is DOUBLE in DuckDB (its declared type: the call folds to NULL
    # before the part picks the BIGINT overload); of a known part and a value it is BIGINT
    "SELECT typeof(date_part('day', age(CAST(NULL AS TIMESTAMP), TIMESTAMP '2024-03-10 06:52:32'))), "
    "typeof(date_part('month', CAST(NULL AS DATE))), typeof(extract(year FROM CAST(NULL AS DATE))), "
    "typeof(date_part(NULL, DATE '2020-01-01')), typeof(date_part('month', DATE '2020-01-01')), "
    "typeof(year(NULL::DATE)), date_part('second', CAST(NULL AS TIMESTAMP))",
    # dates and timestamps past Python's year 9999 or before year 1 crashed (OverflowError) when
    # folded, written as text or fetched; DuckDB's cursor gives their text (tlp:10060:21)
    "SELECT DATE '2024-02-29' + 1707292521, (DATE '2024-02-29' + 1707292521)::VARCHAR",
    "SELECT k, min(DATE '2024-02-29' + CAST(k * 500000000 AS INTEGER)) FROM n GROUP BY k ORDER BY k",
    "SELECT k, (DATE '1970-01-01' - k::INTEGER * 240000)::VARCHAR, DATE '1970-01-01' - k::INTEGER * 240000, "
    "concat(DATE '1970-01-01' + 2932896 + k::INTEGER, '') FROM n ORDER BY k",
    "SELECT DATE '2024-02-29' - 2147483647, DATE '1970-01-01' - 2147483646",
    "SELECT (TIMESTAMP '1970-01-01' - INTERVAL 800000 DAY)::VARCHAR, "
    "TIMESTAMP '1970-01-01 10:11:12.5' + INTERVAL 80000000 DAY, to_timestamp(1e12)::VARCHAR",
    # round/trunc of a constant NULL integer to tens raised a TypeError (tlp:10121:17, tlp:10288:2)
    "SELECT round(CAST(NULL AS INTEGER), -2), typeof(round(CAST(NULL AS INTEGER), -2)), "
    "trunc(CAST(NULL AS SMALLINT), -1)",
    "SELECT k, bit_or(round(CAST(NULL AS INTEGER), -2)), lead(round(CAST(NULL AS INTEGER), -1), 1, -2) "
    "OVER (ORDER BY k) FROM n GROUP BY k ORDER BY k",
    # approx_count_distinct is DuckDB's HyperLogLog estimate (11 of 12 distinct values), not the
    # exact count (diff:10185:21)
    "SELECT g, approx_count_distinct(i), approx_count_distinct(s), approx_count_distinct(f), "
    "approx_count_distinct(i % 13), count(DISTINCT i) FROM h GROUP BY g ORDER BY g",
    "SELECT approx_count_distinct(i), approx_count_distinct(DISTINCT s) FILTER (WHERE g > 2), "
    "approx_count_distinct(i > 0), approx_count_distinct(NULL) FROM h",
    "SELECT g, approx_count_distinct(i) OVER (PARTITION BY g) FROM h WHERE i < 0 ORDER BY g",
]


@pytest.mark.parametrize("sql", SAME_AS_DUCKDB)
def test_gives_duckdbs_answer(engines, sql):
    assert_same_answer(*engines, sql, ordered="ORDER BY k" in sql)


REFUSED_BY_BOTH = [
    # bit_and/bit_or take integers only: DuckDB refuses DOUBLE at bind time, also the DOUBLE NULL
    # of date_part over a constant NULL (tlp:10054:23, diff:10237:0, tlp:10352:22, norec:10366:30,
    # tlp:10409:7, tlp:10443:12)
    "SELECT bit_and(x) FROM n",
    "SELECT bit_or(x) FROM n GROUP BY k",
    "SELECT bit_and(date_part('day', age(CAST(NULL AS TIMESTAMP), TIMESTAMP '2024-03-10 06:52:32'))) FROM n",
    "SELECT bit_or(extract(day FROM CAST(NULL AS DATE))) FROM n",
    "SELECT k FROM n WHERE k = (SELECT bit_or(date_part('second', CAST(NULL AS TIMESTAMP))) FROM n)",
    "SELECT date_part('month', NULL)",
    # past DuckDB's date range, and day counts that are not INTEGER
    "SELECT DATE '2020-01-01' + 2147483647",
    "SELECT DATE '2020-01-01' + (2147465000 + k::INTEGER * 100) FROM n",
    "SELECT DATE '2020-01-01' - 5::BIGINT",
    "SELECT DATE '2020-01-01' + 5::UINTEGER",
    # to_timestamp of NaN (sqrt of a negative number) leaked an OverflowError (tlp:10272:6)
    "SELECT to_timestamp(sqrt(CAST(-9.75 AS DOUBLE)))",
    "SELECT to_timestamp(y) FROM n",
]


@pytest.mark.parametrize("sql", REFUSED_BY_BOTH)
def test_refused_where_duckdb_refuses(engines, sql):
    assert_both_refuse(*engines, sql)
