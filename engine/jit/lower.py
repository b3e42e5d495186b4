"""Which physical pipelines the JIT fuses: ``ScanExec -> (FilterExec | ProjectExec)* -> HashAggregateExec``.

``lower(agg)`` walks down from an aggregate through the filters and projections to the scan,
pushing the aggregate's arguments and group keys through each projection (``substitute``) and
collecting every filter conjunct (the scan's pushed filters included), so the template reads only
the scan's columns. It checks what can be known before data arrives (aggregate kinds, expression
kinds, column types, the source); a chunk's physical types are checked when it comes
(``codegen.plan_kernel``). Anything else raises ``Unsupported`` with the reason EXPLAIN shows.
"""
from __future__ import annotations

import pyarrow as pa

from engine.jit.codegen import plan_kernel
from engine.jit.kernel import AGGS, ColSig, Template, Unsupported
from engine.plan.expressions import ColumnRef, Expr, conjuncts, substitute

# sources whose scan is a plain stream of batches (video decodes lazily, table functions run code)
SOURCES = ("arrow", "parquet", "csv", "stored", "series")


def plan_signature(t: pa.DataType) -> ColSig:
    """A column's likely physical form, from its plan type (for the check before any data)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return ColSig("dict32")
    if pa.types.is_boolean(t):
        return ColSig("bool")
    if pa.types.is_date32(t):
        return ColSig("date")
    if t == pa.float64():
        return ColSig("f64")
    if pa.types.is_integer(t) and pa.types.is_signed_integer(t):
        return ColSig(f"i{t.bit_width}")
    raise Unsupported(f"column type {t}")


def scan_columns(roots: list[Expr], scan) -> tuple[list[str], list[pa.DataType]]:
    """The scan columns (``#id`` keys, first use first) the expressions read, and their types;
    Unsupported if one reads a column the scan does not."""
    keys = set(scan.keys[c] for c in scan.columns)
    used: list[str] = []
    for e in roots:
        for x in e.walk():
            if isinstance(x, ColumnRef):
                if x.key not in keys:
                    raise Unsupported(f"column {x.sql()} is not read by the scan")
                if x.key not in used:
                    used.append(x.key)
    return used, [scan.schema().field(k).type for k in used]


def lower(agg) -> tuple[Template, object, list]:
    """(template, the scan, the fused operators top-down) for the chain under ``agg``."""
    from engine.physical.filter import FilterExec
    from engine.physical.project import ProjectExec
    from engine.physical.scan import ScanExec
    fused = [agg]
    for _, a in agg.aggs:
        if a.fn not in AGGS:
            raise Unsupported(f"aggregate {a.fn}")
        if a.distinct or a.filter is not None or a.options:
            raise Unsupported(f"DISTINCT, FILTER or ORDER BY inside {a.fn}")
        if a.fn != "count_star" and len(a.args) != 1:
            raise Unsupported(f"aggregate {a.fn} with {len(a.args)} arguments")
    groups = [e for _, e in agg.groups]
    args = [a.args[0] if a.args else None for _, a in agg.aggs]
    filters: list[Expr] = []
    op = agg.children()[0]
    while isinstance(op, (FilterExec, ProjectExec)):
        fused.append(op)
        if isinstance(op, FilterExec):
            filters.extend(op.parts)
        else:
            mapping = {c.cid: e for c, e in op.exprs}
            groups = [substitute(e, mapping) for e in groups]
            args = [substitute(e, mapping) if e is not None else None for e in args]
            filters = [substitute(e, mapping) for e in filters]
        op = op.children()[0]
    if not isinstance(op, ScanExec):
        raise Unsupported(f"the pipeline starts at {op.name}, not a scan")
    fused.append(op)
    scan = op
    if getattr(scan.source, "kind", "") not in SOURCES:
        raise Unsupported(f"a {getattr(scan.source, 'kind', '?')} source")
    if scan.late and getattr(scan.source, "kind", "") == "video":
        raise Unsupported("a video scan")
    filters = list(scan.filters) + filters
    for g in groups:
        if not isinstance(g, ColumnRef):
            raise Unsupported(f"group key {g.sql()} is not a column")
    used, types = scan_columns(filters + groups + [a for a in args if a is not None], scan)
    t = Template(used, types, filters, groups, [(a.fn, x) for (_, a), x in zip(agg.aggs, args)])
    # the same checks a chunk of the plan's types would meet
    plan_kernel(t, [plan_signature(ty) for ty in types])
    return t, scan, fused
