"""SQLite's sqllogictest sample on Dawn and on DuckDB: the query records each engine passes.

    python benchmarks/sqllogictest_sqlite.py                 # every file, Dawn beside DuckDB
    python benchmarks/sqllogictest_sqlite.py --failures out.json   # + the records DuckDB
                                                             # passes and Dawn fails

The sample (``shared/data/sqllogictest``, README there; ``--dir`` or ``DAWN_SLT_SQLITE_DIR``
point elsewhere) is SQLite's corpus: one value per result line, hash thresholds, rowsort/valuesort,
and the answers are SQLite's (integer division truncates...), so neither engine passes every
record; Dawn follows DuckDB's semantics, so the measure is Dawn passing at least as many queries
as DuckDB in every file. Records run through tests/slt_plugin.py's runner, in order, on one
connection per file and engine.

Engine names in skipif/onlyif (sqlite, mysql, postgresql, mssql, oracle): both engines answer to
``sqlite`` (``--label``), so both run exactly the records SQLite runs, whose expected answers the
files hold (``onlyif mysql`` variants are skipped, ``skipif postgresql`` ones run, and a
``skipif sqlite`` + ``halt`` does not stop the file). A query counts as passed when its result
matches (values or hash); a ``query error`` record when the engine raises.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

RECORD_TIMEOUT_S = 30  # a statement past this fails (best effort: SIGALRM in the worker)


def sample_dir(explicit: str | None = None) -> Path | None:
    """Where the sample is: --dir, $DAWN_SLT_SQLITE_DIR, or a shared/ folder above the checkout."""
    cands = [explicit, os.environ.get("DAWN_SLT_SQLITE_DIR")]
    cands += [str(p / "shared" / "data" / "sqllogictest") for p in (ROOT, *ROOT.parents)]
    for c in cands:
        if c and Path(c).is_dir():
            return Path(c)
    return None


def test_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.test"))


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"statement ran past {RECORD_TIMEOUT_S}s")


def run_one(job: tuple[str, str, str]) -> dict:
    """One file on one engine: counts and the outcome of every query record."""
    path, engine, label = job
    import slt_plugin

    signal.signal(signal.SIGALRM, _alarm)
    real_run = slt_plugin.run_record

    def timed(db, rec):
        signal.alarm(RECORD_TIMEOUT_S)
        try:
            real_run(db, rec)
        except _Timeout as e:
            raise slt_plugin.SltFailure(str(e)) from None
        finally:
            signal.alarm(0)

    slt_plugin.run_record = timed
    t0 = time.perf_counter()
    outcomes = slt_plugin.run_file(path, engine, label=label, values_per_line=True)
    seconds = time.perf_counter() - t0
    queries = {o.record.line: (o.status, o.message[:500]) for o in outcomes if o.record.kind == "query"}
    statements_failed = sum(1 for o in outcomes if o.record.kind == "statement" and o.status == "fail")
    return {"path": path, "engine": engine, "seconds": seconds, "queries": queries,
            "statements_failed": statements_failed}


def run_sample(root: Path, label: str = "sqlite", workers: int = 2,
               files: list[Path] | None = None) -> list[dict]:
    """Per file: query records in the file, records run, passed on DuckDB and on Dawn, and the
    records DuckDB passes and Dawn fails (with Dawn's message and the SQL)."""
    import slt_plugin

    files = files if files is not None else test_files(root)
    jobs = [(str(f), e, label) for f in files for e in ("duckdb", "dawn")]
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            done = pool.map(run_one, jobs, chunksize=1)
    else:
        done = [run_one(j) for j in jobs]
    by = {(d["path"], d["engine"]): d for d in done}
    rows = []
    for f in files:
        duck, dawn = by[(str(f), "duckdb")], by[(str(f), "dawn")]
        records = {r.line: r for r in slt_plugin.parse_slt(f.read_text(), True) if r.kind == "query"}
        lost = [{"line": line, "sql": records[line].sql, "dawn": dawn["queries"][line][1]}
                for line, (st, _) in sorted(duck["queries"].items())
                if st == "pass" and dawn["queries"].get(line, ("",))[0] != "pass"]
        rows.append({
            "file": str(f.relative_to(root)), "queries": len(records),
            "run": sum(1 for st, _ in duck["queries"].values() if st != "skip"),
            "duckdb": sum(1 for st, _ in duck["queries"].values() if st == "pass"),
            "dawn": sum(1 for st, _ in dawn["queries"].values() if st == "pass"),
            "duckdb_s": duck["seconds"], "dawn_s": dawn["seconds"],
            "statements_failed": {"duckdb": duck["statements_failed"], "dawn": dawn["statements_failed"]},
            "dawn_lost": lost})
    return rows


_QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')


def _short(m: re.Match) -> str:
    """A quoted name stays (a function's); quoted SQL (spaces, parentheses) becomes '…'."""
    text = m.group(0)
    return text if len(text) < 30 and not any(ch in text for ch in " (") else text[0] + "…" + text[0]


def _signature(msg: str) -> str:
    first = msg.splitlines()[0] if msg else ""
    first = _QUOTED.sub(_short, first)
    return re.sub(r"(?<![A-Za-z_])\d+", "N", first)[:150]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", help="the sample's folder")
    ap.add_argument("--label", default="sqlite", help="engine name for skipif/onlyif (both engines)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--failures", help="write the records DuckDB passes and Dawn fails (JSON)")
    args = ap.parse_args(argv)
    root = sample_dir(args.dir)
    if root is None:
        print("the sqllogictest sample is not here (--dir, DAWN_SLT_SQLITE_DIR)", file=sys.stderr)
        return 2
    t0 = time.time()
    rows = run_sample(root, args.label, args.workers)
    print(f"SQLite sqllogictest sample in {root} (skipif/onlyif as {args.label!r})\n")
    print(f"{'file':<40}{'queries':>9}{'run':>8}{'DuckDB':>8}{'Dawn':>8}{'Dawn-DuckDB':>13}"
          f"{'DuckDB s':>10}{'Dawn s':>9}")
    tot = {k: 0 for k in ("queries", "run", "duckdb", "dawn")}
    for r in rows:
        for k in tot:
            tot[k] += r[k]
        print(f"{r['file']:<40}{r['queries']:>9}{r['run']:>8}{r['duckdb']:>8}{r['dawn']:>8}"
              f"{r['dawn'] - r['duckdb']:>+13}{r['duckdb_s']:>10.1f}{r['dawn_s']:>9.1f}")
    print(f"{'total':<40}{tot['queries']:>9}{tot['run']:>8}{tot['duckdb']:>8}{tot['dawn']:>8}"
          f"{tot['dawn'] - tot['duckdb']:>+13}")
    lost = [dict(l, file=r["file"]) for r in rows for l in r["dawn_lost"]]
    if lost:
        from collections import Counter
        print(f"\n{len(lost)} queries DuckDB passes and Dawn fails, by Dawn's message:")
        for sig, n in Counter(_signature(l["dawn"]) for l in lost).most_common(30):
            print(f"{n:6d}  {sig}")
    if args.failures:
        Path(args.failures).write_text(json.dumps(lost, indent=1))
    print(f"\n{time.time() - t0:.0f}s")
    return 0 if all(r["dawn"] >= r["duckdb"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
