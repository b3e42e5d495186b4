"""Tracking overhead: trivial SELECTs with run tracking on and off, beside MLflow's own file store.

    python benchmarks/tracking.py [--statements 10000] [--database PATH]

Runs ``--statements`` trivial SELECTs with ``SET tracking = on`` and as many with it off, in
alternating blocks of 500 so machine noise hits both alike, on a database file. Prints the median
time per statement in each mode and the difference (target: at most 1 ms added), then the time
MLflow's file store takes to log one run with the same params, metrics and tags (for scale),
and checks every tracked statement was stored.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--statements", type=int, default=10_000)
    ap.add_argument("--database", default=None)
    ap.add_argument("--mlflow-runs", type=int, default=50)
    args = ap.parse_args(argv)
    import engine

    tmp = tempfile.mkdtemp(prefix="dawn-tracking-")
    path = args.database or os.path.join(tmp, "bench.db")
    con = engine.connect(path, autocommit=True)
    cur = con.cursor()
    for _ in range(200):  # warm up imports and caches
        cur.execute("SELECT 1")
        cur.fetchall()
    times = {"on": [], "off": []}
    block = 500
    done = 0
    on_ids = []
    while done < args.statements:
        for mode in ("on", "off"):
            cur.execute(f"SET tracking = {mode}")
            ts = times[mode]
            for i in range(block):
                t0 = time.perf_counter()
                cur.execute("SELECT 1 AS x")
                cur.fetchall()
                ts.append(time.perf_counter() - t0)
                if mode == "on":
                    on_ids.append(cur.run_id)
        done += block
    cur.execute("SET tracking = on")
    on_ms = statistics.median(times["on"]) * 1000
    off_ms = statistics.median(times["off"]) * 1000
    cur.execute("SELECT count(*) FROM dawn.runs WHERE sql = 'SELECT 1 AS x'")
    stored = cur.fetchall()[0][0]
    cur.execute("SELECT key, value FROM dawn.params WHERE run_id = ?", [on_ids[-1]])
    params = dict(cur.fetchall())
    cur.execute("SELECT key, value FROM dawn.metrics WHERE run_id = ?", [on_ids[-1]])
    metrics = dict(cur.fetchall())
    cur.execute("SELECT key, value FROM dawn.tags WHERE run_id = ?", [on_ids[-1]])
    tags = dict(cur.fetchall())
    con.close()

    print(f"{len(times['on'])} trivial SELECTs per mode, one thread, database file {path}")
    print(f"{'measure':<40} {'ms/statement':>13}")
    print(f"{'tracking off':<40} {off_ms:13.4f}")
    print(f"{'tracking on':<40} {on_ms:13.4f}")
    print(f"{'added by tracking (median)':<40} {on_ms - off_ms:13.4f}   target <= 1 ms   ratio on/off {on_ms / off_ms:.3f}")
    mean_on, mean_off = (statistics.fmean(times[m]) * 1000 for m in ("on", "off"))
    print(f"{'added by tracking (mean, incl. flushes)':<40} {mean_on - mean_off:13.4f}")
    print(f"runs stored: {stored} of {len(on_ids)}")
    assert stored == len(on_ids), "a tracked statement was not stored"

    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        print("mlflow not installed: no MLflow comparison")
        return 0
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import logging
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    client = MlflowClient(tracking_uri="file://" + os.path.join(tmp, "mlruns"))
    exp = client.create_experiment("bench")
    from mlflow.entities import Metric, Param, RunTag
    ts = []
    for _ in range(args.mlflow_runs):
        t0 = time.perf_counter()
        run = client.create_run(exp)
        now = int(time.time() * 1000)
        client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                         params=[Param(k, v) for k, v in params.items()],
                         tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run.info.run_id)
        ts.append(time.perf_counter() - t0)
    ml_ms = statistics.median(ts) * 1000
    print(f"{'MLflow file store, one run (same data)':<40} {ml_ms:13.4f}   "
          f"Dawn's added cost is {ml_ms / max(on_ms - off_ms, 1e-6):.0f}x smaller (mlflow {mlflow.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
