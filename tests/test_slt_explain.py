"""The sqllogictest plugin's explain records: parsed with their indentation, compared with or
without the cost model's figures, skipped on DuckDB, and rewritten by DAWN_UPDATE_FIXTURES=1."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slt_plugin import SltFailure, _Dawn, parse_slt, run_file, run_record

SETUP = """statement ok
CREATE TABLE t(a INTEGER, b VARCHAR)

statement ok
INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z')
"""

PLAN = """ProjectExec: a#1 AS a#2
  ScanExec: table=t columns=[a#1, b#3] filters=[(b#3 <> 'x')]"""


def test_parse_keeps_indentation_and_mode():
    recs = parse_slt(SETUP + "\nexplain\nEXPLAIN SELECT a FROM t WHERE b <> 'x'\n----\n" + PLAN
                     + "\n\nexplain estimates\nEXPLAIN SELECT a FROM t\n")
    ex = [r for r in recs if r.kind == "explain"]
    assert [r.estimates for r in ex] == [False, True]
    assert ex[0].expected == PLAN.split("\n")
    assert ex[1].expected == []


def test_explain_record_sql_must_be_explain():
    with pytest.raises(ValueError, match="EXPLAIN statement"):
        parse_slt("explain\nSELECT 1\n----\nx\n")
    with pytest.raises(ValueError, match="estimates"):
        parse_slt("explain analyze\nEXPLAIN SELECT 1\n")


def test_compare_with_and_without_estimates():
    db = _Dawn()
    try:
        for rec in parse_slt(SETUP):
            run_record(db, rec)
        shape, = parse_slt("explain\nEXPLAIN SELECT a FROM t WHERE b <> 'x'\n----\n" + PLAN + "\n")
        run_record(db, shape)
        wrong, = parse_slt("explain\nEXPLAIN SELECT a FROM t WHERE b <> 'x'\n----\n"
                           + PLAN.replace("columns=[a#1, b#3]", "columns=[a#1]") + "\n")
        with pytest.raises(SltFailure, match="wrong plan"):
            run_record(db, wrong)
        # verbatim: the shape alone is not the whole text
        full, = parse_slt("explain estimates\nEXPLAIN SELECT a FROM t WHERE b <> 'x'\n----\n" + PLAN + "\n")
        with pytest.raises(SltFailure, match=r"rows=\d+ cost=\d+"):
            run_record(db, full)
    finally:
        db.close()


def test_duckdb_skips_explain_and_checks_the_rest(tmp_path):
    f = tmp_path / "x.slt"
    f.write_text(SETUP + "\nexplain\nEXPLAIN SELECT a FROM t\n----\nnot Dawn's plan at all\n\n"
                 "query I\nSELECT count(*) FROM t\n----\n3\n\nquery I\nSELECT count(*) FROM t\n----\n4\n")
    outcomes = [o.status for o in run_file(f, "duckdb")]
    assert outcomes == ["pass", "pass", "skip", "pass", "fail"]
    assert [o.status for o in run_file(f, "dawn")] == ["pass", "pass", "fail", "pass", "fail"]


def test_update_fixtures_rewrites_only_explain_records(tmp_path):
    f = tmp_path / "x.slt"
    f.write_text(SETUP + "\n# comment\nexplain\nEXPLAIN SELECT a FROM t WHERE b <> 'x'\n----\nstale\nplan\n\n"
                 "explain\nEXPLAIN SELECT b FROM t\n\nquery I\nSELECT count(*) FROM t\n----\n3\n")
    tests = Path(__file__).parent
    env = {**os.environ, "DAWN_UPDATE_FIXTURES": "1",
           "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests)])}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "slt_plugin", "-p", "no:cacheprovider",
                        str(f)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    text = f.read_text()
    assert "stale" not in text
    assert ("explain\nEXPLAIN SELECT a FROM t WHERE b <> 'x'\n----\n" + PLAN + "\n\n") in text
    assert "explain\nEXPLAIN SELECT b FROM t\n----\nProjectExec: b#1 AS b#2\n  ScanExec: table=t columns=[b#1]\n\n" in text
    assert text.endswith("query I\nSELECT count(*) FROM t\n----\n3\n")
    assert all(o.status == "pass" for o in run_file(f, "dawn"))
