"""HashJoinExec: equi-joins through Arrow's C++ hash join, plus residual (non-equi) conditions.

The right input is the build side (the optimizer puts the smaller input there): it is read whole.
The left input is probed chunk by chunk as it arrives, so a LIMIT above the join stops the probe
side early; RIGHT and FULL joins remember which build rows matched and NULL-extend the others
after the last chunk. Only key columns and row numbers go through the hash join; payload columns are gathered with
``take`` afterwards, so any column type (tensors, lists) can ride along. Without a residual, each
join kind maps directly onto Arrow's join types; with one, matched pairs are filtered by the
residual and the join kind is finished from those pairs (NULL-extending for outer joins).
"""
from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.physical.evaluate import evaluate_array, evaluate_mask, hash_key
from engine.physical.join_common import finish_join
from engine.physical.join_index import JoinIndex
from engine.physical.operator import Operator, collect, table_batches, SINK, STREAM
from engine.physical.sort import as_batch

_ARROW_KIND = {"inner": "inner", "left": "left outer", "right": "right outer",
               "full": "full outer", "semi": "left semi", "anti": "left anti"}
# the same join with its inputs swapped (Arrow builds its hash table on the right input)
_SWAPPED = {"inner": "inner", "left outer": "right outer", "right outer": "left outer",
            "full outer": "full outer", "left semi": "right semi", "left anti": "right anti"}


def arrow_join(lk: pa.Table, rk: pa.Table, lnames, rnames, join_type: str) -> pa.Table:
    """Arrow's hash join, building on the smaller input: a semi join of 57k orders against 3.8M
    lineitems takes 17 ms built on the orders and 210 ms built on the lineitems."""
    if rk.num_rows > lk.num_rows:
        return rk.join(lk, keys=rnames, right_keys=lnames, join_type=_SWAPPED[join_type],
                       use_threads=False, coalesce_keys=False)
    return lk.join(rk, keys=lnames, right_keys=rnames, join_type=join_type, use_threads=False,
                   coalesce_keys=False)


# Probe rows per Arrow join call: the build side's hash table is rebuilt on each call, so a chunk
# holds several times the build side's rows (the rebuilds cost at most a quarter of the probing)
# and at least 65,536 (one call covers most inputs, as when the probe side was read whole).
PROBE_CHUNK_MIN = 1 << 16
BUILD_FACTOR = 4
# Output rows one call aims at when build keys repeat: a join that multiplies rows (a cross join
# in disguise, 29k x 29k rows on 13 keys) then streams in bounded pieces instead of gathering 44M
# rows at once (1.9 GB, and first-touch page faults that made it 5x slower than later runs).
OUTPUT_CHUNK = 1 << 20
# later probe chunks grow by this factor up to PROBE_CHUNK_MAX rows (or the fan-out bound)
GROWTH = 4
PROBE_CHUNK_MAX = 1 << 22


def probe_chunk_rows(build_rows: int, fanout: float) -> int:
    """Probe rows per call: the default, fewer where each probe row matches ``fanout`` build
    rows on average, but never so few that rebuilding the hash table dominates."""
    default = max(PROBE_CHUNK_MIN, BUILD_FACTOR * build_rows)
    if fanout <= 1.0:
        return default
    return max(1, min(default, int(max(OUTPUT_CHUNK, BUILD_FACTOR * build_rows) / fanout)))


def _build_fanout(key, sample: int = 1 << 14) -> float:
    """Build rows per distinct first key among the first ``sample`` build rows: what a matching
    probe row multiplies into (exact where few keys repeat, the case that matters; an upper bound
    when there are several keys). A prefix, so it costs microseconds on a 4M-row build side."""
    n = min(len(key), sample)
    if n < 2:
        return 1.0
    try:
        return n / max(1, pc.count_distinct(key.slice(0, n)).as_py())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # a key type without a hash kernel
        return 1.0


