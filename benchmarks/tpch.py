"""TPC-H: Dawn beside DuckDB on the same Parquet files, one thread each.

    python benchmarks/tpch.py --sf 1 [--runs 3] [--queries 1,3,6] [--data DIR]
    python benchmarks/tpch.py --sf 1 --memory --jit --queries 1,6 --runs 5 [--threads 2]

Generates the data with tpchgen-cli if DIR lacks it, checks that every Dawn result equals
DuckDB's, then prints per query the median warm time of each engine, the ratio Dawn/DuckDB,
and the geometric mean of the ratios.

``--memory``: Dawn over registered Arrow tables against DuckDB over its own native tables (the
honest pairing for in-memory work, DESIGN.md); with ``--jit`` also DuckDB over the same Parquet
files (``duck_pq_s``, for reference: the ratios are against the native tables).
``--jit``: Dawn is run twice, unfused (``SET jit = off``, the column ``dawn_s``) and compiled
(``SET jit = on``, ``jit_s``), and for Q1 and Q6 the memory-read floor is timed: one compiled loop that only reads the buffers the JIT's kernel reads
(the same columns; strings as the dictionary codes the kernel reads) and sums them.
``--threads N`` (with ``--jit``): the compiled pipeline is also run with ``SET threads = N``
(morsel parallelism; the column ``jitN_s``) and ``scale`` is the scaling ratio jit_s / jitN_s
(1 thread over N threads); ``floor_scale`` is the read floor's own scaling on N threads (how
far reading the same memory scales on this machine). DuckDB stays on one thread.
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
    ap.add_argument("--memory", action="store_true",
                    help="Dawn over Arrow tables in memory, DuckDB over its native tables")
    ap.add_argument("--jit", action="store_true",
                    help="add Dawn with SET jit = on, and the read floor for Q1 and Q6")
    ap.add_argument("--threads", type=int, default=1,
                    help="with --jit: also run the compiled pipelines with SET threads = N")
    ap.add_argument("--plan-cache", choices=("on", "off"), default="on",
                    help="off: Dawn parses, binds and optimizes every run (SET plan_cache = off); "
                         "on (the default, as a user gets): a repeated query reuses its plan")
    args = ap.parse_args(argv)
    par = args.jit and args.threads > 1

    import duckdb
    import pyarrow as pa

    import engine
    from catalog import ParquetSource
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from tpch_compare import compare_results

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    d = ensure_data(args.sf, args.data)
    from catalog import ArrowSource
    import pyarrow.parquet as pq
    con = engine.connect()
    con.execute("SET threads = 1")  # one thread, as DuckDB (the default is the machine's cores)
    tables = {}
    for t in TABLES:
        path = os.path.join(d, f"{t}.parquet")
        if args.memory:
            tables[t] = ArrowSource(pq.read_table(path))
            con._session.catalog.register(t, tables[t])
        else:
            con._session.catalog.register(t, ParquetSource(path))
    con.execute(f"SET plan_cache = {args.plan_cache}")
    duck = duckdb.connect()
    duck.execute("SET threads = 1")
    duck_pq = None  # with --memory --jit: DuckDB over the Parquet files too, for comparison
    if args.memory and args.jit:
        duck_pq = duckdb.connect()
        duck_pq.execute("SET threads = 1")
        for t in TABLES:
            duck_pq.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{os.path.join(d, t + '.parquet')}')")
    for t in TABLES:
        kind = "TABLE" if args.memory else "VIEW"
        duck.execute(f"CREATE {kind} {t} AS SELECT * FROM read_parquet('{os.path.join(d, t + '.parquet')}')")

    qs = [int(x) for x in args.queries.split(",") if x] or list(range(1, 23))
    where = ("Dawn over Arrow tables in memory, DuckDB over native tables" if args.memory
             else "both over the same Parquet files")
    print(f"TPC-H SF {args.sf:g}, {where}, one thread each (Dawn: pyarrow cpu_count=1; DuckDB: "
          f"threads=1), median of {args.runs} warm runs, Dawn's plan cache {args.plan_cache}")
    if args.jit:
        print(f"{'query':>5} {'dawn_s':>9} {'jit_s':>9} {'duckdb_s':>9} "
              + (f"{'duck_pq_s':>9} " if duck_pq is not None else "") + f"{'floor_s':>9} "
              f"{'jit/duck':>8} {'duck/jit':>8} {'jit/floor':>9} {'dawn/jit':>8}"
              + (f" {'jit' + str(args.threads) + '_s':>9} {'scale':>6} {'floor_scale':>11}" if par
                 else "") + "  result")
    else:
        print(f"{'query':>5} {'dawn_s':>9} {'duckdb_s':>9} {'ratio':>7}  result")
    ratios = []
    for q in qs:
        sql = query_text(q, args.query_dir)
        if args.jit:
            con.execute("SET jit = off")
        td, got = timed(lambda: con.execute(sql).fetchall(), args.runs)
        tk, exp = timed(lambda: duck.execute(sql).fetchall(), args.runs)
        problem = compare_results(got, exp, "order by" in sql.lower())
        if args.jit:
            con.execute("SET jit = on")
            tj, got_j = timed(lambda: con.execute(sql).fetchall(), args.runs)
            problem = problem or compare_results(got_j, exp, "order by" in sql.lower())
            par_cols = ""
            if par:
                con.execute(f"SET threads = {args.threads}")
                tn, got_n = timed(lambda: con.execute(sql).fetchall(), args.runs)
                con.execute("SET threads = 1")
                problem = problem or compare_results(got_n, exp, "order by" in sql.lower())
                par_cols = f" {tn:9.4f} {tj / tn:6.2f}"
            plan = [r[0] for r in con.execute("EXPLAIN " + sql).fetchall()]
            compiled = ("" if any("JitPipelineExec" in line for line in plan) else
                        " (filters compiled)" if any("(compiled)" in line for line in plan) else
                        " (not compiled)")
            floor = None
            if q in FLOOR_COLUMNS and args.memory:
                floor = read_floor(tables["lineitem"], FLOOR_COLUMNS[q], args.runs)
            if par:
                fs = "-"
                if floor:
                    fs = f"{floor / read_floor(tables['lineitem'], FLOOR_COLUMNS[q], args.runs, args.threads):.2f}"
                par_cols += f" {fs:>11}"
            ratio = tj / tk
            ratios.append(ratio)
            fl = f"{floor:9.4f}" if floor else f"{'-':>9}"
            jf = f"{tj / floor:9.2f}" if floor else f"{'-':>9}"
            note = "ok" if problem is None else "MISMATCH: " + problem
            pq_col = ""
            if duck_pq is not None:
                tp, got_p = timed(lambda: duck_pq.execute(sql).fetchall(), args.runs)
                problem = problem or compare_results(got_p, exp, "order by" in sql.lower())
                pq_col = f"{tp:9.4f} "
            print(f"  Q{q:02d} {td:9.4f} {tj:9.4f} {tk:9.4f} {pq_col}{fl} {ratio:8.2f} {tk / tj:8.2f} {jf} "
                  f"{td / tj:8.2f}{par_cols}  {note}{compiled}")
        else:
            ratio = td / tk
            ratios.append(ratio)
            print(f"  Q{q:02d} {td:9.3f} {tk:9.3f} {ratio:7.2f}  {'ok' if problem is None else 'MISMATCH: ' + problem}")
        sys.stdout.flush()
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    name = "Dawn JIT/DuckDB" if args.jit else "Dawn/DuckDB"
    print(f"geometric mean ratio ({name}): {geo:.2f}; worst: {max(ratios):.2f} "
          f"(Q{qs[ratios.index(max(ratios))]:02d})")
    return 0


# the columns Q1's and Q6's compiled loops read
FLOOR_COLUMNS = {
    1: ["l_quantity", "l_extendedprice", "l_discount", "l_tax", "l_returnflag", "l_linestatus",
        "l_shipdate"],
    6: ["l_quantity", "l_extendedprice", "l_discount", "l_shipdate"],
}


def read_floor(source, columns: list[str], runs: int, threads: int = 1) -> float:
    """Median seconds of one compiled (llvmlite) loop per chunk that reads ``columns`` of the
    in-memory table (strings: the dictionary codes the JIT reads) and sums them: the least a
    pipeline over these columns can cost on this machine. ``threads``: the chunks are shared out
    over that many threads (ctypes releases the GIL), so floor / floorN is how far reading
    memory itself scales here -- the ceiling of a memory-bound query's scaling."""
    import ctypes
    import numpy as np
    from llvmlite import ir
    from engine.jit.execute import _prepare
    from engine.jit.runtime import compile_kernel
    table = source.table.select(columns)
    chunks = []
    for i, b in enumerate(table.to_batches()):
        chunks.append([_prepare(b.column(j), (source, i), c) for j, c in enumerate(columns)])
    kinds = [p[0].kind for p in chunks[0]]

    def build(name: str) -> str:
        i64, f64 = ir.IntType(64), ir.DoubleType()
        i8p = ir.IntType(8).as_pointer()
        m = ir.Module("floor")
        fn = ir.Function(m, ir.FunctionType(f64, [i64, i8p.as_pointer(), i64.as_pointer()]), name)
        n, data, offs = fn.args
        entry, loop, done = (fn.append_basic_block(x) for x in ("entry", "loop", "done"))
        b = ir.IRBuilder(entry)
        bases = []
        for j, k in enumerate(kinds):
            ty = {"f64": f64, "date": ir.IntType(32), "i32": ir.IntType(32), "i64": i64,
                  "dict8": ir.IntType(8), "dict16": ir.IntType(16), "dict32": ir.IntType(32)}[k]
            p = b.bitcast(b.load(b.gep(data, [ir.Constant(i64, j)])), ty.as_pointer())
            bases.append((p, b.load(b.gep(offs, [ir.Constant(i64, j)])), ty))
        b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), loop, done)
        lb = ir.IRBuilder(loop)
        i = lb.phi(i64)
        acc = lb.phi(f64)
        total = acc
        for p, off, ty in bases:
            v = lb.load(lb.gep(p, [lb.add(off, i)]))
            total = lb.fadd(total, v if ty == f64 else lb.sitofp(v, f64), name="racc")
        nxt = lb.add(i, ir.Constant(i64, 1))
        lb.cbranch(lb.icmp_signed("<", nxt, n), loop, done)
        i.add_incoming(ir.Constant(i64, 0), entry)
        i.add_incoming(nxt, loop)
        acc.add_incoming(ir.Constant(f64, 0.0), entry)
        acc.add_incoming(total, loop)
        db = ir.IRBuilder(done)
        r = db.phi(f64)
        r.add_incoming(ir.Constant(f64, 0.0), entry)
        r.add_incoming(total, loop)
        db.ret(r)
        return str(m).replace("= fadd double", "= fadd reassoc double")

    c = compile_kernel("read-floor|" + ",".join(kinds), build)
    fn = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)(c.address)
    calls = []
    for parts in chunks:
        arrs = [p[1] for p in parts]
        d = (ctypes.c_void_p * len(arrs))(*[a.buffers()[1].address for a in arrs])
        o = (ctypes.c_int64 * len(arrs))(*[a.offset for a in arrs])
        calls.append((len(arrs[0]), d, o))

    def part(cs):
        return sum(fn(n, ctypes.addressof(d), ctypes.addressof(o)) for n, d, o in cs)
    if threads <= 1:
        return timed(lambda: part(calls), runs)[0]
    from concurrent.futures import ThreadPoolExecutor
    shares = [calls[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        return timed(lambda: sum(pool.map(part, shares)), runs)[0]


if __name__ == "__main__":
    sys.exit(main())
