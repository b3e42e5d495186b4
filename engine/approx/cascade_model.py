"""A cascade's specialized model and thresholds: found in the catalog, or trained and calibrated.

``prepare(cascade_exec, ctx)`` returns a ``CascadePlan``. In order of preference:
* the model for (video, oracle, oracle version, predicate) is stored: load it; if it was
  calibrated for these targets, use those thresholds, else calibrate now;
* the video's index (per-frame embeddings) is stored: train a logistic head on the embeddings of
  ``HEAD_LABELS`` frames picked by k-means clusters of the index (TASTI), then calibrate;
* otherwise label ``TRAIN_LABELS`` uniformly sampled frames with the oracle, train the CNN of
  udfs/specialized.py on their low-resolution versions, then calibrate.
Calibration labels a uniform sample of frames not used for training, grown until it holds
enough positives and negatives to certify the targets (engine/approx/calibrate.py), up to
``MAX_CALIBRATION_SHARE`` of the video; beyond that the video is too short (CascadeUnavailable).
Every label is the predicate evaluated by the statement's UDF runtime, so cached oracle answers
are reused and every real oracle call is counted.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa

from engine.approx.calibrate import CalibrationError, Thresholds, choose, needed, sample_size, tradeoff_png

TRAIN_LABELS = 400         # SET cascade_train_labels changes it
MIN_TRAIN_LABELS = 50
HEAD_LABELS = 100
DIFF_PAIRS = 48            # consecutive frame pairs decoded to measure the noise floor
DIFF_FACTOR = 2.0          # the difference threshold, in noise floors
MAX_CALIBRATION_SHARE = 0.5
MIN_CALIBRATION = 150


class CascadeUnavailable(Exception):
    """The cascade cannot meet its targets on this video (the statement scans instead)."""


class DifferenceDetectorState:
    """The difference detector across batches: the reference frame's thumbnail, its row in the
    current batch (None once the batch is done), and, for a reference of an earlier batch, its
    answer and embedding."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.ref: np.ndarray | None = None
        self.row: int | None = None
        self.value = 0
        self.emb: np.ndarray | None = None

    def reusable(self, thumb: np.ndarray) -> bool:
        return self.ref is not None and self.threshold > 0 and \
            float(np.abs(thumb - self.ref).max()) < self.threshold

    def evaluated(self, thumb: np.ndarray, row: int) -> None:
        self.ref, self.row = thumb, row

    def next_batch(self) -> None:
        self.row = None


