"""Specialized-model cascades against the oracle-only scan (issue 7/11), on SYNTHETIC video.

    python benchmarks/cascade.py                       # 30,000 frames, 50 seeds on 4,000
    python benchmarks/cascade.py --frames 3000 --seeds 3 --seed-frames 2000   # a quick look

The stream comes from catalog/synthetic_video.py (people-like figures walking across a static
scene, labelled synthetic), the oracle is OpenCV's real HOG people detector (``people_count``),
one thread of torch. Printed, in one run:
1. HOG's cost per frame, the decode floor (a bare OpenCV read loop over the same frames), and
   the oracle-only scan through Dawn (``SET cascade = off``, result cache off);
2. the first cascade query (``SET cascade = auto``, which must choose the cascade): time
   including training and calibration, oracle calls beside the full scan's, agreement with the
   oracle-only answer, FN and FP rates against the 1% targets; then the same query again with
   the stored model, against the decode floor;
3. a second predicate (``people_count(frame) >= 2``) on the same video: the oracle labels it
   trained on beside the first predicate's (TASTI: a head on the stored index);
4. over ``--seeds`` seeds on a ``--seed-frames`` stream: the achieved FN rate's distribution and
   how often it exceeds the target (the guarantee allows 5% of runs at 95% confidence). The
   seeds reuse cached oracle answers (the result cache), so they cost training and scanning only.
The oracle-only answers are kept in a cache file beside the video, so a rerun skips the 30-minute
scan; the printout says when it reused one, and with what time it was measured.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402
from catalog.synthetic_video import generate_video  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".data", "cascade")
Q1 = "SELECT frame_id FROM v WHERE people_count(frame) > 0"
Q2 = "SELECT frame_id FROM v WHERE people_count(frame) >= 2"


def video(frames: int, prevalence: float, seed: int) -> str:
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, f"synthetic_{frames}_{prevalence:g}_{seed}.mp4")
    if not os.path.exists(path):
        t = time.perf_counter()
        generate_video(path, frames=frames, prevalence=prevalence, seed=seed, multi=0.35)
        print(f"generated {path} ({frames} frames) in {time.perf_counter() - t:.0f} s", flush=True)
    return path


def decode_floor(path: str) -> float:
    from catalog.video import cv2_module
    cv2 = cv2_module()
    cap = cv2.VideoCapture(path)
    t = time.perf_counter()
    n = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return time.perf_counter() - t


def hog_ms(path: str, k: int = 20) -> float:
    from catalog.video import VideoSource
    from udfs.vision import detect_people
    src = VideoSource(path)
    frames = src.frames(np.linspace(0, src.row_count() - 1, k).astype(np.int64))
    detect_people(frames[0])
    t = time.perf_counter()
    for f in frames:
        detect_people(f)
    return (time.perf_counter() - t) / k * 1000


def connect(db: str, path: str, **settings):
    con = engine.connect(db)
    con.execute(f"CREATE OR REPLACE VIDEO v FROM '{path}'")
    for k, v in settings.items():
        con.execute(f"SET {k} = {v!r}" if isinstance(v, str) else f"SET {k} = {v}")
    return con


def last_metrics(con) -> dict:
    run = con.execute("SELECT run_id FROM dawn.runs WHERE sql LIKE 'SELECT frame_id%' "
                      "ORDER BY start_time DESC LIMIT 1").fetchone()[0]
    return dict(con.execute(f"SELECT key, value FROM dawn.metrics WHERE run_id = '{run}'").fetchall())


def oracle_counts(path: str) -> tuple[np.ndarray, float, bool]:
    """people_count of every frame and the oracle-only scan's time (cached beside the video)."""
    cache = path + ".oracle.json"
    if os.path.exists(cache):
        d = json.load(open(cache))
        return np.array(d["counts"]), d["seconds"], True
    con = connect(":memory:", path, cascade="off", use_model_cache="false")
    t = time.perf_counter()
    # Q1 with the counts of the frames it returns (the statement's memo runs HOG once a frame);
    # every other frame has people_count 0
    rows = con.execute(Q1.replace("SELECT frame_id", "SELECT frame_id, people_count(frame)")).fetchall()
    seconds = time.perf_counter() - t
    counts = np.zeros(con.execute("SELECT count(*) FROM v").fetchone()[0], dtype=np.int64)
    for i, c in rows:
        counts[i] = c
    json.dump({"counts": counts.tolist(), "seconds": seconds}, open(cache, "w"))
    return counts, seconds, False


