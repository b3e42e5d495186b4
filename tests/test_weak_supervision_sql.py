"""Weak supervision in SQL (9/11): labeling functions, LF_SUMMARY, MAJORITY_VOTE, LABEL_MODEL,
CREATE LABEL MODEL and CREATE MODEL, against numpy computations of the same numbers."""
from __future__ import annotations

import importlib.util
import os
import warnings

import numpy as np
import pyarrow as pa
import pytest

import engine
from udfs import udf
from udfs.label_model import LabelModel, VoteStats, synthetic_votes

LABELS = np.array(["ham", "spam"])
ACCS = [0.9, 0.8, 0.75, 0.7, 0.65]
COVS = [0.5, 0.4, 0.5, 0.3, 0.6]


def votes_table(n=4000, seed=1, copies=None):
    V, y = synthetic_votes(n, ACCS, COVS, seed=seed, copies=copies)
    cols = {f"lf{i}": pa.array([None if v < 0 else LABELS[v] for v in V[:, i]], pa.string())
            for i in range(V.shape[1])}
    cols["gold"] = pa.array(LABELS[y])
    cols["part"] = pa.array(np.arange(n) % 2)
    cols["x"] = pa.array(y + np.random.default_rng(seed).normal(0, 0.4, n))
    return pa.table(cols), V, y


@pytest.fixture
def con():
    c = engine.connect()
    t, V, y = votes_table()
    c.register("votes", t)
    c.V, c.y = V, y
    return c


LF5 = "lf0, lf1, lf2, lf3, lf4"


def test_lf_summary_matches_its_definitions(con):
    cur = con.cursor()
    cur.execute(f"SELECT * FROM (SELECT LF_SUMMARY({LF5}, gold := gold) FROM votes) ORDER BY lf")
    assert [d[0] for d in cur.description] == ["lf", "polarity", "coverage", "overlaps", "conflicts", "correct",
                                               "incorrect", "empirical_accuracy", "estimated_accuracy"]
    rows = cur.fetchall()
    V, y = con.V, con.y
    voted = V >= 0
    for i, r in enumerate(rows):
        assert r[0] == f"lf{i}"
        assert r[1] == ["ham", "spam"]
        assert r[2] == pytest.approx(voted[:, i].mean())
        assert r[3] == pytest.approx((voted[:, i] & (voted.sum(1) > 1)).mean())
        conflict = voted[:, i] & (voted & (V != V[:, [i]])).any(1)
        assert r[4] == pytest.approx(conflict.mean())
        assert r[5] == int((V[:, i] == y).sum()) and r[6] == int((voted[:, i] & (V[:, i] != y)).sum())
        assert r[7] == pytest.approx(r[5] / (r[5] + r[6]))
        assert abs(r[8] - ACCS[i]) < 0.05       # the label model's estimate, made without gold
    run = con.execute("SELECT run_id FROM dawn.runs ORDER BY start_time DESC LIMIT 1").fetchone()[0]
    arts = [r[0] for r in con.execute("SELECT path FROM dawn.artifacts WHERE run_id = ?", [run]).fetchall()]
    assert "lf_summary.png" in arts


def test_label_model_over_window_beats_majority_vote_and_matches_the_core(con):
    cur = con.cursor()
    cur.execute(f"SELECT lm.label, lm.probability, lm.probabilities, mv.label, gold FROM (SELECT "
                f"LABEL_MODEL({LF5}) OVER () AS lm, MAJORITY_VOTE({LF5}) OVER () AS mv, gold FROM votes)")
    rows = cur.fetchall()
    V, y = con.V, con.y
    covered = (V >= 0).any(1)
    lm_acc = np.mean([r[0] == r[4] for r, c in zip(rows, covered) if c])
    mv_acc = np.mean([r[3] == r[4] for r, c in zip(rows, covered) if c])
    assert lm_acc > mv_acc + 0.01
    direct = LabelModel.fit(VoteStats.of(V, 2)).predict_proba(V)
    got = np.array([r[2] for r in rows])
    assert np.allclose(got, direct)
    assert all(abs(r[1] - max(r[2])) < 1e-12 for r in rows)
    assert all(r[3] is None for r, c in zip(rows, covered) if not c)   # MV: no votes, no label
    metrics = dict(con.execute("SELECT key, value FROM dawn.metrics WHERE run_id = ? AND key LIKE 'label_model.%'",
                               [cur.run_id]).fetchall())
    assert abs(metrics["label_model.accuracy.lf0"] - 0.9) < 0.05 and metrics["label_model.rows"] == len(V)


