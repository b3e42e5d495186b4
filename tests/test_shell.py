"""The interactive shell through a pseudo-terminal (10/11): a multi-line statement, .tables,
.mode csv, Ctrl-C cancelling a running statement but not the shell, psql aliases, ~/.dawnrc,
rich tables, the progress bar, completion of a table name, errors shown without exiting, and
history kept across sessions."""
from __future__ import annotations

import os
import sys
import time

import pytest

pexpect = pytest.importorskip("pexpect")

DONE = r"\(\d+ ms, run [0-9a-f]{32}\)"      # printed after each statement


def spawn(tmp_path, rc: str | None = None):
    env = dict(os.environ, HOME=str(tmp_path), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    env.pop("DAWNRC", None)
    if rc is not None:
        (tmp_path / ".dawnrc").write_text(rc)
    child = pexpect.spawn(sys.executable, ["-m", "engine.interfaces.cli", str(tmp_path / "s.dawn")],
                          env=env, encoding="utf-8", timeout=60, dimensions=(40, 120))
    child.expect_exact("dawn>")
    time.sleep(0.5)          # the prompt is up: what is typed now goes to the editor
    return child


def test_shell_session(tmp_path):
    child = spawn(tmp_path, rc=".maxrows 4\n")
    child.send("CREATE TABLE t AS SELECT range AS a, 'x' || range AS b\r")
    child.expect_exact("...>")                 # not submitted yet: no semicolon
    child.send("FROM range(10);\r")
    child.expect(DONE)
    child.send("SELECT sum(a)\r  + 1000 AS s FROM t;\r")
    child.expect("1045")
    child.expect(DONE)
    child.send("SELECT a FROM t ORDER BY a;\r")
    child.expect("╭")                                 # a rich table on a terminal
    child.expect(r"10 rows \(4 shown\)")               # .maxrows from ~/.dawnrc
    child.expect(DONE)
    child.send(".tables\r")
    child.expect(r"\x1b\[\?2004lt\r\n")           # the one table, alone on its line
    child.send(".mode csv\r")
    time.sleep(0.3)
    child.send("SELECT a, b FROM t WHERE a < 2 ORDER BY a;\r")
    child.expect(r"a,b\r?\n0,x0\r?\n1,x1")
    child.expect(DONE)
    child.send(".mode box\r")
    time.sleep(0.3)
    child.send("\\d t\r")
    child.expect("BIGINT")
    child.send(".bogus\r")
    child.expect('unknown command ".bogus"')
    # Ctrl-C cancels a long statement, and the shell goes on
    child.send("SELECT count(*) FROM range(200000000) r1 WHERE r1.range % 7 = 3 AND "
               "(SELECT count(*) FROM range(1000000) r2 WHERE r2.range < r1.range % 100) > 5;\r")
    child.expect(r"running .*\d+%", timeout=30)       # the progress bar of a long statement
    time.sleep(2)
    child.sendintr()
    child.expect("Cancelled", timeout=30)
    time.sleep(0.5)
    child.send("SELECT 41 + 1 AS answer;\r")
    child.expect("42")
    child.expect(DONE)
    child.send("\\q\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "SELECT 41 + 1" in (tmp_path / ".dawn_history").read_text()


def test_completion_errors_and_history(tmp_path):
    child = spawn(tmp_path)
    child.send("CREATE TABLE sales_by_region AS SELECT range AS r FROM range(7);\r")
    child.expect(DONE)
    time.sleep(0.5)
    child.send("SELECT count(*) + 100 AS n FROM sales_b")    # Tab completes the table's name
    time.sleep(0.5)
    child.send("\t")
    time.sleep(0.5)
    child.send(";\r")
    child.expect("107")
    child.expect(DONE)
    time.sleep(0.5)
    child.send("SELECT * FROM sales_by_regoin;\r")           # an error is shown; the shell lives on
    child.expect(r'Error: Table "sales_by_regoin" does not exist')
    time.sleep(0.5)
    child.send("SELECT max(r) * 6 AS answer FROM sales_by_region;\r")
    child.expect("36")
    child.expect(DONE)
    time.sleep(0.5)       # the prompt is up (typed ahead, ^D is the tty's, not the editor's)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    # a new session: the up arrow brings back the last statement of the one before
    child = spawn(tmp_path)
    child.send("\x1b[A")
    time.sleep(0.5)
    child.send("\r")
    child.expect("36")
    child.expect(DONE)
    time.sleep(0.5)
    child.sendeof()
    child.expect(pexpect.EOF)
