"""``dawn serve`` (engine/interfaces/flight_sql.py) through real clients: the ADBC Flight SQL
driver and pyarrow.flight, against a real server on 127.0.0.1 (port 0) in this process.

DDL and parameterized DML/queries, transactions, a 1M-row fetch, get_objects and table schemas,
plain Flight commands and tickets, session options, tracked runs, and concurrent clients.
"""
from __future__ import annotations

import os
import statistics
import threading
import time

import pyarrow as pa
import pyarrow.flight as fl
import pytest

fsql = pytest.importorskip("adbc_driver_flightsql.dbapi")

from engine.interfaces import flight_sql_proto as P  # noqa: E402
from engine.interfaces.flight_sql import DawnFlightServer, ServeOptions  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = os.path.join(tmp_path_factory.mktemp("flight"), "served.dawn")
    srv = DawnFlightServer(path, ServeOptions(), register={"reg": pa.table({"x": [1, 2, 3]})})
    srv.serve_in_thread()
    yield srv
    srv.shutdown()


def connect(server, **kw):
    return fsql.connect(server.uri, **kw)


def test_ddl_executemany_and_parameterized_select(server):
    with connect(server) as con:
        cur = con.cursor()
        cur.execute("CREATE TABLE items (id INTEGER, name VARCHAR, price DOUBLE)")
        cur.executemany("INSERT INTO items VALUES (?, ?, ?)",
                        [(i, f"item{i}", i * 1.5) for i in range(500)])
        assert cur.rowcount == 500
        con.commit()
        cur.execute("SELECT count(*), min(id), max(name) FROM items WHERE price >= ? AND name LIKE ?",
                    (300.0, "item4%"))
        assert cur.fetchall() == [(100, 400, "item499")]
        # a prepared statement reused with new parameters
        for lo in (0, 490):
            cur.execute("SELECT count(*) FROM items WHERE id >= ?", (lo,))
            assert cur.fetchone() == (500 - lo,)
        cur.execute("UPDATE items SET price = price * 2 WHERE id < ?", (10,))
        assert cur.rowcount == 10
        cur.execute("DROP TABLE items")
        con.commit()


def test_executemany_of_a_non_insert_runs_once_per_row_atomically(server):
    with connect(server) as con:
        cur = con.cursor()
        cur.execute("CREATE TABLE many (k INTEGER, v INTEGER)")
        cur.executemany("INSERT INTO many VALUES (?, ?)", [(i, 0) for i in range(5)])
        cur.executemany("UPDATE many SET v = v + ? WHERE k = ?", [(10, 1), (20, 2), (30, 2)])
        cur.execute("SELECT k, v FROM many ORDER BY k")
        assert cur.fetchall() == [(0, 0), (1, 10), (2, 50), (3, 0), (4, 0)]
        cur.execute("DROP TABLE many")
        con.commit()


def test_transaction_rolled_back(server):
    with connect(server) as con:      # ADBC: autocommit off, as PEP 249 wants
        cur = con.cursor()
        cur.execute("CREATE TABLE acct (id INTEGER)")
        cur.execute("INSERT INTO acct VALUES (1)")
        con.commit()
        cur.execute("INSERT INTO acct VALUES (2)")
        cur.execute("SELECT count(*) FROM acct")
        assert cur.fetchone() == (2,)       # the transaction sees its own write
        with connect(server, autocommit=True) as other:
            oc = other.cursor()
            oc.execute("SELECT count(*) FROM acct")
            assert oc.fetchone() == (1,)    # no one else does
            oc.close()
        con.rollback()
        cur.execute("SELECT id FROM acct")
        assert cur.fetchall() == [(1,)]
        cur.execute("DROP TABLE acct")
        con.commit()


def test_million_row_result_streams(server):
    with connect(server, autocommit=True) as con:
        cur = con.cursor()
        cur.execute("SELECT range AS i, range * 2 AS j FROM range(1000000)")
        t = cur.fetch_arrow_table()
        assert t.num_rows == 1_000_000
        assert pa.compute.sum(t["j"]).as_py() == 999_999 * 1_000_000
        cur.close()


