"""ASOF joins against DuckDB on random data: every operator, with and without equality keys, inner
and LEFT, NULL keys and ordering values, integer, float, date and timestamp orders. The right
side's ordering values are distinct within a key (DuckDB's choice among equal ones is its own)."""
from __future__ import annotations

import datetime as dt
import os
import random
import sys

import duckdb
import pyarrow as pa
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from tpch_compare import compare_results  # noqa: E402

import engine  # noqa: E402


def _tables(rng: random.Random, kind: str):
    def value(i):
        if kind == "int":
            return i
        if kind == "float":
            return i / 4
        if kind == "date":
            return dt.date(2024, 1, 1) + dt.timedelta(days=i)
        return dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i)
    nl, nr = rng.randint(0, 40), rng.randint(0, 40)
    left = {"k": [rng.choice([1, 2, 3, None]) for _ in range(nl)],
            "ts": [None if rng.random() < 0.1 else value(rng.randint(0, 60)) for _ in range(nl)]}
    used, rk, rts = set(), [], []
    for _ in range(nr):
        k, v = rng.choice([1, 2, 3, None]), rng.randint(0, 60)
        if (k, v) in used:
            continue
        used.add((k, v))
        rk.append(k)
        rts.append(None if rng.random() < 0.1 else value(v))
    right = {"k": rk, "ts": rts, "p": list(range(len(rk)))}
    return pa.table(left), pa.table(right)


@pytest.mark.parametrize("seed", range(12))
def test_asof_equals_duckdb(seed):
    rng = random.Random(seed)
    kind = ["int", "float", "date", "timestamp"][seed % 4]
    left, right = _tables(rng, kind)
    con, duck = engine.connect(), duckdb.connect()
    for c in (con, duck):
        c.register("l", left)
        c.register("r", right)
    for op in (">=", ">", "<=", "<"):
        for keys in ("l.k = r.k AND ", ""):
            for join in ("ASOF JOIN", "ASOF LEFT JOIN"):
                # without keys, equal ordering values of different keys tie: compare the values only
                cols = "l.k, l.ts, r.ts, r.p" if keys else "l.k, l.ts, r.ts"
                sql = f"SELECT {cols} FROM l {join} r ON {keys}l.ts {op} r.ts"
                got, want = con.execute(sql).fetchall(), duck.execute(sql).fetchall()
                assert compare_results(got, want, ordered=False) is None, (sql, got, want)