def _probe_chunks(first: pa.RecordBatch | None, rest, schema: pa.Schema, target: int,
                  cap: int | None = None):
    """The probe side's batches (``first``, then ``rest``) gathered into tables of ``target``
    rows, each chunk after the first GROWTH times the one before up to ``cap`` (the last may be
    smaller; a larger batch is sliced), pulled only as needed: a LIMIT above stops after a small
    first chunk, while a long probe side takes few calls (each has a fixed cost)."""
    if first is None:
        return
    cap = max(target, cap or target)
    parts, n = [], 0
    for b in itertools.chain([first], rest):
        while b.num_rows:
            take = b.slice(0, target - n)
            b = b.slice(take.num_rows)
            parts.append(take)
            n += take.num_rows
            if n >= target:
                yield pa.Table.from_batches(parts, schema=schema)
                parts, n = [], 0
                target = min(cap, target * GROWTH)
    if parts:
        yield pa.Table.from_batches(parts, schema=schema)


# build rows from which SET jit = auto puts sparse keys in the compiled hash table (a first compile
# takes ~10 ms; numpy's HashIndex builds at ~170 ns a row, the compiled loop at ~40)
COMPILED_TABLE_MIN_ROWS = 50_000
# a probe side read whole in one chunk and this many times smaller than the build side is indexed
# instead of it (the build side's keys then probe it)
SWAP_FACTOR = 2
_UNBUILT = object()


def _compiled_table(ctx, build_rows: int) -> bool:
    """SET jit for the join's kernels (the physical layer does not ask the optimizer's cost phase:
    the build side's size is known only now)."""
    from engine import jit
    m = jit.mode(getattr(ctx, "settings", None) or {})
    return m == "on" or (m == "auto" and build_rows >= COMPILED_TABLE_MIN_ROWS)


