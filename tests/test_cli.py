"""The ``dawn`` command as a user runs it: every behaviour through a real subprocess of this
checkout (``python -m engine.interfaces.cli`` with PYTHONPATH = the repository root), and the
result renderer compared with DuckDB's own box renderer on the same Arrow tables."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import version

import duckdb
import pyarrow as pa
import pytest

import engine
from engine.interfaces.render import readable_number, render_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_LINE = re.compile(r"^run [0-9a-f]{32}$")


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT, COLUMNS="120")
    env.pop("DAWN_DATABASE", None)
    env.update(extra)
    return env


def start(*args, input: str = "", **env) -> tuple[subprocess.Popen, str]:
    """``dawn ARGS`` started (several run at once: each start costs a second of imports)."""
    p = subprocess.Popen([sys.executable, "-m", "engine.interfaces.cli", *map(str, args)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=_env(**env))
    return p, input


def finish(started: tuple[subprocess.Popen, str]) -> subprocess.CompletedProcess:
    p, input = started
    out, err = p.communicate(input, timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def dawn(*args, input: str = "", **env) -> subprocess.CompletedProcess:
    return finish(start(*args, input=input, **env))


def one_error(p: subprocess.CompletedProcess) -> str:
    """The failure's message: exit status 1, one 'Error:' line, no traceback (run ids aside)."""
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if not RUN_LINE.match(ln)]
    assert len(lines) == 1 and lines[0].startswith("Error: "), p.stderr
    return lines[0]


def run_ids(p: subprocess.CompletedProcess) -> list[str]:
    return [ln.split()[1] for ln in p.stderr.splitlines() if RUN_LINE.match(ln)]


def grids(out: str) -> list[list[str]]:
    """The result grids printed on stdout, each as its lines."""
    found, cur = [], None
    for ln in out.splitlines():
        if ln.startswith("┌"):
            cur = [ln]
        elif cur is not None:
            cur.append(ln)
            if ln.startswith("└"):
                found.append(cur)
                cur = None
    return found


