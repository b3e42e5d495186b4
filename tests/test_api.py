"""The Python entry point, EXPLAIN forms, the optimizer driver, the CLI and import time."""
from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest

import engine


@pytest.fixture()
def con():
    c = engine.connect()
    c.register("t", pa.table({"a": [1, 2, 1, None], "b": [10, 20, 30, 40], "c": [0, 2, 3, 5]}))
    return c


def test_vertical_slice(con):
    rows = con.execute("SELECT a, sum(b) FROM t WHERE c > 1 GROUP BY a ORDER BY a").fetchall()
    assert rows == [(1, 30), (2, 20), (None, 40)]


def test_fetch_arrow_and_df(con):
    t = con.execute("SELECT a, b FROM t ORDER BY b").fetch_arrow_table()
    assert t.column_names == ["a", "b"] and t.column("b").to_pylist() == [10, 20, 30, 40]
    df = con.execute("SELECT b FROM t WHERE b > 15 ORDER BY b").fetch_df()
    assert list(df["b"]) == [20, 30, 40]


def test_register_pandas():
    c = engine.connect()
    c.register("p", pd.DataFrame({"x": [1.5, 2.5], "y": ["u", "v"]}))
    assert c.execute("SELECT y FROM p WHERE x > 2").fetchall() == [("v",)]


def test_parameters_are_values_not_sql(con):
    rows = con.execute("SELECT b FROM t WHERE a = ? AND b > ? ORDER BY b", [1, 5]).fetchall()
    assert rows == [(10,), (30,)]
    evil = "1 OR 1=1"
    assert con.execute("SELECT count(*) FROM t WHERE CAST(a AS VARCHAR) = ?", [evil]).fetchall() == [(0,)]
    assert con.execute("SELECT '?' AS q, ? AS v", [7]).fetchall() == [("?", 7)]
    assert con.execute("SELECT b FROM t WHERE a = :x ORDER BY b", {"x": 2}).fetchall() == [(20,)]


def test_explain_shows_estimates(con):
    lines = [r[0] for r in con.execute("EXPLAIN SELECT a, sum(b) FROM t WHERE c > 1 GROUP BY a").fetchall()]
    assert lines[0].startswith("ProjectExec")
    assert all(" rows=" in l and " cost=" in l for l in lines)
    assert any("ScanExec" in l and "filters=[(c#" in l for l in lines)


def test_explain_analyze_shows_actuals(con):
    lines = [r[0] for r in con.execute("EXPLAIN ANALYZE SELECT a FROM t WHERE c > 1").fetchall()]
    scan = next(l for l in lines if "ScanExec" in l)
    assert "actual_rows=3" in scan and "time=" in scan and "bytes_read=" in scan
    assert lines[-1].startswith("Total: rows=3")


def test_explain_verbose_lists_rules_and_rules_can_be_disabled(con):
    con.register("u", pa.table({"a": [1, 2], "d": ["x", "y"]}))
    sql = "SELECT t.b, u.d FROM t, u WHERE t.a = u.a AND t.c > 1"
    text = "\n".join(r[0] for r in con.execute("EXPLAIN VERBOSE " + sql).fetchall())
    assert "HashJoinExec" in text
    assert "Rules fired:" in text and "pushdown_filters" in text
    before = sorted(con.execute(sql).fetchall())
    con.execute("SET disabled_rules = 'pushdown_filters,reorder_joins'")
    text = "\n".join(r[0] for r in con.execute("EXPLAIN VERBOSE " + sql).fetchall())
    assert "NestedLoopJoinExec" in text and "pushdown_filters" not in text.split("Rules fired:")[1]
    assert sorted(con.execute(sql).fetchall()) == before


def test_predicate_pushed_into_join_sides(con):
    con.register("u", pa.table({"a": [1, 2], "d": ["x", "y"]}))
    text = "\n".join(r[0] for r in con.execute(
        "EXPLAIN SELECT * FROM t JOIN u ON t.a = u.a WHERE u.d = 'x' AND t.b > 10").fetchall())
    assert re.search(r"ScanExec: table=u columns=\[a#\d+, d#\d+\] filters=\[\(d#", text), text
    assert "filters=[(b#" in text


def test_top_n(con):
    text = "\n".join(r[0] for r in con.execute("EXPLAIN SELECT b FROM t ORDER BY b DESC LIMIT 2").fetchall())
    assert "TopNExec" in text and "limit=2" in text
    assert con.execute("SELECT b FROM t ORDER BY b DESC LIMIT 2").fetchall() == [(40,), (30,)]


def test_select_without_from_and_values():
    c = engine.connect()
    assert c.execute("SELECT 1 + 2 AS x, 'a' || 'b'").fetchall() == [(3, "ab")]
    assert c.execute("SELECT * FROM (VALUES (1, 'x'), (2, NULL)) v(n, s) ORDER BY n").fetchall() == \
        [(1, "x"), (2, None)]


def test_cli_runs_sql():
    p = subprocess.run([sys.executable, "-m", "engine.interfaces.cli", "-c", "SELECT 40 + 2 AS answer"],
                       capture_output=True, text=True, check=True)
    assert "│ answer │" in p.stdout and "│     42 │" in p.stdout
    assert re.fullmatch(r"run [0-9a-f]{32}\n", p.stderr)  # the tracked run's id, after the statement


def test_cli_reports_errors():
    p = subprocess.run([sys.executable, "-m", "engine.interfaces.cli", "-c", "SELECT * FROM nope"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and 'Table "nope" does not exist' in p.stderr
    assert re.search(r"^run [0-9a-f]{32}$", p.stderr, re.M)  # failed statements are runs too


def test_import_engine_is_fast():
    code = "import time; t=time.perf_counter(); import engine; print(time.perf_counter()-t)"
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(3)]
    assert min(times) < 0.5, times


def test_dawn_demo_runs_every_showcase(tmp_path):
    """The README's first command: every showcase query runs, video included, and is tracked."""
    import io
    from engine.interfaces.demo import run_demo
    out = io.StringIO()
    assert run_demo(0.01, str(tmp_path / "demo"), out=out) == 0
    text = out.getvalue()
    assert text.count("== ") >= 6 and "Demo finished" in text
    assert "UDF people_count: calls=0" in text            # the EXPLAIN ANALYZE rerun hits the cache
    # the one failed run is the refusal the demo shows on purpose
    failed = [ln for ln in text.splitlines() if "FAILED" in ln]
    assert len(failed) == 1 and "RENAME" in failed[0] and "EXPLAIN ANALYZE" in text
    assert "NotSupportedError: * RENAME is not supported" in text
    assert "== Arrow Flight SQL: dawn serve on grpc://127.0.0.1:" in text   # served and queried
    assert "MIDDLE EAST" in text and "tracked run with source 'flight'" in text
