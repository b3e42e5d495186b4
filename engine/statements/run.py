"""One statement's execution context and its tracked run.

Every statement gets a ``StatementRun`` when it starts: its run id, what kind of statement it
is, the plan it runs (``exec``: logical plan, physical operator, ExecContext) and whether it
only read the run log (then it is not recorded, so browsing the history does not grow it).
Nothing about a statement lives on the session. A statement that returns a streaming result is
recorded when its stream ends (read to the end, closed, or failed), with the rows it produced;
``Session.finish`` (cached UDF results, UDF statistics) runs then too.
"""
from __future__ import annotations

import time
from typing import Any

from catalog.tracking import DEFAULT_EXPERIMENT, RunRecord, current_user, new_run_id


class StatementRun:
    def __init__(self, session, kind: str, text: str):
        self.session = session
        self.kind = kind
        self.text = text
        self.tracker = session._tracker
        self.run_id = new_run_id() if self.tracker is not None else None
        self.experiment = str(session.settings.get("experiment") or DEFAULT_EXPERIMENT[1])
        self.params = dict(session.settings)
        self.start = time.time()
        self.t0 = time.perf_counter()
        self.exec: tuple | None = None   # (logical plan, physical operator, ExecContext | None)
        self.untracked = False           # the statement read only dawn.* tables
        self.result = None               # the Result, once the statement has returned one
        self._submitted = False

    @property
    def recorded(self) -> bool:
        return self.tracker is not None and not self.untracked

    def stream_ended(self, error: BaseException | None) -> None:
        """The statement's result stream ended: store what the run learned, then record it (if
        the statement has already returned its Result; otherwise ``returned`` records it)."""
        ex = self.exec
        if error is None and ex is not None and ex[2] is not None:
            try:
                self.session.finish(ex[2])
            except BaseException as e:  # a failed cache write fails the statement
                error = e
        if self.result is not None:
            self.submit(self.result, error)
        elif error is not None:
            self.submit(None, error)

    def returned(self, res) -> None:
        self.result = res
        stream = res.stream
        if stream is None or stream.done:
            self.submit(res, None)

    def submit(self, res, err: BaseException | None) -> None:
        if self._submitted:
            return
        self._submitted = True
        if not self.recorded:
            return
        dur = time.perf_counter() - self.t0
        tracker = self.tracker
        rec = RunRecord(run_id=self.run_id, experiment_id=tracker.experiment_id(self.experiment),
                        experiment=self.experiment, status="FAILED" if err is not None else "FINISHED",
                        start_time=int(self.start * 1000), end_time=int((self.start + dur) * 1000),
                        duration_ms=dur * 1000, user=current_user(), source=self.session.source,
                        kind=self.kind, sql=self.text, session_id=self.session.session_id)
        # the settings the statement ran under (a SET records the value it set)
        rec.params = dict(self.session.settings) if self.kind == "SET" else self.params
        rec.tags = {"dawn.statement_kind": self.kind, "dawn.source": self.session.source,
                    "dawn.session": self.session.session_id}
        rec.tags.update(self.session.run_tags)
        metrics: dict[str, Any] = rec.metrics
        metrics["wall_time_ms"] = dur * 1000
        if err is not None:
            rec.error = f"{type(err).__name__}: {err}"
        if res is not None:
            stream = res.stream
            if stream is not None:
                metrics["rows_out"] = stream.rows
                if stream.closed_early:
                    rec.tags["dawn.closed_early"] = "true"
            elif res.rowcount is not None and res.rowcount >= 0:
                metrics["rows_affected"] = res.rowcount
            if self.kind == "EXPLAIN ANALYZE" and res.plan_text:
                rec.artifacts["explain_analyze.txt"] = res.plan_text
        ex = self.exec
        if ex is not None:
            plan, op, ctx = ex
            from engine.plan.explain import render_logical, render_physical
            rec.plan = lambda: render_logical(plan)
            if ctx is not None:
                rows = nbytes = 0
                for m in ctx.metrics.values():
                    st = m.extra.get("scan")
                    if st is not None:
                        rows += st.rows_read
                        nbytes += st.bytes_read
                metrics["rows_scanned"] = rows
                metrics["bytes_scanned"] = nbytes
                for name, um in ctx.udf_runtime.metrics.items():
                    metrics[f"udf.{name}.calls"] = um.batches
                    metrics[f"udf.{name}.rows"] = um.rows
                    metrics[f"udf.{name}.cache_hits"] = um.cache_hits
                    metrics[f"udf.{name}.calls_saved"] = um.cache_hits + um.memo_hits
                    metrics[f"udf.{name}.seconds"] = um.seconds
                metrics.update(ctx.run_metrics)
                rec.params.update(ctx.run_params)
                rec.artifacts.update(ctx.run_artifacts)
                if self.kind != "EXPLAIN ANALYZE":
                    rec.artifacts["plan.txt"] = lambda: render_physical(op, ctx, True)
        tracker.submit(rec)