def test_get_objects_and_table_schema(server):
    with connect(server, autocommit=True) as con:
        cur = con.cursor()
        cur.execute("CREATE TABLE obj_t (a BIGINT, b VARCHAR)")
        cur.execute("CREATE VIEW obj_v AS SELECT a FROM obj_t")
        objects = con.adbc_get_objects(depth="all").read_all().to_pylist()
        assert [c["catalog_name"] for c in objects] == ["served"]
        schemas = {s["db_schema_name"]: s for s in objects[0]["catalog_db_schemas"]}
        assert set(schemas) == {"main", "dawn"}
        tables = {t["table_name"]: t for t in schemas["main"]["db_schema_tables"]}
        assert tables["obj_t"]["table_type"] == "TABLE"
        assert tables["obj_v"]["table_type"] == "VIEW"
        assert tables["reg"]["table_type"] == "LOCAL TEMPORARY"
        assert [c["column_name"] for c in tables["obj_t"]["table_columns"]] == ["a", "b"]
        assert "runs" in {t["table_name"] for t in schemas["dawn"]["db_schema_tables"]}
        schema = con.adbc_get_table_schema("obj_t")
        assert schema.names == ["a", "b"] and schema.field("a").type == pa.int64()
        assert schema.field("b").metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"VARCHAR"
        assert sorted(con.adbc_get_table_types()) == ["LOCAL TEMPORARY", "SYSTEM TABLE", "TABLE", "VIEW"]
        info = con.adbc_get_info()
        assert info["vendor_name"] == "Dawn" and info["vendor_arrow_version"] == pa.__version__
        cur.execute("DROP VIEW obj_v")
        cur.execute("DROP TABLE obj_t")
        cur.close()


def test_runs_are_tracked_with_source_flight_and_the_client_address(server):
    with connect(server, autocommit=True) as con:
        cur = con.cursor()
        cur.execute("SELECT 42 AS answer")
        assert cur.fetchall() == [(42,)]
        cur.execute("SELECT r.source, t.value FROM dawn.runs r JOIN dawn.tags t ON r.run_id = t.run_id "
                    "WHERE t.key = 'dawn.client' AND r.sql = 'SELECT 42 AS answer'")
        rows = cur.fetchall()
        assert rows and all(src == "flight" and addr.startswith("127.0.0.1:") for src, addr in rows)
        cur.close()


def test_plain_flight_commands_tickets_and_paths(server):
    client = fl.connect(server.uri)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(b"SELECT 7 AS seven"))
    assert client.do_get(info.endpoints[0].ticket).read_all().to_pylist() == [{"seven": 7}]
    assert client.do_get(fl.Ticket(b"SELECT 1 + 1 AS two")).read_all().to_pylist() == [{"two": 2}]
    info = client.get_flight_info(fl.FlightDescriptor.for_path("reg"))
    assert client.do_get(info.endpoints[0].ticket).read_all()["x"].to_pylist() == [1, 2, 3]
    schema = client.get_schema(fl.FlightDescriptor.for_command(
        P.pack(P.sql.CommandStatementQuery(query="SELECT 1 AS a, 'x' AS b")))).schema
    assert schema.names == ["a", "b"]
    # a ticket is single-use
    info = client.get_flight_info(fl.FlightDescriptor.for_command(b"SELECT 1"))
    client.do_get(info.endpoints[0].ticket).read_all()
    with pytest.raises(fl.FlightError, match="unknown, used or cancelled ticket"):
        client.do_get(info.endpoints[0].ticket).read_all()
    client.close()


def test_ddl_runs_at_get_flight_info_without_do_get(server):
    client = fl.connect(server.uri)
    client.get_flight_info(fl.FlightDescriptor.for_command(b"CREATE TABLE no_doget (a INTEGER)"))
    client.get_flight_info(fl.FlightDescriptor.for_command(
        P.pack(P.sql.CommandStatementQuery(query="INSERT INTO no_doget VALUES (1), (2)"))))
    t = client.do_get(fl.Ticket(b"SELECT count(*) AS n FROM no_doget")).read_all()
    assert t.to_pylist() == [{"n": 2}]
    client.do_get(fl.Ticket(b"DROP TABLE no_doget")).read_all()
    client.close()


def test_session_options_are_dawn_settings(server):
    client = fl.connect(server.uri)
    req = P.flight.SetSessionOptionsRequest()
    req.session_options["experiment"].string_value = "remote"
    req.session_options["schema"].string_value = "elsewhere"
    req.session_options["bad name"].bool_value = True
    out = P.parse(P.flight.SetSessionOptionsResult, list(client.do_action(
        fl.Action("SetSessionOptions", req.SerializeToString())))[0].body.to_pybytes())
    assert dict(out.errors) == {"schema": P.flight.SetSessionOptionsResult.Error(value=P.SET_SESSION_INVALID_VALUE),
                                "bad name": P.flight.SetSessionOptionsResult.Error(value=P.SET_SESSION_INVALID_NAME)}
    got = P.parse(P.flight.GetSessionOptionsResult, list(client.do_action(
        fl.Action("GetSessionOptions", b"")))[0].body.to_pybytes())
    assert got.session_options["experiment"].string_value == "remote"
    assert got.session_options["schema"].string_value == "main"
    t = client.do_get(fl.Ticket(b"SELECT experiment FROM dawn.runs WHERE sql = 'SELECT 3'")).read_all()
    client.do_get(fl.Ticket(b"SELECT 3")).read_all()
    t = client.do_get(fl.Ticket(b"SELECT experiment FROM dawn.runs WHERE sql = 'SELECT 3'")).read_all()
    assert t["experiment"].to_pylist() == ["remote"]
    closed = P.parse(P.flight.CloseSessionResult, list(client.do_action(
        fl.Action("CloseSession", b"")))[0].body.to_pybytes())
    assert closed.status == P.CLOSE_SESSION_CLOSED
    got = P.parse(P.flight.GetSessionOptionsResult, list(client.do_action(
        fl.Action("GetSessionOptions", b"")))[0].body.to_pybytes())
    assert "experiment" not in got.session_options      # a fresh session
    client.close()


