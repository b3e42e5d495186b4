"""The ``dawn`` command: ``dawn -c "SQL"`` runs statements and prints results;
``dawn demo`` builds a demo database and runs showcase queries with EXPLAIN ANALYZE;
``dawn runs list|show|compare|export|gc`` reads the run log (catalog/tracking.py)."""
from __future__ import annotations

import argparse
import os
import sys
import time


def format_table(table, max_rows: int = 40) -> str:
    """A plain-text grid of an Arrow table (header, rule, rows), truncated to max_rows."""
    names = table.column_names
    rows = table.slice(0, max_rows).to_pylist()
    cells = [[_fmt(r[n]) for n in names] for r in rows] if names else []
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]
    out = [" | ".join(n.ljust(w) for n, w in zip(names, widths)),
           "-+-".join("-" * w for w in widths)]
    for c in cells:
        out.append(" | ".join(v.ljust(w) for v, w in zip(c, widths)))
    more = table.num_rows - len(rows)
    out.append(f"({table.num_rows} row{'s' if table.num_rows != 1 else ''}"
               f"{f', {more} not shown' if more > 0 else ''})")
    return "\n".join(out)


def _fmt(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e15 else repr(v)
    return str(v)


def run_sql(con, sql: str, out=None, err=None) -> None:
    """Run ``sql`` and print its result; the tracked run's id goes to ``err`` (stderr), so piped
    output stays the result alone."""
    out = out or sys.stdout
    cur = con.cursor()
    try:
        cur.execute(sql)
    finally:
        if cur.run_id:
            print(f"run {cur.run_id}", file=err or sys.stderr)
    if cur.description is not None:
        t = cur.fetch_arrow_table()
        if t.column_names == ["explain"]:
            print("\n".join(t.column(0).to_pylist()), file=out)
        else:
            print(format_table(t), file=out)
    else:
        print(f"OK ({cur.rowcount} rows affected)" if cur.rowcount >= 0 else "OK", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="dawn", description="Dawn: SQL for analytics that call ML models")
    ap.add_argument("-c", "--command", help="SQL to run (several statements separated by ';')")
    ap.add_argument("-d", "--database", default=":memory:", help="database file (default :memory:)")
    sub = ap.add_subparsers(dest="cmd")
    demo = sub.add_parser("demo", help="build a demo database and run showcase queries")
    demo.add_argument("--sf", type=float, default=0.1, help="TPC-H scale factor of the demo data")
    demo.add_argument("--dir", default=None, help="where to put the demo data")
    runs = sub.add_parser("runs", help="the run log: every statement is a tracked run")
    runs.add_argument("-d", "--database", dest="runs_database", default=None,
                      help="database file (default: -d before 'runs', or $DAWN_DATABASE)")
    rsub = runs.add_subparsers(dest="runs_cmd", required=True)
    ls = rsub.add_parser("list", help="recent runs, newest first")
    ls.add_argument("--experiment", "-e", default=None)
    ls.add_argument("--status", default=None, choices=["RUNNING", "FINISHED", "FAILED"])
    ls.add_argument("--limit", "-n", type=int, default=20)
    show = rsub.add_parser("show", help="one run: fields, params, metrics, tags, artifacts")
    show.add_argument("run", help="run id (a unique prefix or suffix is enough)")
    cmp_ = rsub.add_parser("compare", help="params and metrics that differ between two runs")
    cmp_.add_argument("run_a")
    cmp_.add_argument("run_b")
    ex = rsub.add_parser("export", help="write runs in MLflow's format, or log them to an MLflow server")
    ex.add_argument("--mlflow", metavar="DIR", help="MLflow file-store directory to write")
    ex.add_argument("--mlflow-uri", metavar="URI", help="MLflow tracking URI to log to (needs mlflow)")
    ex.add_argument("--experiment", "-e", default=None)
    gc = rsub.add_parser("gc", help="delete runs older than the retention (SET GLOBAL run_retention_days)")
    gc.add_argument("--days", type=float, default=None, help="override the retention, in days")
    args = ap.parse_args(argv)
    import engine
    if args.cmd == "runs":
        from engine.runs_cli import run_runs_command
        db = args.runs_database or (args.database if args.database != ":memory:" else None) \
            or os.environ.get("DAWN_DATABASE")
        return run_runs_command(args, db)
    if args.cmd == "demo":
        from engine.demo import run_demo
        return run_demo(args.sf, args.dir)
    if args.command:
        con = engine.connect(args.database, autocommit=True, source="shell")
        try:
            run_sql(con, args.command)
        except engine.Error as e:
            print(f"Error: {e}", file=sys.stderr)
            return 1
        finally:
            con.close()
        return 0
    ap.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
