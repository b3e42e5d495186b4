"""``dawn runs ...``: list, show, compare, export and garbage-collect tracked runs. Tables print
with the shared renderer (render.py): metrics at full precision, numbers right-aligned."""
from __future__ import annotations

import datetime as _dt
import os
import sys

import pyarrow as pa

from engine.interfaces.render import display_width, output_width, render_table


def format_table(table: pa.Table, max_rows: int = 40) -> str:
    return render_table(table, max_rows=max_rows,
                        readable_numbers=hasattr(sys.stdout, "isatty") and sys.stdout.isatty())


def _when(ms) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000).isoformat(sep=" ", timespec="seconds") if ms else ""


def _short(s: str | None, n: int = 60) -> str:
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _find(tracker, prefix: str) -> dict:
    from catalog.mlflow_export import collect
    p = prefix.lower()
    t = tracker.read("runs", "WHERE run_id LIKE ? OR run_id LIKE ?", [p + "%", "%" + p])
    ids = t.column("run_id").to_pylist()
    if not ids:
        raise LookupError(f"No run with id {prefix!r}")
    if len(ids) > 1:
        raise LookupError(f"Run id {prefix!r} is ambiguous: {', '.join(sorted(ids)[:5])}")
    return collect(tracker, run_ids=ids)[0]


