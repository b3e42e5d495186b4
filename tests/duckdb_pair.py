"""Dawn beside DuckDB on the same Arrow tables: the pattern of the regression tests that say
"gives DuckDB's answer" or "refused where DuckDB refuses"."""
from __future__ import annotations

import duckdb
import pytest

import engine
from tpch_compare import compare_results


def connect_pair(tables: dict):
    """A Dawn and a DuckDB connection, each with ``tables`` (name -> Arrow table) registered."""
    con, duck = engine.connect(), duckdb.connect()
    for name, tbl in tables.items():
        con.register(name, tbl)
        duck.register(name, tbl)
    return con, duck


def assert_same_answer(con, duck, sql: str, ordered: bool) -> None:
    got, want = con.execute(sql).fetchall(), duck.execute(sql).fetchall()
    assert compare_results(got, want, ordered=ordered) is None, f"{sql}\nDawn: {got}\nDuckDB: {want}"


def assert_both_refuse(con, duck, sql: str) -> None:
    with pytest.raises(duckdb.Error):
        duck.execute(sql).fetchall()
    with pytest.raises(engine.Error):
        con.execute(sql).fetchall()
