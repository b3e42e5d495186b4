"""Column pruning and row-group skipping in the Parquet reader, seen through EXPLAIN ANALYZE."""
from __future__ import annotations

import datetime as dt
import re

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine


@pytest.fixture(scope="module")
def lineitem(tmp_path_factory):
    """A lineitem-shaped file sorted by ship date with 10 row groups, so statistics can prune."""
    rng = np.random.default_rng(7)
    n = 50_000
    ship = np.sort(rng.integers(8036, 10561, n))  # 1992-01-02 .. 1998-12-01 as days
    t = pa.table({
        "l_orderkey": pa.array(rng.integers(1, 60_000, n)),
        "l_quantity": pa.array(rng.integers(1, 51, n).astype(np.float64)),
        "l_extendedprice": pa.array(rng.uniform(900, 100_000, n)),
        "l_discount": pa.array(rng.integers(0, 11, n) / 100.0),
        "l_shipdate": pa.array(ship.astype(np.int32)).cast(pa.date32()),
        "l_comment": pa.array([f"comment {i}" for i in range(n)]),
    })
    path = tmp_path_factory.mktemp("pq") / "lineitem.parquet"
    pq.write_table(t, path, row_group_size=n // 10)
    return str(path)


QUERY = ("SELECT sum(l_quantity) FROM read_parquet('{p}') "
         "WHERE l_shipdate < DATE '1993-01-01'")


def test_reads_two_columns_and_skips_row_groups(lineitem):
    con = engine.connect()
    sql = QUERY.format(p=lineitem)
    plan = "\n".join(r[0] for r in con.execute("EXPLAIN ANALYZE " + sql).fetchall())
    scan = next(l for l in plan.splitlines() if "ScanExec" in l)
    assert re.search(r"columns=\[l_quantity#\d+, l_shipdate#\d+\]", scan), scan
    assert "columns_read=2" in scan
    read, total = map(int, re.search(r"row_groups=(\d+)/(\d+)", scan).groups())
    assert total == 10 and 1 <= read <= 2, scan
    got = con.execute(sql).fetchall()
    expected = duckdb.sql(sql).fetchall()
    assert got[0][0] == pytest.approx(float(expected[0][0]))


def test_pruned_scan_reads_fewer_bytes(lineitem):
    con = engine.connect()
    pruned = "\n".join(r[0] for r in con.execute(
        "EXPLAIN ANALYZE " + QUERY.format(p=lineitem)).fetchall())
    full = "\n".join(r[0] for r in con.execute(
        f"EXPLAIN ANALYZE SELECT sum(l_quantity) FROM read_parquet('{lineitem}') "
        "WHERE l_comment <> 'x'").fetchall())
    b1 = int(re.search(r"bytes_read=(\d+)", pruned).group(1))
    b2 = int(re.search(r"bytes_read=(\d+)", full).group(1))
    assert b1 * 4 < b2


def test_no_false_pruning_on_boundaries(lineitem):
    con = engine.connect()
    for op in ("<", "<=", "=", ">=", ">"):
        sql = f"SELECT count(*) FROM read_parquet('{lineitem}') WHERE l_shipdate {op} DATE '1995-06-15'"
        assert con.execute(sql).fetchall() == duckdb.sql(sql).fetchall(), op


def test_quoted_path_in_from(lineitem):
    con = engine.connect()
    got = con.execute(f"SELECT count(*) FROM '{lineitem}'").fetchall()
    assert got == [(50_000,)]