def test_partitions_fit_separately_and_prior_is_used(con):
    rows = con.execute(f"SELECT part, (LABEL_MODEL({LF5}, labels := ['ham', 'spam'], prior := [0.9, 0.1]) "
                       f"OVER (PARTITION BY part)).probabilities FROM votes").fetchall()
    V = con.V
    none = ~(V >= 0).any(1)
    # a row where every LF abstained gets the prior it was given
    assert all(np.allclose(r[1], [0.9, 0.1]) for r, e in zip(rows, none) if e)
    p0 = LabelModel.fit(VoteStats.of(V[0::2], 2), np.array([0.9, 0.1])).predict_proba(V[0::2])
    got0 = np.array([r[1] for r in rows[0::2]])
    assert np.allclose(got0, p0)


def test_a_copied_lf_does_not_outvote_the_rest():
    c = engine.connect()
    t, V, y = votes_table(copies={4: 3})
    c.register("votes", t)
    lfs = ", ".join(f"lf{i}" for i in range(V.shape[1]))
    rows = c.execute(f"SELECT (LABEL_MODEL({lfs}) OVER ()).label = gold, (MAJORITY_VOTE({lfs}) OVER ()).label = gold "
                     "FROM votes").fetchall()
    covered = (V >= 0).any(1)
    lm = np.mean([r[0] for r, k in zip(rows, covered) if k])
    mv = np.mean([bool(r[1]) for r, k in zip(rows, covered) if k])
    assert lm > mv + 0.03


def test_labeling_function_udfs_sql_lfs_and_a_model_based_lf():
    c = engine.connect()
    c.register("t", pa.table({"text": ["buy now http://x", "love it", "check out my channel", "nice song",
                                       "subscribe please", None, "great video", "win money www.y.com"]}))

    @udf.labeling_function(labels=["ham", "spam"])
    def lf_link(text):
        import pyarrow.compute as pc
        hit = pc.fill_null(pc.match_substring_regex(text, r"http|www"), False)
        return pc.if_else(hit, "spam", None)

    @udf.labeling_function(labels=["ham", "spam"], row=True)
    def lf_short(text):
        return "ham" if text is not None and len(text.split()) <= 2 else None

    c.register_function(lf_link)
    c.register_function(lf_short)
    got = c.execute("SELECT lf_link(text), lf_short(text), CASE WHEN text LIKE '%please%' THEN 'spam' END "
                    "FROM t").fetchall()
    assert got[0] == ("spam", None, None) and got[1] == (None, "ham", None) and got[4] == (None, "ham", "spam")
    # a model-based LF: a CASE over a model trained with CREATE MODEL
    c.execute("CREATE MODEL tiny AS SELECT text_features(text) AS f, CASE WHEN text LIKE '%http%' OR text LIKE "
              "'%www%' OR text LIKE '%subscribe%' OR text LIKE '%channel%' THEN 'spam' ELSE 'ham' END FROM t")
    rows = c.execute("SELECT CASE WHEN tiny(text_features(text)).probability > 0.5 THEN tiny(text_features(text)).label END, "
                     "lf_link(text) FROM t").fetchall()
    assert rows[0][0] == "spam" and rows[1][0] == "ham"


def test_bad_input_errors():
    c = engine.connect()
    c.register("t", pa.table({"s": ["a", "b", None], "n": [1, 2, 3]}))

    @udf.labeling_function(labels=["ham", "spam"])
    def bad(s):
        return pa.array(["eggs"] * len(s))

    @udf.labeling_function(labels=["pos", "neg"])
    def other(s):
        return pa.array(["pos"] * len(s))

    @udf.labeling_function(labels=["ham", "spam"])
    def good(s):
        return pa.array(["ham"] * len(s))

    for u in (bad, other, good):
        c.register_function(u)
    with pytest.raises(engine.DataError, match=r'"bad" voted .eggs., which is not one of its labels'):
        c.execute("SELECT bad(s) FROM t").fetchall()
    with pytest.raises(engine.ProgrammingError, match="different label sets"):
        c.execute("SELECT LABEL_MODEL(good(s), other(s), good(s)) OVER () FROM t")
    with pytest.raises(engine.DataError, match="zero rows"):
        c.execute("SELECT LABEL_MODEL(good(s), good(s), good(s)) OVER () FROM t WHERE n > 10").fetchall()
    with pytest.raises(engine.DataError, match="zero rows"):
        c.execute("CREATE LABEL MODEL lm0 AS SELECT s AS a, s AS b, s AS c FROM t WHERE n > 10")
    with pytest.raises(engine.ProgrammingError, match="last column"):
        c.execute("CREATE MODEL m0 AS SELECT n FROM t")
    with pytest.raises(engine.DataError, match="no row has a label"):
        c.execute("CREATE MODEL m0 AS SELECT n, CAST(NULL AS VARCHAR) AS label FROM t")
    with pytest.raises(engine.NotSupportedError, match="OVER"):
        c.execute("SELECT LABEL_MODEL(s, s, s) FROM t")
    with pytest.raises(engine.NotSupportedError, match="whole partition"):
        c.execute("SELECT LABEL_MODEL(s, s, s) OVER (ORDER BY n) FROM t")
    with pytest.raises(engine.NotSupportedError, match='no option "temperature"'):
        c.execute("SELECT LABEL_MODEL(s, s, s, temperature := 2) OVER () FROM t")
    with pytest.raises(engine.ProgrammingError, match="one type"):
        c.execute("SELECT MAJORITY_VOTE(s, n, s) OVER () FROM t")
    with pytest.raises(engine.ProgrammingError, match="summing to 1"):
        c.execute("SELECT LABEL_MODEL(s, s, s, labels := ['a', 'b'], prior := [0.5, 0.6]) OVER () FROM t")
    with pytest.raises(TypeError, match="all strings or all integers"):
        udf.labeling_function(labels=["a", 1])
    assert not c.execute("SELECT * FROM dawn.models").fetchall()   # nothing half-written


