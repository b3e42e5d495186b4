"""CascadeExec: an expensive predicate on video frames answered mostly by cheap stages (NoScope).

Before the first batch, the cascade gets its specialized model (engine/approx/cascade_model.py):
stored in the catalog from an earlier query, a head trained on the video's stored index, or a
small CNN trained now on oracle labels of sampled frames; and its thresholds, calibrated on a
held-out uniform sample so the false-negative and false-positive rates meet the targets with the
stated confidence (engine/approx/calibrate.py). A video too short to calibrate at the targets is
scanned with the predicate itself, with a warning saying so.

Then, batch by batch in frame order, each frame is answered by the first stage that can:
1. a frame labelled by the oracle during training or calibration: that label;
2. the difference detector: a frame whose thumbnail is within the threshold of the last frame
   evaluated by a later stage takes that frame's answer;
3. the specialized model: a score below c_low rejects, above c_high accepts;
4. the predicate itself (the oracle, through the statement's UDF memo and result cache).
The first cascade that scans every frame of a video with its own CNN stores the frames'
embeddings (the video's index) for later predicates. Stage counts go to EXPLAIN ANALYZE and the
run's metrics; thresholds to its params; the model and a PNG of the calibration to its artifacts.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from engine.physical.evaluate import evaluate_mask
from engine.physical.operator import STREAM, Operator
from engine.plan.nodes import CascadeSpec


class CascadeWarning(UserWarning):
    """A cascade could not be used as planned (the statement still answers exactly)."""


class CascadeExec(Operator):
    ROLES = (STREAM,)

    def __init__(self, child: Operator, predicate, spec: CascadeSpec, **kw):
        super().__init__(child.schema(), (child,), **kw)
        self.predicate = predicate
        self.spec = spec
        self.scan = child
        self.frame_key = child.keys["frame"]      # child: the video's ScanExec
        self.id_key = child.keys.get("frame_id")

    def params(self) -> str:
        return f"predicate={self.predicate.sql()} {self.spec.describe()}"

    def _execute(self, ctx) -> Iterator[pa.RecordBatch]:
        from engine.approx.cascade_model import CascadeUnavailable, prepare
        m = ctx.metrics_for(self)
        runtime = ctx.udf_runtime
        oracle = runtime.metric(self.spec.oracle)
        try:
            plan = prepare(self, ctx)
        except CascadeUnavailable as e:
            msg = f"no cascade for {self.spec.predicate}: {e}; scanning every frame with {self.spec.oracle}"
            warnings.warn(msg, CascadeWarning, stacklevel=2)
            ctx.run_params["cascade.note"] = msg
            m.extra["cascade"] = f"[not used: {e}]"
            yield from self._plain(ctx)
            return
        counts = {"frames": 0, "labelled": 0, "reused": 0, "rejected": 0, "accepted": 0, "oracle": 0}
        calls_before = oracle.rows
        t = plan.thresholds
        from engine.approx.cascade_model import DifferenceDetectorState
        diff = DifferenceDetectorState(plan.tau)
        emitted = False
        last = None
        for b in self._children[0].execute(ctx):
            last = b
            if not b.num_rows:
                continue
            keep = self._decide(b, plan, diff, counts, ctx)
            out = b.filter(pa.array(keep)) if not keep.all() else b
            if out.num_rows:
                emitted = True
                yield out
        counts["oracle_calls"] = oracle.rows - calls_before
        plan.finished(ctx, counts)
        m.extra["cascade"] = (
            f"[frames={counts['frames']} labelled={counts['labelled']} reused={counts['reused']} "
            f"proxy_rejected={counts['rejected']} proxy_accepted={counts['accepted']} "
            f"oracle={counts['oracle']} {t.describe()} diff_threshold={plan.tau:.2f} "
            f"train_labels={plan.train_labels} calibration_labels={plan.calibration_labels}]")
        if not emitted:
            yield last.slice(0, 0) if last is not None else self.empty_batch()

    def _decide(self, b: pa.RecordBatch, plan, diff, counts: dict, ctx) -> np.ndarray:
        """Per row of ``b``, whether the predicate holds, by the first stage that can tell."""
        from udfs.model import to_numpy
        from udfs.specialized import lowres, thumbnails
        n = b.num_rows
        ids = b.column(self.id_key).to_numpy() if self.id_key else None
        frames = to_numpy(b.column(self.frame_key))
        low = lowres(frames)
        thumbs = thumbnails(low)
        scores = plan.scores(low, ids)
        known = plan.known(ids)                 # -1 unknown, 0/1 labelled by the oracle
        t = plan.thresholds
        result = np.zeros(n, dtype=np.int8)     # 0 no, 1 yes, 2 pending the oracle
        ref = np.full(n, -1, dtype=np.int64)    # pending: the row whose answer it takes
        pending: list[int] = []
        for i in range(n):  # sequential by nature: each frame compares with the last evaluated one
            if known[i] >= 0:
                result[i] = known[i]
                diff.evaluated(thumbs[i], i, int(known[i]))
                counts["labelled"] += 1
                continue
            if diff.reusable(thumbs[i]):
                counts["reused"] += 1
                if diff.row is not None and diff.value == 2:
                    result[i], ref[i] = 2, diff.row
                else:
                    result[i] = diff.value
                continue
            s = scores[i]
            if s < t.c_low:
                result[i] = 0
                counts["rejected"] += 1
            elif s > t.c_high:
                result[i] = 1
                counts["accepted"] += 1
            else:
                result[i] = 2
                pending.append(i)
                counts["oracle"] += 1
            diff.evaluated(thumbs[i], i, int(result[i]))
        counts["frames"] += n
        if pending:
            rows = np.array(pending, dtype=np.int64)
            sub = b.take(pa.array(rows))
            mask = _as_bool(evaluate_mask(self.predicate, sub, ctx), len(rows))
            answer = np.zeros(n, dtype=np.int8)
            answer[rows] = mask
            follow = (result == 2) & (ref >= 0)
            result[rows] = mask
            result[follow] = answer[ref[follow]]
            diff.resolve(answer)
        diff.next_batch()
        return result == 1

    def _plain(self, ctx) -> Iterator[pa.RecordBatch]:
        last = None
        emitted = False
        for b in self._children[0].execute(ctx):
            last = b
            if not b.num_rows:
                continue
            keep = _as_bool(evaluate_mask(self.predicate, b, ctx), b.num_rows)
            out = b.filter(pa.array(keep))
            if out.num_rows:
                emitted = True
                yield out
        if not emitted:
            yield last.slice(0, 0) if last is not None else self.empty_batch()


def _as_bool(mask, n: int) -> np.ndarray:
    """A predicate's mask (an Arrow boolean array, or True/False for all rows) as numpy; NULL is
    not TRUE, so it rejects the row."""
    if mask is True:
        return np.ones(n, dtype=bool)
    if mask is False or mask is None:
        return np.zeros(n, dtype=bool)
    return mask.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
