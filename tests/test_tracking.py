"""Every statement is a tracked run: the run log in SQL, the CLI, MLflow export, durability."""
from __future__ import annotations

import io
import re
import os
import threading
import time

import pyarrow as pa
import pytest

import engine
from catalog import tracking


def runs(cur, where: str = "") -> list[dict]:
    cur.execute(f"SELECT run_id, status, statement_kind, sql, error, experiment FROM dawn.runs {where} "
                f"ORDER BY run_id")
    return [dict(zip(["run_id", "status", "kind", "sql", "error", "experiment"], r)) for r in cur.fetchall()]


def kv(cur, table: str, run_id: str) -> dict:
    cur.execute(f"SELECT key, value FROM dawn.{table} WHERE run_id = ?", [run_id])
    return dict(cur.fetchall())


def test_each_statement_kind_is_one_run_with_its_status():
    con = engine.connect()
    cur = con.cursor()
    ids = []
    statements = [
        ("CREATE TABLE t (a INTEGER PRIMARY KEY, b VARCHAR)", "CREATE TABLE"),
        ("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, NULL)", "INSERT"),
        ("UPDATE t SET b = 'z' WHERE a = 3", "UPDATE"),
        ("SELECT a, b FROM t WHERE a > 1", "SELECT"),
        ("DELETE FROM t WHERE a = 1", "DELETE"),
        ("CREATE VIEW v AS SELECT a FROM t", "CREATE VIEW"),
    ]
    for sql, _ in statements:
        cur.execute(sql)
        ids.append(cur.run_id)
    failures = ["SELECT nope FROM t", "INSERT INTO t VALUES (2, 'dup')", "SELEC 1"]
    for sql in failures:
        with pytest.raises(engine.Error) as e:
            cur.execute(sql)
        assert e.value.run_id == cur.run_id
        ids.append(cur.run_id)
    log = runs(cur)
    assert [r["run_id"] for r in log] == ids          # exactly one run per statement, in order
    assert len(set(ids)) == len(ids) and all(len(i) == 32 for i in ids)
    for r, (sql, kind) in zip(log, statements):
        assert (r["status"], r["kind"], r["sql"], r["error"]) == ("FINISHED", kind, sql, None)
    failed = log[len(statements):]
    assert [r["status"] for r in failed] == ["FAILED"] * 3
    assert 'Column "nope" not found' in failed[0]["error"] and failed[0]["error"].startswith("BindError")
    assert "IntegrityError" in failed[1]["error"]
    assert "ParseError" in failed[2]["error"] and failed[2]["kind"] == "UNKNOWN"
    # the failed INSERT left the table as it was, and its run is still kept
    cur.execute("SELECT count(*) FROM t")
    assert cur.fetchall() == [(2,)]

    m = {k: float(v) for k, v in kv(cur, "metrics", ids[3]).items()}
    assert m["rows_out"] == 2 and m["rows_scanned"] == 3 and m["bytes_scanned"] > 0 and m["wall_time_ms"] > 0
    assert float(kv(cur, "metrics", ids[1])["rows_affected"]) == 3
    params = kv(cur, "params", ids[3])
    from engine.session import DEFAULT_THREADS
    assert params["threads"] == str(DEFAULT_THREADS) and "disabled_rules" in params
    tags = kv(cur, "tags", ids[3])
    assert tags["dawn.source"] == "dbapi" and tags["dawn.statement_kind"] == "SELECT"
    cur.execute("SELECT path, content FROM dawn.artifacts WHERE run_id = ?", [ids[3]])
    arts = dict(cur.fetchall())
    assert "ScanExec" in arts["plan.txt"] and "actual_rows=" in arts["plan.txt"]


