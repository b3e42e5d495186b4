"""The synthetic video generator (issue 7/11): Dawn reads what it writes, a seed fixes frames and
truth, prevalence and the group share hit their targets, the truth sidecars round-trip, bad
arguments are refused, and (slow) OpenCV's HOG people detector, the cascade's oracle, sees the
figures as people and the empty scene as empty."""
from __future__ import annotations

import json

import numpy as np
import pytest

import engine

cv2 = pytest.importorskip("cv2")

from catalog.synthetic_video import (MOSTLY_VISIBLE, SyntheticTruth, generate_video,  # noqa: E402
                                     load_truth)


def decode(path: str, n: int | None = None) -> np.ndarray:
    cap = cv2.VideoCapture(path)
    frames = []
    while n is None or len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return np.stack(frames)


def same_truth(a: SyntheticTruth, b: SyntheticTruth) -> bool:
    return (a.params == b.params and all(np.array_equal(getattr(a, k), getattr(b, k))
                                         for k in ("count", "visible_fraction", "boxes", "visit", "light")))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("synvid") / "pop.mp4")
    truth = generate_video(path, frames=240, prevalence=0.3, seed=20, arrivals="pop")
    return path, truth


def test_dawn_reads_the_video(clip):
    path, truth = clip
    con = engine.connect()
    con.execute(f"CREATE VIDEO v FROM '{path}'")
    assert con.execute("SELECT count(*), min(ts), max(ts) FROM v").fetchall() == [(240, 0.0, 239 / 30)]
    t = con.execute("SELECT frame FROM v WHERE frame_id = 7").fetch_arrow_table()
    assert t.column(0).type.shape == [360, 640, 3]
    assert np.array_equal(t.column(0).chunk(0).to_numpy_ndarray()[0], decode(path, 8)[7])
    assert truth.frames == 240


def test_larger_frames(tmp_path):
    path = str(tmp_path / "wide.mp4")
    generate_video(path, frames=30, width=960, height=540, seed=2, prevalence=0.5, arrivals="pop")
    con = engine.connect()
    con.execute(f"CREATE VIDEO w FROM '{path}'")
    assert con.execute("SELECT count(*) FROM w").fetchall() == [(30,)]
    t = con.execute("SELECT frame FROM w LIMIT 1").fetch_arrow_table()
    assert t.column(0).type.shape == [540, 960, 3]


def test_seed_fixes_frames_and_truth(tmp_path):
    a, b, c = (str(tmp_path / f"{n}.mp4") for n in "abc")
    ta = generate_video(a, frames=80, seed=5, prevalence=0.4)
    tb = generate_video(b, frames=80, seed=5, prevalence=0.4)
    tc = generate_video(c, frames=80, seed=6, prevalence=0.4)
    fa, fb, fc = decode(a), decode(b), decode(c)
    assert fa.shape == (80, 360, 640, 3)
    assert np.array_equal(fa, fb)                      # bit for bit
    assert same_truth(ta, tb)
    assert not np.array_equal(fa, fc) and not same_truth(ta, tc)
    # the truth alone, without rendering, is the same truth
    assert same_truth(generate_video(None, frames=80, seed=5, prevalence=0.4, render=False), ta)


def test_truth_only_mode_equals_rendered_truth(clip):
    path, truth = clip
    again = generate_video(None, frames=240, prevalence=0.3, seed=20, arrivals="pop", render=False)
    assert same_truth(again, truth) and same_truth(load_truth(path), truth)


def test_truth_sidecars_round_trip(clip):
    path, truth = clip
    loaded = load_truth(path)
    assert same_truth(loaded, truth)
    assert same_truth(load_truth(path + ".truth.npz"), truth)
    assert loaded.count.dtype == np.int64 and loaded.count.shape == (240,)
    meta = json.load(open(path + ".truth.json"))
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["label"]
    assert meta["params"] == truth.params and meta["params"]["seed"] == 20
    assert meta["achieved"]["prevalence"] == pytest.approx(truth.prevalence, abs=1e-6)
    from catalog.video import file_hash
    assert meta["video_sha256"] == file_hash(path)
    with pytest.raises(FileNotFoundError, match="truth"):
        load_truth(path + ".missing.mp4")


def test_truth_is_consistent(clip):
    _, truth = clip
    vis, boxes = truth.visible_fraction, truth.boxes
    assert np.array_equal(truth.count, (vis >= MOSTLY_VISIBLE).sum(axis=1))
    assert ((vis >= 0) & (vis <= 1)).all()
    assert np.array_equal(truth.visit >= 0, vis > 0)   # pop figures are whole while present
    full = truth.full
    x, y, w, h = (boxes[..., i] for i in range(4))
    assert (x[full] >= 0).all() and (x[full] + w[full] <= 640).all() and (y[full] >= 0).all()
    assert ((h[full] >= 129.5) & (h[full] <= 197.5)).all()  # upright figures, as HOG expects them
    assert truth.prevalence == pytest.approx(np.mean(truth.count >= 1))
    # pop figures stand at least 0.9 of the tallest figure's height apart: all side by side
    assert (truth.count >= 2).any()
    assert np.array_equal(truth.separated(), full.sum(axis=1) >= 2)
    assert 0.95 < truth.light.min() and truth.light.max() < 1.05 and np.ptp(truth.light) > 0.005


