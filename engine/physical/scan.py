"""ScanExec: stream a table source, reading only needed columns and applying pushed filters."""
from __future__ import annotations

import datetime as _dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.sources import ScanStats
from engine.physical.operator import Operator
from engine.plan.expressions import Call, ColumnRef, Expr, InList, Literal

_FLIP = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte", "eq": "eq"}


def prune_terms(filters, names: dict[int, str]) -> list[tuple[str, str, object]]:
    """The ``column op constant`` conjuncts a source can use to skip data (row groups)."""
    out = []
    for f in filters:
        if isinstance(f, Call) and f.fn in _FLIP:
            a, b = f.args
            op = f.fn
            if isinstance(b, ColumnRef) and isinstance(a, Literal):
                a, b, op = b, a, _FLIP[op]
            if isinstance(a, ColumnRef) and isinstance(b, Literal) and b.value is not None \
                    and a.cid in names:
                v = b.value
                if isinstance(v, _dt.datetime) and pa.types.is_date(a.dtype):
                    continue
                if isinstance(v, float) and v != v:
                    continue  # NaN orders above every number in SQL; statistics do not know
                out.append((names[a.cid], op, v))
    return out


def late_prefix(filters: list[Expr], names: dict[int, str],
                columns: list[str]) -> tuple[int, list[str]]:
    """How many leading conjuncts a late-materialising scan evaluates before decoding the rest
    of ``columns``, and the source columns they read: the longest prefix that reads only this
    scan's columns and leaves at least one column to decode later. A prefix keeps the order the
    optimizer chose, so each conjunct still sees only the rows the ones before it passed."""
    wanted = set(columns)
    used: set[str] = set()
    n = 0
    for f in filters:
        cids = f.columns()
        if any(c not in names for c in cids):
            break  # an outer reference: evaluated where the whole row is at hand
        more = used | {names[c] for c in cids}
        if more >= wanted:
            break
        used, n = more, n + 1
    if not used:
        return 0, []
    return n, [c for c in dict.fromkeys(columns) if c in used]


# comparisons and logic over fixed-width values: they cannot fail, call nothing and cost less per
# row than cutting a batch, so a run of them is evaluated on the same rows and cut once
_PURE = frozenset({"eq", "neq", "lt", "lte", "gt", "gte", "is_distinct", "is_not_distinct",
                   "and", "or", "not", "is_null", "is_not_null", "is_true", "is_false"})


def _fixed_width(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_temporal(t) or pa.types.is_null(t))


def _cheap(e: Expr) -> bool:
    if isinstance(e, (ColumnRef, Literal)):
        return _fixed_width(e.dtype)
    if isinstance(e, Call) and e.fn in _PURE:
        return all(_cheap(a) for a in e.args)
    if isinstance(e, InList):
        return all(_cheap(a) for a in e.children())
    return False


def fused_steps(conjuncts: list[Expr]) -> list[list[int]]:
    """The conjuncts cut into steps, in order: a run of cheap ones (see ``_cheap``) is one step,
    any other conjunct a step of its own (it sees only the rows the steps before passed)."""
    steps: list[list[int]] = []
    for i, f in enumerate(conjuncts):
        if steps and _cheap(f) and _cheap(conjuncts[steps[-1][-1]]):
            steps[-1].append(i)
        else:
            steps.append([i])
    return steps


def passing(batch: pa.RecordBatch, bound: list, steps: list[list[int]],
            counts: list[list[int]], ctx) -> pa.Array | None:
    """The rows of ``batch`` that pass every bound conjunct (a NULL does not pass): ``None`` if
    all do, else a BOOLEAN mask when one step cut rows and ascending positions (UINT64) when
    several did. Each conjunct's tested/passed rows are added to ``counts`` (a fused step's to
    each of its own). A mask where it can: Arrow filters by a mask several times faster than it
    takes positions when most rows pass."""
    first = None   # the first step that cut: its mask, over all rows
    pos = None     # once a second step cuts: positions of the rows left
    n = batch.num_rows
    for k, step in enumerate(steps):
        if not n:
            break
        mask = True
        for i in step:
            m = bound[i].mask(batch, ctx)
            if isinstance(m, pa.ChunkedArray):
                m = m.combine_chunks()
            if m is False or mask is True:
                mask = m
            elif m is not True:
                mask = pc.and_kleene(mask, m)
            if mask is False:
                break
        left = 0 if mask is False else n if mask is True else mask.true_count
        for i in step:
            counts[i][0] += n
            counts[i][1] += left
        if mask is False:
            return pa.array(np.zeros(batch.num_rows if first is None else len(first), dtype=bool))
        if mask is not True:
            if first is None:
                first = mask
            else:
                if pos is None:
                    pos = pc.indices_nonzero(first)
                pos = pos.filter(mask)
            if k + 1 < len(steps):  # the rows the next step sees
                batch = batch.filter(mask)
        n = left
    return first if pos is None else pos


def keep_positions(keep: pa.Array | None) -> np.ndarray | None:
    """The positions a ``passing`` result keeps (``None``: all)."""
    if keep is None:
        return None
    if pa.types.is_boolean(keep.type):
        keep = pc.indices_nonzero(keep)
    return keep.to_numpy().astype(np.int64)


def growing(batches, budget: int, most: int = 1 << 17):
    """``batches`` re-cut so the first holds about twice ``budget`` rows (at least 64) and each
    next one four times the one before, up to ``most``."""
    size = max(64, 2 * budget)
    for b in batches:
        start = 0
        while b.num_rows - start > size and size < most:
            yield b.slice(start, size)
            start += size
            size = min(size * 4, most)
        yield b.slice(start) if start else b


