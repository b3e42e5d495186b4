"""Persistent storage, DDL/DML, transactions and bad input (issue 2/9)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pandas as pd
import pyarrow as pa
import pytest

import engine


@pytest.fixture()
def path(tmp_path):
    return str(tmp_path / "db.dawn")


@pytest.fixture()
def con(path):
    c = engine.connect(path)
    yield c
    if not c.closed:
        c.close()


def rows(con, sql, params=None):
    return con.execute(sql, params).fetchall()


def test_write_close_reopen_read(path):
    con = engine.connect(path)
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, price DECIMAL(10,2), d DATE)")
    con.execute("INSERT INTO t VALUES (1, 'a', 1.25, DATE '2024-01-02'), (2, 'b', NULL, NULL)")
    con.execute("CREATE VIEW cheap AS SELECT name FROM t WHERE price < 2")
    con.commit()
    con.close()
    con = engine.connect(path)
    assert rows(con, "SELECT id, name, price FROM t ORDER BY id") == [(1, "a", 1.25), (2, "b", None)]
    assert rows(con, "SELECT * FROM cheap") == [("a",)]
    assert {"t", "cheap"} <= {r[0] for r in rows(con, "SHOW TABLES")}
    con.close()


def test_uncommitted_work_is_lost_on_close(path):
    con = engine.connect(path)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    con.execute("INSERT INTO t VALUES (1)")
    con.close()
    con = engine.connect(path)
    assert rows(con, "SELECT count(*) FROM t") == [(0,)]
    con.close()


def test_rollback_and_commit(con):
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    con.execute("INSERT INTO t VALUES (1), (2)")
    assert rows(con, "SELECT count(*) FROM t") == [(2,)]
    con.rollback()
    assert rows(con, "SELECT count(*) FROM t") == [(0,)]
    con.execute("BEGIN")
    con.execute("INSERT INTO t VALUES (3)")
    con.execute("COMMIT")
    assert rows(con, "SELECT a FROM t") == [(3,)]


def test_autocommit_attribute(path):
    con = engine.connect(path)
    assert con.autocommit is False
    con.autocommit = True
    con.execute("CREATE TABLE t (a INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")
    other = engine.connect(path)
    assert rows(other, "SELECT count(*) FROM t") == [(1,)]
    other.close()
    con.close()


def test_readers_see_commits_not_pending_writes(path):
    w = engine.connect(path)
    w.execute("CREATE TABLE t (a INTEGER)")
    w.commit()
    r = engine.connect(path, autocommit=True)
    w.execute("INSERT INTO t VALUES (1)")
    assert rows(r, "SELECT count(*) FROM t") == [(0,)]
    w.commit()
    assert rows(r, "SELECT count(*) FROM t") == [(1,)]
    w.close()
    r.close()


def test_threads_with_own_connections(path):
    setup = engine.connect(path)
    setup.execute("CREATE TABLE t (a INTEGER)")
    setup.commit()
    errors = []

    def worker(k):
        try:
            c = engine.connect(path)
            for i in range(20):
                c.execute("INSERT INTO t VALUES (?)", [k * 100 + i])
                c.commit()
                c.execute("SELECT count(*) FROM t").fetchall()
            c.close()
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert rows(setup, "SELECT count(*), count(DISTINCT a) FROM t") == [(80, 80)]
    setup.close()


def test_second_process_gets_clear_error(path, tmp_path):
    con = engine.connect(path)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    code = textwrap.dedent(f"""
        import engine
        try:
            engine.connect({path!r})
        except engine.OperationalError as e:
            print("OperationalError:", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "OperationalError" in out and "locked by another process" in out
    con.close()


def _two_committed_rows(path) -> None:
    con = engine.connect(path)
    con.execute("CREATE TABLE big (id BIGINT, v DOUBLE)")
    con.execute("INSERT INTO big SELECT * FROM (VALUES (1, 1.0), (2, 2.0)) v(id, v)")
    con.commit()
    con.close()


def _rows_after_kill(path) -> int:
    """Reopen after the kill: the earlier commit is whole; returns the row count."""
    con = engine.connect(path)
    n = rows(con, "SELECT count(*) FROM big")[0][0]
    assert rows(con, "SELECT id FROM big WHERE id < 10 ORDER BY id") == [(1,), (2,)]
    if n == 1_000_002:
        assert rows(con, "SELECT min(id), max(id) FROM big") == [(1, 1_000_009)]
    con.close()
    return n


def test_killed_mid_transaction_keeps_earlier_commits(path):
    _two_committed_rows(path)
    code = textwrap.dedent(f"""
        import sys, engine, pyarrow as pa, numpy as np
        con = engine.connect({path!r})
        n = 1_000_000
        con.append("big", pa.table({{"id": np.arange(10, 10 + n), "v": np.ones(n)}}))
        print("inserted", flush=True)
        sys.stdin.read()
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "inserted"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert _rows_after_kill(path) in (2, 1_000_002)


@pytest.mark.parametrize("fraction", [0.3, 0.7, 1.1])
def test_killed_while_writing_and_committing_is_all_or_nothing(path, fraction):
    """SIGKILL at a point inside the writes of a 1M-row transaction, or inside its COMMIT: the
    database opens and holds none or all of those rows, and every earlier commit."""
    _two_committed_rows(path)
    code = textwrap.dedent(f"""
        import sys, time, engine, pyarrow as pa, numpy as np
        con = engine.connect({path!r})
        print("open", flush=True)
        t0 = time.perf_counter()
        for b in range(10):   # 1M rows in ten appends of one transaction
            ids = np.arange(10 + b * 100_000, 10 + (b + 1) * 100_000)
            con.append("big", pa.table({{"id": ids, "v": np.ones(len(ids))}}))
        con.commit()
        print("committed", time.perf_counter() - t0, flush=True)
        sys.stdin.read()
    """)
    # first a run to completion in a copy, to time the writes on this machine
    import shutil
    probe = path + ".probe"
    shutil.copy(path, probe)
    p = subprocess.run([sys.executable, "-c", code.replace(repr(path), repr(probe))], input="",
                       capture_output=True, text=True, timeout=120)
    took = float(p.stdout.split("committed")[1])
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "open"
    time.sleep(took * fraction)   # 0.3, 0.7: mid-writes; 1.1: around or after the commit
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert _rows_after_kill(path) in (2, 1_000_002)


# ---- DDL / DML surface

def test_ddl_dml_surface(con, tmp_path):
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR UNIQUE, qty INTEGER NOT NULL)")
    con.execute("INSERT INTO t (id, qty, name) VALUES (1, 10, 'a'), (2, 20, 'b'), (3, 30, 'c')")
    con.execute("UPDATE t SET qty = qty + 1 WHERE id >= ?", [2])
    assert rows(con, "SELECT qty FROM t ORDER BY id") == [(10,), (21,), (31,)]
    cur = con.execute("DELETE FROM t WHERE name = 'a'")
    assert cur.rowcount == 1
    con.execute("ALTER TABLE t ADD COLUMN note VARCHAR")
    con.execute("ALTER TABLE t RENAME COLUMN note TO remark")
    con.execute("UPDATE t SET remark = 'x' WHERE id = 2")
    assert rows(con, "SELECT id, remark FROM t ORDER BY id") == [(2, "x"), (3, None)]
    con.execute("ALTER TABLE t DROP COLUMN remark")
    assert [r[0] for r in rows(con, "DESCRIBE t")] == ["id", "name", "qty"]
    con.execute("CREATE TABLE t2 AS SELECT id, qty * 2 AS q2 FROM t")
    assert rows(con, "SELECT * FROM t2 ORDER BY id") == [(2, 42), (3, 62)]
    con.execute("INSERT INTO t2 SELECT id + 10, q2 FROM t2")
    assert rows(con, "SELECT count(*) FROM t2") == [(4,)]
    pq_path = str(tmp_path / "out.parquet")
    csv_path = str(tmp_path / "out.csv")
    con.execute(f"COPY t2 TO '{pq_path}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * FROM t2 WHERE id < 10) TO '{csv_path}' (FORMAT csv)")
    con.execute("CREATE TABLE t3 (id INTEGER, q2 INTEGER)")
    con.execute(f"COPY t3 FROM '{pq_path}' (FORMAT parquet)")
    con.execute(f"COPY t3 FROM '{csv_path}' (FORMAT csv, HEADER true)")
    assert rows(con, "SELECT count(*), sum(q2) FROM t3") == [(6, 2 * (42 + 62) + 42 + 62)]
    con.execute("DROP TABLE t3")
    con.execute("DROP TABLE IF EXISTS t3")
    con.execute("CREATE OR REPLACE TABLE t2 AS SELECT 1 AS one")
    assert rows(con, "SELECT * FROM t2") == [(1,)]
    con.execute("CREATE VIEW v AS SELECT id FROM t")
    con.execute("DROP VIEW v")
    with pytest.raises(engine.ProgrammingError):
        con.execute("SELECT * FROM v")


def test_analyze_statistics_feed_estimates(con):
    con.execute("CREATE TABLE s AS SELECT * FROM (VALUES (1, 'x'), (2, 'x'), (3, 'y')) v(k, g)")
    con.execute("ANALYZE s")
    st = con._session.store.column_stats("s")
    assert st["k"]["distinct_count"] == 3 and st["g"]["distinct_count"] == 2
    assert st["k"]["min"] == "1" and st["k"]["max"] == "3" and st["k"]["row_count"] == 3


def test_pandas_read_sql(con):
    con.execute("CREATE TABLE t (a INTEGER, b VARCHAR)")
    con.execute("INSERT INTO t VALUES (1, 'x'), (2, 'y')")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pandas prefers SQLAlchemy; DB-API works
        df = pd.read_sql("SELECT a, b FROM t ORDER BY a", con)
        df2 = pd.read_sql("SELECT b FROM t WHERE a = ?", con, params=[2])
    assert list(df.columns) == ["a", "b"] and df["a"].tolist() == [1, 2]
    assert df2["b"].tolist() == ["y"]


def test_stored_table_joins_registered_frame(con):
    con.execute("CREATE TABLE t (k INTEGER, v DOUBLE)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, i * 1.5) for i in range(100)])
    con.register("keys", pd.DataFrame({"k": [3, 5, 500]}))
    assert rows(con, "SELECT sum(v) FROM t JOIN keys USING (k)") == [(12.0,)]


# ---- bad input: a clear DB-API error and the data unchanged

@pytest.fixture()
def filled(con):
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, n INTEGER)")
    con.execute("INSERT INTO t VALUES (1, 'a', 10), (2, 'b', 20)")
    con.commit()
    return con


def _unchanged(con):
    assert rows(con, "SELECT id, name, n FROM t ORDER BY id") == [(1, "a", 10), (2, "b", 20)]


def test_wrong_parameter_count(filled):
    with pytest.raises(engine.ProgrammingError, match="3 parameter"):
        filled.execute("INSERT INTO t VALUES (?, ?, ?)", [3, "c"])
    with pytest.raises(engine.ProgrammingError, match="has 2 values"):
        filled.executemany("INSERT INTO t VALUES (?, ?, ?)", [(3, "c", 1), (4, "d")])
    _unchanged(filled)


def test_null_into_not_null(filled):
    with pytest.raises(engine.IntegrityError, match='column "name"'):
        filled.execute("INSERT INTO t VALUES (3, NULL, 1)")
    with pytest.raises(engine.IntegrityError):
        filled.execute("UPDATE t SET name = NULL WHERE id = 1")
    _unchanged(filled)


def test_duplicate_primary_key_inside_transaction(filled):
    filled.execute("INSERT INTO t VALUES (3, 'c', 30)")
    with pytest.raises(engine.IntegrityError, match="(?i)duplicate key"):
        filled.execute("INSERT INTO t VALUES (4, 'd', 40), (1, 'dup', 0)")
    # the failed statement changed nothing; the earlier one in the same transaction survives
    assert rows(filled, "SELECT id FROM t ORDER BY id") == [(1,), (2,), (3,)]
    filled.rollback()
    _unchanged(filled)


def test_wrong_type_in_insert(filled):
    with pytest.raises(engine.DataError, match='column "n"'):
        filled.execute("INSERT INTO t VALUES (3, 'c', 'not a number')")
    with pytest.raises(engine.DataError):
        filled.executemany("INSERT INTO t VALUES (?, ?, ?)", [(3, "c", 1), (4, "d", "x")])
    _unchanged(filled)


def test_drop_missing_table(filled):
    with pytest.raises(engine.ProgrammingError, match='Table "nope" does not exist'):
        filled.execute("DROP TABLE nope")
    _unchanged(filled)


def test_closed_connection_and_cursor(filled):
    cur = filled.cursor()
    cur.close()
    with pytest.raises(engine.InterfaceError):
        cur.execute("SELECT 1")
    filled.close()
    with pytest.raises(engine.InterfaceError):
        filled.execute("SELECT 1")
    with pytest.raises(engine.InterfaceError):
        filled.cursor()


def test_fetch_without_result_set(filled):
    cur = filled.cursor()
    with pytest.raises(engine.ProgrammingError):
        cur.fetchall()
    cur.execute("INSERT INTO t VALUES (5, 'e', 50)")
    with pytest.raises(engine.ProgrammingError):
        cur.fetchone()


def test_placeholders_inside_literals_are_left_alone(filled):
    filled.execute("INSERT INTO t VALUES (?, 'what? :x $1', ?)", [7, 70])
    assert rows(filled, "SELECT name FROM t WHERE id = 7") == [("what? :x $1",)]


def test_description_and_type_objects(filled):
    cur = filled.execute("SELECT id, name, n * 1.5 AS f, DATE '2024-01-01' AS d FROM t")
    d = cur.description
    assert [x[0] for x in d] == ["id", "name", "f", "d"] and all(len(x) == 7 for x in d)
    assert d[0][1] == engine.NUMBER and d[1][1] == engine.STRING
    assert d[2][1] == engine.NUMBER and d[3][1] == engine.DATETIME


def test_analyze_changes_estimates(con):
    import numpy as np
    n = 5000
    con.execute("CREATE TABLE f (k BIGINT, g BIGINT)")
    con.append("f", pa.table({"k": np.arange(n), "g": np.arange(n) % 7}))
    con.commit()
    con.execute("ANALYZE f")
    plan = "\n".join(r[0] for r in con.execute("EXPLAIN SELECT g, count(*) FROM f GROUP BY g").fetchall())
    agg = next(l for l in plan.splitlines() if "HashAggregateExec" in l)
    assert " rows=7 " in agg, agg
    from catalog.stats import distinct_count
    src = con._session.catalog.get("f")
    assert distinct_count(src, "k") == n


def test_set_global_persists(path):
    con = engine.connect(path)
    con.execute("SET GLOBAL disabled_rules = 'reorder_joins'")
    con.execute("SET disabled_rules = ''")  # session-only change
    con.commit()
    con.close()
    con = engine.connect(path)
    assert con._session.settings["disabled_rules"] == "reorder_joins"
    con.close()