RENDERED = ("SELECT 7 AS n, 2.5 AS x, 'a\nb' AS s, NULL AS z, repeat('long', 50) AS l "
            "UNION ALL SELECT 123456, 1/3, 'tab\t', 'q', 'r'")


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The one-shot invocations, started together and each checked by a test below."""
    tmp = tmp_path_factory.mktemp("cli")
    notes = tmp / "notes.txt"
    notes.write_text("not a database\n")
    logged = str(tmp / "logged.dawn")
    with engine.connect(logged) as c:
        cur = c.cursor()
        with pytest.raises(engine.Error):
            cur.execute("SELECT * FROM no_such_table")
        failed_run = cur.run_id
    held = str(tmp / "held.dawn")
    con = engine.connect(held)        # this process holds the file while the CLI tries it
    try:
        started = {
            "multi": start("-c", f"SELECT 1 AS one; SELECT 'two' AS second; {RENDERED}; "
                                 "EXPLAIN SELECT 1 AS a", COLUMNS="80"),
            "stdin": start(input="SELECT 40 + 2 AS answer;\nSELECT 0.1 AS tenth\n"),
            "version": start("--version"),
            "bad sql": start("-c", "SELECT 1 AS fine; SELEC 2"),
            "missing file": start("-f", tmp / "nope.sql"),
            "missing folder": start(tmp / "no" / "such" / "x.dawn", "-c", "SELECT 1"),
            "text file": start(notes, "-c", "SELECT 1"),
            "locked": start("-d", held, "-c", "SELECT 1"),
            "runs typo": start("-d", tmp / "typo.dawn", "runs", "list"),
            "runs positional": start(logged, "runs", "list", "--status", "FAILED"),
        }
        done = {k: finish(v) for k, v in started.items()}
    finally:
        con.close()
    done["tmp"], done["failed run"] = tmp, failed_run
    return done


# ---- running SQL
def test_c_prints_every_statements_result_and_each_run_id(ran):
    p = ran["multi"]
    assert p.returncode == 0, p.stderr
    g = grids(p.stdout)
    assert [x[1] for x in g[:2]] == ["│  one  │", "│ second  │"]
    assert g[0][4] == "│     1 │" and g[1][4] == "│ two     │"
    assert len(g) == 3 and len(run_ids(p)) == 4 and len(set(run_ids(p))) == 4   # EXPLAIN is a run too


def test_rendering_types_alignment_null_escapes_truncation(ran):
    g = grids(ran["multi"].stdout)[2]
    assert all(len(ln) == len(g[0]) <= 80 for ln in g)          # the grid holds, within the width
    assert [c.strip() for c in g[1].strip("│").split("│")] == ["n", "x", "s", "z", "l"]
    assert [c.strip() for c in g[2].strip("│").split("│")][:3] == ["int32", "double", "varchar"]
    cells = [ln.strip("│").split("│") for ln in g[4:6]]
    assert cells[0][0] == "      7 " and cells[1][0] == " 123456 "      # numbers right-aligned
    assert cells[0][1] == "                2.5 "
    assert cells[1][1] == " 0.3333333333333333 "                          # at full precision
    assert cells[0][2] == " a\\nb".ljust(9) and cells[1][2] == " tab\\t".ljust(9)  # escaped, left
    assert cells[0][3].strip() == "NULL"
    assert cells[0][4].rstrip().endswith("…") and "longlong" in cells[0][4]   # cut to fit


def test_explain_prints_plain_text(ran):
    tail = ran["multi"].stdout.split("┘")[-1]
    assert "Exec" in tail and "│" not in tail


def test_sql_from_stdin(ran):
    p = ran["stdin"]
    assert p.returncode == 0, p.stderr
    g = grids(p.stdout)
    assert g[0][4] == "│     42 │" and g[1][4] == "│    0.1 │"


def test_version(ran):
    p = ran["version"]
    assert p.returncode == 0 and p.stdout.strip() == f"dawn {version('dawn')}"


def test_bad_sql_is_one_line(ran):
    p = ran["bad sql"]
    assert "Syntax error" in one_error(p)
    assert len(grids(p.stdout)) == 1                 # the statement before it ran and printed


def test_missing_script_file(ran):
    assert "Cannot read SQL file" in one_error(ran["missing file"])
    assert "No such file" in ran["missing file"].stderr


def test_database_in_a_missing_folder(ran):
    assert "does not exist" in one_error(ran["missing folder"])
    assert not (ran["tmp"] / "no").exists()


def test_text_file_as_database(ran):
    assert "not a valid" in one_error(ran["text file"])
    assert (ran["tmp"] / "notes.txt").read_text() == "not a database\n"     # left as it was


def test_database_locked_by_another_process(ran):
    assert "locked by another process" in one_error(ran["locked"])


def test_runs_refuse_a_missing_database(ran):
    assert "typo.dawn" in one_error(ran["runs typo"])
    assert not (ran["tmp"] / "typo.dawn").exists()


def test_script_file_positional_database_and_stop_at_first_error(tmp_path):
    """`dawn DB -f FILE` (the database positional): results in order, DDL/DML print nothing, the
    first failing statement stops the script with its line, and what came before it is kept."""
    db = tmp_path / "s.dawn"
    script = tmp_path / "s.sql"
    script.write_text("-- a script\n"
                      "CREATE TABLE t (n INTEGER, s VARCHAR);\n"
                      "INSERT INTO t VALUES (1, 'one'), (2, NULL);\n"
                      "SELECT n, s FROM t ORDER BY n;\n"
                      "SELECT * FROM no_such_table;\n"
                      "INSERT INTO t VALUES (3, 'never');\n")
    p = dawn(db, "-f", script)
    msg = one_error(p)
    assert msg.startswith("Error: near line 5: ") and 'Table "no_such_table" does not exist' in msg
    g = grids(p.stdout)
    assert len(g) == 1 and g[0][4:6] == ["│     1 │ one     │", "│     2 │ NULL    │"]
    assert len(run_ids(p)) == 4                  # the failed statement is a run too
    with engine.connect(str(db)) as con:      # the statement after the failure did not run
        assert con.execute("SELECT n FROM t ORDER BY n").fetchall() == [(1,), (2,)]
        failed = con.execute("SELECT sql FROM dawn.runs WHERE status = 'FAILED'").fetchall()
    assert failed == [("SELECT * FROM no_such_table",)]


def test_database_before_a_subcommand(ran):
    p = ran["runs positional"]
    assert p.returncode == 0, p.stderr
    assert ran["failed run"] in p.stdout and "FAILED" in p.stdout


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_during_a_statement(tmp_path):
    db = tmp_path / "i.dawn"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.interfaces.cli", "-d", str(db), "-c",
         "SELECT 1 AS started; SELECT sum(range % 7) FROM range(3000000000); SELECT 3 AS never"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        # a shell that ran pytest in the background leaves SIGINT ignored: give the CLI the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        out = ""
        while not out.rstrip().endswith("┘"):    # the first result is out: the long one is running
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            out += line
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - sent < 30
    p = subprocess.CompletedProcess(proc.args, proc.returncode, out + rest, err)
    assert one_error(p) == "Error: Interrupted"
    assert "never" not in p.stdout
    with engine.connect(str(db)) as con:     # the interrupted statement is a failed run
        rows = con.execute("SELECT status, sql FROM dawn.runs ORDER BY run_id").fetchall()
    assert rows == [("FINISHED", "SELECT 1 AS started"),
                    ("FAILED", "SELECT sum(range % 7) FROM range(3000000000)")]


# ---- the renderer against DuckDB's box renderer (duckdb's Relation.show) on the same data
def _duckdb_box(capfd, table: pa.Table, width: int) -> str:
    capfd.readouterr()
    duckdb.connect().from_arrow(table).show(max_width=width, max_rows=40, max_col_width=20,
                                            null_value="NULL")
    return capfd.readouterr().out.rstrip("\n")


TABLES = {
    "values": pa.table({"i": pa.array([1, None, -3], pa.int32()), "s": ["a\nb", None, "x\ty\x01"],
                        "d": [0.1, 1 / 3, None], "big": [1e15, 1e16, 1e-7],
                        "b": [True, False, None], "dt": pa.array([18000, None, 0], pa.date32())}),
    "100 rows": pa.table({"i": list(range(100)), "s": [f"v{i}" * (i % 5) for i in range(100)]}),
    "43 rows, all shown": pa.table({"i": list(range(43))}),
    "44 rows": pa.table({"i": list(range(44))}),
    "empty": pa.table({"abc": pa.array([], pa.int32()), "a_longer_name": pa.array([], pa.string())}),
    "30 columns": pa.table({f"column_{i}": list(range(i, i + 60)) for i in range(30)}),
    "long strings": pa.table({"s": [("word%d " % i) * 40 for i in range(60)], "t": ["short"] * 60}),
    "wide characters": pa.table({"s": ["日本語テキスト", "é", "plain"], "n": [1, 2, 3]}),
}


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.skipif(int(duckdb.__version__.split(".")[0]) < 2,
                    reason="DuckDB 1.x drew the row count inside the box")
def test_renderer_matches_duckdb(capfd, name):
    for width in (80, 120, 200):
        assert render_table(TABLES[name], max_width=width) == _duckdb_box(capfd, TABLES[name], width), \
            (name, width)


def test_renderer_needs_no_terminal_and_fits_the_width():
    t = pa.table({f"c{i}": ["x" * 50] * 3 for i in range(10)})
    for width in (80, 100, 160):
        lines = render_table(t, max_width=width).split("\n")
        assert max(len(ln) for ln in lines) <= width
        assert "…" in lines[1]                    # columns were dropped for a "…" column


def test_readable_numbers_as_duckdb_writes_them():
    # the cases of DuckDB's tools/shell/tests/test_readable_numbers.py
    assert readable_number("59986052") == "59.99 million"
    assert readable_number("123456789") == "123.46 million"
    assert readable_number("9999999999") == "10.00 billion"
    assert readable_number("-9999999999") == "-10.00 billion"
    assert readable_number("1005000") == "1.01 million" and readable_number("1004999") == "1.00 million"
    assert readable_number("995000") == "1.00 million" and readable_number("99999") == ""
    assert readable_number("1e+20") == ""


# ---- dawn demo finds tpchgen-cli beside its own Python
@pytest.mark.skipif(os.name == "nt", reason="a POSIX venv layout")
def test_demo_finds_tpchgen_beside_its_python_without_path(tmp_path):
    """A venv's bin folder holds python and tpchgen-cli; run without activating it (PATH lacks it)."""
    bin_ = tmp_path / "venv" / "bin"
    bin_.mkdir(parents=True)
    (bin_ / "python").symlink_to(os.path.realpath(sys.executable))
    tool = bin_ / "tpchgen-cli"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    p = subprocess.run([str(bin_ / "python"), "-c",
                        "from engine.interfaces.demo import find_tpchgen; print(find_tpchgen())"],
                       capture_output=True, text=True, env=_env(PATH="/usr/bin:/bin"), timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(tool)


def test_demo_finds_the_installed_tpchgen_with_an_empty_path(monkeypatch, tmp_path):
    beside = os.path.join(os.path.dirname(sys.executable), "tpchgen-cli")
    if not os.path.isfile(beside):
        pytest.skip("tpchgen-cli is not installed beside this Python")
    from engine.interfaces.demo import find_tpchgen
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_tpchgen() == beside


def test_video_frames_render_as_their_shape():
    import numpy as np
    frames = pa.FixedShapeTensorArray.from_numpy_ndarray(np.zeros((2, 4, 6, 3), np.uint8))
    out = render_table(pa.table({"frame_id": [0, 1], "frame": frames}), max_width=80)
    assert out.count("tensor 4x6x3 uint8") == 2 and "tensor[4, 6, 3](utinyint)" in out
