"""A specialized-model cascade: "which frames contain people?" without running the detector on
every frame.

The script writes a SYNTHETIC 640x360 stream (people-like figures walking across a static
scene, catalog/synthetic_video.py), then asks Dawn for the frames where OpenCV's HOG people
detector (``people_count``, about 50 ms a frame here) finds someone. With ``SET cascade =
force`` the planner trains a small CNN on the detector's answers for a sample of frames,
calibrates two thresholds on another sample so that at most 5% of the positive frames are missed
and at most 5% of the negative ones let through (each at 95% confidence), and calls the detector
only for the frames the CNN is unsure of. It prints the plan, the calls made beside the frames
scanned, and checks the answer against the detector on 200 random frames.

    python examples/cascade.py [FRAMES]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

import engine
from catalog.synthetic_video import generate_video

QUERY = "SELECT frame_id FROM v WHERE people_count(frame) > 0"


def main(frames: int = 4000) -> None:
    d = tempfile.mkdtemp(prefix="dawn-cascade-")
    path = os.path.join(d, "synthetic.mp4")
    truth = generate_video(path, frames=frames, prevalence=0.25, seed=1)
    print(f"SYNTHETIC video: {frames} frames, figures in {truth.prevalence:.0%} of them ({path})")
    con = engine.connect(os.path.join(d, "cascade.db"))
    con.execute(f"CREATE VIDEO v FROM '{path}'")
    for sql in ("SET cascade = 'force'", "SET cascade_fn_rate = 0.05", "SET cascade_fp_rate = 0.05",
                "SET cascade_train_labels = 150"):
        con.execute(sql)
    print("\n".join(r[0] for r in con.execute("EXPLAIN " + QUERY).fetchall()))
    t = time.perf_counter()
    got = {r[0] for r in con.execute(QUERY).fetchall()}
    seconds = time.perf_counter() - t
    con.commit()
    m = dict(con.execute("SELECT key, value FROM dawn.metrics WHERE run_id = (SELECT run_id FROM "
                         "dawn.runs WHERE sql = ? ORDER BY start_time DESC LIMIT 1)", [QUERY]).fetchall())
    calls = int(m["udf.people_count.rows"])
    print(f"{len(got)} frames with people, in {seconds:.0f} s; the detector ran on {calls} of "
          f"{frames} frames (training {int(m['cascade.train_labels'])}, calibration "
          f"{int(m['cascade.calibration_labels'])}, uncertain {int(m['cascade.oracle'])}); "
          f"certified FN <= {m['cascade.fn_bound']:.3f}, FP <= {m['cascade.fp_bound']:.3f} at 95%")
    # check on frames the cascade did not label itself: the detector's own answer
    rng = np.random.default_rng(7)
    check = sorted(rng.choice(frames, size=200, replace=False).tolist())
    con.execute("SET cascade = 'off'")
    ids = ", ".join(map(str, check))
    exact = {r[0] for r in con.execute(f"SELECT frame_id FROM v WHERE frame_id IN ({ids}) "
                                       "AND people_count(frame) > 0").fetchall()}
    agree = sum((f in got) == (f in exact) for f in check) / len(check)
    print(f"agreement with the detector on 200 random frames: {agree:.1%}")
    con.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4000)
