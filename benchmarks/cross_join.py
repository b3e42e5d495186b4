"""Joins that produce many pairs: Dawn beside DuckDB (its own tables), one thread each.

    python benchmarks/cross_join.py [--rows 10000] [--runs 5]

Each engine runs each query in a process of its own, so the peak resident memory printed is that
query's on that engine alone (ru_maxrss, which includes the interpreter, the libraries and the two
input tables: about 150 MB before any query runs). Times are medians of warm runs. The 10k x 10k count(*) is the issue's acceptance case (10^8 pairs); the
filtered and summed forms show the streaming blocks when pairs carry values.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

QUERIES = {
    "count(*) of a x b": "SELECT count(*) FROM a CROSS JOIN b",
    "count(*) where a.k < b.k": "SELECT count(*) FROM a, b WHERE a.k < b.k",
    "sum(a.x + b.x)": "SELECT sum(a.x + b.x) FROM a CROSS JOIN b",
}

WORKER = r'''
import json, resource, statistics, sys, time
import numpy as np, pyarrow as pa
which, rows, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
queries = json.loads(sys.argv[4])
rng = np.random.default_rng(1)
a = pa.table({"k": rng.integers(0, 1000, rows), "x": rng.random(rows)})
b = pa.table({"k": rng.integers(0, 1000, rows), "x": rng.random(rows)})
if which == "dawn":
    import engine
    con = engine.connect()
    con.register("a", a)
    con.register("b", b)
    run = lambda q: con.execute(q).fetchall()
else:
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.register("a_arrow", a)
    con.register("b_arrow", b)
    con.execute("CREATE TABLE a AS SELECT * FROM a_arrow")   # DuckDB's fastest path: its own tables
    con.execute("CREATE TABLE b AS SELECT * FROM b_arrow")
    run = lambda q: con.execute(q).fetchall()
out = {}
for name, q in queries.items():
    result = run(q)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run(q)
        times.append(time.perf_counter() - t0)
    out[name] = {"seconds": statistics.median(times), "result": repr(result)}
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
'''


def measure(which: str, rows: int, runs: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."))
    out = {}
    for name, q in QUERIES.items():
        r = subprocess.run([sys.executable, "-c", WORKER, which, str(rows), str(runs), json.dumps({name: q})],
                           capture_output=True, text=True, check=True, env=env)
        got = json.loads(r.stdout)
        out[name] = dict(got[name], peak_mb=got["peak_mb"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    dawn, duck = measure("dawn", args.rows, args.runs), measure("duckdb", args.rows, args.runs)
    print(f"{args.rows} x {args.rows} rows, one thread each, median of {args.runs} warm runs")
    print(f"{'query':28} {'Dawn s':>9} {'DuckDB s':>9} {'ratio':>7} {'Dawn MB':>8} {'DuckDB MB':>9}  same answer")
    for name in QUERIES:
        d, k = dawn[name], duck[name]
        ratio = d["seconds"] / k["seconds"] if k["seconds"] else float("inf")
        same = "yes" if _same(d["result"], k["result"]) else f"NO: {d['result']} vs {k['result']}"
        print(f"{name:28} {d['seconds']:9.3f} {k['seconds']:9.3f} {ratio:7.2f} {d['peak_mb']:8.0f} "
              f"{k['peak_mb']:9.0f}  {same}")


def _same(a: str, b: str) -> bool:
    import ast
    x, y = ast.literal_eval(a), ast.literal_eval(b)
    return all(abs(float(p) - float(q)) <= 1e-9 * max(1.0, abs(float(q)))
               for r1, r2 in zip(x, y) for p, q in zip(r1, r2)) and len(x) == len(y)


if __name__ == "__main__":
    main()
