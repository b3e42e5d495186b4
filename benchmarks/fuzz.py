"""Long fuzzing runs: generated queries over many seeds through the differential, TLP and NoREC
oracles (tests/fuzz_oracles.py), in worker processes watched for statements that do not return.

    python benchmarks/fuzz.py                       # 100,000 queries, all features, 2 workers
    nice -n 15 python benchmarks/fuzz.py --queries 20000 --workers 1 --features all
    python benchmarks/fuzz.py --features ci,casts --oracles diff --queries 2000
    python benchmarks/fuzz.py --repro tlp:1003:17 --features all   # one case, with its tables

A query is one oracle check (one generated case: a differential query, or a TLP or NoREC pair).
Seeds run ``--per-seed`` indexes each (every index checks each oracle), from ``--seed`` up, so the
run covers ``queries / (per_seed * oracles)`` seeds. Prints, per oracle: queries, mismatches,
crashes, refusals, timeouts, cases both engines refused (skip), cases DuckDB itself fails
(oracle_false) and Dawn's and DuckDB's total time side by side; then the most common failure
reasons. Every failing case (seed, index, oracle, statements, both engines' answers, the tables
as CREATE TABLE + INSERT) is written as a JSON line to ``--out``.

The watchdog: a worker announces each Dawn statement; one running past ``--timeout`` seconds
(DuckDB having answered within a second) is a timeout: the worker is killed, the case recorded,
and a fresh worker resumes at the next index. A worker that dies (out of memory, a segfault) is
counted as a crash of the case it was running. Feature switches: tests/fuzz_gen.py. Shrink the
failing cases to minimal reproductions with ``python benchmarks/fuzz_reduce.py FAILURES.jsonl``.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import queue
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

from fuzz_gen import parse_features  # noqa: E402
import fuzz_oracles as fo  # noqa: E402


def _worker(wid: int, tasks, results, oracles, features, timeout: float) -> None:
    fo.TIMEOUT_S = timeout

    def heartbeat(event: str, sql: str, duck_s: float) -> None:
        results.put(("hb", wid, event, sql, duck_s, time.time()))

    def on_verdict(v, seed: int, index: int) -> None:
        fail = None
        if v.status not in ("pass", "skip"):
            fail = stats.failures[-1]
        results.put(("v", wid, v.oracle, v.status, v.dawn_s, v.duck_s, seed, index, fail))

    while True:
        job = tasks.get()
        if job is None:
            results.put(("exit", wid))
            return
        seed, start, count = job
        results.put(("job", wid, seed, start, count))
        stats = fo.Stats()
        fo.run_cases(seed, start, count, oracles, features, stats, heartbeat, on_verdict)
        results.put(("done", wid, seed, start, count))


class Pool:
    """Workers, the jobs they run, and the watchdog over their Dawn statements."""

    def __init__(self, args, oracles, features):
        self.ctx = mp.get_context("spawn")
        self.tasks = self.ctx.Queue()
        self.results = self.ctx.Queue()
        self.args, self.oracles, self.features = args, oracles, features
        self.procs: dict[int, mp.Process] = {}
        self.state: dict[int, dict] = {}  # wid -> current job, case, statement and its start
        self.next_wid = 0
        self.stats = fo.Stats()

    def write(self, fail: dict) -> None:
        """Failing cases go to --out as they come (a long run can be read while it runs)."""
        with open(self.args.out, "a") as fh:
            fh.write(json.dumps(fail) + "\n")

    def start_worker(self) -> None:
        wid = self.next_wid
        self.next_wid += 1
        p = self.ctx.Process(target=_worker, args=(wid, self.tasks, self.results, self.oracles,
                                                    self.features, self.args.timeout), daemon=True)
        p.start()
        self.procs[wid] = p
        self.state[wid] = {"case": None, "sql": None, "since": time.time(), "duck_s": 0.0}

    def record(self, oracle: str, status: str, seed: int, index: int, reason: str, sql: str | None,
               dawn_s: float, duck_s: float) -> None:
        tables = fo.dataset(seed, index // fo.QUERIES_PER_DATASET, self.features)
        v = fo.Verdict(oracle, status, reason, [sql] if sql else [], "", dawn_s, duck_s)
        self.stats.add(v, seed, index, self.features, tables)
        if status not in ("pass", "skip"):
            self.write(self.stats.failures[-1])

    def replace_worker(self, wid: int, status: str, reason: str) -> None:
        """Kill ``wid`` (stuck or dead), record its case, and queue the rest of its job."""
        st = self.state.pop(wid)
        p = self.procs.pop(wid)
        if p.is_alive():
            p.kill()
        p.join(5)
        job = st.get("job")
        if job is not None:
            seed, start, count = job
            resume = start
            if st["case"]:
                oracle, seed, index = st["case"]
                elapsed = time.time() - st["since"]
                self.record(oracle, status, seed, index, reason.format(elapsed=elapsed,
                            duck=st["duck_s"], code=p.exitcode), st["sql"], elapsed, st["duck_s"])
                resume = index + 1
            if resume < start + count:
                self.tasks.put((seed, resume, start + count - resume))  # the job goes on
            else:
                self.pending -= 1
        self.start_worker()

    def run(self, jobs: list[tuple[int, int, int]]) -> fo.Stats:
        self.pending = len(jobs)
        for j in jobs:
            self.tasks.put(j)
        for _ in range(min(self.args.workers, len(jobs))):
            self.start_worker()
        done_queries, t0, last_print = 0, time.time(), time.time()
        while self.pending > 0:
            try:
                msg = self.results.get(timeout=0.5)
            except queue.Empty:
                msg = None
            if msg is not None:
                kind, wid = msg[0], msg[1]
                st = self.state.get(wid)
                if st is None:
                    continue  # a message of a worker already replaced
                if kind == "job":
                    st["job"], st["case"] = msg[2:5], None
                elif kind == "hb":
                    _, _, event, sql, duck_s, _when = msg
                    if event == "case":
                        oracle, seed, index = sql.split(":")
                        st["case"] = (oracle, int(seed), int(index))
                        st["sql"] = None
                    elif event == "begin":
                        st["sql"], st["duck_s"] = sql, duck_s
                    else:
                        st["sql"] = None
                    st["since"] = time.time()
                elif kind == "v":
                    _, _, oracle, status, dawn_s, duck_s, seed, index, fail = msg
                    self.stats.queries[oracle] += 1
                    self.stats.counts[oracle][status] += 1
                    self.stats.dawn_s[oracle] += dawn_s
                    self.stats.duck_s[oracle] += duck_s
                    if fail:
                        self.stats.failures.append(fail)
                        self.write(fail)
                    done_queries += 1
                    st["since"] = time.time()
                elif kind == "done":
                    self.pending -= 1
                    st["case"] = None
                    st.pop("job", None)
                    st["since"] = time.time()
            self.watch()
            if time.time() - last_print > 30:
                last_print = time.time()
                rate = done_queries / max(time.time() - t0, 1e-9)
                print(f"  ... {done_queries} queries, {len(self.stats.failures)} failing, "
                      f"{rate:.1f}/s", flush=True)
        for _ in self.procs:
            self.tasks.put(None)
        for p in self.procs.values():
            p.join(10)
        return self.stats

    def watch(self) -> None:
        now = time.time()
        for wid in list(self.state):
            st, p = self.state[wid], self.procs[wid]
            if not p.is_alive():
                self.replace_worker(wid, "crash", "the worker process died (exit code {code})")
            elif st["sql"] is not None and now - st["since"] > self.args.timeout:
                status = "timeout" if st["duck_s"] < fo.DUCK_FAST_S else "skip"
                self.replace_worker(wid, status, "Dawn ran past {elapsed:.0f}s (killed); DuckDB {duck:.3f}s")
            elif st["case"] is not None and now - st["since"] > 6 * self.args.timeout:
                self.replace_worker(wid, "timeout", "the case ran past {elapsed:.0f}s (killed)")


_QUOTED = re.compile(r'"[^"]*"|\'[^\']*\'')


def _short(m: re.Match) -> str:
    """A quoted name stays (a function's); quoted SQL (spaces, parentheses) becomes '…'."""
    text = m.group(0)
    return text if len(text) < 30 and not any(ch in text for ch in " (") else text[0] + "…" + text[0]


def _signature(f: dict) -> str:
    reason = f["reason"].splitlines()[0] if f["reason"] else ""
    # names in quotes stay (a function's), long quoted SQL fragments do not
    reason = _QUOTED.sub(_short, reason)
    return f"{f['oracle']} {f['status']}: " + re.sub(r"(?<![A-Za-z_])\d+(\.\d+)?", "N", reason)[:140]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=100_000, help="oracle checks in total")
    ap.add_argument("--per-seed", type=int, default=50, help="indexes per seed")
    ap.add_argument("--seed", type=int, default=1000, help="first seed")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--features", default="all", help="feature switches (tests/fuzz_gen.py)")
    ap.add_argument("--oracles", default="diff,tlp,norec")
    ap.add_argument("--timeout", type=float, default=fo.TIMEOUT_S, help="seconds per Dawn statement")
    ap.add_argument("--out", default="fuzz_failures.jsonl", help="failing cases, one JSON per line")
    ap.add_argument("--repro", metavar="ORACLE:SEED:INDEX", help="print one case and exit")
    args = ap.parse_args(argv)
    features = parse_features(args.features)
    if args.repro:
        oracle, seed, index = args.repro.split(":")
        print(fo.reproduce(oracle, int(seed), int(index), features))
        return 0
    oracles = tuple(o for o in args.oracles.split(",") if o)
    per_index = len(oracles)
    indexes = -(-args.queries // per_index)
    jobs, seed = [], args.seed
    while indexes > 0:
        n = min(args.per_seed, indexes)
        jobs.append((seed, 0, n))
        indexes -= n
        seed += 1
    print(f"fuzz: {args.queries} queries ({', '.join(oracles)}) over seeds {args.seed}..{seed - 1}, "
          f"{args.workers} workers, features: {args.features}", flush=True)
    open(args.out, "w").close()
    t0 = time.time()
    stats = Pool(args, oracles, features).run(jobs)
    wall = time.time() - t0
    print(f"\n{stats.table()}\nwall {wall:.0f}s, {sum(stats.queries.values()) / wall:.1f} queries/s")
    sigs = collections.Counter(_signature(f) for f in stats.failures)
    if sigs:
        print("\nmost common failures:")
        for sig, n in sigs.most_common(40):
            print(f"{n:6d}  {sig}")
    print(f"\n{len(stats.failures)} failing cases written to {args.out} "
          f"(reproduce one: python benchmarks/fuzz.py --repro ORACLE:SEED:INDEX --features {args.features})")
    bad = sum(stats.counts[o][s] for o in oracles for s in ("mismatch", "crash", "timeout"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