def test_runs_are_sql_tables_and_browsing_them_is_not_tracked():
    con = engine.connect()
    cur = con.cursor()
    cur.execute("SELECT 1")
    first = cur.run_id
    cur.execute("SELECT 2; SELECT 3")                  # two statements, two runs
    for _ in range(3):
        cur.execute("SELECT r.run_id, count(m.key) FROM dawn.runs r JOIN dawn.metrics m "
                    "ON r.run_id = m.run_id GROUP BY r.run_id")
        assert cur.run_id is None
    log = runs(cur)
    assert [r["sql"] for r in log] == ["SELECT 1", "SELECT 2", "SELECT 3"] and log[0]["run_id"] == first
    cur.execute("SELECT count(*) FROM dawn.runs r JOIN dawn.metrics m ON r.run_id = m.run_id "
                "WHERE m.key = 'rows_out' AND m.value = 1")
    assert cur.fetchall() == [(3,)]
    # the plan hash ignores column numbering: the same statement twice hashes alike
    cur.execute("SELECT 1")
    cur.execute("SELECT plan_hash FROM dawn.runs WHERE sql = 'SELECT 1'")
    hashes = [r[0] for r in cur.fetchall()]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    cur.execute("EXPLAIN ANALYZE SELECT 1 + 1")
    rid = cur.run_id
    cur.execute("SELECT path FROM dawn.artifacts WHERE run_id = ?", [rid])
    assert cur.fetchall() == [("explain_analyze.txt",)]
    cur.execute("DESCRIBE dawn.runs")
    assert "run_id" in [r[0] for r in cur.fetchall()]


def test_tracking_off_and_experiments():
    con = engine.connect()
    cur = con.cursor()
    cur.execute("SET tracking = off")
    cur.execute("SELECT 1")
    assert cur.run_id is None
    cur.execute("SET tracking = on")
    cur.execute("SET experiment = 'thresholds'")
    cur.execute("SELECT 2")
    log = runs(cur)
    # tracking is decided when a statement starts: turning it off is the last run, on is not one
    assert [r["sql"] for r in log] == ["SET tracking = off", "SET experiment = 'thresholds'", "SELECT 2"]
    assert [r["experiment"] for r in log] == ["Default", "Default", "thresholds"]
    cur.execute("SELECT experiment_id, name FROM dawn.experiments ORDER BY experiment_id")
    assert cur.fetchall() == [("0", "Default"), ("1", "thresholds")]
    cur.execute("SELECT count(*) FROM dawn.runs r JOIN dawn.experiments e USING (experiment_id) "
                "WHERE e.name = 'thresholds'")
    assert cur.fetchall() == [(1,)]
    with pytest.raises(engine.ProgrammingError):
        cur.execute("SET run_retention_days = -3")


def test_udf_calls_are_metrics():
    from udfs import udf

    @udf.scalar(returns="BIGINT", cache=True, model=True)
    def double_it(x):
        import pyarrow.compute as pc
        return pc.multiply(x, 2)

    con = engine.connect()
    con.register("t", pa.table({"x": [1, 2, 2, 3, 3, 3]}))
    con.register_function(double_it)
    cur = con.cursor()
    cur.execute("SELECT sum(double_it(x)) FROM t")
    assert cur.fetchall() == [(28,)]
    m = kv(cur, "metrics", cur.run_id)
    assert float(m["udf.double_it.rows"]) == 3         # three distinct inputs computed
    assert float(m["udf.double_it.calls_saved"]) == 3  # the repeats were not recomputed
    assert float(m["udf.double_it.calls"]) >= 1


def test_runs_survive_rollback_close_and_reopen(tmp_path):
    path = str(tmp_path / "runs.db")
    con = engine.connect(path)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    cur.execute("INSERT INTO t VALUES (1)")
    kept = cur.run_id
    con.rollback()                                     # the write is undone, its run is not
    with pytest.raises(engine.Error):
        cur.execute("SELECT * FROM missing_table")
    failed = cur.run_id
    con.close()
    con = engine.connect(path)
    cur = con.cursor()
    log = {r["run_id"]: r for r in runs(cur)}
    assert kept in log and log[kept]["status"] == "FINISHED"
    assert failed in log and log[failed]["status"] == "FAILED" and "missing_table" in log[failed]["error"]
    cur.execute("SELECT count(*) FROM t")
    assert cur.fetchall() == [(0,)]
    con.close()