def test_stored_models_persist_and_a_failed_replace_keeps_the_old_one(tmp_path):
    path = str(tmp_path / "ws.dawn")
    t, V, y = votes_table(2000)
    c = engine.connect(path)
    c.register("votes", t)
    c.execute(f"CREATE LABEL MODEL lm AS SELECT {LF5} FROM votes")
    c.execute(f"CREATE MODEL clf WITH (epochs = 20) AS SELECT x, lm({LF5}) AS label FROM votes")
    before = c.execute(f"SELECT lm({LF5}).probabilities FROM votes").fetchall()
    with pytest.raises(engine.ProgrammingError, match="already exists"):
        c.execute(f"CREATE LABEL MODEL lm AS SELECT {LF5} FROM votes")
    with pytest.raises(engine.DataError):
        c.execute("CREATE OR REPLACE LABEL MODEL lm AS SELECT lf0, lf1, lf2 FROM votes WHERE x > 1e9")
    c.commit()
    c.close()
    c2 = engine.connect(path)
    c2.register("votes", t)
    assert c2.execute(f"SELECT lm({LF5}).probabilities FROM votes").fetchall() == before
    lfs = c2.execute("SELECT lf, estimated_accuracy FROM dawn.label_model_lfs WHERE model = 'lm' ORDER BY position").fetchall()
    assert [r[0] for r in lfs] == ["lf0", "lf1", "lf2", "lf3", "lf4"] and abs(lfs[0][1] - 0.9) < 0.1
    acc = c2.execute("SELECT avg((clf(x).label = gold)::INT) FROM votes").fetchone()[0]
    assert acc > 0.8
    kinds = dict(c2.execute("SELECT name, kind FROM dawn.models").fetchall())
    assert kinds == {"clf": "logistic", "lm": "label_model"}
    c2.execute("DROP MODEL clf")
    c2.commit()
    with pytest.raises(engine.ProgrammingError, match="does not exist"):
        c2.execute("SELECT clf(x) FROM votes")
    c2.close()


def test_fewer_than_three_lfs_warn_and_vote():
    c = engine.connect()
    c.register("t", pa.table({"a": ["x", "y", "x"], "b": ["x", None, "y"]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = c.execute("SELECT (LABEL_MODEL(a, b) OVER ()).label FROM t").fetchall()
    assert any("majority vote" in str(w.message) for w in caught)
    assert rows[0][0] == "x" and rows[1][0] == "y"


DATA = os.environ.get("DAWN_YOUTUBE_SPAM") or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                           "youtube-spam")


@pytest.mark.skipif(not os.path.isdir(DATA), reason="the YouTube spam collection is not here")
def test_youtube_spam_label_model_and_end_model():
    spec = importlib.util.spec_from_file_location("spam_example", os.path.join(os.path.dirname(__file__), "..",
                                                                               "examples", "spam.py"))
    spam = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(spam)
    assert len(spam.LF_NAMES) >= 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figures = spam.run(engine.connect(), DATA, out=open(os.devnull, "w"))
    (lm_tr, mv_tr), (lm_te, mv_te) = figures["train"], figures["test"]
    assert lm_tr >= mv_tr and lm_te >= mv_te
    assert figures["end_model"] >= 0.92
