"""TPC-H: Dawn beside DuckDB on the same Parquet files, one thread each.

    python benchmarks/tpch.py --sf 1 [--runs 3] [--queries 1,3,6] [--data DIR]

Generates the data with tpchgen-cli if DIR lacks it, checks that every Dawn result equals
DuckDB's, then prints per query the median warm time of each engine, the ratio Dawn/DuckDB,
and the geometric mean of the ratios.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

QUERIES = os.path.join(os.path.dirname(__file__), "..", "tests", "tpch_queries")
TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]


def ensure_data(sf: float, root: str) -> str:
    d = os.path.join(root, f"sf{sf:g}")
    if not all(os.path.exists(os.path.join(d, f"{t}.parquet")) for t in TABLES):
        os.makedirs(d, exist_ok=True)
        subprocess.run(["tpchgen-cli", "parquet", "-s", str(sf), "--output-dir", d], check=True,
                       stdout=subprocess.DEVNULL)
    return d


def query_text(q: int, qdir: str) -> str:
    with open(os.path.join(qdir, f"q{q:02d}.sql")) as f:
        return f.read()


def timed(fn, runs: int) -> tuple[float, object]:
    out = fn()  # warm-up run (also the result that is checked)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sf", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--queries", default="")
    ap.add_argument("--data", default=os.environ.get("DAWN_TPCH_DATA", "/tmp/dawn-tpch"))
    ap.add_argument("--query-dir", default=os.path.abspath(QUERIES))
    args = ap.parse_args(argv)

    import duckdb
    import pyarrow as pa

    import engine
    from catalog import ParquetSource
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from tpch_compare import compare_results

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    d = ensure_data(args.sf, args.data)
    con = engine.connect()
    for t in TABLES:
        con._session.catalog.register(t, ParquetSource(os.path.join(d, f"{t}.parquet")))
    duck = duckdb.connect()
    duck.execute("SET threads = 1")
    for t in TABLES:
        duck.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{os.path.join(d, t + '.parquet')}')")

    qs = [int(x) for x in args.queries.split(",") if x] or list(range(1, 23))
    print(f"TPC-H SF {args.sf:g}, one thread each (Dawn: pyarrow cpu_count=1; DuckDB: threads=1), "
          f"median of {args.runs} warm runs")
    print(f"{'query':>5} {'dawn_s':>9} {'duckdb_s':>9} {'ratio':>7}  result")
    ratios = []
    for q in qs:
        sql = query_text(q, args.query_dir)
        td, got = timed(lambda: con.execute(sql).fetchall(), args.runs)
        tk, exp = timed(lambda: duck.execute(sql).fetchall(), args.runs)
        problem = compare_results(got, exp, "order by" in sql.lower())
        ratio = td / tk
        ratios.append(ratio)
        print(f"  Q{q:02d} {td:9.3f} {tk:9.3f} {ratio:7.2f}  {'ok' if problem is None else 'MISMATCH: ' + problem}")
        sys.stdout.flush()
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"geometric mean ratio (Dawn/DuckDB): {geo:.2f}; worst: {max(ratios):.2f} "
          f"(Q{qs[ratios.index(max(ratios))]:02d})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
