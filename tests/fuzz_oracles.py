"""The fuzzers' oracles and their accounting: differential (Dawn against DuckDB on the same Arrow
tables), ternary logic partitioning (TLP) and NoREC (SQLancer's two reference-free oracles, run
on Dawn and, as a check of the oracle itself, on DuckDB).

Accounting (ISSUE_5_11.md), per oracle:
- crash: anything not an ``engine.Error`` escaping to the user, or an ``engine.InternalError``;
- mismatch: different results, or one engine raising where the other returns rows (Dawn raising
  an ordinary error where DuckDB answers, or answering where DuckDB raises); for TLP and NoREC,
  Dawn's two forms disagreeing;
- refusal: Dawn raising NotSupportedError where DuckDB answers (counted, not a mismatch);
- timeout: a Dawn statement running past ``TIMEOUT_S`` where DuckDB answered within
  ``DUCK_FAST_S``. In process a statement can only be measured (and flagged when it ends);
  benchmarks/fuzz.py runs the cases in worker processes and kills one that overruns;
- eval_order: one engine raised a data error (a value that does not cast, an overflow) where the
  other answered. Which rows reach an expression depends on the order each engine evaluates
  joins, filters and projections in, which SQL leaves to the implementation (DuckDB's own plans
  differ in it); counted and reported apart from mismatches, never silently dropped;
- skip: both engines raised (e.g. a cast of text that does not parse): nothing to compare;
- oracle_false: DuckDB itself fails the TLP/NoREC identity, so the case says nothing about Dawn
  (expected 0: it would be a bug of the oracle or of DuckDB).

``run_cases`` drives seeds and query indexes; each block of ``QUERIES_PER_DATASET`` indexes shares
a freshly generated set of tables, so a failure is reproduced from (seed, index, features) alone.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

import engine
from engine import errors as dawn_errors
from fuzz_data import Table, make_tables, table_sql
from fuzz_gen import CI_FEATURES, Query
from fuzz_query import Gen, NorecCase, TlpCase
from tpch_compare import compare_results

TIMEOUT_S = 10.0
DUCK_FAST_S = 1.0
QUERIES_PER_DATASET = 25
MAX_ROWS = 20_000  # a case whose DuckDB result is larger is replaced (keeps comparisons cheap)
ORACLES = ("diff", "tlp", "norec")
STATUSES = ("pass", "mismatch", "crash", "refusal", "timeout", "eval_order", "skip", "oracle_false")

# errors that depend on the values an expression meets (not on types or the query's shape)
_DAWN_DATA_ERRORS = ("DataError:",)
_DUCK_DATA_ERRORS = ("ConversionException:", "OutOfRangeException:", "InvalidInputException: Invalid Input "
                     "Error: Could not", "DivideByZero")


def _data_error(error: str | None, prefixes: tuple[str, ...]) -> bool:
    return bool(error) and error.startswith(prefixes)


@dataclass
class Outcome:
    """One statement on one engine."""
    rows: list | None
    error: str | None
    status: str        # ok | error | refusal | crash | timeout
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rows is not None and self.status in ("ok", "timeout")


class Engines:
    """Dawn and DuckDB over the same Arrow tables. ``heartbeat(event, sql, duck_seconds)`` is
    called around every Dawn statement (benchmarks/fuzz.py's watchdog listens)."""

    def __init__(self, tables: list[Table], heartbeat: Callable | None = None):
        self.dawn_con = engine.connect()
        self.duck_con = duckdb.connect()
        self.duck_con.execute("SET enable_progress_bar = false")  # it would print on stdout
        for t in tables:
            self.dawn_con.register(t.name, t.data)
            self.duck_con.register(t.name, t.data)
        self.heartbeat = heartbeat

    def close(self) -> None:
        self.dawn_con.close()
        self.duck_con.close()

    def duck(self, sql: str) -> Outcome:
        t0 = time.perf_counter()
        try:
            rows = self.duck_con.execute(sql).fetchall()
            return Outcome(rows, None, "ok", time.perf_counter() - t0)
        except duckdb.Error as e:
            return Outcome(None, f"{type(e).__name__}: {e}", "error", time.perf_counter() - t0)

    def dawn(self, sql: str, duck_seconds: float = 0.0) -> Outcome:
        if self.heartbeat:
            self.heartbeat("begin", sql, duck_seconds)
        t0 = time.perf_counter()
        try:
            cur = self.dawn_con.cursor()
            cur.execute(sql)
            rows = cur.fetchall()
            out = Outcome(rows, None, "ok", 0.0)
        except (KeyboardInterrupt, SystemExit):
            raise
        except dawn_errors.InternalError as e:
            out = Outcome(None, f"InternalError: {e}", "crash", 0.0)
        except dawn_errors.NotSupportedError as e:
            out = Outcome(None, f"NotSupportedError: {e}", "refusal", 0.0)
        except engine.Error as e:
            out = Outcome(None, f"{type(e).__name__}: {e}", "error", 0.0)
        except BaseException as e:  # noqa: BLE001 - anything else escaping is the crash we count
            out = Outcome(None, f"{type(e).__module__}.{type(e).__name__}: {e}", "crash", 0.0)
        out.seconds = time.perf_counter() - t0
        if self.heartbeat:
            self.heartbeat("end", sql, duck_seconds)
        if out.seconds > TIMEOUT_S and out.status != "crash":
            out.status = "timeout"
        return out


@dataclass
class Verdict:
    oracle: str
    status: str
    reason: str = ""
    statements: list[str] = field(default_factory=list)
    detail: str = ""
    dawn_s: float = 0.0
    duck_s: float = 0.0


def _show(rows, limit: int = 12) -> str:
    if rows is None:
        return "None"
    body = "\n".join(f"      {r!r}" for r in rows[:limit])
    more = f"\n      ... ({len(rows) - limit} more)" if len(rows) > limit else ""
    return f"{len(rows)} rows\n{body}{more}"


def _classify(d: Outcome, w: Outcome) -> tuple[str, str] | None:
    """The verdict of one statement's pair of outcomes, or None when both returned rows."""
    if w.status == "crash":
        return "crash", w.error or ""
    if w.status == "timeout":
        if d.seconds < DUCK_FAST_S:
            return "timeout", f"Dawn ran {w.seconds:.1f}s, DuckDB {d.seconds:.3f}s"
        return "skip", "slow on both engines"
    if d.ok:
        if w.status == "refusal":
            return "refusal", w.error or ""
        if not w.ok:
            if _data_error(w.error, _DAWN_DATA_ERRORS):
                return "eval_order", f"Dawn raised a data error where DuckDB answers: {w.error}"
            return "mismatch", f"Dawn raised where DuckDB answers: {w.error}"
        return None
    if w.ok:
        if _data_error(d.error, _DUCK_DATA_ERRORS):
            return "eval_order", f"DuckDB raised a data error where Dawn answers: {d.error}"
        return "mismatch", f"DuckDB raised but Dawn returned rows: {d.error}"
    return "skip", "both raised"


_RANK = {"crash": 0, "timeout": 1, "mismatch": 2, "refusal": 3, "eval_order": 4, "skip": 5}


def _worst(found: list[tuple[str, str]]) -> tuple[str, str] | None:
    return min(found, key=lambda f: _RANK[f[0]]) if found else None


def _check_sorted(rows: list[tuple], spec) -> str | None:
    """Whether ``rows`` (Dawn's) follow a partial ORDER BY [(position, desc, nulls_first)]."""
    for i in range(1, len(rows)):
        prev, cur = rows[i - 1], rows[i]
        for pos, desc, nulls_first in spec:
            a, b = prev[pos], cur[pos]
            if a is None and b is None:
                continue
            if a is None or b is None:
                # NULLS LAST is the default for both directions
                if (a is None) == nulls_first:
                    break
                return f"rows {i - 1} and {i} are out of order on column {pos}: {prev!r} then {cur!r}"
            c = (a > b) - (a < b)
            if c == 0:
                continue
            if (c < 0) != desc:
                break
            return f"rows {i - 1} and {i} are out of order on column {pos}: {prev!r} then {cur!r}"
    return None


def check_differential(eng: Engines, q: Query, expected: Outcome | None = None) -> Verdict:
    d = expected or eng.duck(q.sql)
    w = eng.dawn(q.sql, d.seconds)
    v = Verdict("diff", "pass", statements=[q.sql], dawn_s=w.seconds, duck_s=d.seconds)
    found = _classify(d, w)
    if found is None:
        problem = compare_results(w.rows, d.rows, q.ordered)
        if problem is None and q.order_spec:
            problem = _check_sorted(w.rows, q.order_spec)
        if problem is not None:
            found = ("mismatch", problem)
    if found is not None:
        v.status, v.reason = found
        v.detail = f"    Dawn: {w.error or _show(w.rows)}\n    DuckDB: {d.error or _show(d.rows)}"
    return v


def _check_identity(eng: Engines, oracle: str, first: str, second: str,
                    differ: Callable[[list, list], str | None]) -> Verdict:
    """Two statements whose results must agree (``differ`` says how they do not), on DuckDB
    (the oracle's own check) and on Dawn."""
    d1, d2 = eng.duck(first), eng.duck(second)
    w1, w2 = eng.dawn(first, d1.seconds), eng.dawn(second, d2.seconds)
    v = Verdict(oracle, "pass", statements=[first, second], dawn_s=w1.seconds + w2.seconds,
                duck_s=d1.seconds + d2.seconds)
    found = _worst([f for f in (_classify(d1, w1), _classify(d2, w2)) if f is not None])
    duck_diff = differ(d1.rows, d2.rows) if d1.ok and d2.ok else None
    # DuckDB's own bug on one form (an INTERNAL Error): the identity is then Dawn's alone to hold
    duck_bug = next((d.error for d in (d1, d2) if d.error and d.error.startswith("InternalException")), None)
    if found and found[0] in ("crash", "timeout"):
        pass
    elif duck_bug is not None and w1.ok and w2.ok:
        problem = differ(w1.rows, w2.rows)
        found = ("mismatch", f"Dawn's two forms differ: {problem}") if problem else \
            ("oracle_false", f"DuckDB fails on one form: {duck_bug.splitlines()[0][:120]}")
    elif duck_diff is not None:
        found = ("oracle_false", f"DuckDB fails the {oracle} identity: {duck_diff}")
    elif found is None:
        problem = differ(w1.rows, w2.rows)
        found = ("mismatch", f"Dawn's two forms differ: {problem}") if problem else None
    if found is not None:
        v.status, v.reason = found
        v.detail = (f"    Dawn: {w1.error or _show(w1.rows)}\n      vs {w2.error or _show(w2.rows)}\n"
                    f"    DuckDB: {d1.error or _show(d1.rows)}\n      vs {d2.error or _show(d2.rows)}")
    return v


def check_tlp(eng: Engines, case: TlpCase) -> Verdict:
    return _check_identity(eng, "tlp", case.whole, case.parts,
                           lambda a, b: compare_results(a, b, ordered=False))


def _norec_differ(a: list, b: list) -> str | None:
    n1 = a[0][0] if a else None
    n2 = b[0][0] if b else None
    n2 = 0 if n2 is None else n2  # sum over no rows is NULL
    return None if n1 == n2 else f"count(*) WHERE p = {n1}, sum(CASE WHEN p ...) = {n2}"


def check_norec(eng: Engines, case: NorecCase) -> Verdict:
    return _check_identity(eng, "norec", case.filtered, case.unfiltered, _norec_differ)


# ---------------------------------------------------------------- driving seeds and indexes

def dataset(seed: int, block: int, features: frozenset = CI_FEATURES) -> list[Table]:
    return make_tables(random.Random(f"tables:{seed}:{block}"), features)


def generator(oracle: str, seed: int, index: int, tables: list[Table], attempt: int,
              features: frozenset) -> Gen:
    prefix = {"diff": "query", "tlp": "tlp", "norec": "norec"}[oracle]
    return Gen(random.Random(f"{prefix}:{seed}:{index}:{attempt}"), tables, features)


def run_case(eng: Engines, oracle: str, seed: int, index: int, tables: list[Table],
             features: frozenset) -> tuple[Verdict, int]:
    """One oracle's check for (seed, index); also the number of cases replaced because DuckDB's
    result was too large."""
    replaced = 0
    for attempt in range(5):
        gen = generator(oracle, seed, index, tables, attempt, features)
        if oracle == "diff":
            q = gen.query()
            expected = eng.duck(q.sql)
            if expected.rows is None or len(expected.rows) <= MAX_ROWS:
                return check_differential(eng, q, expected), replaced
        else:
            case = gen.tlp_case() if oracle == "tlp" else gen.norec_case()
            if oracle == "norec":
                return check_norec(eng, case), replaced
            probe = eng.duck(case.whole)
            if probe.rows is None or len(probe.rows) <= MAX_ROWS:
                return check_tlp(eng, case), replaced
        replaced += 1
    raise AssertionError(f"seed={seed} index={index}: every attempt gave a result over {MAX_ROWS} rows")


class Stats:
    """Counts and times per oracle, and the failing cases (everything but pass and skip)."""

    def __init__(self):
        self.counts = {o: {s: 0 for s in STATUSES} for o in ORACLES}
        self.queries = {o: 0 for o in ORACLES}
        self.dawn_s = {o: 0.0 for o in ORACLES}
        self.duck_s = {o: 0.0 for o in ORACLES}
        self.replaced = 0
        self.failures: list[dict] = []

    def add(self, v: Verdict, seed: int, index: int, features: frozenset, tables=None) -> None:
        self.queries[v.oracle] += 1
        self.counts[v.oracle][v.status] += 1
        self.dawn_s[v.oracle] += v.dawn_s
        self.duck_s[v.oracle] += v.duck_s
        if v.status not in ("pass", "skip"):
            self.failures.append({
                "oracle": v.oracle, "status": v.status, "seed": seed, "index": index,
                "reason": v.reason, "statements": v.statements, "detail": v.detail,
                "features": ",".join(sorted(features)),
                "tables": "\n".join(table_sql(t) for t in tables) if tables else ""})

    def merge(self, other: "Stats") -> None:
        for o in ORACLES:
            self.queries[o] += other.queries[o]
            self.dawn_s[o] += other.dawn_s[o]
            self.duck_s[o] += other.duck_s[o]
            for s in STATUSES:
                self.counts[o][s] += other.counts[o][s]
        self.replaced += other.replaced
        self.failures.extend(other.failures)

    def of(self, status: str, oracles=ORACLES) -> list[dict]:
        return [f for f in self.failures if f["status"] == status and f["oracle"] in oracles]

    def table(self) -> str:
        head = (f"{'oracle':<7}{'queries':>9}{'mismatch':>10}{'crash':>7}{'refusal':>9}"
                f"{'timeout':>9}{'eval_order':>12}{'skip':>7}{'oracle_false':>14}{'Dawn s':>9}{'DuckDB s':>10}")
        lines = [head]
        for o in ORACLES:
            if not self.queries[o]:
                continue
            c = self.counts[o]
            lines.append(f"{o:<7}{self.queries[o]:>9}{c['mismatch']:>10}{c['crash']:>7}"
                         f"{c['refusal']:>9}{c['timeout']:>9}{c['eval_order']:>12}{c['skip']:>7}{c['oracle_false']:>14}"
                         f"{self.dawn_s[o]:>9.1f}{self.duck_s[o]:>10.1f}")
        return "\n".join(lines)


def describe(f: dict) -> str:
    stmts = "\n".join(f"    SQL: {s}" for s in f["statements"])
    return (f"[{f['oracle']} {f['status']}] seed={f['seed']} index={f['index']}: {f['reason']}\n"
            f"{stmts}\n{f['detail']}")


def run_cases(seed: int, start: int, count: int, oracles=ORACLES,
              features: frozenset = CI_FEATURES, stats: Stats | None = None,
              heartbeat: Callable | None = None,
              on_verdict: Callable | None = None) -> Stats:
    """Every oracle in ``oracles`` on indexes start .. start+count-1 of ``seed``."""
    stats = stats or Stats()
    eng, tables, block = None, None, -1
    try:
        for i in range(start, start + count):
            if i // QUERIES_PER_DATASET != block:
                block = i // QUERIES_PER_DATASET
                if eng is not None:
                    eng.close()
                tables = dataset(seed, block, features)
                eng = Engines(tables, heartbeat)
            for oracle in oracles:
                if heartbeat:
                    heartbeat("case", f"{oracle}:{seed}:{i}", 0.0)
                v, replaced = run_case(eng, oracle, seed, i, tables, features)
                stats.replaced += replaced
                stats.add(v, seed, i, features, tables)
                if on_verdict:
                    on_verdict(v, seed, i)
    finally:
        if eng is not None:
            eng.close()
    return stats


def reproduce(oracle: str, seed: int, index: int, features: frozenset) -> str:
    """The tables, statements and both engines' answers of one case, as text."""
    tables = dataset(seed, index // QUERIES_PER_DATASET, features)
    eng = Engines(tables)
    try:
        v, _ = run_case(eng, oracle, seed, index, tables, features)
    finally:
        eng.close()
    out = ["-- tables", *(table_sql(t) for t in tables), "",
           f"-- {oracle} seed={seed} index={index} features={','.join(sorted(features))}",
           f"-- verdict: {v.status} {v.reason}", *(s + ";" for s in v.statements)]
    if v.detail:
        out.append(v.detail)
    return "\n".join(out)
