"""Compiled scan filters: a scan's conjuncts as one LLVM loop that writes a selection vector.

A scan of an in-memory table whose filters are not consumed by a compiled aggregate (they feed a
join, a sort, the result) evaluated each conjunct with an Arrow kernel and filtered the batch
after each: TPC-H Q12's five conjuncts over 6M lineitems took 136 ms. Here the conjuncts are the
template of a kernel whose sink is a selection vector (``kernel.SELECT``: each row writes its
number at the count of rows kept so far, which moves only when every conjunct is TRUE), and the
batch is gathered once by it. The expressions, types, NULL logic, dictionary predicates and
literals-as-parameters are the aggregate pipelines' (engine/jit/codegen.py), so is the code cache.

``lower_filter`` says before any data whether the scan's filters compile (Unsupported names why,
for EXPLAIN); ``batches`` runs them. A chunk whose kernel reports an overflow (an arithmetic
conjunct) is filtered by the vectorized conjuncts instead, so the answer is always theirs.
Only in-memory (registered Arrow) tables: their chunks are prepared once and kept
(engine/jit/execute.py), and their batches line up with those chunks.
"""
from __future__ import annotations

import ctypes

import numpy as np
import pyarrow as pa

from engine.jit.kernel import SELECT, Template, Unsupported

# a chunk whose string predicate's dictionary holds more than one entry per DICT_SHARE rows is
# filtered by the vectorized conjuncts
DICT_SHARE = 8


def lower_filter(scan) -> Template:
    """The template of ``scan``'s filters (raises Unsupported with the reason)."""
    from engine.jit.codegen import plan_kernel
    from engine.jit.lower import plan_signature, scan_columns
    kind = getattr(scan.source, "kind", "")
    if kind != "arrow":
        raise Unsupported(f"a {kind or '?'} source (compiled filters read in-memory tables)")
    if scan.late:
        raise Unsupported("a late-materialized scan")
    if not scan.filters or not scan.columns:
        raise Unsupported("no filter")
    used, types = scan_columns(list(scan.filters), scan)
    t = Template(used, types, list(scan.filters), [], [SELECT])
    plan_kernel(t, [plan_signature(ty) for ty in types])  # the checks a chunk of these types meets
    return t


def attach(scan) -> None:
    """Compile ``scan``'s filters if they can be (else leave EXPLAIN the reason)."""
    try:
        scan._jit_filter = lower_filter(scan)
    except (Unsupported, ImportError) as e:
        scan._jit_note = f"filters not compiled: {e}"


def batches(scan, bound, ctx):
    """``scan``'s batches filtered by the compiled conjuncts (``bound``: the same conjuncts bound
    for the vectorized path, for a chunk the kernel cannot finish), or None when the table's
    batches do not line up with the JIT's prepared chunks (then the vectorized path runs)."""
    from engine.jit.execute import _prepared_chunks
    t = scan.jit_filter
    names = {k: c for c, k in scan.keys.items()}
    table = scan.source.table.select(scan.columns)
    out = [b for b in table.to_batches() if b.num_rows]
    probe = type(scan.stats)()
    saved, scan.stats = scan.stats, probe  # the filter columns' reads are not the scan's
    try:
        chunks = list(_prepared_chunks(scan, [names[k] for k in t.columns]))
    except Unsupported:  # a column type the kernels do not read: the vectorized path
        return None
    finally:
        scan.stats = saved
    if len(chunks) != len(out) or any(c.n != b.num_rows for c, b in zip(chunks, out)):
        return None
    scan.stats.columns_read = list(scan.columns)
    scan.stats.bytes_read += table.nbytes
    return _run(t, scan, bound, ctx, chunks, out)


def _call(t, ch, nodes, kernels, compiled, ctx, count, c_states):
    """(the kernel's return code, the selection vector) for one chunk."""
    from engine.jit.codegen import plan_kernel
    from engine.jit.execute import RunStats, chunk_args, load_kernel, pointers
    kp = plan_kernel(t, ch.sig)
    got = kernels.get(kp.key)
    if got is None:
        loaded = RunStats()
        got = kernels[kp.key] = load_kernel(kp, nodes, loaded)
        compiled["compile_ms"] += loaded.compile_s * 1000
    fn, params = got
    if any(len(ch.prepared[j][2]) * DICT_SHARE > ch.n for _, _, j in kp.aux):
        # a predicate on a string column of mostly distinct values (Q13's o_comment): its truth
        # table costs what the vectorized predicate does, and the kernel comes on top
        raise Unsupported("a string predicate over a dictionary of mostly distinct values")
    aux, gparams = chunk_args(t, kp, ch, nodes, ctx)
    sel = np.empty(ch.n, dtype=np.int32)
    aux.append(sel)  # the sink's vector: the aux pointer after the truth tables
    c_aux = pointers(aux)
    count[0] = 0
    rc = fn(ch.n, ctypes.addressof(ch.c_data), ctypes.addressof(ch.c_valid),
            ctypes.addressof(ch.c_offs), ctypes.addressof(c_aux), params.ctypes.data,
            gparams.ctypes.data, ctypes.addressof(c_states))
    return rc, sel


def _run(t, scan, bound, ctx, chunks, out):
    from engine.physical.filter import apply_conjuncts
    schema = scan.schema()
    m = ctx.metrics_for(scan)
    compiled = m.extra.setdefault("jit_filter", {"chunks": 0, "fallbacks": 0, "compile_ms": 0.0})
    nodes = t.nodes()
    kernels: dict[str, tuple] = {}
    count = np.zeros(1, dtype=np.int64)
    c_states = (ctypes.c_void_p * 1)(count.ctypes.data)
    for ch, b in zip(chunks, out):
        b = pa.RecordBatch.from_arrays(b.columns, schema=schema)
        scan.stats.rows_read += b.num_rows
        try:
            rc, sel = _call(t, ch, nodes, kernels, compiled, ctx, count, c_states)
        except Unsupported:  # this chunk's types, or a predicate failing on its dictionary
            rc, sel = 1, None
        compiled["chunks"] += 1
        if rc:  # the vectorized conjuncts decide (and raise what the statement should)
            compiled["fallbacks"] += 1
            yield apply_conjuncts(b, bound, [[0, 0] for _ in bound], ctx)
            continue
        k = int(count[0])
        yield b if k == b.num_rows else b.take(pa.array(sel[:k]))
