"""What ``dawn serve`` refuses, and how it stops: authentication (bearer token and basic),
the loopback-only default, --read-only, CREATE FUNCTION from remote clients, malformed and
oversized commands (the server keeps serving), cancelled and timed-out queries (stopped within a
second), and --max-result-bytes. Real servers on 127.0.0.1, real ADBC and pyarrow.flight clients.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pyarrow.flight as fl
import pytest

fsql = pytest.importorskip("adbc_driver_flightsql.dbapi")

from engine.interfaces import flight_sql_proto as P  # noqa: E402
from engine.interfaces.flight_sql import DawnFlightServer, ServeOptions  # noqa: E402

SLOW_AGGREGATE = "SELECT count(*) FROM range(100000) a, range(100000) b"     # ~5 minutes
ENDLESS_STREAM = "SELECT a.range + b.range AS s FROM range(100000) a, range(100000) b"


def start(**options) -> DawnFlightServer:
    srv = DawnFlightServer(":memory:", ServeOptions(**options))
    srv.serve_in_thread()
    return srv


@pytest.fixture
def plain():
    srv = start()
    yield srv
    srv.shutdown()


def _rejected(srv, **kw) -> str:
    with pytest.raises(Exception) as info:
        con = fsql.connect(srv.uri, autocommit=True, **kw)
        try:
            con.cursor().execute("SELECT 1")
        finally:
            con.close()
    return str(info.value)


def test_bearer_token_required():
    srv = start(token="s3cret-token")
    try:
        assert "Authentication required" in _rejected(srv)
        assert "Invalid bearer token" in _rejected(
            srv, db_kwargs={"adbc.flight.sql.authorization_header": "Bearer wrong"})
        client = fl.connect(srv.uri)
        with pytest.raises(fl.FlightUnauthenticatedError):
            client.do_get(fl.Ticket(b"SELECT 1")).read_all()
        with fsql.connect(srv.uri, db_kwargs={"adbc.flight.sql.authorization_header":
                                              "Bearer s3cret-token"}) as con:
            cur = con.cursor()
            cur.execute("SELECT 41 + 1")
            assert cur.fetchone() == (42,)
            cur.close()
    finally:
        srv.shutdown()


def test_basic_auth_issues_a_bearer_token():
    srv = start(user="alice", password="pw")
    try:
        assert "Invalid user name or password" in _rejected(
            srv, db_kwargs={"username": "alice", "password": "nope"})
        with fsql.connect(srv.uri, db_kwargs={"username": "alice", "password": "pw"},
                          autocommit=True) as con:
            cur = con.cursor()
            cur.execute("SELECT 1 AS one")
            assert cur.fetchall() == [(1,)]
            cur.execute("SELECT t.value FROM dawn.runs r JOIN dawn.tags t USING (run_id) "
                        "WHERE t.key = 'dawn.user' AND r.sql = 'SELECT 1 AS one'")
            assert cur.fetchall() == [("alice",)]
            cur.close()
    finally:
        srv.shutdown()


def test_non_loopback_host_needs_authentication():
    with pytest.raises(ValueError, match="without authentication"):
        DawnFlightServer(":memory:", ServeOptions(host="0.0.0.0"))
    out = subprocess.run([sys.executable, "-m", "engine.interfaces.cli", "serve", "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Refusing to serve on 0.0.0.0 without authentication" in out.stderr


def test_create_function_refused_from_remote_clients(plain):
    with fsql.connect(plain.uri, autocommit=True) as con:
        cur = con.cursor()
        with pytest.raises(fsql.Error, match="allow-udf-registration"):
            cur.execute("CREATE FUNCTION evil FROM 'os:system'")
        cur.execute("SHOW FUNCTIONS")
        assert "evil" not in {r[0] for r in cur.fetchall()}
        cur.close()


def test_read_only_refuses_writes():
    srv = start(read_only=True)
    try:
        with fsql.connect(srv.uri, autocommit=True) as con:
            cur = con.cursor()
            for sql in ("CREATE TABLE t (a INTEGER)", "SET GLOBAL threads = 2"):
                with pytest.raises(fsql.Error, match="read-only"):
                    cur.execute(sql)
            with pytest.raises(fsql.Error, match="read-only"):
                cur.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
            assert con.adbc_get_info()["vendor_name"] == "Dawn"
            cur.close()
        client = fl.connect(srv.uri)
        with pytest.raises(fl.FlightUnauthorizedError, match="read-only"):
            client.get_flight_info(fl.FlightDescriptor.for_command(b"DROP TABLE x"))
    finally:
        srv.shutdown()


def test_malformed_commands_get_clear_errors_and_the_server_goes_on(plain):
    client = fl.connect(plain.uri)
    whole = P.pack(P.sql.CommandStatementQuery(query="SELECT 1"))
    corrupt_inner = whole[:-10] + b"\xff" * 10
    cases = {
        whole[:-3]: "does not parse",
        b"\xff\xfe\x00": "neither a Flight SQL message",
        P.pack(P.sql.TicketStatementQuery(statement_handle=b"x")).replace(b"TicketStatementQuery",
                                                                          b"NoSuchCommandXyzzy12"): "unknown Flight SQL message",
        corrupt_inner: "malformed|does not parse",
    }
    for data, message in cases.items():
        with pytest.raises(fl.FlightServerError, match=message):
            client.get_flight_info(fl.FlightDescriptor.for_command(data))
    with pytest.raises(fl.FlightServerError, match="not a ActionCreatePreparedStatementRequest"):
        list(client.do_action(fl.Action("CreatePreparedStatement", b"\x01\x02garbage")))
    with pytest.raises(fl.FlightServerError, match="Unknown action"):
        list(client.do_action(fl.Action("DropDatabase", b"")))
    assert client.do_get(fl.Ticket(b"SELECT 5 AS five")).read_all().to_pylist() == [{"five": 5}]
    client.close()


def test_oversized_command_refused():
    srv = start(max_command_bytes=4096)
    try:
        client = fl.connect(srv.uri)
        big = P.pack(P.sql.CommandStatementQuery(query="SELECT " + " + ".join(["1"] * 3000)))
        with pytest.raises(fl.FlightServerError, match="more than the server's limit of 4096"):
            client.get_flight_info(fl.FlightDescriptor.for_command(big))
        assert client.do_get(fl.Ticket(b"SELECT 1 AS a")).read_all().num_rows == 1
    finally:
        srv.shutdown()


def test_cancel_flight_info_stops_a_streaming_query_within_a_second(plain):
    client = fl.connect(plain.uri)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(
        P.pack(P.sql.CommandStatementQuery(query=ENDLESS_STREAM))))
    reader = client.do_get(info.endpoints[0].ticket)
    outcome: list = []

    def read():
        try:
            for _ in reader:
                pass
            outcome.append("ended")
        except fl.FlightError as e:
            outcome.append(str(e))
    t = threading.Thread(target=read)
    t.start()
    time.sleep(0.3)
    canceller = fl.connect(plain.uri)
    t0 = time.perf_counter()
    res = list(canceller.do_action(fl.Action("CancelFlightInfo", P.flight.CancelFlightInfoRequest(
        info=info.serialize()).SerializeToString())))
    assert P.parse(P.flight.CancelFlightInfoResult, res[0].body.to_pybytes()).status == P.CANCEL_STATUS_CANCELLED
    t.join(5)
    assert time.perf_counter() - t0 < 1.0
    assert outcome and "cancelled by its client" in outcome[0]
    client.close()
    canceller.close()


def test_client_giving_up_stops_a_running_query_within_a_second(plain):
    client = fl.connect(plain.uri)
    t0 = time.perf_counter()
    with pytest.raises(fl.FlightTimedOutError):
        client.get_flight_info(fl.FlightDescriptor.for_command(SLOW_AGGREGATE.encode()),
                               fl.FlightCallOptions(timeout=0.3))
    # the same session (same connection) runs its next statement only once the first stopped
    assert client.do_get(fl.Ticket(b"SELECT 1 AS a")).read_all().num_rows == 1
    assert time.perf_counter() - t0 < 1.3
    t = client.do_get(fl.Ticket(("SELECT status, error FROM dawn.runs WHERE sql = '" + SLOW_AGGREGATE
                                 + "'").encode())).read_all().to_pylist()
    assert t[0]["status"] == "FAILED" and "cancelled" in t[0]["error"]
    client.close()


def test_statement_timeout():
    srv = start(statement_timeout=0.5)
    try:
        with fsql.connect(srv.uri, autocommit=True) as con:
            cur = con.cursor()
            t0 = time.perf_counter()
            with pytest.raises(fsql.Error, match="statement timeout of 0.5 s"):
                cur.execute(SLOW_AGGREGATE)
            assert time.perf_counter() - t0 < 1.5
            cur.execute("SELECT 2")
            assert cur.fetchone() == (2,)
            cur.close()
    finally:
        srv.shutdown()


def test_max_result_bytes():
    srv = start(max_result_bytes=1_000_000)
    try:
        client = fl.connect(srv.uri)
        assert client.do_get(fl.Ticket(b"SELECT * FROM range(1000)")).read_all().num_rows == 1000
        with pytest.raises(fl.FlightServerError, match="--max-result-bytes"):
            client.do_get(fl.Ticket(b"SELECT * FROM range(10000000)")).read_all()
    finally:
        srv.shutdown()


def test_tls(tmp_path):
    import shutil
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to serve with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    srv = start(tls_cert=str(cert), tls_key=str(key), token="t")
    try:
        assert srv.uri.startswith("grpc+tls://127.0.0.1:")
        client = fl.connect(srv.uri, tls_root_certs=cert.read_bytes())
        opts = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer t")])
        assert client.do_get(fl.Ticket(b"SELECT 1 AS a"), opts).read_all().num_rows == 1
        client.close()
        plain = fl.connect(srv.uri.replace("grpc+tls", "grpc"))
        with pytest.raises(fl.FlightError):
            plain.do_get(fl.Ticket(b"SELECT 1"), fl.FlightCallOptions(timeout=5)).read_all()
    finally:
        srv.shutdown()
