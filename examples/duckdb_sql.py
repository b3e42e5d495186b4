"""DuckDB's SQL on Dawn, with DuckDB's answers: each query below runs on both engines over the same
Arrow tables and the script checks that the results agree; then a few statements Dawn refuses,
each with the error a user sees (never a silently different answer).

    python examples/duckdb_sql.py
"""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa

import engine

trades = pa.table({
    "sym": ["A", "A", "B", "A", "B", "B"],
    "ts": [dt.datetime(2024, 1, 1, 9, m) for m in (1, 5, 7, 9, 12, 20)],
    "qty": pa.array([100, 5 * 10**18, 30, 5 * 10**18, 70, 1], pa.int64()),
})
quotes = pa.table({
    "sym": ["A", "A", "B", "B"],
    "ts": [dt.datetime(2024, 1, 1, 9, m) for m in (0, 6, 6, 15)],
    "bid": [10.0, 10.5, 20.0, 19.5],
})

QUERIES = [
    ("the latest quote at each trade (ASOF JOIN)",
     "SELECT t.sym, t.ts, q.bid FROM trades t ASOF JOIN quotes q ON t.sym = q.sym AND t.ts >= q.ts"),
    ("exact sums of big integers: sum(BIGINT) is a HUGEINT, as in DuckDB",
     "SELECT sym, sum(qty) AS total, typeof(sum(qty)) AS type FROM trades GROUP BY sym"),
    ("every column but one, and one replaced",
     "SELECT * EXCLUDE (qty) REPLACE (upper(sym) || '!' AS sym) FROM trades"),
    ("PIVOT: a column per symbol (read from the data), a row per minute bucket",
     "PIVOT (SELECT sym, minute(ts) // 10 AS bucket, bid FROM quotes) ON sym USING max(bid) "
     "GROUP BY bucket"),
    ("ROLLUP with GROUPING(): per symbol and overall",
     "SELECT sym, count(*) AS trades, grouping(sym) AS is_total FROM trades GROUP BY ROLLUP (sym)"),
    ("the first trade of each symbol (DISTINCT ON)",
     "SELECT DISTINCT ON (sym) sym, ts FROM trades ORDER BY sym, ts"),
    ("exact median and quantiles",
     "SELECT median(bid), quantile_cont(bid, 0.25), quantile_disc(bid, [0.1, 0.9]) FROM quotes"),
    ("a correlated subquery that needs the general decorrelation (LIMIT per outer row)",
     "SELECT t.sym, t.ts, (SELECT q.bid FROM quotes q WHERE q.sym = t.sym AND q.ts <= t.ts "
     "ORDER BY q.ts DESC LIMIT 1) AS bid FROM trades t"),
]

REFUSED = [
    "SELECT * RENAME (sym AS symbol) FROM trades",
    "SELECT sum(qty) OVER (ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW EXCLUDE CURRENT ROW) "
    "FROM trades",
    "SELECT qty + qty FROM trades",  # BIGINT overflow: an error in both engines, never a wrapped value
]


def main() -> None:
    con, duck = engine.connect(), duckdb.connect()
    for name, tbl in (("trades", trades), ("quotes", quotes)):
        con.register(name, tbl)
        duck.register(name, tbl)
    for title, sql in QUERIES:
        got = sorted(con.execute(sql).fetchall(), key=repr)
        want = sorted(duck.execute(sql).fetchall(), key=repr)
        status = "same as DuckDB" if got == want else f"DIFFERENT: DuckDB says {want}"
        print(f"-- {title}\n{sql}\n   {got}\n   [{status}]")
        assert got == want, sql
    for sql in REFUSED:
        try:
            con.execute(sql).fetchall()
            print(f"-- accepted?! {sql}")
        except engine.Error as e:
            print(f"-- {sql}\n   {type(e).__name__}: {e}")
    print("all queries gave DuckDB's answers")


if __name__ == "__main__":
    main()
