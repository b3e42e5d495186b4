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
        use_diff = str(ctx.settings.get("cascade_difference_detector", "true")).lower() not in ("false", "off", "0")
        diff = DifferenceDetectorState(plan.tau if use_diff else 0.0)
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
        ids = b.column(self.id_key).to_numpy()
        low = lowres(to_numpy(b.column(self.frame_key)))
        thumbs = thumbnails(low)
        known = plan.known(ids)                 # -1 unknown, 0/1 labelled by the oracle
        # which frames the difference detector answers: sequential by nature (each frame is
        # compared with the last one a later stage evaluated), and it needs no score
        ref = np.full(n, -1, dtype=np.int64)    # reused: the row of this batch it copies, or -1
        evaluate = np.zeros(n, dtype=bool)      # for the specialized model
        carried = np.zeros(n, dtype=bool)       # reused from a frame of an earlier batch
        for i in range(n):
            if known[i] >= 0:
                diff.evaluated(thumbs[i], i)
            elif diff.reusable(thumbs[i]):
                if diff.row is None:
                    carried[i] = True
                else:
                    ref[i] = diff.row
            else:
                evaluate[i] = True
                diff.evaluated(thumbs[i], i)
        is_known = known >= 0
        rows = np.flatnonzero(evaluate | is_known)   # labelled frames too: the index needs them
        result = np.where(is_known, known, 0).astype(np.int8)   # 0 no, 1 yes, 2 the oracle
        emb = None
        if len(rows):
            scores, e = plan.scores(low[rows], ids[rows])
            t = plan.thresholds
            proxy = np.where(scores < t.c_low, 0, np.where(scores > t.c_high, 1, 2)).astype(np.int8)
            mine = evaluate[rows]
            result[rows[mine]] = proxy[mine]
            counts["rejected"] += int((proxy[mine] == 0).sum())
            counts["accepted"] += int((proxy[mine] == 1).sum())
            if e is not None:
                emb = np.zeros((n, e.shape[1]), np.float32)
                emb[rows] = e
        pending = np.flatnonzero(result == 2)
        if len(pending):
            sub = b.take(pa.array(pending))
            result[pending] = _as_bool(evaluate_mask(self.predicate, sub, ctx), len(pending))
        follow = ref >= 0
        result[follow] = result[ref[follow]]
        result[carried] = diff.value
        if emb is not None:
            emb[follow] = emb[ref[follow]]
            if diff.emb is not None:
                emb[carried] = diff.emb
            plan.record_index(ids, emb)
        last = diff.row
        if last is not None:  # the reference for the next batch: its answer and embedding
            diff.value = int(result[last])
            diff.emb = emb[last] if emb is not None else None
        diff.next_batch()
        counts["frames"] += n
        counts["labelled"] += int(is_known.sum())
        counts["reused"] += int(follow.sum() + carried.sum())
        counts["oracle"] += len(pending)
        return result == 1

    def _plain(self, ctx) -> Iterator[pa.RecordBatch]:
        """The predicate on every frame, as a filter runs it (the fallback when no cascade can
        meet the targets)."""
        from engine.physical.filter import apply_conjuncts
        counts = [[0, 0]]
        last = None
        emitted = False
        for b in self._children[0].execute(ctx):
            last = b
            out = apply_conjuncts(b, [self.predicate], counts, ctx) if b.num_rows else b
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