def test_runs_are_stored_within_the_flush_interval(tmp_path):
    con = engine.connect(str(tmp_path / "f.db"))
    cur = con.cursor()
    tracker = con._session.db.tracker()
    cur.execute("SELECT 1")
    deadline = time.time() + tracking.FLUSH_INTERVAL + 2.0
    while tracker.pending() and time.time() < deadline:
        time.sleep(0.05)
    assert tracker.pending() == 0
    # stored, as seen by a DuckDB connection that bypasses Dawn's buffer
    raw = con._session.db.duck.cursor()
    assert raw.execute("SELECT count(*) FROM dawn_meta.runs WHERE run_id = ?", [cur.run_id]).fetchall() == [(1,)]
    raw.close()
    con.close()


def test_concurrent_connections_lose_no_run(tmp_path):
    path = str(tmp_path / "concurrent.db")
    engine.connect(path).close()
    ids: list[list[str]] = [[] for _ in range(8)]
    errors: list[BaseException] = []

    def worker(k: int):
        try:
            con = engine.connect(path)
            cur = con.cursor()
            for i in range(500):
                cur.execute(f"SELECT {k} * 1000 + {i} AS v")
                assert cur.fetchall() == [(k * 1000 + i,)]
                ids[k].append(cur.run_id)
            con.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    con = engine.connect(path)
    cur = con.cursor()
    cur.execute("SELECT run_id, sql FROM dawn.runs WHERE statement_kind = 'SELECT'")
    rows = cur.fetchall()
    assert len(rows) == 4000
    assert len({r[0] for r in rows}) == 4000
    assert {r[0] for r in rows} == {i for per in ids for i in per}
    assert len({r[1] for r in rows}) == 4000
    con.close()


def test_gc_deletes_old_runs_with_their_rows(tmp_path):
    con = engine.connect()
    cur = con.cursor()
    for i in range(3):
        cur.execute(f"SELECT {i}")
    tracker = con._session.db.tracker()
    assert tracker.gc(days=1) == 0
    time.sleep(0.01)
    assert tracker.gc(days=0) == 3
    for t in ("runs", "params", "metrics", "tags", "artifacts"):
        cur.execute(f"SELECT count(*) FROM dawn.{t}")
        assert cur.fetchall() == [(0,)], t


def _cli(*argv) -> tuple[int, str]:
    from engine.interfaces import cli
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli.main(list(argv))
    return rc, buf.getvalue()


def test_cli_list_show_compare_gc(tmp_path):
    path = str(tmp_path / "cli.db")
    con = engine.connect(path)
    cur = con.cursor()
    cur.execute("CREATE TABLE t (a INTEGER)")
    cur.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    cur.execute("SELECT count(*) FROM t WHERE a < 10")
    a = cur.run_id
    cur.execute("SET disabled_rules = 'pushdown_filters'")
    cur.execute("SELECT count(*) FROM t WHERE a < 50")
    b = cur.run_id
    con.commit()
    con.close()
    rc, out = _cli("-d", path, "runs", "list")
    assert rc == 0 and a in out and b in out and len(re.findall(r"^│ [0-9a-f]{32} │", out, re.M)) == 5
    rc, out = _cli("runs", "-d", path, "list", "--status", "FAILED")
    assert rc == 0 and "0 rows" in out
    rc, out = _cli("-d", path, "runs", "show", a[-8:])
    assert rc == 0 and f"run {a}" in out and re.search(r"│ rows_out +│ +1\.0 │", out) and "plan.txt" in out
    rc, out = _cli("-d", path, "runs", "compare", a, b)
    assert rc == 0 and "disabled_rules" in out and "pushdown_filters" in out and "wall_time_ms" in out
    rc, out = _cli("-d", path, "runs", "gc", "--days", "365")
    assert rc == 0 and "deleted 0 runs" in out
    rc, out = _cli("-d", path, "runs", "show", "ffffffffff")
    assert rc == 1


