"""Compiled pipelines: a scan -> filter -> aggregate query as one LLVM loop (llvmlite).

The script builds an in-memory table of 2,000,000 SYNTHETIC order lines (a dictionary-like
status flag, a ship date, a price and a discount, some NULLs), then runs a grouped aggregate
three ways: the vectorized path (``SET jit = off``), compiled (``SET jit = on``, the first run
compiles or loads the machine code from the on-disk cache), and compiled again with another
literal (``x < 5`` and ``x < 7`` share machine code: literals are parameters). It checks the three
answers agree and prints the times and the EXPLAIN ANALYZE line of the compiled pipeline
(compile time, cache hit, the loop's time). Last, a join: a correlated subquery over the lines
(decorrelated into a join with an aggregate), whose EXPLAIN ANALYZE names the join's index (a
dense array, probed by a compiled loop with the JIT on) and, vectorized, shows the small outer
side's keys filtering the scan of the lines (``key_filter=[rows seen, rows kept]``; a compiled
aggregate reads every row about as fast, so it is left to do so).

    python examples/jit.py [ROWS]
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pyarrow as pa

import engine


def main(rows: int = 2_000_000) -> int:
    rng = np.random.default_rng(1)
    flags = np.array(["A", "N", "R"])
    table = pa.table({
        "flag": pa.array(flags[rng.integers(0, 3, rows)]),
        "shipdate": pa.array(rng.integers(8000, 10500, rows).astype(np.int32)).cast(pa.int32()).view(pa.date32()),
        "price": pa.array(rng.random(rows) * 1000, mask=rng.random(rows) < 0.05),
        "discount": pa.array(rng.integers(0, 11, rows) / 100),
    })
    con = engine.connect()
    con.register("lines", table)
    sql = ("SELECT flag, count(*) AS n, sum(price * (1 - discount)) AS revenue, avg(discount) AS d "
           "FROM lines WHERE shipdate < DATE '1996-01-01' AND discount < {lit} "
           "GROUP BY flag ORDER BY flag")
    answers = {}
    for mode, lit in (("off", 0.05), ("on", 0.05), ("on", 0.07)):
        con.execute(f"SET jit = {mode}")
        q = sql.format(lit=lit)
        con.execute(q).fetchall()  # warm: a compile, or a hit in the disk cache, happens here
        t0 = time.perf_counter()
        answers[(mode, lit)] = con.execute(q).fetchall()
        print(f"jit = {mode:3}  discount < {lit}: {(time.perf_counter() - t0) * 1000:6.1f} ms")
    a, b = answers[("off", 0.05)], answers[("on", 0.05)]
    same = all(x[:2] == y[:2] and abs(x[2] - y[2]) <= 1e-9 * abs(x[2]) and abs(x[3] - y[3]) < 1e-12
               for x, y in zip(a, b)) and len(a) == len(b)
    print("compiled and vectorized answers agree:", same)
    for row in answers[("on", 0.05)]:
        print("  ", row)
    con.execute("SET jit = on")
    plan = con.execute("EXPLAIN ANALYZE " + sql.format(lit=0.06)).fetchall()
    line = next(r[0] for r in plan if "JitPipelineExec" in r[0])
    print("EXPLAIN ANALYZE (another literal, the same machine code):")
    print("   ..." + line[line.index(" rows="):])
    # a join: 50 customers ask about their own lines only
    table = table.append_column("cust", pa.array(rng.integers(0, 20_000, rows)))
    con.register("lines", table)
    con.register("vip", pa.table({"id": np.arange(0, 20_000, 400), "cap": np.full(50, 0.04)}))
    join = ("SELECT id FROM vip WHERE cap < (SELECT avg(discount) FROM lines WHERE cust = id) "
            "ORDER BY id")
    con.execute("SET jit = off")
    off = con.execute(join).fetchall()
    con.execute("SET jit = on")
    on = con.execute(join).fetchall()
    print(f"join: {len(on)} of 50 customers average a discount above 4%; jit on/off agree:",
          on == off)
    for mode in ("on", "off"):
        con.execute(f"SET jit = {mode}")
        print(f"EXPLAIN ANALYZE with jit = {mode}:")
        for r in con.execute("EXPLAIN ANALYZE " + join).fetchall():
            text = r[0].strip()
            for what in ("index=", "key_filter=", "compiled=["):
                if what in text:
                    print(f"   {text.split(':')[0]}: {text[text.index(what):].split(' rows=')[0]}")
    return 0 if same and on == off else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000))
