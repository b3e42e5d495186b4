"""The SYNTHETIC video generator (catalog/synthetic_video.py) as the cascade benchmark uses it:
write speed, decode cost, and how OpenCV's HOG people detector, called as Dawn calls it
(``people_count`` in SQL), answers on sampled frames of each kind.

    python benchmarks/synthetic_video.py [--frames 30000] [--seed 0] [--arrivals walk]
        [--prevalence 0.15] [--sample 200] [--out DIR]

Prints the write speed (frames/s), the file size, an OpenCV read loop's cost per frame (the
decode floor), HOG's cost per frame, and the share of sampled frames on which HOG finds at least
one person (frames with a wholly visible figure; frames with only a figure 80-100 % in view at an
edge), nobody (frames with no figure in view) and two or more (frames with two or more separated
figures), each with its sample size. Writing uses OpenCV's default thread count; decoding and HOG
one thread, as benchmarks/video.py measures them. The load average is printed beside: on a
shared machine every figure here scales with it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402
from catalog.synthetic_video import MOSTLY_VISIBLE, generate_video  # noqa: E402
from catalog.video import cv2_module  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=30000)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arrivals", default="walk")
    ap.add_argument("--prevalence", type=float, default=0.15)
    ap.add_argument("--multi", type=float, default=0.3)
    ap.add_argument("--sample", type=int, default=200, help="frames sampled per kind")
    ap.add_argument("--out", default=None, help="directory for the video (default: a temporary one)")
    a = ap.parse_args()
    cv2 = cv2_module()
    out = a.out or tempfile.mkdtemp(prefix="dawn_synvid_")
    path = os.path.join(out, f"synthetic_{a.arrivals}_{a.frames}_s{a.seed}.mp4")

    t = time.perf_counter()
    truth = generate_video(path, frames=a.frames, width=a.width, height=a.height, seed=a.seed,
                           prevalence=a.prevalence, multi=a.multi, arrivals=a.arrivals)
    write_s = time.perf_counter() - t
    cv2.setNumThreads(1)  # writing used OpenCV's default threads; decoding and HOG use one
    print(f"SYNTHETIC video {path} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"  {a.frames} frames {a.width}x{a.height}, arrivals={a.arrivals}: written in {write_s:.1f} s "
          f"= {a.frames / write_s:.0f} frames/s, {os.path.getsize(path) / 1e6:.1f} MB")
    print(f"  truth: prevalence {truth.prevalence:.4f} (target {a.prevalence}), share of positive frames "
          f"with 2+ figures {truth.multi_share:.3f} (multi {a.multi}), visits {truth.summary()['visits']}")

    cap = cv2.VideoCapture(path)
    t, n = time.perf_counter(), 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    print(f"  decode floor (OpenCV read loop): {(time.perf_counter() - t) / n * 1e3:.2f} ms/frame")

    rng = np.random.default_rng(0)
    full = truth.full.any(axis=1)
    kinds = {
        "wholly visible figure (want >= 1)": (np.nonzero(full)[0], lambda c: c >= 1),
        "figure 80-100% in view, none whole (>= 1)": (
            np.nonzero(~full & (truth.visible_fraction.max(axis=1) >= MOSTLY_VISIBLE))[0], lambda c: c >= 1),
        "no figure in view (want 0)": (np.nonzero(truth.empty)[0], lambda c: c == 0),
        "2+ separated figures (want >= 2)": (np.nonzero(truth.separated())[0], lambda c: c >= 2),
    }
    picks = {k: np.sort(rng.choice(ids, min(a.sample, len(ids)), replace=False)) for k, (ids, _) in kinds.items()}
    ids = np.unique(np.concatenate(list(picks.values())))
    con = engine.connect()
    con.execute(f"CREATE VIDEO v FROM '{path}'")
    t = time.perf_counter()
    got = dict(con.execute(f"SELECT frame_id, people_count(frame) FROM v WHERE frame_id IN "
                           f"({', '.join(map(str, ids))})").fetchall())
    hog_ms = (time.perf_counter() - t) / len(ids) * 1e3
    print(f"  HOG people_count via Dawn: {len(ids)} frames, {hog_ms:.1f} ms/frame (decode included)")
    for kind, (_, good) in kinds.items():
        sel = picks[kind]
        if len(sel) == 0:
            print(f"  {kind}: no such frames")
            continue
        counts = np.array([got[int(i)] for i in sel])
        print(f"  {kind}: {np.mean(good(counts)):.3f} of {len(sel)} frames")


if __name__ == "__main__":
    main()
