"""SampleExec: TABLESAMPLE / USING SAMPLE, emitting each sampled row with its inclusion probability.

Methods (DuckDB's spelling):

* ``BERNOULLI (p)`` / ``p%``: each row kept with probability p/100, independently;
* ``SYSTEM (p)``: on tables the same as BERNOULLI; on a video, evenly spaced frames (every
  1/p-th), which is what sampling a stream usually means and decodes the fewest frames;
* ``RESERVOIR`` / ``n ROWS``: exactly n rows (all of them if the table has fewer), chosen
  uniformly without replacement.

``REPEATABLE (seed)`` (or ``USING SAMPLE ... (method, seed)``) fixes the random choices: the same
seed gives the same rows of the same table. The sample is of the table, before WHERE.

Output: the child's columns, then (when the plan reads it) the ``__inclusion_prob`` column
(DOUBLE): the probability that the row is in the sample, p/100 for BERNOULLI and SYSTEM on a
table, n/N for RESERVOIR of n out of N rows, k/N for the k evenly spaced frames of a SYSTEM
sample of an N-frame video. ``sum(x / __inclusion_prob)`` is the Horvitz-Thompson estimate of
``sum(x)`` over the whole table; an estimator (BlazeIt, SUPG) reads the column like any other.

When the rows can be chosen before reading (RESERVOIR of a table of known size, SYSTEM on a
video, any sample of a source that ``prefers_take``), SampleExec reads only them through the
source's ``take(positions)``, driving its scan child's source directly (and recording what it
read on that child, so EXPLAIN ANALYZE shows it there); otherwise it streams the child and keeps
rows with a Bernoulli mask drawn batch by batch (the draws are the same whatever the batch
sizes, so a seed picks the same rows of a table however it is read). Under a WHERE, a sample of
a video tests the conjuncts that read no pixels before decoding (``screen_sample``).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from catalog.sources import ScanStats
from engine.physical.operator import SINK, STREAM, Operator, collect, table_batches
from engine.physical.scan import ScanExec
from engine.plan.nodes import SampleSpec


def chosen_positions(spec: SampleSpec, n: int, evenly_spaced: bool) -> np.ndarray | None:
    """The sampled row positions out of ``n`` (ascending) when they are chosen up front:
    RESERVOIR, and SYSTEM on a video (``evenly_spaced``); None for a Bernoulli draw."""
    if spec.rows is not None:
        k = min(n, spec.rows)
        if evenly_spaced and k:  # SYSTEM (k) on a video: k frames at equal gaps
            return np.floor(np.arange(k) * (n / k)).astype(np.int64)
        if k < n:
            return np.sort(np.random.default_rng(spec.seed).choice(n, size=k, replace=False))
        return np.arange(n, dtype=np.int64)
    if evenly_spaced:
        k = int(round(n * spec.percent / 100))
        return np.floor(np.arange(k) * (n / k)).astype(np.int64) if k else np.empty(0, np.int64)
    return None


class SampleExec(Operator):
    """The sample of ``child``; ``prob_key`` is the output key of ``__inclusion_prob`` or None
    when the plan does not read it. ``evenly_spaced``: SYSTEM on a video (frames at equal gaps)."""

    def __init__(self, child: Operator, spec: SampleSpec, prob_key: str | None,
                 evenly_spaced: bool = False, **kw):
        schema = child.schema()
        if prob_key is not None:
            schema = schema.append(pa.field(prob_key, pa.float64()))
        super().__init__(schema, (child,), **kw)
        self.spec = spec
        self.prob_key = prob_key
        self.evenly_spaced = evenly_spaced and spec.method == "system"
        # conjuncts of the WHERE above that read no pixels: tested on the chosen frames'
        # frame_id/ts before any is decoded (the filter above still applies them all)
        self.screen: list = []

    def _upfront(self) -> bool:
        """Are the sampled rows chosen before any is read (else a Bernoulli mask streams)?"""
        scan = self._direct()
        return self.spec.rows is not None or self.evenly_spaced or \
            (scan is not None and getattr(scan.source, "prefers_take", False))

    def child_roles(self) -> tuple[str, ...]:
        """A Bernoulli mask streams the child's batches through; a sample chosen up front
        gathers (or takes by position) before it emits, so a pipeline ends here."""
        return (STREAM,) if not self._upfront() else (SINK,)

    def params(self) -> str:
        s = f"sample={self.spec.describe()}"
        return s + (f" inclusion_prob=__inclusion_prob{self.prob_key}" if self.prob_key else "")

    def _direct(self) -> ScanExec | None:
        """The scan child whose source SampleExec may read by position itself."""
        c = self._children[0]
        return c if isinstance(c, ScanExec) and not c.filters else None

    def _with_prob(self, b: pa.RecordBatch, p: float) -> pa.RecordBatch:
        if self.prob_key is None:
            return b
        return pa.RecordBatch.from_arrays(list(b.columns) + [pa.array(np.full(b.num_rows, p))],
                                          schema=self._schema)

    def _execute(self, ctx) -> Iterator[pa.RecordBatch]:
        spec, scan = self.spec, self._direct()
        n = scan.source.row_count() if scan is not None else None
        upfront = self._upfront()
        if upfront and n is not None:
            pos = chosen_positions(spec, n, self.evenly_spaced)
            if pos is None:  # Bernoulli over a source that would rather be read by position
                pos = np.nonzero(np.random.default_rng(spec.seed).random(n) < spec.percent / 100)[0]
            p = self._probability(len(pos), n)  # of the sample, before any screening
            if self.screen:
                pos = self._screened(scan, pos, ctx)
            for b in self._take(scan, pos, ctx):
                yield self._with_prob(b, p)
            return
        child = self._children[0]
        if upfront:  # size unknown: read it all once, then choose
            t = collect(child, ctx)
            pos = chosen_positions(spec, t.num_rows, self.evenly_spaced)
            p = self._probability(len(pos), t.num_rows)
            for b in table_batches(t.take(pa.array(pos, pa.int64()))):
                yield self._with_prob(b, p)
            return
        rng, p = np.random.default_rng(spec.seed), spec.percent / 100
        for b in child.execute(ctx):
            keep = np.nonzero(rng.random(b.num_rows) < p)[0]
            yield self._with_prob(b.take(pa.array(keep, pa.int64())) if len(keep) != b.num_rows else b, p)

    def _probability(self, k: int, n: int) -> float:
        """Each row's chance of being in the sample: p/100 for a Bernoulli draw, else the
        fraction of the rows chosen."""
        if self.spec.rows is None and not self.evenly_spaced:
            return self.spec.percent / 100
        return k / n if n else 1.0

    def _screened(self, scan: ScanExec, pos: np.ndarray, ctx) -> np.ndarray:
        """The positions of ``pos`` whose cheap columns pass ``screen``."""
        from engine.physical.filter import apply_conjuncts
        cols = [c for c in scan.columns if c != "frame"]
        schema = pa.schema([scan.schema().field(scan.keys[c]) for c in cols])
        counts = [[0, 0] for _ in self.screen]
        keep = []
        for b in scan.source.take(pos, cols):
            b = pa.RecordBatch.from_arrays(b.columns, schema=schema)
            b = b.append_column("__row", pa.array(np.arange(b.num_rows) + sum(len(k) for k in keep)))
            keep.append(apply_conjuncts(b, self.screen, counts, ctx).column("__row").to_numpy())
        return pos[np.concatenate(keep)] if keep else pos[:0]

    def _take(self, scan: ScanExec, pos: np.ndarray, ctx) -> Iterator[pa.RecordBatch]:
        """The rows at ``pos`` read through the scan's source, counted on the scan."""
        stats = ScanStats()
        m = ctx.metrics_for(scan)
        m.extra["scan"] = stats
        schema = scan.schema()
        for b in scan.source.take(pos, list(scan.columns), stats):
            if b.num_columns:
                b = pa.RecordBatch.from_arrays(b.columns, schema=schema)
            stats.rows_read += b.num_rows
            m.rows += b.num_rows
            m.batches += 1
            yield b


def screen_sample(filter_op: Operator) -> None:
    """Under a WHERE, a sample of a video's frames tests the conjuncts that read no pixels on
    the chosen frames' ids before decoding them. The sample's positions are chosen over the
    whole table first, so the rows and their inclusion probabilities are those of
    sample-then-filter, as SQL defines it; only fewer frames are decoded."""
    from engine.plan.expressions import Call, SubqueryExpr, UdfCall
    from engine.plan.functions.names import VOLATILE
    child = filter_op.children()[0]
    if not isinstance(child, SampleExec):
        return
    scan = child._direct()
    if scan is None or not getattr(scan.source, "prefers_take", False) or "frame" not in scan.columns:
        return
    cheap = {scan.keys[c] for c in scan.columns if c != "frame"}

    def plain(e) -> bool:
        return not any(isinstance(x, (UdfCall, SubqueryExpr)) or (isinstance(x, Call) and x.fn in VOLATILE)
                       for x in e.walk())
    child.screen = [p for p in filter_op.parts
                    if p.columns() and all(f"#{c}" in cheap for c in p.columns()) and plain(p)]
