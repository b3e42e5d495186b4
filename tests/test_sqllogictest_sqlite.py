"""SQLite's sqllogictest sample: Dawn passes at least as many query records as DuckDB in every
file (ISSUE_5_11.md, acceptance 3). Slow (tens of thousands of queries); the figures per file are
printed by ``python benchmarks/sqllogictest_sqlite.py``, which this test runs."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import sqllogictest_sqlite  # noqa: E402

ROOT = sqllogictest_sqlite.sample_dir()


def test_the_runner_reads_sqlites_format(tmp_path):
    # one value per line, a hash above the threshold, rowsort, skipif/onlyif by engine name and
    # a halt that only stops the engines it names; DuckDB's answers set the expectation
    import slt_plugin
    f = tmp_path / "mini.test"
    f.write_text(
        "hash-threshold 8\n\nstatement ok\nCREATE TABLE t(a INTEGER, b VARCHAR)\n\n"
        "statement ok\nINSERT INTO t VALUES (2, 'x y'), (1, NULL), (3, '')\n\n"
        "query IT rowsort\nSELECT a, b FROM t\n----\n1\nNULL\n2\nx y\n3\n(empty)\n\n"
        "query I nosort\nSELECT t.a FROM t, t AS u ORDER BY 1\n----\n9 values hashing to "
        "245313dc4e9fc19df7ee93651efe9bf2\n\n"
        "onlyif mysql\nquery I nosort\nSELECT 1 DIV 0\n----\n0\n\n"
        "skipif mysql\nhalt\n\nquery I nosort\nSELECT 42\n----\n7\n")
    for engine in ("duckdb", "dawn"):
        out = slt_plugin.run_file(f, engine, label="sqlite", values_per_line=True)
        queries = [o for o in out if o.record.kind == "query"]
        assert [o.status for o in queries] == ["pass", "pass", "skip"], [(o.status, o.message) for o in queries]


@pytest.mark.slow
@pytest.mark.skipif(ROOT is None, reason="the sqllogictest sample (shared/data/sqllogictest) is absent")
def test_dawn_passes_as_many_sqlite_queries_as_duckdb():
    rows = sqllogictest_sqlite.run_sample(ROOT)
    for r in rows:
        print(f"{r['file']}: {r['queries']} queries, {r['run']} run, DuckDB {r['duckdb']}, Dawn {r['dawn']}")
    short = [r for r in rows if r["dawn"] < r["duckdb"]]
    assert not short, "\n".join(
        f"{r['file']}: Dawn {r['dawn']} < DuckDB {r['duckdb']}; e.g. line {r['dawn_lost'][0]['line']}: "
        f"{r['dawn_lost'][0]['sql']!r} -> {r['dawn_lost'][0]['dawn']}" for r in short)