def run_runs_command(args, database: str | None, out=None) -> int:
    import engine
    out = out or sys.stdout
    if not database or database == ":memory:":
        print("Error: dawn runs needs a database file: dawn -d FILE runs ... (or set DAWN_DATABASE)",
              file=sys.stderr)
        return 1
    if not os.path.isfile(database):
        # opening it would create an empty database and list nothing: a typo would look like no runs
        print(f"Error: no database file '{database}'", file=sys.stderr)
        return 1
    try:
        con = engine.connect(database)
    except engine.Error as e:
        print(f"Error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    con._session._tracker = None  # reading the log is not itself a run
    tracker = con._session.db.tracker()
    try:
        return _dispatch(args, con, tracker, out)
    except LookupError as e:
        print(f"Error: {e.args[0]}", file=sys.stderr)
        return 1
    finally:
        con.close()


def _dispatch(args, con, tracker, out) -> int:
    cmd = args.runs_cmd
    if cmd == "list":
        where, params = [], []
        if args.experiment:
            where.append("lower(experiment) = lower(?)")
            params.append(args.experiment)
        if args.status:
            where.append("status = ?")
            params.append(args.status)
        clause = ("WHERE " + " AND ".join(where) if where else "") + \
            f" ORDER BY start_time DESC, run_id LIMIT {int(args.limit)}"
        rows = tracker.read("runs", clause, params).to_pylist()

        def listing(sql_chars: int) -> pa.Table:
            return pa.table({
                "run_id": pa.array([r["run_id"] for r in rows], pa.string()),
                "experiment": pa.array([r["experiment"] for r in rows], pa.string()),
                "status": pa.array([r["status"] for r in rows], pa.string()),
                "started": pa.array([_when(r["start_time"])[:16] for r in rows], pa.string()),
                "ms": pa.array([round(r["duration_ms"] or 0.0, 2) for r in rows], pa.float64()),
                "kind": pa.array([r["statement_kind"] for r in rows], pa.string()),
                "sql": pa.array([_short(r["sql"], sql_chars) for r in rows], pa.string())})
        # the SQL gives way, so that run ids, which are what one copies, are shown whole
        width = output_width()
        n = max(args.limit, 1)
        full = listing(60)
        over = display_width(render_table(full, max_rows=n, max_width=10**6).split("\n", 1)[0]) - width
        if over > 0:
            longest = max([display_width(v) for v in full.column("sql").to_pylist()] + [7])
            full = listing(max(longest - over, 12))
        print(format_table(full, max_rows=n), file=out)
        return 0
    if cmd == "show":
        r = _find(tracker, args.run)
        lines = [f"run {r['run_id']}",
                 f"  experiment  {r['experiment']} ({r['experiment_id']})",
                 f"  status      {r['status']}",
                 f"  started     {_when(r['start_time'])}   duration {r['duration_ms']:.2f} ms",
                 f"  user        {r['user_name']}   source {r['source']}   session {r['session_id']}",
                 f"  kind        {r['statement_kind']}   plan hash {r['plan_hash']}",
                 "  sql         " + r["sql"].replace("\n", "\n              ")]
        if r["error"]:
            lines.append(f"  error       {r['error']}")
        for title, d in (("params", r["params"]), ("tags", r["tags"])):
            keys = sorted(d)
            lines.append(f"{title}:")
            lines.append(format_table(pa.table({"name": pa.array(keys, pa.string()),
                                                "value": pa.array([str(d[k]) for k in keys], pa.string())}),
                                      max_rows=max(len(keys), 1)))
        keys = sorted(r["metrics"])
        lines.append("metrics:")
        lines.append(format_table(pa.table({"metric": pa.array(keys, pa.string()),
                                            "value": pa.array([r["metrics"][k][0] for k in keys], pa.float64())}),
                                  max_rows=max(len(keys), 1)))
        lines.append("artifacts:")
        for p, v in sorted(r["artifacts"].items()):
            lines.append(f"  {p}:")
            lines.extend("    " + ln for ln in v.split("\n"))
        print("\n".join(lines), file=out)
        return 0
    if cmd == "compare":
        a, b = _find(tracker, args.run_a), _find(tracker, args.run_b)
        print(f"A = {a['run_id']}  {_short(a['sql'])}\nB = {b['run_id']}  {_short(b['sql'])}", file=out)
        keys = sorted(set(a["params"]) | set(b["params"]))
        diff = [(k, a["params"].get(k), b["params"].get(k)) for k in keys if a["params"].get(k) != b["params"].get(k)]
        print("params that differ:" if diff else "params: identical", file=out)
        if diff:
            print(format_table(pa.table({"param": [d[0] for d in diff], "A": [d[1] for d in diff],
                                         "B": [d[2] for d in diff]}), max_rows=len(diff)), file=out)
        keys = sorted(set(a["metrics"]) | set(b["metrics"]))
        va = [a["metrics"].get(k, (None,))[0] for k in keys]
        vb = [b["metrics"].get(k, (None,))[0] for k in keys]
        delta = [None if x is None or y is None else y - x for x, y in zip(va, vb)]
        ratio = [None if x in (None, 0) or y is None else round(y / x, 3) for x, y in zip(va, vb)]
        print("metrics:", file=out)
        print(format_table(pa.table({"metric": keys, "A": pa.array(va, pa.float64()),
                                     "B": pa.array(vb, pa.float64()), "B-A": pa.array(delta, pa.float64()),
                                     "B/A": pa.array(ratio, pa.float64())}), max_rows=len(keys)), file=out)
        for name in ("plan_hash", "status", "experiment"):
            if a[name] != b[name]:
                print(f"{name}: A={a[name]} B={b[name]}", file=out)
        return 0
    if cmd == "export":
        from catalog.mlflow_export import ExportError, export_file_store, export_to_server, file_store_note
        if not args.mlflow and not args.mlflow_uri:
            print("Error: dawn runs export: give --mlflow DIR or --mlflow-uri URI", file=sys.stderr)
            return 1
        try:
            if args.mlflow:
                n = export_file_store(tracker, args.mlflow, args.experiment)
                print(f"wrote {n} runs to {args.mlflow} (MLflow file store)", file=out)
                print(file_store_note(args.mlflow), file=out)
            if args.mlflow_uri:
                ids = export_to_server(tracker, args.mlflow_uri, args.experiment)
                print(f"logged {len(ids)} runs to {args.mlflow_uri}", file=out)
        except ExportError as e:
            print(f"Error: dawn runs export: {e}", file=sys.stderr)
            return 1
        return 0
    if cmd == "gc":
        from catalog.tracking import DEFAULT_RETENTION_DAYS
        days = args.days
        if days is None:
            days = float(con._session.settings.get("run_retention_days", DEFAULT_RETENTION_DAYS))
        n = tracker.gc(days)
        print(f"deleted {n} runs older than {days:g} days", file=out)
        return 0
    raise AssertionError(cmd)
