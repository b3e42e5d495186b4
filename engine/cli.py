"""The ``dawn`` command: ``dawn -c "SQL"`` runs statements and prints results;
``dawn demo`` builds a demo database and runs showcase queries with EXPLAIN ANALYZE."""
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


def run_sql(con, sql: str, out=sys.stdout) -> None:
    cur = con.execute(sql)
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
    args = ap.parse_args(argv)
    import engine
    if args.cmd == "demo":
        from engine.demo import run_demo
        return run_demo(args.sf, args.dir)
    if args.command:
        con = engine.connect(args.database)
        try:
            run_sql(con, args.command)
        except engine.Error as e:
            print(f"Error: {e}", file=sys.stderr)
            return 1
        return 0
    ap.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