class ScanExec(Operator):
    ROLES = ()
    def __init__(self, table: str, source, columns: list[str], out_keys: list[str],
                 filters: tuple[Expr, ...], names: dict[int, str], costs: dict | None = None, **kw):
        schema = pa.schema([pa.field(k, source.schema.field(c).type) for c, k in zip(columns, out_keys)])
        super().__init__(schema, (), **kw)
        self.table = table
        self.source = source
        self.columns = columns
        self.filters = filters
        self.costs = costs or {}
        self.prune = prune_terms(filters, names)
        self.stats = ScanStats()
        self.keys = dict(zip(columns, out_keys))
        # Video: conjuncts that do not read pixels run before frames are decoded.
        self.late = getattr(source, "kind", "") == "video" and "frame" in columns
        frame_key = self.keys.get("frame")
        self.early = [f for f in filters if not self.late or
                      all(("#%d" % c) != frame_key for c in f.columns())]
        self.rest = [f for f in filters if f not in self.early]
        # Late materialisation (Parquet): the leading conjuncts run on the columns they read
        # before the other columns are decoded (see late_prefix)
        self.pre_columns: list[str] | None = None
        if not self.late and getattr(source, "late_materialization", False):
            n, self.pre_columns = late_prefix(list(filters), names, columns)
            if n:
                self.late = True
                self.early, self.rest = list(filters[:n]), list(filters[n:])
        # set by the planner under a LIMIT: the rows that may be all that is needed, so the
        # first batches are small (filters and functions above run on a few rows, not 131,072)
        self.row_budget: int | None = None
        # the filters as one compiled loop, when the optimizer chose it (engine/jit/filter.py):
        # lowered when first asked for, so a scan a compiled aggregate reads itself costs nothing
        self.jit_wanted = False
        self._jit_filter = None
        self._jit_note: str | None = None
        # the rows the source holds, for the shell's progress bar (engine/interfaces/progress.py)
        try:
            self.expected_rows: int | None = source.row_count()
        except Exception:
            self.expected_rows = None

    @property
    def jit_filter(self):
        """The compiled filters' template, or None (then ``jit_note`` may say why)."""
        if self.jit_wanted:
            self.jit_wanted = False
            from engine.jit.filter import attach
            attach(self)
        return self._jit_filter

    @property
    def jit_note(self) -> str | None:
        self.jit_filter  # lowers if wanted
        return self._jit_note

    def params(self) -> str:
        # each source column with the id (``#<id>`` key) it has in the plan
        s = f"table={self.table} columns=[{', '.join(c + self.keys[c] for c in self.columns)}]"
        if self.filters:
            from engine.physical.filter import describe_conjuncts
            s += " filters=" + describe_conjuncts(list(self.filters), self.costs)
            if self.jit_filter is not None:
                s += " (compiled)"
            elif self.jit_note:
                s += f" ({self.jit_note})"
        return s

    def _execute(self, ctx):
        from engine.physical.bound import BoundExpr
        from engine.physical.filter import apply_conjuncts, record_selectivity
        self.stats = ScanStats()
        ctx.metrics_for(self).extra["scan"] = self.stats
        counts_early = [[0, 0] for _ in self.early]
        counts_rest = [[0, 0] for _ in self.rest]
        kwargs = {}
        if self.late and self.early:
            cols = self.pre_columns or [c for c in self.columns if c != "frame"]
            meta_schema = pa.schema([self._schema.field(self.keys[c]) for c in cols])
            bound = [BoundExpr(f, meta_schema) for f in self.early]
            steps = fused_steps(self.early)
            late_source = self.pre_columns is not None

            def pre_filter(meta: pa.RecordBatch):
                if late_source:
                    self.stats.rows_read += meta.num_rows
                b = pa.RecordBatch.from_arrays([meta.column(c) for c in cols], schema=meta_schema)
                keep = passing(b, bound, steps, counts_early, ctx)
                return keep if late_source else keep_positions(keep)
            kwargs["pre_filter"] = pre_filter
            if self.pre_columns is not None:
                kwargs["pre_columns"] = self.pre_columns
        # the filters bound once: to this scan's batch schema, and the pre-filter's to its own
        early = [BoundExpr(f, self._schema) for f in self.early]
        rest = [BoundExpr(f, self._schema) for f in self.rest]
        keyed = ctx.key_filters.get(id(self))  # a hash join's probe keys (key_filter.py)
        if keyed is not None:
            ctx.metrics_for(self).extra["key_filter"] = keyed.counts
        if self.jit_filter is not None and self.row_budget is None:
            from engine.jit import filter as jit_filter
            got = jit_filter.batches(self, early + rest, ctx)
            if got is not None:  # the filters as one compiled loop (engine/jit/filter.py)
                for b in got:
                    if keyed is not None:
                        b = keyed.apply(b)
                    if b.num_rows:
                        yield b
                return
        batches = self.source.scan(self.columns, self.prune, self.stats, **kwargs)
        if self.row_budget is not None:
            batches = growing(batches, self.row_budget)
        for b in batches:
            b = pa.RecordBatch.from_arrays(b.columns, schema=self._schema) if b.num_columns else b
            if "pre_columns" not in kwargs:  # else counted before the filter, by pre_filter
                self.stats.rows_read += b.num_rows
            if b.num_rows:
                if "pre_filter" not in kwargs:
                    b = apply_conjuncts(b, early, counts_early, ctx)
                b = apply_conjuncts(b, rest, counts_rest, ctx)
                if keyed is not None:
                    b = keyed.apply(b)
            if b.num_rows or not self.columns:
                yield b
        record_selectivity(self.early, counts_early, ctx)
        record_selectivity(self.rest, counts_rest, ctx)