class HashJoinExec(Operator):
    ROLES = (STREAM, SINK)  # the left side probes batch by batch; the right side is built
    def __init__(self, left: Operator, right: Operator, kind: str, left_keys, right_keys,
                 residual, schema: pa.Schema, **kw):
        super().__init__(schema, (left, right), **kw)
        self.kind = kind
        self.left_keys = left_keys
        self.right_keys = right_keys
        self.residual = residual

    @property
    def probe_kind(self) -> str:
        """The join kind for one probe chunk: a build row's match is only final after the last
        chunk, so RIGHT and FULL joins probe as INNER and LEFT and NULL-extend the rest at the end."""
        return {"right": "inner", "full": "left"}.get(self.kind, self.kind)

    def params(self) -> str:
        keys = ", ".join(f"{a.sql()} = {b.sql()}" for a, b in zip(self.left_keys, self.right_keys))
        s = f"kind={self.kind} keys=[{keys}]"
        return s + (f" residual={self.residual.sql()}" if self.residual is not None else "")

    @staticmethod
    def _key_columns(t: pa.Table, keys, ctx) -> list[pa.Array]:
        need = {f"#{c}" for k in keys for c in k.columns()}
        b = as_batch(t.select([f.name for f in t.schema if f.name in need]))  # the keys' columns
        return [hash_key(evaluate_array(k, b, ctx)) for k in keys]

    @staticmethod
    def _key_table(cols: list[pa.Array], prefix: str) -> pa.Table:
        t = {f"{prefix}{i}": c for i, c in enumerate(cols)}
        t[f"{prefix}_row"] = pa.array(np.arange(len(cols[0]) if cols else 0, dtype=np.int64))
        return pa.table(t)

    def _execute(self, ctx):
        probe_op, build_op = self._children
        probe = probe_op.execute(ctx)
        first = next((b for b in probe if b.num_rows), None)  # the probe's first rows, if any
        if first is None and self.kind in ("inner", "left", "semi", "anti"):
            # nothing to probe with: the build side is never run
            yield from table_batches(self._schema.empty_table())
            return
        probe, kf = self._read_ahead(first, probe, build_op, ctx)
        try:
            right = collect(build_op, ctx)
        finally:
            for k in kf:
                ctx.key_filters.pop(k, None)
        if right.num_rows == 0 and self.kind in ("inner", "right", "semi"):
            yield from table_batches(self._schema.empty_table())  # no probe row can match
            return
        if any(c.num_chunks > 1 for c in right.columns):
            right = right.combine_chunks()  # gathered from for every probe chunk: once, not each time
        rcols = self._key_columns(right, self.right_keys, ctx)
        # unmatched build rows are NULL-extended once every probe row has had its chance
        hit = np.zeros(right.num_rows, dtype=bool) if self.kind in ("right", "full") else None
        # a semi or anti join emits at most its probe rows: no fan-out to bound
        fanout = 1.0 if self.kind in ("semi", "anti") or not rcols else _build_fanout(rcols[0])
        target = probe_chunk_rows(right.num_rows, fanout)
        emitted = False
        cap = target if fanout > 1.0 else max(target, PROBE_CHUNK_MAX)
        index = _UNBUILT  # integer keys: the build side indexed once for every probe chunk
        for left in _probe_chunks(first, probe, probe_op.schema(), target, cap):
            out = None
            if index is _UNBUILT and left.num_rows < target and \
                    right.num_rows > SWAP_FACTOR * left.num_rows:
                # the whole probe side, much smaller than the build side: index it instead
                out = self._probe_swapped(left, right, rcols, hit, ctx)
            if out is None:
                if index is _UNBUILT:
                    index = JoinIndex.build(
                        rcols, compiled=_compiled_table(ctx, right.num_rows),
                        exists=self.kind in ("semi", "anti") and self.residual is None)
                    if ctx.analyze:
                        ctx.metrics_for(self).extra["index"] = \
                            index.layout if index is not None else "arrow"
                out = self._probe(left, right, rcols, index, hit, ctx)
            if out.num_rows:
                emitted = True
                yield from table_batches(out)
        if hit is not None and not hit.all():
            miss = pa.array(np.nonzero(~hit)[0])
            nl = len(probe_op.schema())
            cols = [pa.nulls(len(miss), f.type) for f in self._schema][:nl] + \
                [c.take(miss) for c in right.columns]
            emitted = True
            yield from table_batches(pa.Table.from_arrays(cols, schema=self._schema))
        if not emitted:
            yield from table_batches(self._schema.empty_table())

    def _read_ahead(self, first, probe, build_op, ctx):
        """(the probe stream, the ``ctx.key_filters`` entries made): where the build side can be
        filtered by the probe side's keys (engine/physical/key_filter.py) and the probe side is
        small against it, the probe side is read whole first and its keys left for the build
        side's scan."""
        from engine.physical import key_filter as K
        if first is None or self.kind not in ("inner", "left", "semi", "anti"):
            return probe, []
        where = K.route(build_op, list(self.right_keys))
        if where is None:
            return probe, []
        scan, keys = where
        if scan.est_rows is None or scan.est_rows < K.GAIN * first.num_rows:
            return probe, []
        ahead, n = [first], first.num_rows
        for b in probe:
            ahead.append(b)
            n += b.num_rows
            if n > K.PROBE_ROWS or scan.est_rows < K.GAIN * n:
                return itertools.chain(ahead[1:], probe), []  # not small: as before
        rest = iter(ahead[1:])
        t = pa.Table.from_batches(ahead, schema=ahead[0].schema)
        index = JoinIndex.build(self._key_columns(t, self.left_keys, ctx), exists=True)
        if index is None:
            return rest, []
        ctx.key_filters[id(scan)] = K.KeyFilter(keys, index)
        return rest, [id(scan)]

    def _probe_swapped(self, left: pa.Table, right: pa.Table, rcols, hit, ctx) -> pa.Table | None:
        """The join of the whole probe side ``left`` with the build side, the index built on
        ``left`` and probed with the build side's keys (None where the keys cannot be indexed).
        Arrow's join swapped sides too: 57k orders semi-joined to 3.8M lineitems took 17 ms
        built on the orders and 210 ms on the lineitems."""
        lcols = self._key_columns(left, self.left_keys, ctx)
        index = JoinIndex.build(lcols, compiled=_compiled_table(ctx, left.num_rows))
        pairs = index.probe(rcols) if index is not None else None
        if pairs is None:
            return None
        if ctx.analyze:
            ctx.metrics_for(self).extra["index"] = index.layout + " (on the probe side)"
        ri, li = pairs
        return self._finish(left, right, li, ri, hit, ctx, ascending=False)

    def _finish(self, left, right, li, ri, hit, ctx, ascending: bool) -> pa.Table:
        """The output for a probe chunk's matching key pairs (li[i], ri[i]): the residual
        applied, the build rows matched marked in ``hit`` (RIGHT and FULL joins)."""
        if self.residual is not None:
            li, ri = filter_pairs(self.residual, left, right, li, ri,
                                  self._pair_schema(left, right), ctx)
        if hit is not None:
            hit[ri] = True
        return finish_join(self.probe_kind, left, right, li, ri, self._schema, ascending=ascending)

    def _probe(self, left: pa.Table, right: pa.Table, rcols, index: JoinIndex | None,
               hit: np.ndarray | None, ctx) -> pa.Table:
        """The join output for one chunk of probe rows ``left`` against the whole build side;
        for RIGHT and FULL joins, marks the build rows matched in ``hit`` (their unmatched
        rows are emitted after the last chunk)."""
        lcols = self._key_columns(left, self.left_keys, ctx)
        pairs = index.probe(lcols) if index is not None else None
        if pairs is not None:
            return self._finish(left, right, pairs[0], pairs[1], hit, ctx, ascending=True)
        probe_kind = self.probe_kind
        lk, rk = self._key_table(lcols, "l"), self._key_table(rcols, "r")
        lnames = [f"l{i}" for i in range(len(self.left_keys))]
        rnames = [f"r{i}" for i in range(len(self.right_keys))]
        kind = self.kind
        if self.residual is None and kind in ("semi", "anti"):
            j = arrow_join(lk, rk, lnames, rnames, _ARROW_KIND[kind])
            rows = np.sort(j.column("l_row").to_numpy())
            out = left.take(pa.array(rows))
            return pa.Table.from_arrays(out.columns, schema=self._schema)
        if self.residual is None:
            j = arrow_join(lk, rk, lnames, rnames, _ARROW_KIND[probe_kind])
            li, ri = j.column("l_row"), j.column("r_row")
            if hit is not None:
                hit[ri.drop_null().to_numpy()] = True
            cols = [c.take(li) for c in left.columns] + [c.take(ri) for c in right.columns]
            return pa.Table.from_arrays(cols, schema=self._schema)
        j = arrow_join(lk, rk, lnames, rnames, "inner")
        li = j.column("l_row").to_numpy()
        ri = j.column("r_row").to_numpy()
        li, ri = filter_pairs(self.residual, left, right, li, ri, self._pair_schema(left, right), ctx)
        if hit is not None:
            hit[ri] = True
        return finish_join(probe_kind, left, right, li, ri, self._schema)

    @staticmethod
    def _pair_schema(left: pa.Table, right: pa.Table) -> pa.Schema:
        return pa.schema(list(left.schema) + list(right.schema))


