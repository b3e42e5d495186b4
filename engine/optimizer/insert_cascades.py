"""Rule (cost phase): answer an expensive model predicate on a video with a cascade (NoScope).

A conjunct ``oracle(frame) <op> constant`` (or a boolean ``oracle(frame)``) over a video scan,
where ``oracle`` is a model UDF declared as an oracle (``people_count``, ``face_count``, a user's
``@udf.scalar(..., oracle=True)``), can be answered by a Cascade (engine/physical/cascade.py):
a difference detector, a specialized model trained on oracle labels of sampled frames, and the
oracle only for the frames whose score lies between two calibrated thresholds.

``SET cascade = off | auto | force`` (default auto). Under ``auto`` the rule compares the
estimated cost of the cascade (labels for training and calibration, proxy and decode per frame,
oracle calls on the uncertain share, training) with a plain scan's (decode and oracle per frame)
and keeps the cheaper (``estimate``); ``force`` always cascades. Targets: ``SET cascade_fn_rate``,
``cascade_fp_rate`` (default 0.01 each), ``cascade_confidence`` (0.95), ``seed`` (0).

Example: ``SELECT frame_id FROM v WHERE people_count(frame) > 0`` over a 30,000-frame video at
60 ms a frame becomes ``Cascade(predicate=people_count(frame) > 0, Scan v)``: about 2,000 oracle
calls instead of 30,000.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from engine.errors import ProgrammingError
from engine.plan.oracles import candidate, plain_predicate
from engine.plan.nodes import Cascade, CascadeSpec, Filter, Node, Scan, transform_up

DEFAULTS = {"cascade": "auto", "cascade_fn_rate": 0.01, "cascade_fp_rate": 0.01,
            "cascade_confidence": 0.95, "seed": 0, "cascade_train_labels": 400}

# the cost model's figures for the cheap stages, measured here (benchmarks/cascade.py prints them)
DECODE_SECONDS_PER_PIXEL = 2.9e-9   # 0.65 ms a 640x360 frame (MPEG-4)
PROXY_SECONDS = 3e-4                # downscale + difference detector + the CNN, per frame
TRAIN_LABELS = 400                  # oracle labels a specialized CNN trains on
HEAD_LABELS = 100                   # ... a head on the video's index
TRAIN_SECONDS = 12.0
HEAD_SECONDS = 0.5
UNCERTAIN_SHARE = 0.03              # frames left to the oracle, before a calibration measured it
SEEK_SECONDS = 0.01                 # decoding one sampled frame (seek to a key frame and on)
MAX_CALIBRATION_SHARE = 0.5         # a video needing more calibration frames is too short
DEFAULT_PREVALENCE = 0.2


def settings_of(settings: dict) -> dict:
    """The cascade settings, checked: a bad value is an error naming the setting."""
    out = {}
    for k, d in DEFAULTS.items():
        v = settings.get(k, d)
        if k == "cascade":
            v = str(v).lower()
            if v not in ("off", "auto", "force"):
                raise ProgrammingError(f"SET cascade must be off, auto or force, got {v!r}")
        elif k in ("seed", "cascade_train_labels"):
            try:
                v = int(v)
            except (TypeError, ValueError):
                raise ProgrammingError(f"SET {k} needs an integer, got {v!r}") from None
            if k == "cascade_train_labels" and v < 50:
                raise ProgrammingError(f"SET cascade_train_labels needs at least 50 labels, got {v}")
        else:
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ProgrammingError(f"SET {k} needs a number strictly between 0 and 1, got {v!r}") from None
            if not 0.0 < v < 1.0:
                raise ProgrammingError(f"SET {k} needs a number strictly between 0 and 1, got {v:g}")
        out[k] = v
    return out


@dataclass
class Estimate:
    cascade_seconds: float
    scan_seconds: float
    labels: int
    calibration: int
    oracle_share: float
    too_short: bool

    def items(self) -> tuple:
        return (("cascade_s", f"{self.cascade_seconds:.1f}"), ("scan_s", f"{self.scan_seconds:.1f}"),
                ("labels", self.labels + self.calibration), ("oracle_share", f"{self.oracle_share:.3f}"),
                ("calibrates", "no" if self.too_short else "yes"))


def estimate(frames: int, pixels: int, oracle_seconds: float, prevalence: float, s: dict,
             stored: dict | None, have_model: bool, have_index: bool) -> Estimate:
    """Seconds of the cascade and of a plain scan over ``frames`` frames of ``pixels`` pixels."""
    from engine.approx.calibrate import sample_size
    decode = pixels * DECODE_SECONDS_PER_PIXEL
    scan = frames * (decode + oracle_seconds)
    labels = 0 if have_model else (HEAD_LABELS if have_index else
                                   min(int(s.get("cascade_train_labels", TRAIN_LABELS)), frames // 3))
    train = 0.0 if have_model else (HEAD_SECONDS if have_index else TRAIN_SECONDS)
    if stored is not None:  # calibrated for these targets before: no calibration, a measured share
        calibration, share = 0, float(stored.get("oracle_share", UNCERTAIN_SHARE))
    else:
        calibration = sample_size(prevalence, s["cascade_fn_rate"], s["cascade_fp_rate"],
                                  s["cascade_confidence"])
        share = UNCERTAIN_SHARE
    too_short = calibration > MAX_CALIBRATION_SHARE * frames
    calls = labels + calibration
    cascade = (calls * (oracle_seconds + SEEK_SECONDS) + train
               + frames * (decode + PROXY_SECONDS) + share * frames * oracle_seconds)
    return Estimate(cascade, scan, labels, calibration, share, too_short)


def insert_cascades(plan: Node, ctx=None) -> Node:
    settings = getattr(ctx, "settings", None) or {}
    s = settings_of(settings)
    if s["cascade"] == "off":
        return plan
    found: list[bool] = []
    filtered: list[bool] = []

    def visit(n: Node) -> Node:
        if isinstance(n, Scan) and n.filters and getattr(n.source, "kind", "") == "video":
            filtered.append(True)
            return _cascade_scan(n, list(n.filters), ctx, s, found)
        if isinstance(n, Filter):
            if isinstance(n.child, Scan) and getattr(n.child.source, "kind", "") == "video":
                filtered.append(True)
                from engine.plan.expressions import and_all, conjuncts
                parts = conjuncts(n.predicate)
                out = _cascade_scan(n.child, parts, ctx, s, found)
                if out is not n.child:
                    rest = [p for p in parts if p is not out.predicate]
                    return Filter(out, and_all(rest)) if rest else out
        return n
    plan = transform_up(plan, visit)
    if s["cascade"] == "force" and filtered and not found:
        raise ProgrammingError(
            "SET cascade = force, but the WHERE clause on the video has no expensive model predicate "
            "on its frames to build a cascade for (a comparison such as people_count(frame) > 0, or a "
            "function declared with oracle=True); SET cascade = auto to plan it normally")
    return plan


def _cascade_scan(scan: Scan, parts: list, ctx, s: dict, found: list) -> Node:
    frame_keys = {c.key for c, name in zip(scan.out, scan.source_columns) if name == "frame"}
    if "frame_id" not in scan.source_columns:  # the cascade keys its labels and index by frame
        return scan
    best = None
    for p in parts:
        call = candidate(p, frame_keys)
        if call is None:
            continue
        cost = ctx.udf_cost(call.udf)[0] if ctx is not None else (call.udf.cost or 0.04)
        if best is None or cost > best[2]:
            best = (p, call, cost)
    if best is None:
        return scan
    p, call, oracle_seconds = best
    found.append(True)
    src = scan.source
    video = src.identity
    from catalog.specialized import has_index, load_model, model_key
    u = call.udf
    predicate = plain_predicate(p)
    key = model_key(video, u.name, u.version, predicate)
    store = getattr(getattr(ctx, "cost", None), "stats", None)
    store = getattr(store, "store", None)
    stored_model = load_model(store.duck, key) if store is not None else None
    have_index = store is not None and has_index(store.duck, video)
    targets = CascadeSpec(u.name, predicate, key, video, s["cascade_fn_rate"], s["cascade_fp_rate"],
                          s["cascade_confidence"], s["seed"], s["cascade"], False, False).targets
    stored_cal = stored_model.calibration(targets) if stored_model is not None else None
    sel = ctx.udf_cost(u)[1] if ctx is not None else None
    prevalence = sel if sel is not None and 0 < sel < 1 else DEFAULT_PREVALENCE
    if stored_model is not None and stored_model.meta.get("prevalence"):
        prevalence = float(stored_model.meta["prevalence"])
    est = estimate(src.row_count(), src.out_w * src.out_h, oracle_seconds, prevalence, s, stored_cal,
                   stored_model is not None, have_index)
    if s["cascade"] == "auto" and (est.too_short or est.cascade_seconds >= est.scan_seconds):
        return scan
    spec = CascadeSpec(u.name, predicate, key, video, s["cascade_fn_rate"], s["cascade_fp_rate"],
                       s["cascade_confidence"], s["seed"], s["cascade"], stored_model is not None,
                       have_index, est.items())
    rest = tuple(q for q in scan.filters if q is not p)
    return Cascade(replace(scan, filters=rest), p, spec)