def rates(got: set, truth: np.ndarray) -> tuple[float, float, float]:
    pos = set(np.nonzero(truth)[0].tolist())
    n = len(truth)
    fn = len(pos - got) / max(len(pos), 1)
    fp = len(got - pos) / max(n - len(pos), 1)
    agree = 1 - len(pos ^ got) / n
    return agree, fn, fp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=30_000)
    ap.add_argument("--prevalence", type=float, default=0.25)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--seed-frames", type=int, default=4_000)
    ap.add_argument("--video-seed", type=int, default=0)
    ap.add_argument("--only-seeds", action="store_true", help="run part 4 only")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    if a.only_seeds:
        seeds(a, hog_ms(video(a.seed_frames, a.prevalence, a.video_seed + 1)))
        return
    path = video(a.frames, a.prevalence, a.video_seed)
    floor = decode_floor(path)
    hog = hog_ms(path)
    print(f"SYNTHETIC stream: {a.frames} frames 640x360, target prevalence {a.prevalence:g}")
    print(f"HOG oracle: {hog:.1f} ms/frame; decode floor (OpenCV read loop): {floor:.1f} s "
          f"({floor / a.frames * 1000:.2f} ms/frame)", flush=True)
    counts, scan_s, cached = oracle_counts(path)
    print(f"oracle-only scan: {scan_s:.0f} s, {a.frames} oracle calls"
          + (" (measured by an earlier run of this script; cached answers)" if cached else ""), flush=True)
    truth1, truth2 = counts > 0, counts >= 2
    print(f"oracle answer: {truth1.mean():.3f} of frames with a person, {truth2.mean():.3f} with two or more")

    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "cascade.db")
        # a fresh database: the result cache (on by default) starts empty, so the first query
        # pays for every oracle call it makes
        con = connect(db, path, cascade="auto")
        plan = "\n".join(r[0] for r in con.execute("EXPLAIN " + Q1).fetchall())
        chosen = "CascadeExec" in plan
        print("planner under auto:", "cascade" if chosen else "plain scan")
        if not chosen:
            con.execute("SET cascade = 'force'")
        t = time.perf_counter()
        got = {r[0] for r in con.execute(Q1).fetchall()}
        first_s = time.perf_counter() - t
        m1 = last_metrics(con)
        con.commit()
        agree, fn, fp = rates(got, truth1)
        calls = int(m1.get("udf.people_count.rows", 0))
        print(f"cascade, first query: {first_s:.0f} s = {scan_s / first_s:.1f}x faster than the oracle-only "
              f"scan; oracle calls {calls} vs {a.frames} (training {int(m1['cascade.train_oracle_calls'])}, "
              f"calibration {int(m1['cascade.calibration_oracle_calls'])}, uncertain {int(m1['cascade.oracle'])}); "
              f"train {m1['cascade.train_seconds']:.0f} s")
        print(f"  agreement {agree:.4f}, FN rate {fn:.4f}, FP rate {fp:.4f} (targets 0.01, certified "
              f"{m1['cascade.fn_bound']:.4f} / {m1['cascade.fp_bound']:.4f} at 95%); stages: reused "
              f"{m1['cascade.reuse_rate']:.3f}, proxy {m1['cascade.proxy_rate']:.3f}, oracle "
              f"{m1['cascade.oracle_rate']:.3f}", flush=True)
        for cache in ("true", "false"):
            # the stored model; with the result cache (the default) the uncertain frames' answers
            # come from the first query, without it HOG runs on them again
            con.execute(f"SET use_model_cache = {cache}")
            t = time.perf_counter()
            got = {r[0] for r in con.execute(Q1).fetchall()}
            again_s = time.perf_counter() - t
            m = last_metrics(con)
            agree, fn, fp = rates(got, truth1)
            print(f"cascade, model stored, result cache {'on' if cache == 'true' else 'off'}: "
                  f"{again_s:.1f} s = {again_s / floor:.2f}x the decode floor ({floor:.1f} s); oracle "
                  f"calls {int(m.get('udf.people_count.rows', 0))}; agreement {agree:.4f}, FN {fn:.4f}, "
                  f"FP {fp:.4f}", flush=True)
        con.execute("SET use_model_cache = true")
        con.execute("SET cascade = 'force'")
        t = time.perf_counter()
        got = {r[0] for r in con.execute(Q2).fetchall()}
        q2_s = time.perf_counter() - t
        m2 = last_metrics(con)
        agree, fn, fp = rates(got, truth2)
        print(f"second predicate (>= 2): training labels {int(m2.get('cascade.train_labels', 0))} vs "
              f"{int(m1['cascade.train_labels'])} for the first "
              f"({m1['cascade.train_labels'] / max(m2.get('cascade.train_labels', 1), 1):.1f}x fewer); "
              f"{q2_s:.0f} s; agreement {agree:.4f}, FN {fn:.4f}, FP {fp:.4f}", flush=True)
        con.close()
    seeds(a, hog)