def _load(server, clients: int, ops: int) -> list[float]:
    """``clients`` concurrent ADBC connections, each ``ops`` mixed writes and reads; the latency
    of every operation."""
    with connect(server, autocommit=True) as con:
        cur = con.cursor()
        cur.execute("CREATE OR REPLACE TABLE load (client INTEGER, op INTEGER)")
        cur.close()
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(c: int) -> None:
        try:
            with connect(server, autocommit=True) as con:
                cur = con.cursor()
                mine = []
                for i in range(ops):
                    t0 = time.perf_counter()
                    if i % 2 == 0:
                        cur.execute("INSERT INTO load VALUES (?, ?)", (c, i))
                    else:
                        cur.execute("SELECT count(*) FROM load WHERE client = ?", (c,))
                        assert cur.fetchone() == ((i + 1) // 2,)    # sees all its own writes
                    mine.append(time.perf_counter() - t0)
                cur.close()
            with lock:
                latencies.extend(mine)
        except BaseException as e:     # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    with connect(server, autocommit=True) as con:
        cur = con.cursor()
        cur.execute("SELECT count(*), count(DISTINCT client) FROM load")
        assert cur.fetchone() == (clients * ((ops + 1) // 2), clients)   # no lost write
        cur.execute("DROP TABLE load")
        cur.close()
    return latencies


def _rss_mb() -> float:
    """This process's resident memory (the server runs in it), in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _report(name: str, server, clients: int, ops: int) -> None:
    before = _rss_mb()
    latencies = _load(server, clients, ops)
    grown = _rss_mb() - before
    q = statistics.quantiles(latencies, n=100)
    print(f"\n{name}: {len(latencies)} operations, p50 {q[49] * 1000:.1f} ms, "
          f"p99 {q[98] * 1000:.1f} ms, server memory +{grown:.0f} MB")
    assert grown < 256, f"the server's memory grew {grown:.0f} MB under load"


def test_concurrent_clients_small(server):
    _report("8 clients x 25", server, 8, 25)


@pytest.mark.slow
def test_concurrent_clients_16x200(server):
    _report("16 clients x 200", server, 16, 200)


def test_dawn_serve_command_prints_its_uri_and_stops_on_ctrl_c(tmp_path):
    import re
    import signal
    import subprocess
    import sys
    db = str(tmp_path / "cli.dawn")
    p = subprocess.Popen([sys.executable, "-m", "engine.interfaces.cli", "serve", db, "--port", "0",
                          "--token", "tok"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        uri = re.search(r"grpc://127\.0\.0\.1:\d+", line).group(0)
        assert line.startswith(f"Serving {db} on {uri}")
        client = fl.connect(uri)
        opts = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer tok")])
        client.do_get(fl.Ticket(b"CREATE TABLE kept AS SELECT 1 AS a"), opts).read_all()
        assert client.do_get(fl.Ticket(b"SELECT a FROM kept"), opts).read_all().num_rows == 1
        client.close()
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    import engine
    with engine.connect(db) as con:      # the server released the file; the table is stored
        assert con.execute("SELECT a FROM kept").fetchall() == [(1,)]


def test_a_result_left_unread_ends_when_the_session_runs_another_statement(server):
    client = fl.connect(server.uri)
    big = client.get_flight_info(fl.FlightDescriptor.for_command(b"SELECT * FROM range(10000000)"))
    small = client.get_flight_info(fl.FlightDescriptor.for_command(b"SELECT 1 AS a"))
    assert client.do_get(small.endpoints[0].ticket).read_all().num_rows == 1
    with pytest.raises(fl.FlightError, match="another statement ran"):
        client.do_get(big.endpoints[0].ticket).read_all()     # not buffered whole meanwhile
    client.close()
