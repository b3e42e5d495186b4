"""SQLancer's two reference-free oracles on Dawn, and on DuckDB as a check of the oracles.

Ternary logic partitioning (TLP): a query Q returns the same multiset as the UNION ALL of
Q WHERE p, Q WHERE NOT p and Q WHERE p IS NULL, for every predicate p; aggregates re-aggregate
over the partitions (count = sum of counts, sum of sums, min of mins, max of maxes), GROUP BY
regroups, DISTINCT unions, HAVING partitions the groups. NoREC: SELECT count(*) FROM ... WHERE p
equals SELECT sum(CASE WHEN p THEN 1 ELSE 0 END) FROM ..., the second form evaluating p as a
value where no filter rewrite applies. Cases come from the generator of tests/fuzz_query.py with
the CI feature switches (``DAWN_FUZZ_FEATURES`` overrides them); accounting and oracle code are in
tests/fuzz_oracles.py. Reproduce a failure: ``python benchmarks/fuzz.py --repro tlp:SEED:INDEX``.
"""
from __future__ import annotations

import os
import sys

import pyarrow as pa
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import fuzz_oracles as fo  # noqa: E402
from fuzz_data import Table  # noqa: E402
from fuzz_query import NorecCase, TlpCase  # noqa: E402
from test_differential import assert_clean, features  # noqa: E402

SEED = int(os.environ.get("DAWN_TLP_SEED", "4242"))
CASES = int(os.environ.get("DAWN_TLP_QUERIES", "220"))  # per oracle


@pytest.mark.parametrize("jit", ["off", "on"])   # the vectorized path and the JIT forced on (11/11)
def test_tlp_and_norec_on_dawn_and_duckdb(jit, monkeypatch):
    monkeypatch.setenv("DAWN_JIT", jit)
    stats = fo.run_cases(SEED, 0, CASES, oracles=("tlp", "norec"), features=features())
    assert_clean(stats, SEED, ("tlp", "norec"))
    # the run must have exercised the identities, not only skipped
    for o in ("tlp", "norec"):
        assert stats.counts[o]["pass"] >= 0.9 * CASES, stats.table()


def _engines() -> fo.Engines:
    data = pa.table({"k": pa.array([1, 2, None, 2], pa.int32()),
                     "s": pa.array(["a", None, "b", "a"])})
    return fo.Engines([Table("t", [("k", "i", pa.int32()), ("s", "s", pa.string())], data)])


def test_tlp_catches_a_partition_that_drops_the_null_rows():
    # without the "p IS NULL" part the rows where p is NULL are lost: the oracle must see it
    # on both engines (oracle_false: DuckDB itself fails this broken identity)
    eng = _engines()
    try:
        whole = "SELECT k FROM t"
        broken = "SELECT k FROM t WHERE k > 1 UNION ALL SELECT k FROM t WHERE NOT (k > 1)"
        v = fo.check_tlp(eng, TlpCase("where", whole, broken, "k > 1"))
        assert v.status == "oracle_false", v
        good = broken + " UNION ALL SELECT k FROM t WHERE (k > 1) IS NULL"
        assert fo.check_tlp(eng, TlpCase("where", whole, good, "k > 1")).status == "pass"
        agg_whole = "SELECT count(*) AS a0, min(s) AS a1 FROM t"
        agg_parts = ("SELECT sum(a0), min(a1) FROM (" + " UNION ALL ".join(
            f"SELECT count(*) AS a0, min(s) AS a1 FROM t WHERE {w}"
            for w in ("s = 'a'", "NOT (s = 'a')", "(s = 'a') IS NULL")) + ") AS tlp")
        assert fo.check_tlp(eng, TlpCase("aggregate", agg_whole, agg_parts, "s = 'a'")).status == "pass"
    finally:
        eng.close()


def test_norec_catches_a_count_that_differs():
    eng = _engines()
    try:
        ok = NorecCase("SELECT count(*) FROM t WHERE k = 2",
                       "SELECT sum(CASE WHEN k = 2 THEN 1 ELSE 0 END) FROM t", "k = 2")
        assert fo.check_norec(eng, ok).status == "pass"
        wrong = NorecCase("SELECT count(*) FROM t WHERE k = 2",
                          "SELECT sum(CASE WHEN k >= 2 OR k IS NULL THEN 1 ELSE 0 END) FROM t", "k = 2")
        assert fo.check_norec(eng, wrong).status == "oracle_false"
        # an empty input: count(*) is 0 and the sum NULL, which the oracle reads as 0
        empty = NorecCase("SELECT count(*) FROM t WHERE FALSE",
                          "SELECT sum(CASE WHEN k = 2 THEN 1 ELSE 0 END) FROM t WHERE FALSE", "k = 2")
        assert fo.check_norec(eng, empty).status == "pass"
    finally:
        eng.close()


def test_accounting_of_outcomes():
    # the definitions: a refusal is not a mismatch, an error where DuckDB answers is,
    # anything but an engine.Error is a crash, both raising is nothing to compare
    ok = fo.Outcome([(1,)], None, "ok", 0.01)
    err = fo.Outcome(None, "DataError: x", "error", 0.01)
    bind = fo.Outcome(None, "BinderException: Binder Error: x", "error", 0.01)
    conv = fo.Outcome(None, "ConversionException: Conversion Error: x", "error", 0.01)
    assert fo._classify(ok, fo.Outcome(None, "NotSupportedError: x", "refusal", 0.01))[0] == "refusal"
    assert fo._classify(ok, fo.Outcome(None, "ProgrammingError: x", "error", 0.01))[0] == "mismatch"
    assert fo._classify(bind, ok)[0] == "mismatch"
    # a data error on one side only depends on which rows each engine's plan computes
    assert fo._classify(ok, err)[0] == "eval_order"
    assert fo._classify(conv, ok)[0] == "eval_order"
    assert fo._classify(err, err)[0] == "skip"
    assert fo._classify(err, fo.Outcome(None, "KeyError: x", "crash", 0.01))[0] == "crash"
    assert fo._classify(ok, fo.Outcome([(1,)], None, "timeout", 12.0))[0] == "timeout"
    assert fo._classify(fo.Outcome([(1,)], None, "ok", 5.0),
                        fo.Outcome([(1,)], None, "timeout", 12.0))[0] == "skip"
    assert fo._classify(ok, ok) is None


def test_dawn_outcomes_are_classified_by_exception_class():
    eng = _engines()
    try:
        assert eng.dawn("SELECT k FROM t").status == "ok"
        assert eng.dawn("SELECT nope FROM t").status == "error"          # BindError
        assert eng.dawn("SELECT CAST('x' AS INTEGER)").status == "error"  # DataError
        assert eng.duck("SELECT nope FROM t").status == "error"
    finally:
        eng.close()
