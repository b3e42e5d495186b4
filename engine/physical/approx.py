"""ApproxExec: answers within a stated error from few oracle calls (issue 8/11).

One pass over the table reads the cheap columns, applies the cheap conjuncts of WHERE and scores
every remaining row with the proxy (``USING PROXY expr``, or the video's stored specialized model
from a cascade, engine/approx/cascade_model.py). Those rows are the population. The estimators
of engine/approx then ask for the expensive values of the rows they pick, and only those are
evaluated: for a video, only their frames are decoded. Each statement kind:

* aggregate (``ERROR WITHIN``): COUNT / SUM / FCOUNT by control-variate sampling with an
  anytime-valid stopping rule (``estimate_mean``), AVG over rows passing an oracle predicate by
  ABae's stratified sampling (``estimate_avg_where``); the estimators answer by a full scan when
  that is cheaper. The result is the estimate; its interval and the oracle calls are on the
  cursor (``cursor.approx``), in the run's metrics (``approx.*``), and the run stores a PNG of
  the sampling trace;
* limit (``LIMIT k [GAP g]``): rows visited by descending proxy score, the oracle on each, rows
  within g of a hit skipped, stopping at k hits (exact: every row returned passes);
* selection (``RECALL|PRECISION TARGET``): SUPG's importance-sampled procedures.

Sampling is seeded by ``SET seed = n``; without it a fresh seed is drawn, and either way the seed
is a param of the run (``approx.seed``), so a logged answer can be recomputed exactly.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from engine.errors import ProgrammingError
from engine.physical.evaluate import evaluate, evaluate_mask
from engine.physical.operator import SINK, Operator
from engine.plan.nodes import Approx


class ApproxWarning(UserWarning):
    """An approximate query ran, but not as well as it could have (no proxy, budget spent)."""


def _as_bool(v, n: int) -> np.ndarray:
    if isinstance(v, (bool, np.bool_)):
        return np.full(n, bool(v))
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    return np.asarray(v.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _as_float(v, n: int) -> np.ndarray:
    """Values as float64, NULL as NaN."""
    if isinstance(v, pa.Scalar):
        x = v.as_py()
        return np.full(n, np.nan if x is None else float(x))
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    if pa.types.is_boolean(v.type) or pa.types.is_decimal(v.type):
        v = v.cast(pa.float64())
    return np.asarray(v.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


class ApproxExec(Operator):
    ROLES = (SINK,)

    def __init__(self, child: Operator, node: Approx, schema: pa.Schema, **kw):
        super().__init__(schema, (child,), **kw)
        self.node = node
        self.spec = node.spec
        self.scan_node = node.child
        self.video = getattr(node.child.source, "kind", "") == "video"

    def params(self) -> str:
        n = self.node
        s = self.spec.clause
        if n.oracle_pred is not None:
            s += f" oracle_predicate={n.oracle_pred.sql()}"
        if n.value is not None:
            s += f" value={n.value.sql()}"
        return f"{self.spec.kind} {(self.spec.agg or '').upper()} {s}".replace("  ", " ").strip()

    # ---- the population: one pass over the cheap columns
    def _population(self, ctx) -> tuple[pa.Table, np.ndarray | None]:
        child = self.children()[0]
        proxy = self.node.proxy
        frame_keys = {c.key for c, n in zip(self.scan_node.out, self.scan_node.source_columns) if n == "frame"}
        light: list[pa.RecordBatch] = []
        scores: list[np.ndarray] = []
        for b in child.execute(ctx):
            if not b.num_rows:
                continue
            if proxy is not None:
                scores.append(_as_float(evaluate(proxy, b, ctx), b.num_rows))
            keep = [i for i, f in enumerate(b.schema) if f.name not in frame_keys]
            light.append(pa.RecordBatch.from_arrays([b.column(i) for i in keep],
                                                    schema=pa.schema([b.schema.field(i) for i in keep])))
        schema = pa.schema([f for f in child.schema() if f.name not in frame_keys])
        table = pa.Table.from_batches(light, schema=schema) if light else schema.empty_table()
        p = np.concatenate(scores) if scores else (np.empty(0) if proxy is not None else None)
        if p is not None and np.isnan(p).any():
            raise ProgrammingError(f"USING PROXY {self.spec.proxy_sql} is NULL on "
                                   f"{int(np.isnan(p).sum())} rows; a proxy needs a score for every row")
        return table.combine_chunks(), p

    def _fetch(self, light: pa.Table, pos: np.ndarray) -> pa.RecordBatch:
        """The rows at ``pos`` (ascending) of the population with every column the expensive
        expressions read: for a video, their frames decoded now."""
        rows = light.take(pa.array(pos, pa.int64()))
        cols = {f.name: rows.column(f.name).combine_chunks() for f in rows.schema}
        if self.video:
            src = self.scan_node.source
            fid = self.node.frame_id.key
            names = dict(zip(self.scan_node.source_columns, (c.key for c in self.scan_node.out)))
            if "frame" in names:
                ids = cols[fid].to_numpy() if len(pos) else np.empty(0, np.int64)
                got = [b.column(0) for b in src.take(ids, ["frame"])] if len(ids) else []
                frames = pa.concat_arrays(got) if got else pa.array([], src.frame_type)
                cols[names["frame"]] = frames
        return pa.RecordBatch.from_pydict(cols) if cols else pa.RecordBatch.from_pydict({})

    # ---- the run
    def _execute(self, ctx) -> Iterator[pa.RecordBatch]:
        spec = self.spec
        m = ctx.metrics_for(self)
        light, proxy = self._population(ctx)
        n = light.num_rows
        proxy_kind = "USING PROXY " + spec.proxy_sql if proxy is not None else "none"
        if proxy is None and self.video and n:
            got = self._specialized_proxy(light, ctx)
            if got is not None:
                proxy, model_predicate = got
                proxy_kind = f"specialized model for {model_predicate} (stored by a cascade)"
        if proxy is None and spec.kind != "aggregate":
            raise ProgrammingError(
                f"{spec.clause.split(' ')[0] if spec.kind == 'select' else 'LIMIT'} on this query needs a "
                "proxy to rank rows by: add USING PROXY expr (a cheap score of each row)"
                + (", or run a cascade on this predicate first so the video has a specialized model"
                   if self.video else ""))
        if proxy is None and spec.kind == "aggregate" and n:
            warnings.warn("ERROR WITHIN without a proxy samples uniformly; USING PROXY expr (a cheap "
                          "score that correlates with the value) needs fewer oracle calls",
                          ApproxWarning, stacklevel=2)
        seed = ctx.settings.get("seed")
        seed = int(seed) if seed is not None else int.from_bytes(os.urandom(4), "little")
        rng = np.random.default_rng(seed)
        ctx.run_params["approx.seed"] = str(seed)
        ctx.run_params["approx.clause"] = spec.clause
        ctx.run_params["approx.proxy"] = proxy_kind
        calls = [0]

        def predicate(pos: np.ndarray) -> np.ndarray:
            return self._evaluate(light, pos, ctx, calls, "pred")

        def value(pos: np.ndarray) -> np.ndarray:
            return self._evaluate(light, pos, ctx, calls, "value")

        if spec.kind == "aggregate":
            out = self._aggregate(n, predicate, value, proxy, rng, ctx, calls)
        else:
            out = self._rows(light, n, predicate, proxy, rng, ctx, calls)
        m.extra["oracle_calls"] = calls[0]
        m.extra["population"] = n
        yield out

    def _evaluate(self, light, pos, ctx, calls, what: str) -> np.ndarray:
        """The predicate (as 0/1 floats) or the value (NaN for NULL) at population rows ``pos``."""
        pos = np.asarray(pos, dtype=np.int64)
        if not len(pos):
            return np.empty(0)
        order = np.argsort(pos, kind="stable")
        b = self._fetch(light, pos[order])
        calls[0] += len(pos)
        node = self.node
        if what == "pred":
            ok = np.ones(len(pos), bool) if node.oracle_pred is None else \
                _as_bool(evaluate_mask(node.oracle_pred, b, ctx), b.num_rows)
            if node.value is not None and self.spec.agg == "count":
                ok &= ~np.isnan(_as_float(evaluate(node.value, b, ctx), b.num_rows))
            res = ok.astype(np.float64)
        else:
            v = _as_float(evaluate(node.value, b, ctx), b.num_rows) if node.value is not None \
                else np.ones(b.num_rows)
            if self.spec.agg in ("sum", "fcount") and node.oracle_pred is not None:
                ok = _as_bool(evaluate_mask(node.oracle_pred, b, ctx), b.num_rows)
                v = np.where(ok, v, 0.0)
            if self.spec.agg in ("sum", "fcount"):
                v = np.nan_to_num(v, nan=0.0)
            elif self.spec.agg == "avg" and node.oracle_pred is None and np.isnan(v).any():
                raise ProgrammingError(
                    f"AVG({node.value.sql()}) ERROR WITHIN met a NULL value; filter the NULLs out "
                    f"in WHERE ({node.value.sql()} IS NOT NULL)")
            res = v
        out = np.empty(len(pos))
        out[order] = res
        return out

    def _specialized_proxy(self, light: pa.Table, ctx) -> tuple[np.ndarray, str] | None:
        """(the probability of a stored specialized model for each population frame, its
        predicate), or None. The model of the query's own oracle predicate comes first; else the
        newest model of the same oracle on this video (any score is a valid proxy: the guarantees
        do not rest on its quality, only the oracle calls saved do)."""
        from catalog.specialized import find_models, load_model, model_key
        from engine.plan.oracles import candidate, is_oracle, plain_predicate
        from engine.plan.expressions import UdfCall, conjuncts
        duck = ctx.store.duck if ctx.store is not None else None
        if duck is None:
            return None
        scan = self.scan_node
        video = scan.source.identity
        ids = light.column(self.node.frame_id.key).to_numpy()
        frame_keys = {c.key for c, name in zip(scan.out, scan.source_columns) if name == "frame"}
        for p in conjuncts(self.node.oracle_pred):
            call = candidate(p, frame_keys)
            if call is not None:
                stored = load_model(duck, model_key(video, call.udf.name, call.udf.version, plain_predicate(p)))
                if stored is not None:
                    got = _model_scores(stored, scan.source, ids, duck)
                    if got is not None:
                        return got, stored.predicate
        for e in (self.node.oracle_pred, self.node.value):
            for x in (e.walk() if e is not None else ()):
                if isinstance(x, UdfCall) and is_oracle(x.udf):
                    for stored in find_models(duck, video, x.udf.name, str(x.udf.version)):
                        got = _model_scores(stored, scan.source, ids, duck)
                        if got is not None:
                            return got, stored.predicate
        return None

    def _aggregate(self, n, predicate, value, proxy, rng, ctx, calls) -> pa.RecordBatch:
        from engine.approx import estimators as E
        spec, node = self.spec, self.node
        name = self.schema().field(0).name
        e, conf, rel = spec.error, spec.confidence, spec.relative
        kw = {"proxy": proxy, "rng": rng}
        if n == 0:
            est = 0.0 if spec.agg == "count" else None
            res = E.ApproxResult(est if est is not None else float("nan"), 0.0, 0.0, conf, 0, 0, True,
                                 method="full_scan")
        elif spec.agg == "count" and node.oracle_pred is None and node.value is None:
            res = E.ApproxResult(float(n), float(n), float(n), conf, 0, n, True, [(0, n, n, n)], "exact")
        elif spec.agg == "fcount" and node.oracle_pred is None and node.value is None:
            res = E.ApproxResult(1.0, 1.0, 1.0, conf, 0, n, True, [(0, 1.0, 1.0, 1.0)], "exact")
        elif spec.agg == "count":
            res = E.estimate_count(predicate, n, e, conf, rel, max_calls=spec.oracle_limit, **kw)
        elif spec.agg == "sum":
            res = E.estimate_sum(value, n, e, conf, rel, max_calls=spec.oracle_limit, **kw)
        elif spec.agg == "fcount":
            res = E.estimate_mean(value, n, e, conf, rel, max_calls=spec.oracle_limit, **kw)
        elif node.oracle_pred is None:
            res = E.estimate_mean(value, n, e, conf, rel, max_calls=spec.oracle_limit, **kw)
        else:
            res = E.estimate_avg_where(predicate, value, n, e, conf, rel, budget=spec.oracle_limit, **kw)
        if not res.met:
            warnings.warn(f"ORACLE LIMIT {spec.oracle_limit} was spent before the interval narrowed to "
                          f"the error: the answer's interval is [{res.lo:.6g}, {res.hi:.6g}]",
                          ApproxWarning, stacklevel=2)
        nothing = n == 0 and spec.agg != "count" or np.isnan(res.estimate)
        self._record(ctx, res, calls[0], n)
        return pa.RecordBatch.from_arrays([pa.array([None if nothing else float(res.estimate)], pa.float64())],
                                          names=[name])

    def _record(self, ctx, res, calls: int, n: int) -> None:
        info = {"estimate": res.estimate, "ci_low": res.lo, "ci_high": res.hi, "confidence": res.confidence,
                "oracle_calls": calls, "full_scan_calls": n, "exact": res.exact, "method": res.method,
                "met": res.met, "error": self.spec.error, "relative": self.spec.relative}
        ctx.approx = info
        for k in ("estimate", "ci_low", "ci_high", "confidence", "oracle_calls", "full_scan_calls"):
            if info[k] is not None and not (isinstance(info[k], float) and np.isnan(info[k])):
                ctx.run_metrics[f"approx.{k}"] = float(info[k])
        ctx.run_metrics["approx.exact"] = float(res.exact)
        ctx.run_metrics["approx.met"] = float(res.met)
        ctx.run_params["approx.method"] = res.method
        png = trace_png(res, f"{self.spec.agg.upper()} {self.spec.clause}")
        if png is not None:
            ctx.run_artifacts["approx/trace.png"] = png

    def _rows(self, light, n, predicate, proxy, rng, ctx, calls) -> pa.RecordBatch:
        from engine.approx import estimators as E
        from engine.approx import supg
        spec = self.spec
        info: dict = {}
        if n == 0:
            hits = np.empty(0, np.int64)
        elif spec.kind == "limit":
            hits, _ = E.limit_gap(lambda p: predicate(p) > 0, proxy, spec.limit, spec.gap)
            info = {"hits": len(hits)}
        elif spec.oracle_limit >= n:  # the budget covers every row: the exact answer
            hits = np.nonzero(predicate(np.arange(n)) > 0)[0]
            info = {"exact": True}
        else:
            fn = supg.supg_recall if spec.target_kind == "recall" else supg.supg_precision
            hits, info = fn(lambda p: predicate(p) > 0, proxy, spec.target, 1.0 - spec.probability,
                            spec.oracle_limit, rng=rng)
        ctx.approx = {"oracle_calls": calls[0], "full_scan_calls": n, "rows": int(len(hits)),
                      **{k: v for k, v in info.items() if isinstance(v, (int, float, bool))}}
        ctx.run_metrics["approx.oracle_calls"] = float(calls[0])
        ctx.run_metrics["approx.full_scan_calls"] = float(n)
        ctx.run_metrics["approx.rows"] = float(len(hits))
        if "threshold" in info:
            ctx.run_params["approx.threshold"] = f"{info['threshold']:.6g}"
        b = self._fetch(light, np.asarray(hits, np.int64))
        cols = []
        for (c, e), f in zip(self.node.out, self.schema()):
            v = evaluate(e, b, ctx)
            if isinstance(v, pa.Scalar):
                v = pa.array([v.as_py()] * b.num_rows, f.type)
            if isinstance(v, pa.ChunkedArray):
                v = v.combine_chunks()
            cols.append(v.cast(f.type) if v.type != f.type else v)
        return pa.RecordBatch.from_arrays(cols, schema=self.schema())


def _model_scores(stored, source, frame_ids: np.ndarray, duck) -> np.ndarray:
    """A stored specialized model's probability (sigmoid of its score) for each of ``frame_ids``."""
    import json

    from udfs import specialized as S
    if stored.kind == "cnn":
        net = S.load_net(stored.state)
        out = []
        for b in source.take(frame_ids, ["frame"]):
            from udfs.model import to_numpy
            out.append(S.scores_and_embeddings(net, S.lowres(to_numpy(b.column(0))))[0])
        logits = np.concatenate(out) if out else np.empty(0)
    else:
        from catalog.specialized import load_index
        index = load_index(duck, source.identity)
        if index is None:
            return None
        head = S.Head.from_state(json.loads(stored.state.decode()))
        logits = head.scores(index[1][frame_ids])
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def trace_png(res, title: str) -> bytes | None:
    """A PNG of the sampling trace: the estimate and its interval against oracle calls."""
    if not res.trace:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import io
    calls, est, lo, hi = (np.array(x, dtype=np.float64) for x in zip(*res.trace))
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.fill_between(calls, lo, hi, alpha=0.3, step="post", label=f"{res.confidence:.0%} interval")
    ax.plot(calls, est, "-o", ms=3, label="estimate")
    ax.set_xlabel("oracle calls")
    ax.set_ylabel("answer")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