def pair_batch(cond, left: pa.Table, right: pa.Table, li: pa.Array, ri: pa.Array) -> pa.RecordBatch:
    """The columns ``cond`` reads, gathered for the candidate pairs (li[i], ri[i])."""
    need = {f"#{c}" for c in cond.columns()}
    fields, cols = [], []
    for t, idx in ((left, li), (right, ri)):
        for f, c in zip(t.schema, t.columns):
            if f.name in need:
                fields.append(f)
                cols.append(c.take(idx).combine_chunks())
    if not cols:
        return pa.record_batch({"__n": pa.nulls(len(li))}).select([])
    return pa.RecordBatch.from_arrays(cols, schema=pa.schema(fields))


def pair_mask(cond, left: pa.Table, right: pa.Table, li: pa.Array, ri: pa.Array, ctx):
    """``cond`` over the pairs as a filter: True, False or a BOOLEAN array (NULL is false)."""
    m = evaluate_mask(cond, pair_batch(cond, left, right, li, ri), ctx)
    if isinstance(m, pa.Array) and m.null_count:
        m = pc.fill_null(m, False)
    return m


def filter_pairs(cond, left: pa.Table, right: pa.Table, li: np.ndarray, ri: np.ndarray,
                 schema: pa.Schema, ctx, chunk: int = 1 << 20):
    """Keep the candidate pairs on which ``cond`` is TRUE (in chunks, to bound memory); only the
    columns the condition reads are gathered."""
    keep_l, keep_r = [], []
    for s in range(0, len(li), chunk):
        a, b = pa.array(li[s:s + chunk]), pa.array(ri[s:s + chunk])
        m = pair_mask(cond, left, right, a, b, ctx)
        if m is True:
            keep_l.append(a)
            keep_r.append(b)
        elif m is not False:
            keep_l.append(pc.filter(a, m))
            keep_r.append(pc.filter(b, m))
    if not keep_l:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    return (np.concatenate([x.to_numpy() for x in keep_l]),
            np.concatenate([x.to_numpy() for x in keep_r]))
