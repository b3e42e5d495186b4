"""Answers within a stated error: "how many people per frame, within 0.1, at 95% confidence?"
without running the detector on every frame.

The script writes a SYNTHETIC 640x360 stream (catalog/synthetic_video.py) and asks, with OpenCV's
HOG people detector (``people_count``) as the expensive model:

1. ``FCOUNT(people_count(frame)) ... ERROR WITHIN 0.1 AT CONFIDENCE 95%``: the people per frame,
   by uniform sampling with an anytime-valid stopping rule (no proxy yet);
2. a cascade query (issue 7/11) that trains and stores a small CNN for ``people_count(frame) > 0``;
3. the same FCOUNT again: the stored CNN's score is now the control variate, so fewer detector
   calls reach the same error;
4. ``LIMIT 3 GAP 60``: three frames with two or more people, at least 60 frames apart, found by
   visiting frames in the CNN's order.

Each answer prints with its interval and the detector calls it made beside a full scan's; the
exact answer (every frame through the detector) is printed last to compare.

    python examples/approx.py [FRAMES]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings

import engine
from catalog.synthetic_video import generate_video

FCOUNT = "SELECT FCOUNT(people_count(frame)) AS people_per_frame FROM v ERROR WITHIN 0.1 AT CONFIDENCE 95%"
LIMIT = "SELECT frame_id FROM v WHERE people_count(frame) >= 2 LIMIT 3 GAP 60"


def show(cur, seconds: float) -> None:
    a = cur.approx
    proxy = dict(cur.connection.execute("SELECT key, value FROM dawn.params WHERE run_id = ?",
                                        [cur.run_id]).fetchall()).get("approx.proxy")
    print(f"  proxy: {proxy}")
    print(f"  = {cur.fetchall()}  interval [{a['ci_low']:.3f}, {a['ci_high']:.3f}] at "
          f"{a['confidence']:.0%}; detector calls {a['oracle_calls']} of {a['full_scan_calls']} "
          f"({seconds:.1f} s)" if "ci_low" in a else
          f"  = {cur.fetchall()}; detector calls {a['oracle_calls']} of {a['full_scan_calls']} ({seconds:.1f} s)")


def main(frames: int = 2000) -> None:
    d = tempfile.mkdtemp(prefix="dawn-approx-")
    path = os.path.join(d, "synthetic.mp4")
    generate_video(path, frames=frames, prevalence=0.3, seed=2, multi=0.35)
    print(f"SYNTHETIC video: {frames} frames ({path})")
    con = engine.connect(os.path.join(d, "approx.db"))
    con.execute(f"CREATE VIDEO v FROM '{path}'")
    con.execute("SET seed = 1")
    cur = con.cursor()
    warnings.simplefilter("ignore")
    for title, sql in (("1. no proxy yet: uniform sampling", FCOUNT),):
        print(f"{title}\n  {sql}")
        t = time.perf_counter()
        cur.execute(sql)
        show(cur, time.perf_counter() - t)
    print("2. a cascade stores a specialized CNN for people_count(frame) > 0")
    for s in ("SET cascade = 'force'", "SET cascade_fn_rate = 0.05", "SET cascade_fp_rate = 0.05",
              "SET cascade_train_labels = 150"):
        con.execute(s)
    t = time.perf_counter()
    n = len(con.execute("SELECT frame_id FROM v WHERE people_count(frame) > 0").fetchall())
    print(f"  {n} frames with people ({time.perf_counter() - t:.0f} s)")
    con.execute("SET cascade = 'off'")
    con.execute("SET use_model_cache = false")  # count real detector calls from here on
    for title, sql in (("3. the stored CNN as the control variate", FCOUNT),
                       ("4. a limit query ranked by the CNN", LIMIT)):
        print(f"{title}\n  {sql}")
        t = time.perf_counter()
        cur.execute(sql)
        show(cur, time.perf_counter() - t)
    con.execute("SET use_model_cache = true")
    t = time.perf_counter()
    exact = con.execute("SELECT avg(people_count(frame)) FROM v").fetchone()[0]
    print(f"exact, every frame through the detector: {exact:.3f} people per frame "
          f"({time.perf_counter() - t:.0f} s, cached answers reused)")
    con.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
