"""Streaming a large result over loopback: ``dawn serve`` against a bare pyarrow.flight server.

Both servers hold the same in-memory Arrow table (10M rows, 4 columns: two BIGINT, a DOUBLE, a
short VARCHAR). Dawn serves it as a registered table through Flight SQL (``SELECT * FROM t``:
parsed, planned, run as a tracked statement, streamed batch by batch from the plan); the bare
server returns the table from ``do_get`` with ``RecordBatchStream`` (the floor: no SQL, no
engine). The client is pyarrow.flight in this process for both, reading the stream to the end.
Prints rows/s and MB/s of each (medians of --runs runs) and the ratio Dawn/bare.

    python benchmarks/flight.py [--rows 10000000] [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from engine.interfaces import flight_sql_proto as P  # noqa: E402
from engine.interfaces.flight_sql import DawnFlightServer, ServeOptions  # noqa: E402


def make_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    words = pa.array([f"w{i:04d}" for i in range(1000)])
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "k": pa.array(rng.integers(0, 1000, rows)),
        "x": pa.array(rng.random(rows)),
        "s": words.take(pa.array(rng.integers(0, 1000, rows))),
    }).combine_chunks()


class BareServer(fl.FlightServerBase):
    def __init__(self, table: pa.Table, batch_rows: int):
        super().__init__("grpc://127.0.0.1:0")
        # batches of the size Dawn streams: one 10M-row message is far slower for gRPC
        self.table = pa.Table.from_batches(table.to_batches(max_chunksize=batch_rows))

    def do_get(self, context, ticket):
        return fl.RecordBatchStream(self.table)


def read(client: fl.FlightClient, ticket: fl.Ticket) -> tuple[int, int, float]:
    t0 = time.perf_counter()
    rows = nbytes = batches = 0
    for chunk in client.do_get(ticket):
        rows += chunk.data.num_rows
        nbytes += chunk.data.nbytes
        batches += 1
    read.batches = batches
    return rows, nbytes, time.perf_counter() - t0


def dawn_once(client: fl.FlightClient) -> tuple[int, int, float]:
    t0 = time.perf_counter()
    info = client.get_flight_info(fl.FlightDescriptor.for_command(
        P.pack(P.sql.CommandStatementQuery(query="SELECT * FROM t"))))
    rows, nbytes, _ = read(client, info.endpoints[0].ticket)
    return rows, nbytes, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    table = make_table(args.rows)
    print(f"{args.rows:,} rows x {table.num_columns} columns ({table.nbytes / 1e6:.0f} MB in Arrow), "
          f"loopback, pyarrow {pa.__version__}, {os.cpu_count()} cores; medians of {args.runs} runs")

    dawn = DawnFlightServer(":memory:", ServeOptions(), register={"t": table})
    dawn.serve_in_thread()
    probe = fl.connect(dawn.uri)
    dawn_once(probe)
    batch_rows = -(-args.rows // read.batches)
    probe.close()
    bare = BareServer(table, batch_rows)
    threading.Thread(target=bare.serve, daemon=True).start()
    runners = {"bare pyarrow.flight": (fl.connect(f"grpc://127.0.0.1:{bare.port}"),
                                       lambda c: read(c, fl.Ticket(b"t"))),
               "dawn serve": (fl.connect(dawn.uri), dawn_once)}
    times: dict[str, list[float]] = {name: [] for name in runners}
    sizes: dict[str, tuple[int, int, int]] = {}
    try:
        for client, fn in runners.values():
            fn(client)       # warm-up (connection, plan caches)
        for _ in range(args.runs):     # interleaved, so both see the same machine noise
            for name, (client, fn) in runners.items():
                rows, nbytes, secs = fn(client)
                assert rows == args.rows, (name, rows)
                times[name].append(secs)
                sizes[name] = (rows, nbytes, read.batches)
    finally:
        for client, _ in runners.values():
            client.close()
        dawn.shutdown()
        bare.shutdown()
    results = {}
    for name, ts in times.items():
        rows, nbytes, batches = sizes[name]
        med = results[name] = statistics.median(ts)
        print(f"{name:>20}: {med:.3f} s  {rows / med / 1e6:7.2f} M rows/s  {nbytes / med / 1e6:8.1f} MB/s"
              f"  {batches} batches  (runs: {', '.join(f'{t:.3f}' for t in ts)})")
    ratio = results["bare pyarrow.flight"] / results["dawn serve"]
    print(f"Dawn / bare throughput: {ratio:.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
