"""Seeded random differential test: random queries over random tables, Dawn against DuckDB.

Each run builds small random tables (NULLs, duplicate keys, an empty table now and then;
tests/fuzz_data.py), asks a grammar-based generator (tests/fuzz_gen.py and tests/fuzz_query.py)
for queries over them, runs every query on Dawn and on DuckDB (which reads the very same Arrow
tables) and compares the results: floats to 1e-6 relative, rows as multisets unless the query's
ORDER BY makes the order total (it orders by every output column), in which case the order is
checked too; a partial ORDER BY is checked for sortedness on Dawn's side. The accounting
(mismatch, crash, refusal, timeout) is tests/fuzz_oracles.py's; TLP and NoREC are in
tests/test_tlp_norec.py, the long runs in benchmarks/fuzz.py.

Feature switches: the generator covers more than Dawn passes today; each construct beyond the
base grammar has a named switch, documented at the top of tests/fuzz_gen.py. This test enables
``fuzz_gen.CI_FEATURES`` (what main passes); ``DAWN_FUZZ_FEATURES`` overrides it (``all``,
``ci,casts,fn_math``, ``all,-overflow``).

Reproducing a failure: the assertion message names the seed and query index; run

    DAWN_DIFF_SEED=<seed> python tests/test_differential.py <index>

to print the tables (as CREATE TABLE + INSERT) and the query with both engines' answers.
``DAWN_DIFF_SEED`` and ``DAWN_DIFF_QUERIES`` set the seed and the number of queries of the default
test (e.g. 5000 for a long local run).
"""
from __future__ import annotations

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from fuzz_gen import CI_FEATURES, parse_features  # noqa: E402
from fuzz_oracles import describe, reproduce, run_cases  # noqa: E402

DEFAULT_SEED = 1729
DEFAULT_QUERIES = 600
# Dawn refusing (NotSupportedError) what DuckDB answers: counted apart from mismatches; none are
# expected of the CI features (raise it only for a switch whose refusals are deliberate).
MAX_REFUSALS = 0
# refusals Dawn makes on purpose, by their message: DuckDB's infinite dates and timestamps
# ('infinity'::DATE) have no Arrow value, so Dawn refuses them by name rather than wrap around
KNOWN_REFUSALS = ("NotSupportedError: Infinite DATE values", "NotSupportedError: Infinite TIMESTAMP values")


def features() -> frozenset:
    spec = os.environ.get("DAWN_FUZZ_FEATURES")
    return parse_features(spec) if spec else CI_FEATURES


def assert_clean(stats, seed: int, oracles: tuple[str, ...]) -> None:
    print(f"\nseed={seed}, {stats.replaced} cases replaced (too large)\n{stats.table()}")
    bad = [f for s in ("crash", "timeout", "mismatch", "oracle_false") for f in stats.of(s, oracles)]
    refusals = [f for f in stats.of("refusal", oracles)
                if not any(k in f["detail"] or k in f["reason"] for k in KNOWN_REFUSALS)]
    assert not bad, (
        f"{len(bad)} failing cases (reproduce: DAWN_DIFF_SEED={seed} python tests/test_differential.py "
        f"<index>, or python benchmarks/fuzz.py --repro ORACLE:SEED:INDEX)\n\n"
        + "\n\n".join(describe(f) for f in bad[:10]))
    assert len(refusals) <= MAX_REFUSALS, (
        f"{len(refusals)} refusals of what DuckDB answers\n\n" + "\n\n".join(describe(f) for f in refusals[:10]))
    n = sum(stats.queries[o] for o in oracles)
    order = stats.of("eval_order", oracles)
    assert len(order) <= 0.01 * n, (
        f"{len(order)} data errors raised by one engine only (more than 1% of {n})\n\n"
        + "\n\n".join(describe(f) for f in order[:10]))
    skipped = sum(stats.counts[o]["skip"] for o in oracles)
    assert skipped <= 0.10 * n, f"too many queries fail on both engines: {skipped} of {n}"


@pytest.mark.parametrize("jit", ["off", "on"])   # the vectorized path and the JIT forced on (11/11)
def test_differential_against_duckdb(jit, monkeypatch):
    monkeypatch.setenv("DAWN_JIT", jit)
    seed = int(os.environ.get("DAWN_DIFF_SEED", DEFAULT_SEED))
    n = int(os.environ.get("DAWN_DIFF_QUERIES", DEFAULT_QUERIES))
    stats = run_cases(seed, 0, n, oracles=("diff",), features=features())
    assert_clean(stats, seed, ("diff",))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 22, 33, 44, 55])
def test_differential_against_duckdb_long(seed):
    stats = run_cases(seed, 0, 1000, oracles=("diff",), features=features())
    assert_clean(stats, seed, ("diff",))


if __name__ == "__main__":
    t0 = time.time()
    seed = int(os.environ.get("DAWN_DIFF_SEED", DEFAULT_SEED))
    if len(sys.argv) > 1:
        print(reproduce("diff", seed, int(sys.argv[1]), features()))
    else:
        n = int(os.environ.get("DAWN_DIFF_QUERIES", DEFAULT_QUERIES))
        st = run_cases(seed, 0, n, oracles=("diff",), features=features())
        for f in st.failures:
            print(describe(f), "\n")
        print(st.table(), f"\n{time.time() - t0:.1f}s")
