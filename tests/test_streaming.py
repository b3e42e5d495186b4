"""Statements that stream and prepared statements (engine/statements): a huge result's first
row arrives at once in bounded memory, every reader (DB-API fetches, Arrow, pandas, the command
line, ``Statement.execute``) reads the same stream, the run ends when the stream does, and a
prepared statement knows its result schema before it runs and binds parameters per execution."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import duckdb
import pyarrow as pa
import pytest

import engine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_first_row_of_a_hundred_million_at_once_in_bounded_memory():
    """Acceptance: the first fetchone() within 1 s, memory growing by under 1 GB (the whole
    result would be 1.6 GB of int64 pairs)."""
    out = _python("""
        import resource, time, engine
        con = engine.connect()
        con.execute("SELECT 1").fetchall()          # imports and catalog set-up
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        cur = con.execute("SELECT range, range * 2 FROM range(100000000)")
        first = cur.fetchone()
        took = time.perf_counter() - t0
        rows = 1 + len(cur.fetchmany(5000))
        for b in cur.fetch_record_batch(1 << 20):
            rows += b.num_rows
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(first, round(took, 3), rows, round(grew), cur.rowcount)
    """)
    first, took, rows, grew, rowcount = out.rsplit(" ", 4)[0], *map(float, out.split()[-4:])
    assert out.startswith("(0, 0) ")
    assert took < 1.0, out
    assert rows == 100_000_000 and rowcount == 100_000_000
    assert grew < 1024, f"memory grew by {grew} MB"


@pytest.fixture()
def con():
    c = engine.connect()
    yield c
    c.close()


def _run(con, run_id: str) -> tuple[str, dict, dict]:
    """A run's status, metrics and tags, from the run log as a user reads it."""
    status = con.execute("SELECT status FROM dawn.runs WHERE run_id = ?", [run_id]).fetchone()[0]
    metrics = dict(con.execute("SELECT key, value FROM dawn.metrics WHERE run_id = ?", [run_id]).fetchall())
    tags = dict(con.execute("SELECT key, value FROM dawn.tags WHERE run_id = ?", [run_id]).fetchall())
    return status, metrics, tags


def test_every_reader_reads_the_same_stream(con):
    sql = "SELECT range AS i, range % 7 AS m FROM range(300000)"
    want = duckdb.sql(sql).fetchall()
    cur = con.execute(sql)
    assert cur.rowcount == -1            # still streaming: PEP 249's unknown count
    got = [cur.fetchone() for _ in range(3)] + cur.fetchmany(5000) + cur.fetchmany(100_000)
    assert got == want[:len(got)]
    rest = cur.fetch_arrow_table()       # what is left, not the whole result again
    assert rest.num_rows == len(want) - len(got)
    assert list(zip(*[c.to_pylist() for c in rest.columns])) == want[len(got):]
    assert cur.rowcount == 300_000 and cur.fetchone() is None
    df = con.execute(sql).fetch_df()
    assert len(df) == 300_000 and int(df.m.sum()) == sum(r[1] for r in want)
    assert con.execute(sql).fetchall() == want


def test_small_results_are_complete_when_execute_returns(con):
    cur = con.execute("SELECT * FROM range(10)")
    assert cur.rowcount == 10
    status, metrics, _ = _run(con, cur.run_id)
    assert status == "FINISHED" and metrics["rows_out"] == 10


def test_run_ends_when_the_stream_ends_or_closes(con):
    cur = con.cursor()
    cur.execute("SELECT range FROM range(1000000)")
    run_id = cur.run_id
    assert cur.fetchone() == (0,)
    cur.close()                          # closing the cursor stops the statement
    status, metrics, tags = _run(con, run_id)
    assert status == "FINISHED" and tags["dawn.closed_early"] == "true"
    assert metrics["rows_out"] < 1_000_000
    reader = con.prepare("SELECT range FROM range(1000000)")[0].execute()
    run_id = con._session.last_run_id
    assert reader.read_next_batch().num_rows > 0
    del reader                           # a reader dropped (or closed) ends the statement
    status, metrics, tags = _run(con, run_id)
    assert status == "FINISHED" and tags["dawn.closed_early"] == "true"
    # a reader still open when another statement runs is ended: reading on raises, never a
    # silently short result
    reader = con.prepare("SELECT range FROM range(1000000)")[0].execute()
    run_id = con._session.last_run_id
    reader.read_next_batch()
    con.execute("SELECT 1")
    with pytest.raises(engine.InterfaceError, match="another statement"):
        reader.read_all()
    assert _run(con, run_id)[2]["dawn.closed_early"] == "true"


