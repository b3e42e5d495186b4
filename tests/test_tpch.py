"""All 22 TPC-H queries, standard text, on tpchgen-cli Parquet data: Dawn's results equal
DuckDB's on the same files (floats to 1e-6 relative; order checked where ORDER BY defines it).
SF 0.01 runs in CI; SF 0.1 is marked slow."""
from __future__ import annotations

import os
import shutil
import subprocess

import duckdb
import pytest

import engine
from catalog import ParquetSource
from tpch_compare import compare_results

HERE = os.path.dirname(__file__)
QUERY_DIR = os.path.join(HERE, "tpch_queries")  # the standard text, kept with the tests
TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]


def _generate(tmp_path_factory, sf: float) -> str:
    if shutil.which("tpchgen-cli") is None:
        pytest.skip("tpchgen-cli is not installed (pip install -e '.[dev]')")
    d = str(tmp_path_factory.mktemp(f"tpch_sf{sf:g}"))
    subprocess.run(["tpchgen-cli", "parquet", "-s", str(sf), "--output-dir", d], check=True,
                   stdout=subprocess.DEVNULL)
    return d


def _connections(d: str):
    con = engine.connect()
    for t in TABLES:
        con._session.catalog.register(t, ParquetSource(os.path.join(d, f"{t}.parquet")))
    duck = duckdb.connect()
    for t in TABLES:
        duck.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{os.path.join(d, t + '.parquet')}')")
    return con, duck


@pytest.fixture(scope="module")
def sf001(tmp_path_factory):
    return _connections(_generate(tmp_path_factory, 0.01))


@pytest.fixture(scope="module")
def sf01(tmp_path_factory):
    return _connections(_generate(tmp_path_factory, 0.1))


def _query(q: int) -> str:
    with open(os.path.join(QUERY_DIR, f"q{q:02d}.sql")) as f:
        return f.read()


def _check(cons, q: int, jit: str = "auto") -> None:
    con, duck = cons
    con.execute(f"SET jit = {jit}")
    sql = _query(q)
    got = con.execute(sql).fetchall()
    expected = duck.execute(sql).fetchall()
    assert expected, f"Q{q}: DuckDB returned no rows; the comparison would prove nothing"
    problem = compare_results(got, expected, "order by" in sql.lower())
    assert problem is None, f"Q{q}: {problem}"


@pytest.mark.parametrize("jit", ["off", "on"])   # the vectorized path and the JIT forced on (11/11)
@pytest.mark.parametrize("q", range(1, 23))
def test_tpch_sf001(sf001, q, jit):
    _check(sf001, q, jit)


@pytest.mark.slow
@pytest.mark.parametrize("q", range(1, 23))
def test_tpch_sf01(sf01, q):
    _check(sf01, q)
