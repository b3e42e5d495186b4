"""Serve a Dawn database over Arrow Flight SQL and query it as a remote client would.

The script starts ``dawn serve``'s server on 127.0.0.1 (a free port, a bearer token), then
connects with the ADBC Flight SQL driver (``pip install adbc-driver-flightsql``; pyarrow.flight
when it is missing): it creates a table, inserts rows with ``executemany``, runs a parameterized
query, reads a 1M-row result as Arrow, lists the tables, and shows that the statements were
tracked runs from a ``flight`` client. From a shell the same server is

    dawn serve shop.dawn --port 31337 --token SECRET

Run: python examples/flight_server.py
Data: generated here, nothing downloaded.
"""
from __future__ import annotations

import os
import secrets
import tempfile
import time

import pyarrow.flight as fl

from engine.interfaces.flight_sql import DawnFlightServer, ServeOptions


def with_adbc(uri: str, token: str) -> None:
    import adbc_driver_flightsql.dbapi as flight_sql
    with flight_sql.connect(uri, db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {token}"},
                            autocommit=True) as con:
        cur = con.cursor()
        cur.execute("CREATE TABLE orders (id INTEGER, region VARCHAR, amount DOUBLE)")
        regions = ["north", "south", "east", "west"]
        cur.executemany("INSERT INTO orders VALUES (?, ?, ?)",
                        [(i, regions[i % 4], round(10 + (i * 7) % 90 + i / 1000, 2)) for i in range(1000)])
        print(f"inserted {cur.rowcount} rows with executemany")
        cur.execute("SELECT region, count(*) AS n, round(sum(amount), 2) AS total FROM orders "
                    "WHERE amount > ? GROUP BY region ORDER BY region", (50.0,))
        print("orders over 50 by region:")
        for row in cur.fetchall():
            print("  ", row)
        t0 = time.perf_counter()
        cur.execute("SELECT range AS i, range % 7 AS r FROM range(1000000)")
        table = cur.fetch_arrow_table()
        print(f"fetched {table.num_rows:,} rows as Arrow in {time.perf_counter() - t0:.2f} s")
        names = [t["table_name"] for c in con.adbc_get_objects(depth="tables").read_all().to_pylist()
                 for s in c["catalog_db_schemas"] if s["db_schema_name"] == "main"
                 for t in s["db_schema_tables"]]
        print("tables:", names)
        cur.execute("SELECT source, statement_kind, status FROM dawn.runs WHERE sql LIKE 'INSERT%'")
        print("tracked:", cur.fetchall())
        cur.close()


def with_pyarrow(uri: str, token: str) -> None:
    client = fl.connect(uri)
    opts = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    for sql in ("CREATE TABLE orders AS SELECT range AS id FROM range(1000)",
                "SELECT count(*) AS n, sum(id) AS total FROM orders"):
        info = client.get_flight_info(fl.FlightDescriptor.for_command(sql.encode()), opts)
        print(client.do_get(info.endpoints[0].ticket, opts).read_all().to_pylist())
    client.close()


def main() -> None:
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as d:
        server = DawnFlightServer(os.path.join(d, "shop.dawn"), ServeOptions(port=0, token=token))
        server.serve_in_thread()
        print(f"serving {server.database} on {server.uri}")
        try:
            try:
                import adbc_driver_flightsql  # noqa: F401
            except ImportError:
                print("(adbc-driver-flightsql is not installed: querying with pyarrow.flight)")
                with_pyarrow(server.uri, token)
            else:
                with_adbc(server.uri, token)
        finally:
            server.shutdown()
    print("server stopped")


if __name__ == "__main__":
    main()
