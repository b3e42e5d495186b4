"""Hashed text features and the noise-aware end model (udfs.text_features, udfs.end_model)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from udfs.end_model import EndModel, fit_end_model
from udfs.text_features import TEXT_FEATURES, features_to_numpy, hashed_ngrams, text_features

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["Check out my channel http://youtu.be/x !!", "I love this song", None, "",
         "héllo wörld 😀 a a a", "subscribe subscribe SUBSCRIBE"]


def _youtube_dir():
    for d in (Path("/work/shared/data/youtube-spam"), ROOT.parent / "shared" / "data" / "youtube-spam",
              ROOT.parent.parent / "shared" / "data" / "youtube-spam"):
        if (d / "Youtube05-Shakira.csv").exists():
            return d
    return None


# ---- features

def test_features_deterministic_across_calls_and_processes():
    a = features_to_numpy(text_features(pa.array(TEXTS), 256))
    b = features_to_numpy(text_features(pa.array(TEXTS), 256))
    assert np.array_equal(a, b)
    code = ("import sys, numpy as np, pyarrow as pa; from udfs.text_features import text_features, "
            "features_to_numpy; x = features_to_numpy(text_features(pa.array(%r), 256)); "
            "sys.stdout.write(x.tobytes().hex())" % TEXTS)
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert np.array_equal(np.frombuffer(bytes.fromhex(out), dtype=np.float32).reshape(a.shape), a)


def test_features_null_zero_and_normalised():
    arr = text_features(pa.array(TEXTS))
    assert arr.type == pa.list_(pa.float32(), 4096) and arr.null_count == 0
    X = features_to_numpy(arr)
    norms = np.linalg.norm(X, axis=1)
    assert norms[2] == 0 and norms[3] == 0                          # NULL, empty
    assert np.allclose(norms[[0, 1, 4, 5]], 1, atol=1e-5)
    # case-insensitive; punctuation separates words
    y = features_to_numpy(text_features(pa.array(["Subscribe NOW!", "subscribe, now"])))
    assert np.array_equal(y[0], y[1])
    # chunked input and a sparse view agree with the dense one
    ch = pa.chunked_array([TEXTS[:3], TEXTS[3:]], pa.string())
    assert np.array_equal(features_to_numpy(text_features(ch)), X)
    indptr, idx, val = hashed_ngrams(pa.array(TEXTS))
    dense = np.zeros_like(X)
    dense[np.repeat(np.arange(len(TEXTS)), np.diff(indptr)), idx] = val
    assert np.array_equal(dense, X)


def test_features_udf_declaration():
    assert TEXT_FEATURES.name == "text_features" and TEXT_FEATURES.deterministic
    assert TEXT_FEATURES.result_type([pa.string()], [None]) == pa.list_(pa.float32(), 4096)
    assert TEXT_FEATURES.result_type([pa.string(), pa.int64()], [None, 64]) == pa.list_(pa.float32(), 64)
    with pytest.raises(ValueError, match="dim"):
        TEXT_FEATURES.result_type([pa.string(), pa.int64()], [None, 0])
    with pytest.raises(TypeError, match="string"):
        TEXT_FEATURES.result_type([pa.int64()], [None])
    out = TEXT_FEATURES(pa.array(["a b"]), pa.array([32]))
    assert out.type == pa.list_(pa.float32(), 32)


# ---- end model

def _separable(n=600, d=10, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X @ w > 0).astype(int)
    return X, y


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_fit_separable(kind):
    X, y = _separable()
    m = fit_end_model(X[:400], np.eye(2)[y[:400]], kind=kind, lr=0.01, epochs=40, device="cpu")
    assert (m.predict(X[400:]) == y[400:]).mean() > 0.95
    assert len(m.history) == 40 and m.history[-1] < m.history[0]
    assert m.predict_proba(X[:5]).shape == (5, 2)


def test_soft_labels_recover_the_generating_weights():
    rng = np.random.default_rng(1)
    w = np.array([2.0, -1.5, 1.0, -2.0, 0.8])
    X = rng.normal(size=(2000, 5)).astype(np.float32)
    p = 1 / (1 + np.exp(-(X @ w)))
    m = fit_end_model(X, np.stack([1 - p, p], axis=1), lr=0.05, epochs=40, device="cpu")
    W = m.state["0.weight"].numpy()
    learned = W[1] - W[0]
    assert np.array_equal(np.sign(learned), np.sign(w))
    assert np.allclose(learned, w, atol=0.5)                        # calibrated, not just signed


def test_deterministic_and_round_trip():
    X, y = _separable(200, 6)
    P = np.eye(2)[y] * 0.8 + 0.1
    P[:7] = np.nan                                                  # unlabelled rows
    a = fit_end_model(X, P, kind="mlp", hidden=8, epochs=5, seed=3, device="cpu")
    b = fit_end_model(X, P, kind="mlp", hidden=8, epochs=5, seed=3, device="cpu")
    assert a.dropped == 7 and a.history == b.history
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    c = EndModel.from_bytes(a.to_bytes())
    assert (c.kind, c.dims, c.classes, c.hidden, c.dropped) == ("mlp", 6, 2, 8, 7)
    assert c.history == a.history and c.params == a.params
    assert np.array_equal(c.predict_proba(X), a.predict_proba(X))
    with pytest.raises(ValueError, match="end model"):
        EndModel.from_bytes(b"not a model")


@pytest.mark.parametrize("X, P, kw, match", [
    (np.zeros((3, 2)), np.eye(2)[[0, 1]], {}, "different lengths"),
    (np.zeros((2, 2)), np.ones((2, 1)), {}, "at least 2 classes"),
    (np.zeros((2, 2)), np.array([[0.5, 0.6], [1, 0]]), {}, "sum to 1"),
    (np.zeros((0, 2)), np.zeros((0, 2)), {}, "empty"),
    (np.zeros((2, 2)), np.full((2, 2), np.nan), {}, "NaN"),
    (np.zeros((2, 2)), np.eye(2), {"kind": "svm"}, "logistic, mlp"),
    (np.zeros(2), np.eye(2), {}, "2-d"),
    (np.zeros((2, 2)), np.eye(2), {"epochs": 0}, "epochs"),
])
def test_bad_inputs(X, P, kw, match):
    with pytest.raises(ValueError, match=match):
        fit_end_model(X, P, device="cpu", **kw)


def test_predict_checks_width():
    m = fit_end_model(np.eye(2, dtype=np.float32), np.eye(2), epochs=1, device="cpu")
    with pytest.raises(ValueError, match="trained on 2"):
        m.predict_proba(np.zeros((1, 3)))


def test_youtube_gold_labels():
    d = _youtube_dir()
    if d is None:
        pytest.skip("YouTube spam data not found")
    import pyarrow.csv as pcsv
    opts = pcsv.ParseOptions(newlines_in_values=True)

    def load(names):
        return pa.concat_tables(pcsv.read_csv(d / f, parse_options=opts).select(["CONTENT", "CLASS"])
                                for f in names)
    files = sorted(p.name for p in d.glob("Youtube0*.csv"))
    train, test = load(files[:4]), load(files[4:])
    Xtr, Xte = features_to_numpy(text_features(train["CONTENT"])), features_to_numpy(text_features(test["CONTENT"]))
    m = fit_end_model(Xtr, np.eye(2)[train["CLASS"].to_numpy()], device="cpu")
    assert (m.predict(Xte) == test["CLASS"].to_numpy()).mean() >= 0.92