def test_an_error_in_a_later_batch_raises_at_fetch_and_fails_the_run(con):
    # the 200,000th row does not fit a TINYINT: the first batches stream fine
    cur = con.execute("SELECT CAST(CASE WHEN range = 199999 THEN 1000 ELSE 1 END AS TINYINT) AS v "
                      "FROM range(200000)")
    assert cur.fetchone() == (1,)
    with pytest.raises(engine.DataError):
        cur.fetchall()
    assert _run(con, cur.run_id)[0] == "FAILED"


def test_another_statement_meanwhile_leaves_an_open_result_readable(con):
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(200000)")
    a = con.cursor().execute("SELECT i FROM t ORDER BY i")
    b = con.cursor().execute("SELECT i FROM t WHERE i % 2 = 0")
    first = a.fetchmany(10)
    con.execute("DELETE FROM t WHERE i < 100000")
    con.commit()
    assert first + a.fetchall() == [(i,) for i in range(200000)]
    assert len(b.fetchall()) == 100000
    assert con.execute("SELECT count(*) FROM t").fetchone() == (100000,)


def test_cli_prints_a_long_result_from_the_stream(tmp_path):
    out = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "engine.interfaces.cli", "-c",
                          "SELECT range, range * 2 AS d FROM range(30000000)"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT, COLUMNS="80"),
                         timeout=300) if os.path.exists("/usr/bin/time") else None
    if out is None:
        pytest.skip("no /usr/bin/time")
    assert out.returncode == 0, out.stderr
    assert "30000000 rows" in out.stdout.replace(",", "")
    assert "29999999" in out.stdout and "59999998" in out.stdout   # the last row, from the tail
    peak_kb = int(out.stderr.strip().splitlines()[-1])
    assert peak_kb < 700 * 1024, f"the CLI held {peak_kb // 1024} MB for a 480 MB result"


def test_prepared_statement_schema_before_it_runs_and_parameters_per_execution(con):
    con.execute("CREATE TABLE t (a INTEGER, b VARCHAR, c DECIMAL(10,2))")
    con.execute("INSERT INTO t VALUES (1, 'x', 1.5), (2, 'y', 2.5), (3, NULL, 3.5)")
    runs_before = con.execute("SELECT count(*) FROM dawn.runs").fetchone()[0]
    stmts = con.prepare("SELECT a, b, c * 2 AS c2 FROM t WHERE a >= ?; SHOW TABLES; "
                        "EXPLAIN SELECT a FROM t; INSERT INTO t VALUES (?, ?, ?)")
    sel, show, explain, insert = stmts
    assert [s.kind for s in stmts] == ["SELECT", "SHOW", "EXPLAIN", "INSERT"]
    assert sel.parameter_count == 1 and insert.parameter_count == 3
    assert [(f.name, str(f.type)) for f in sel.schema] == [("a", "int32"), ("b", "string"), ("c2", "double")]
    assert show.schema.names == ["name"] and explain.schema.names == ["explain"]
    assert insert.schema.names == [] and not insert.returns_rows
    # preparing ran nothing (SHOW's schema comes from running it, untracked)
    assert con.execute("SELECT count(*) FROM dawn.runs").fetchone()[0] == runs_before
    r = sel.execute([2])
    assert r.schema == sel.schema and r.read_all().column("a").to_pylist() == [2, 3]
    insert.execute([4, "z", 4.5]).read_all()
    assert sel.execute([4]).read_all().to_pylist() == [{"a": 4, "b": "z", "c2": 9.0}]
    with pytest.raises(engine.ProgrammingError, match="1 parameter"):
        sel.execute()
    named = con.prepare("SELECT a FROM t WHERE b = :name")[0]
    assert named.parameter_names == ["name"]
    assert named.execute({"name": "y"}).read_all().column("a").to_pylist() == [2]


def test_prepare_reports_a_syntax_error_with_its_line(con):
    with pytest.raises(engine.ProgrammingError) as e:
        con.prepare("SELECT 1;\nSELEC 2")
    assert e.value.statement_line == 2