def seeds(a, hog: float) -> None:
    """The FN rate over many seeds, on a shorter stream whose oracle answers are cached."""
    if a.seeds <= 0:
        return
    path = video(a.seed_frames, a.prevalence, a.video_seed + 1)
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "seeds.db")
        con = connect(db, path, cascade="off")
        # one oracle pass: every frame's answer, kept in the result cache for the seeds' labels
        counts = np.array([c for _, c in sorted(con.execute(
            "SELECT frame_id, people_count(frame) FROM v").fetchall())])
        con.commit()
        truth = counts > 0
        print(f"seed stream: {a.seed_frames} frames, {truth.mean():.3f} with a person", flush=True)
        fns, fps, calls = [], [], []
        for s in range(a.seeds):
            duck = con._session.store.duck  # each seed trains and calibrates afresh
            duck.execute("DELETE FROM dawn_meta.specialized_models")
            duck.execute("DELETE FROM dawn_meta.video_index")
            con.execute("SET cascade = 'force'")
            con.execute(f"SET seed = {s}")
            got = {r[0] for r in con.execute(Q1).fetchall()}
            m = last_metrics(con)
            _, fn, fp = rates(got, truth)
            fns.append(fn)
            fps.append(fp)
            calls.append(m["cascade.train_labels"] + m["cascade.calibration_labels"] + m["cascade.oracle"])
            print(f"  seed {s}: FN {fn:.4f} FP {fp:.4f} oracle labels {int(calls[-1])}", flush=True)
        fns, fps = np.array(fns), np.array(fps)
        print(f"over {a.seeds} seeds on {a.seed_frames} frames: FN rate median {np.median(fns):.4f}, "
              f"90th pct {np.quantile(fns, 0.9):.4f}, max {fns.max():.4f}; above the 0.01 target in "
              f"{(fns > 0.01).mean():.1%} of runs (allowed 5%); FP above 0.01 in {(fps > 0.01).mean():.1%}; "
              f"oracle calls per run {np.mean(calls):.0f} of {a.seed_frames} "
              f"(= {np.mean(calls) * hog / 1000:.0f} s of HOG against {a.seed_frames * hog / 1000:.0f} s)")
        con.close()


if __name__ == "__main__":
    main()