class CascadePlan:
    def __init__(self, exec_, thresholds: Thresholds, tau: float, score_fn, known_ids: np.ndarray,
                 known_vals: np.ndarray, train_labels: int, calibration_labels: int, model,
                 index_sink: np.ndarray | None):
        self.exec = exec_
        self.thresholds = thresholds
        self.tau = tau
        self._score = score_fn
        self.known_ids = known_ids
        self.known_vals = known_vals
        self.train_labels = train_labels
        self.calibration_labels = calibration_labels
        self.model = model
        self.index_sink = index_sink          # (frames x dim) being filled for the video's index
        self.index_seen = np.zeros(len(index_sink), dtype=bool) if index_sink is not None else None

    def scores(self, low: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(score, embedding or None) of low-resolution frames ``ids``."""
        return self._score(low, ids)

    def record_index(self, ids: np.ndarray, emb: np.ndarray) -> None:
        """Keep the embeddings of frames ``ids`` for the video's index (a reused frame has its
        reference's: the difference detector found them alike)."""
        if self.index_sink is not None:
            self.index_sink[ids] = emb
            self.index_seen[ids] = True

    def known(self, ids: np.ndarray) -> np.ndarray:
        out = np.full(len(ids), -1, dtype=np.int8)
        if len(self.known_ids):
            pos = np.searchsorted(self.known_ids, ids)
            pos = np.minimum(pos, len(self.known_ids) - 1)
            hit = self.known_ids[pos] == ids
            out[hit] = self.known_vals[pos[hit]]
        return out

    def finished(self, ctx, counts: dict) -> None:
        """Record what the cascade did (run metrics) and store the video's index once every
        frame has an embedding."""
        from catalog.specialized import save_index_op
        spec = self.exec.spec
        n = max(counts["frames"], 1)
        m = ctx.run_metrics
        for k in ("frames", "labelled", "reused", "rejected", "accepted", "oracle", "oracle_calls"):
            m[f"cascade.{k}"] = counts.get(k, 0)
        m["cascade.reuse_rate"] = counts["reused"] / n
        m["cascade.proxy_rate"] = (counts["rejected"] + counts["accepted"]) / n
        m["cascade.oracle_rate"] = counts["oracle"] / n
        m["cascade.full_scan_oracle_calls"] = counts["frames"]
        m["cascade.train_labels"] = self.train_labels
        m["cascade.calibration_labels"] = self.calibration_labels
        if self.index_sink is not None and self.index_seen.all():
            ctx.pending_writes.append(save_index_op(spec.video, spec.model_key, self.index_sink))


def _label(exec_, positions: np.ndarray, ctx) -> tuple[np.ndarray, np.ndarray]:
    """(low-resolution frames, oracle labels) of the frames at ``positions`` (ascending)."""
    from engine.physical.cascade import _as_bool
    from engine.physical.evaluate import evaluate_mask
    from udfs.model import to_numpy
    from udfs.specialized import lowres
    scan = exec_.scan
    schema = scan.schema()
    lows, labels = [], []
    for b in scan.source.take(positions, list(scan.columns)):
        b = pa.RecordBatch.from_arrays(b.columns, schema=schema)
        lows.append(lowres(to_numpy(b.column(exec_.frame_key))))
        labels.append(_as_bool(evaluate_mask(exec_.predicate, b, ctx), b.num_rows))
    if not lows:
        from udfs.specialized import INPUT_H, INPUT_W
        return np.empty((0, INPUT_H, INPUT_W, 3), np.uint8), np.empty(0, bool)
    return np.concatenate(lows), np.concatenate(labels)


def _noise_floor(exec_, rng, n: int) -> float:
    """The difference detector's threshold: DIFF_FACTOR times the median largest-cell change
    between consecutive frames at sampled places (sensor noise and drift)."""
    from udfs.model import to_numpy
    from udfs.specialized import DifferenceDetector, lowres, thumbnails
    if n < 2:
        return 0.0
    starts = np.sort(rng.choice(n - 1, size=min(DIFF_PAIRS, n - 1), replace=False))
    pos = np.unique(np.concatenate([starts, starts + 1]))
    thumbs = {}
    for b in exec_.scan.source.take(pos, ["frame_id", "frame"]):
        ids = b.column(0).to_numpy()
        th = thumbnails(lowres(to_numpy(b.column(1))))
        thumbs.update(zip(ids.tolist(), th))
    a = np.stack([thumbs[int(s)] for s in starts])
    c = np.stack([thumbs[int(s) + 1] for s in starts])
    return DIFF_FACTOR * DifferenceDetector.noise_floor(a, c)


def _calibrate(exec_, ctx, rng, n: int, exclude: np.ndarray, score_low, prevalence: float):
    """Label a growing uniform sample of frames not in ``exclude`` until the targets can be
    certified; returns (thresholds, positions, labels)."""
    spec = exec_.spec
    pool = np.setdiff1d(np.arange(n, dtype=np.int64), exclude)
    order = rng.permutation(pool)
    cap = int(MAX_CALIBRATION_SHARE * n)
    need_p, need_n = needed(spec.fn_rate, spec.confidence), needed(spec.fp_rate, spec.confidence)
    # start where the expected counts just suffice, then add what the observed shortfall needs:
    # every calibration label is an oracle call, the largest cost of a cascade
    size = min(cap, len(order), max(MIN_CALIBRATION, sample_size(
        prevalence, spec.fn_rate, spec.fp_rate, spec.confidence, margin=1.05)))
    pos = np.empty(0, np.int64)
    scores, labels = np.empty(0), np.empty(0, bool)
    while True:
        new = np.sort(order[len(pos):size])
        if len(new):
            low, lab = _label(exec_, new, ctx)
            scores = np.concatenate([scores, score_low(low, new)])
            labels = np.concatenate([labels, lab])
            pos = np.concatenate([pos, new])
        p, q = int(labels.sum()), int((~labels).sum())
        if p >= need_p and q >= need_n:
            break
        if size >= min(cap, len(order)):
            raise CascadeUnavailable(
                f"the video is too short to calibrate at these targets: {len(pos)} sampled frames "
                f"({MAX_CALIBRATION_SHARE:.0%} of {n}) hold {p} positives and {q} negatives, and "
                f"certifying a false-negative rate of {spec.fn_rate:g} and a false-positive rate of "
                f"{spec.fp_rate:g} at {spec.confidence:.0%} confidence needs {need_p} and {need_n}")
        rate = max(p / max(len(pos), 1), 1e-3)
        short = max((need_p - p) / rate, (need_n - q) / max(1 - rate, 1e-3), 0)
        size = min(cap, len(order), size + max(32, int(np.ceil(1.1 * short))))
    try:
        t = choose(scores, labels, spec.fn_rate, spec.fp_rate, spec.confidence)
    except CalibrationError as e:  # pragma: no cover - the loop above guarantees the counts
        raise CascadeUnavailable(str(e)) from None
    order_idx = np.argsort(pos)
    return t, pos[order_idx], labels[order_idx]


def prepare(exec_, ctx) -> CascadePlan:
    from catalog.specialized import SpecializedModel, has_index, load_index, load_model, save_model_op
    from udfs import specialized as S
    spec = exec_.spec
    source = exec_.scan.source
    n = source.row_count()
    duck = ctx.store.duck if ctx.store is not None else None
    rng = np.random.default_rng(spec.seed)
    oracle_metric = ctx.udf_runtime.metric(spec.oracle)
    calls0 = oracle_metric.rows
    stored = load_model(duck, spec.model_key) if duck is not None else None
    index = load_index(duck, spec.video) if duck is not None and (stored is None or stored.kind == "head") else None
    t0 = time.perf_counter()
    train_pos = np.empty(0, np.int64)
    train_lab = np.empty(0, bool)
    trained_now = False
    net = head = None
    if stored is not None and stored.kind == "cnn":
        net = S.load_net(stored.state)
    elif stored is not None and stored.kind == "head":
        if index is None:
            raise CascadeUnavailable("the stored head's video index is missing")
        head = S.Head.from_state(json.loads(stored.state.decode()))
    elif index is not None and len(index[1]) == n:
        emb = index[1]
        train_pos = S.cluster_picks(emb, HEAD_LABELS, seed=spec.seed)
        _, train_lab = _label(exec_, train_pos, ctx)
        if train_lab.all() or not train_lab.any():  # one class only: add a uniform sample
            extra = np.setdiff1d(np.sort(rng.choice(n, size=min(n, HEAD_LABELS), replace=False)), train_pos)
            _, lab2 = _label(exec_, extra, ctx)
            train_pos = np.concatenate([train_pos, extra])
            train_lab = np.concatenate([train_lab, lab2])
        t0 = time.perf_counter()
        head = S.train_head(emb[train_pos], train_lab, seed=spec.seed)
        trained_now = True
    else:
        size = min(int(ctx.settings.get("cascade_train_labels", TRAIN_LABELS)), n // 3)
        if size < MIN_TRAIN_LABELS:
            raise CascadeUnavailable(f"the video has {n} frames, too few to train a specialized model "
                                     f"on {MIN_TRAIN_LABELS} and calibrate it")
        train_pos = np.sort(rng.choice(n, size=size, replace=False))
        low, train_lab = _label(exec_, train_pos, ctx)
        if train_lab.all() or not train_lab.any():
            raise CascadeUnavailable(f"all {len(train_lab)} training frames have the same answer "
                                     f"({bool(train_lab[0]) if len(train_lab) else False}); nothing to learn")
        t0 = time.perf_counter()
        net = S.train_model(low, train_lab, seed=spec.seed,
                            label=f"training a specialized model for {spec.predicate}")
        trained_now = True
    train_seconds = time.perf_counter() - t0  # fitting only (the labels' oracle calls apart)
    train_calls = oracle_metric.rows - calls0

    if net is not None:
        def score_low(low, ids):
            return S.scores_and_embeddings(net, low)[0]

        def score_fn(low, ids):
            return S.scores_and_embeddings(net, low)
    else:
        emb_all = index[1]

        def score_low(low, ids):
            return head.scores(emb_all[ids])

        def score_fn(low, ids):
            return head.scores(emb_all[ids]), None

    cal = stored.calibration(spec.targets) if stored is not None else None
    cal_pos = np.empty(0, np.int64)
    cal_lab = np.empty(0, bool)
    calls1 = oracle_metric.rows
    if cal is None:
        prevalence = float(train_lab.mean()) if len(train_lab) and net is not None else \
            float(stored.meta.get("prevalence", 0.2)) if stored is not None else 0.2
        thresholds, cal_pos, cal_lab = _calibrate(exec_, ctx, rng, n, train_pos, score_low, prevalence)
        tau = _noise_floor(exec_, rng, n)
        cal = {"c_low": thresholds.c_low, "c_high": thresholds.c_high, "tau": tau,
               "fn_bound": thresholds.fn_bound, "fp_bound": thresholds.fp_bound,
               "positives": thresholds.positives, "negatives": thresholds.negatives,
               "oracle_share": thresholds.oracle_fraction, "calibration_labels": len(cal_pos)}
        png = tradeoff_png(thresholds, f"cascade calibration: {spec.predicate}")
        if png is not None:
            ctx.run_artifacts["cascade/calibration.png"] = png
        prevalence = float(cal_lab.mean())
    else:
        thresholds = Thresholds(cal["c_low"], cal["c_high"], cal["fn_bound"], cal["fp_bound"],
                                cal["positives"], cal["negatives"], spec.confidence, cal["oracle_share"])
        tau = cal["tau"]
        prevalence = float(stored.meta.get("prevalence", 0.2))
    cal_calls = oracle_metric.rows - calls1
    newly = trained_now or stored is None or stored.calibration(spec.targets) is None
    if newly and duck is not None:
        meta = dict(stored.meta) if stored is not None else {}
        meta.setdefault("calibrations", {})[spec.targets] = cal
        meta["prevalence"] = prevalence
        if trained_now:
            meta["train_labels"] = int(len(train_pos))
            meta["train_seconds"] = train_seconds
        if net is not None:
            state, kind = (S.save_net(net) if trained_now else stored.state), "cnn"
        else:
            state, kind = (json.dumps(head.state()).encode() if trained_now else stored.state), "head"
        model = SpecializedModel(spec.model_key, spec.video, spec.oracle, _oracle_version(exec_),
                                 spec.predicate, kind, meta, state)
        ctx.pending_writes.append(save_model_op(model))
        if trained_now:
            ctx.run_artifacts["cascade/model." + ("pt" if kind == "cnn" else "json")] = state
    rp = ctx.run_params
    rp["cascade.predicate"] = spec.predicate
    rp["cascade.model"] = ("stored " if not trained_now else "trained ") + ("cnn" if net is not None else "head")
    rp["cascade.c_low"] = f"{thresholds.c_low:.6g}"
    rp["cascade.c_high"] = f"{thresholds.c_high:.6g}"
    rp["cascade.diff_threshold"] = f"{tau:.4g}"
    rp["cascade.targets"] = spec.targets
    ctx.run_metrics["cascade.fn_bound"] = thresholds.fn_bound
    ctx.run_metrics["cascade.fp_bound"] = thresholds.fp_bound
    ctx.run_metrics["cascade.train_oracle_calls"] = train_calls
    ctx.run_metrics["cascade.calibration_oracle_calls"] = cal_calls
    ctx.run_metrics["cascade.train_seconds"] = train_seconds if trained_now else 0.0
    known_ids = np.concatenate([train_pos, cal_pos])
    known_vals = np.concatenate([train_lab, cal_lab]).astype(np.int8)
    order = np.argsort(known_ids)
    sink = None
    if net is not None and duck is not None and not has_index(duck, spec.video):
        sink = np.zeros((n, S.EMBED_DIM), dtype=np.float32)
    return CascadePlan(exec_, thresholds, tau, score_fn, known_ids[order], known_vals[order],
                       int(len(train_pos)), int(len(cal_pos)), net or head, sink)


def _oracle_version(exec_) -> str:
    from engine.plan.expressions import UdfCall
    for x in exec_.predicate.walk():
        if isinstance(x, UdfCall) and x.name == exec_.spec.oracle:
            return str(getattr(x.udf, "version", ""))
    return ""
