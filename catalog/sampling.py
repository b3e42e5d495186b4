"""TABLESAMPLE / USING SAMPLE: a table source that yields a sample of another one.

Methods (DuckDB's spelling):

* ``BERNOULLI (p)`` / ``p%``: each row kept with probability p/100, independently;
* ``SYSTEM (p)``: on tables the same as BERNOULLI; on a video, evenly spaced frames (every
  1/p-th), which is what sampling a stream usually means and decodes the fewest frames;
* ``RESERVOIR`` / ``n ROWS``: exactly n rows (all of them if the table has fewer), chosen
  uniformly without replacement.

``REPEATABLE (seed)`` (or ``USING SAMPLE ... (method, seed)``) fixes the random choices. The sample
is taken on the table, before WHERE, as SQL defines it. On a video the chosen frame ids are
handed to the scan's ``pre_filter``, so frames outside the sample are never decoded.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from catalog.sources import TableSource


@dataclass(frozen=True)
class SampleSpec:
    method: str                  # "bernoulli" | "system" | "reservoir"
    percent: float | None = None
    rows: int | None = None
    seed: int | None = None

    def describe(self) -> str:
        size = f"{self.rows} ROWS" if self.rows is not None else f"{self.percent:g}%"
        return f"{self.method.upper()} {size}" + (f" REPEATABLE ({self.seed})" if self.seed is not None else "")


class SampledSource(TableSource):
    """``inner`` sampled by ``spec``; every other attribute is the inner source's."""

    def __init__(self, inner: TableSource, spec: SampleSpec):
        self.inner = inner
        self.spec = spec
        self.schema = inner.schema
        self.kind = inner.kind

    def __getattr__(self, name):  # identity, n_rows, info, ... of a video source
        return getattr(self.__dict__["inner"], name)

    def describe(self) -> str:
        return f"{self.inner.describe()} sampled {self.spec.describe()}"

    def row_count(self) -> int | None:
        n = self.inner.row_count()
        if n is None:
            return None
        if self.spec.rows is not None:
            return min(n, self.spec.rows)
        return int(round(n * self.spec.percent / 100))

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.spec.seed)

    def _chosen(self, n: int) -> np.ndarray | None:
        """Row positions of the sample when they can be chosen up front (sorted), else None."""
        s = self.spec
        if s.rows is not None:
            k = min(n, s.rows)
            return np.sort(self._rng().choice(n, size=k, replace=False)) if k < n else np.arange(n)
        if self.kind == "video" and s.method == "system":
            k = int(round(n * s.percent / 100))
            return np.unique(np.floor(np.arange(k) * (n / k)).astype(np.int64)) if k else np.empty(0, np.int64)
        return None

    def scan(self, columns, prune=None, stats=None, pre_filter=None):
        if self.kind == "video":
            yield from self._scan_video(columns, prune, stats, pre_filter)
            return
        s = self.spec
        chosen = None
        if s.rows is not None:
            n = self.inner.row_count()
            if n is None:  # unknown size: read it all once, then choose
                t = pa.Table.from_batches(list(self.inner.scan(columns, None, stats)))
                pick = self._chosen(t.num_rows)
                yield from t.take(pa.array(pick)).to_batches() or [_empty(t.schema)]
                return
            chosen = self._chosen(n)
            prune = None  # positions refer to the whole table
        rng = self._rng()
        offset = 0
        for b in self.inner.scan(columns, prune, stats):
            n = b.num_rows
            if chosen is not None:
                lo, hi = np.searchsorted(chosen, [offset, offset + n])
                keep = chosen[lo:hi] - offset
            else:
                keep = np.nonzero(rng.random(n) < s.percent / 100)[0]
            offset += n
            yield b.take(pa.array(keep, pa.int64())) if len(keep) != n else b

    def _scan_video(self, columns, prune, stats, pre_filter):
        n = self.inner.n_rows
        chosen = self._chosen(n)
        rng = self._rng() if chosen is None else None
        need_id = "frame_id" not in columns
        cols = list(columns) + (["frame_id"] if need_id else [])

        def sample_filter(meta: pa.RecordBatch):
            ids = meta.column("frame_id").to_numpy()
            if chosen is not None:
                pos = np.nonzero(np.isin(ids, chosen))[0]
            else:
                pos = np.nonzero(rng.random(len(ids)) < self.spec.percent / 100)[0]
            if pre_filter is not None and len(pos):
                sub = pre_filter(meta.take(pa.array(pos)))
                if sub is not None:
                    pos = pos[np.asarray(sub, dtype=np.int64)]
            return pos

        for b in self.inner.scan(cols, prune, stats, pre_filter=sample_filter):
            yield b.select(list(columns)) if need_id else b


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)