@pytest.mark.parametrize("arrivals", ["walk", "pop"])
def test_prevalence_and_group_share_on_long_streams(arrivals):
    """30,000 frames, truth only: prevalence within 0.02 of each target, the share of positive
    frames with two or more figures near ``multi``, and walkers crossing (partly visible at the
    edges) only in walk mode."""
    most = 0
    for p in (0.05, 0.15, 0.30):
        for seed in range(3):
            t = generate_video(None, frames=30000, prevalence=p, seed=seed, arrivals=arrivals,
                               render=False)
            assert abs(t.prevalence - p) <= 0.02, (p, seed, t.prevalence)
            assert 0.2 <= t.multi_share <= 0.4, (p, seed, t.multi_share)
            most = max(most, int(t.count.max()))
            partial = ((t.visible_fraction > 0) & (t.visible_fraction < 1)).any()
            assert partial == (arrivals == "walk")
    assert most == 3                                   # max_objects, now and then
    solo = generate_video(None, frames=30000, prevalence=0.15, seed=1, max_objects=1, multi=0,
                          render=False)
    assert solo.count.max() == 1 and abs(solo.prevalence - 0.15) <= 0.02


def test_empty_frames_carry_noise_and_lighting(clip):
    """The codec keeps part of the sensor noise (consecutive empty frames differ) and the
    brightness of empty frames follows the recorded lighting gain."""
    path, truth = clip
    cap = cv2.VideoCapture(path)
    level, diff, prev = [], [], None
    while True:
        ok, f = cap.read()
        if not ok:
            break
        level.append(cv2.mean(f)[:3])
        diff.append(np.nan if prev is None else np.mean(cv2.mean(cv2.absdiff(f, prev))[:3]))
        prev = f
    cap.release()
    level, diff = np.mean(level, axis=1), np.array(diff)
    empty = np.nonzero(truth.empty)[0]
    pairs = empty[np.isin(empty - 1, empty)]      # empty frames whose predecessor is empty too
    assert len(pairs) > 20
    assert np.median(diff[pairs]) > 0.3
    assert np.corrcoef(level[empty], truth.light[empty])[0, 1] > 0.8


@pytest.mark.parametrize("kwargs, name", [
    ({"prevalence": 0}, "prevalence"), ({"prevalence": 1}, "prevalence"),
    ({"prevalence": -0.1}, "prevalence"), ({"prevalence": 1.5}, "prevalence"),
    ({"width": 320}, "width"), ({"width": 641}, "width"), ({"height": 240}, "height"),
    ({"frames": 0}, "frames"), ({"fps": 0}, "fps"), ({"arrivals": "run"}, "arrivals"),
    ({"multi": 0.8}, "multi"), ({"max_objects": 1}, "multi"), ({"max_objects": 0}, "max_objects"),
    ({"noise": -1}, "noise"), ({"frames": 2.5}, "frames"), ({"seed": -3}, "seed"),
    ({"prevalence": float("nan")}, "prevalence"), ({"height": 720}, "height"),
])
def test_bad_arguments(tmp_path, kwargs, name):
    path = str(tmp_path / "bad.mp4")
    with pytest.raises(ValueError, match=name):
        generate_video(path, **{"frames": 10, **kwargs})
    assert not list(tmp_path.iterdir())   # nothing written


@pytest.mark.slow
def test_hog_sees_the_figures_as_people(tmp_path):
    """Dawn's people_count (OpenCV's HOG people detector) on sampled frames of a walk stream:
    it finds someone on >= 90% of frames with a wholly visible figure, nobody on >= 99% of
    frames with no figure in view, and two or more on most frames with two separated figures."""
    path = str(tmp_path / "walk.mp4")
    truth = generate_video(path, frames=3000, prevalence=0.3, seed=21, multi=0.4)
    full = truth.full
    rng = np.random.default_rng(0)
    pick = lambda ids, n: np.sort(rng.choice(ids, min(n, len(ids)), replace=False))
    positive = pick(np.nonzero(full.any(axis=1))[0], 100)
    empty = pick(np.nonzero(truth.empty)[0], 100)
    two = pick(np.nonzero(truth.separated())[0], 40)
    assert len(positive) == 100 and len(empty) == 100 and len(two) >= 20
    ids = np.union1d(np.union1d(positive, empty), two)
    con = engine.connect()
    con.execute(f"CREATE VIDEO v FROM '{path}'")
    got = dict(con.execute(f"SELECT frame_id, people_count(frame) FROM v WHERE frame_id IN "
                           f"({', '.join(map(str, ids))})").fetchall())
    hog = lambda sel: np.array([got[int(i)] for i in sel])
    assert np.mean(hog(positive) >= 1) >= 0.9
    assert np.mean(hog(empty) > 0) <= 0.01
    assert np.mean(hog(two) >= 2) >= 0.8