def _mlflow():
    return pytest.importorskip("mlflow", reason="mlflow-skinny is not installed")


def _seed_runs(path: str) -> None:
    con = engine.connect(path)
    cur = con.cursor()
    cur.execute("SET experiment = 'exported'")
    cur.execute("CREATE TABLE t (a INTEGER)")
    cur.execute("INSERT INTO t VALUES (1), (2)")
    cur.execute("SELECT sum(a) FROM t")
    long_sql = "SELECT sum(a), '" + "x" * 7000 + "' AS padding FROM t"   # > 6000 characters
    cur.execute(long_sql)
    with pytest.raises(engine.Error):
        cur.execute("SELECT missing FROM t")
    con.commit()
    con.close()


def test_mlflow_file_store_export_reads_back(tmp_path, monkeypatch):
    mlflow = _mlflow()
    from mlflow.tracking import MlflowClient
    from catalog.mlflow_export import collect, mlflow_view
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    db = str(tmp_path / "exp.db")
    _seed_runs(db)
    out = tmp_path / "mlruns"
    rc, text = _cli("-d", db, "runs", "export", "--mlflow", str(out))
    assert rc == 0 and "wrote 6 runs" in text
    con = engine.connect(db)
    mine = collect(con._session.db.tracker(), "exported")
    con.close()
    client = MlflowClient(tracking_uri=out.as_uri())
    exp = client.get_experiment_by_name("exported")
    assert exp is not None
    found = client.search_runs([exp.experiment_id], max_results=100)
    assert len(found) == 5
    for r in mine:
        params, metrics, tags, artifacts = mlflow_view(r)
        got = client.get_run(r["run_id"])
        assert got.info.status == r["status"]
        assert got.info.start_time == r["start_time"] and got.info.end_time == r["end_time"]
        assert got.data.params == params
        assert got.data.metrics == pytest.approx({k: v[0] for k, v in metrics.items()})
        assert {k: got.data.tags[k] for k in tags} == tags
        assert got.data.params == {k: v for k, v in r["params"].items()}
        assert {k: got.data.tags[k] for k in r["tags"]} == r["tags"]
        local = client.download_artifacts(r["run_id"], "statement.sql", str(tmp_path / "dl"))
        assert open(local).read() == r["sql"]
        if len(r["sql"]) > 6000:
            assert len(got.data.tags["dawn.sql"]) <= 8000
        if r["status"] == "FAILED":
            assert "missing" in got.data.tags["dawn.error"]
    assert mlflow.__version__


def test_mlflow_client_logging(tmp_path, monkeypatch):
    _mlflow()
    from mlflow.tracking import MlflowClient
    from catalog.mlflow_export import collect, export_to_server
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    db = str(tmp_path / "srv.db")
    _seed_runs(db)
    con = engine.connect(db)
    tracker = con._session.db.tracker()
    uri = (tmp_path / "server").as_uri()
    ids = export_to_server(tracker, uri, "exported")
    mine = {r["run_id"]: r for r in collect(tracker, "exported")}
    con.close()
    client = MlflowClient(tracking_uri=uri)
    assert set(ids) == set(mine)
    for dawn_id, mid in ids.items():
        got = client.get_run(mid)
        assert got.data.tags["dawn.run_id"] == dawn_id
        assert got.data.params == mine[dawn_id]["params"]
        assert set(got.data.metrics) == set(mine[dawn_id]["metrics"])
        assert got.info.status == mine[dawn_id]["status"]


def test_atexit_flush_keeps_runs_of_an_unclosed_connection(tmp_path):
    import subprocess
    import sys
    path = str(tmp_path / "exit.db")
    code = ("import engine; c = engine.connect(%r); c.execute('SELECT 41 + 1'); "
            "import os; print(c.cursor().execute('SELECT 1').run_id)") % path
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    rid = out.stdout.strip()
    con = engine.connect(path)
    cur = con.cursor()
    cur.execute("SELECT sql FROM dawn.runs WHERE run_id = ?", [rid])
    assert cur.fetchall() == [("SELECT 1",)]
    con.close()
