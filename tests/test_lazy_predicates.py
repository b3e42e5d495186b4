"""Expensive predicates stay lazy: under ORDER BY ... LIMIT k an expensive predicate runs in sort
order on growing batches until k rows pass (LazyTopNExec), and under a plain LIMIT the scan starts
with small batches, so filters and functions above it stop after a few rows. Answers are the
full evaluation's (DuckDB on the same data)."""
from __future__ import annotations

import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import engine
from udfs import udf

N = 200_000


@pytest.fixture()
def env():
    calls: list[int] = []

    @udf.scalar(returns="BOOLEAN", cost=0.05, cache=False)
    def oracle(a):  # a slow detector: 50 ms a row declared, 20 us a row spent (keeps tests fast)
        calls.append(len(a))
        time.sleep(2e-5 * len(a))
        return pc.equal(pc.bit_wise_and(a, 7), 0)

    @udf.scalar(returns="BIGINT", cost=0.05, cache=False)
    def score(a):
        calls.append(len(a))
        return pc.multiply(a, 3)

    rng = np.random.default_rng(0)
    t = pa.table({"a": np.arange(N), "b": rng.permutation(N) // 3, "c": rng.integers(0, 5, N)})
    con = engine.connect()
    con.register_function(oracle)
    con.register_function(score)
    con.register("t", t)
    duck = duckdb.connect()
    duck.register("t", t)
    return con, duck, calls


def _check(env, sql: str, duck_sql: str, most_calls: int):
    con, duck, calls = env
    calls.clear()
    got = con.execute(sql).fetchall()
    assert sum(calls) <= most_calls, f"{sum(calls)} rows reached the UDF"
    assert got == duck.execute(duck_sql).fetchall()
    return "\n".join(r[0] for r in con.execute("EXPLAIN " + sql).fetchall())


@pytest.mark.parametrize("order", ["b DESC", "b ASC, a DESC", "c, b DESC"])
def test_order_by_limit_runs_the_oracle_on_a_few_batches(env, order):
    sql = f"SELECT a FROM t WHERE oracle(a) ORDER BY {order} LIMIT 3"
    plan = _check(env, sql, f"SELECT a FROM t WHERE a % 8 = 0 ORDER BY {order} LIMIT 3", 2_000)
    assert "LazyTopNExec" in plan and "lazy=[oracle(a" in plan


def test_lazy_top_n_with_offset_cheap_conjunct_and_ties(env):
    # b has ties (each value three times): the stable sort keeps the full evaluation's order
    sql = "SELECT a, b FROM t WHERE oracle(a) AND c = 2 ORDER BY b LIMIT 5 OFFSET 4"
    _check(env, sql, "SELECT a, b FROM t WHERE a % 8 = 0 AND c = 2 ORDER BY b, a LIMIT 5 OFFSET 4", 4_000)


def test_lazy_top_n_when_few_rows_pass(env):
    # only 25 rows pass: the batches grow until the whole input is tested, the answer still right
    con, duck, calls = env
    sql = "SELECT a FROM t WHERE oracle(a) AND a < 200 ORDER BY a DESC LIMIT 30"
    _check(env, sql, "SELECT a FROM t WHERE a % 8 = 0 AND a < 200 ORDER BY a DESC LIMIT 30", 200)


def test_plain_limit_stops_after_a_small_batch(env):
    _check(env, "SELECT a FROM t WHERE oracle(a) LIMIT 3",
           "SELECT a FROM t WHERE a % 8 = 0 ORDER BY a LIMIT 3", 1_000)


def test_limit_over_an_expensive_projected_udf(env):
    _check(env, "SELECT score(a) FROM t LIMIT 5", "SELECT a * 3 FROM t ORDER BY a LIMIT 5", 5)
    _check(env, "SELECT score(a) AS s FROM t WHERE oracle(a) LIMIT 5",
           "SELECT a * 3 FROM t WHERE a % 8 = 0 ORDER BY a LIMIT 5", 1_000)


def test_cheap_predicates_keep_the_plain_top_n(env):
    con, _, _ = env
    plan = "\n".join(r[0] for r in con.execute(
        "EXPLAIN SELECT a FROM t WHERE a % 8 = 0 ORDER BY b DESC LIMIT 3").fetchall())
    assert "TopNExec" in plan and "Lazy" not in plan
