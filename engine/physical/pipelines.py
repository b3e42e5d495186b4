"""Pipelines: a physical plan cut at its sinks (DuckDB's ``Pipeline`` / ``MetaPipeline``).

A pipeline is a chain ``source -> streaming operators -> sink``: the source produces batches
(a scan, VALUES, a CTE read, or a sink emitting what it gathered: an aggregate's groups, a sort's
rows), each streaming operator transforms one batch at a time, and the sink consumes them all (an
aggregate, a sort, a hash join's build side) or, for the plan's root pipeline, the batches are
the statement's result (``sink`` is None). A pipeline can run only after the pipelines it depends
on have finished: the one ending in a hash join's build side before the probe pipeline that
streams through the join, the one that fills a sink before the pipeline that sink starts, a
materialised CTE's body before every pipeline that reads the CTE.

Roles come from the operators (``Operator.child_roles``, engine/physical/operator.py). Pipelines
are numbered in the order they can run (every dependency has a smaller id), so the same plan
always gets the same numbering. Execution stays pull-based (``Operator.execute``); pipelines
describe the plan's shape, for EXPLAIN VERBOSE and as the unit a compiler (issue 11/11) turns
into one fused loop per pipeline. Subquery plans that expressions run are separate plans with
their own pipelines and are not listed here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import InternalError
from engine.physical.operator import SINK, STREAM, Operator


@dataclass
class Pipeline:
    """``source`` -> ``operators`` (streaming, in data-flow order) -> ``sink`` (None: the result).

    ``dependencies``: ids of the pipelines that must finish before this one starts.
    """
    id: int
    source: Operator
    operators: tuple[Operator, ...] = ()
    sink: Operator | None = None
    dependencies: tuple[int, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """``Pipeline 2: ScanExec orders -> FilterExec -> HashJoinExec (sink)``."""
        parts = [label(self.source)] + [label(o) for o in self.operators]
        parts.append(f"{label(self.sink)} (sink)" if self.sink is not None else "result")
        s = f"Pipeline {self.id}: " + " -> ".join(parts)
        if self.dependencies:
            s += "; depends on " + ", ".join(f"Pipeline {d}" for d in self.dependencies)
        return s


def label(op: Operator) -> str:
    """An operator's name in a pipeline line, with the table or CTE it reads."""
    for attr in ("table", "cte_name"):
        v = getattr(op, attr, None)
        if isinstance(v, str) and v:
            return f"{op.name} {v}"
    return op.name


def build_pipelines(root: Operator) -> list[Pipeline]:
    """The pipelines of the plan under ``root``, dependencies first (ids 1, 2, ...)."""
    out: list[Pipeline] = []
    # pipelines ending in a MaterializedCteExec / RecursiveUnionExec, by the CTE key / work-table
    # token their readers (CteScanExec, WorkTableExec) name
    fills: dict[tuple[str, int], list[int]] = {}

    def walk(op: Operator, upper: list[Operator], sink: Operator | None, deps: list[int]) -> None:
        roles = op.child_roles()
        kids = op.children()
        if len(roles) != len(kids):
            raise InternalError(f"{op.name} declares {len(roles)} roles for {len(kids)} children")
        own: list[int] = []  # the pipelines ending in ``op``
        key = _fills_key(op)
        for child, role in zip(kids, roles):
            if role == SINK:
                first = len(out)
                walk(child, [], op, [])
                own += [p.id for p in out[first:] if p.sink is op]
                if key is not None:  # later children (a recursive step) read what is filled
                    fills[key] = list(own)
        reads = _reads_key(op)
        if reads is not None:
            own += fills.get(reads, [])
        deps = deps + [d for d in own if d not in deps]
        streamed = [c for c, r in zip(kids, roles) if r == STREAM]
        if not streamed:
            out.append(Pipeline(len(out) + 1, op, tuple(upper), sink, tuple(deps)))
            return
        for child in streamed:
            walk(child, [op] + upper, sink, deps)

    walk(root, [], None, [])
    return out


def _fills_key(op: Operator) -> tuple[str, int] | None:
    from engine.physical.materialized_cte import MaterializedCteExec
    from engine.physical.recursive_union import RecursiveUnionExec
    if isinstance(op, MaterializedCteExec):
        return ("cte", op.key)
    if isinstance(op, RecursiveUnionExec):
        return ("work", op.token)
    return None


def _reads_key(op: Operator) -> tuple[str, int] | None:
    from engine.physical.materialized_cte import CteScanExec
    from engine.physical.recursive_union import WorkTableExec
    if isinstance(op, CteScanExec):
        return ("cte", op.key)
    if isinstance(op, WorkTableExec):
        return ("work", op.token)
    return None


def render_pipelines(root: Operator) -> str:
    """The ``Pipelines:`` section EXPLAIN VERBOSE prints after the plan, then which pipelines the
    JIT compiled (the operators fused into each loop) and which it was asked to and could not."""
    lines = ["Pipelines:"] + ["  " + p.describe() for p in build_pipelines(root)]
    compiled, not_compiled = [], []

    def walk(op: Operator) -> None:
        fused = getattr(op, "fused_names", None)
        if fused is not None:
            compiled.append(f"  {op.name}: {fused()} (one compiled loop)")
        note = getattr(op, "jit_note", None)
        if note:
            not_compiled.append(f"  {label(op)}: {note}")
        for c in op.children():
            walk(c)
    walk(root)
    if compiled:
        lines += ["Compiled pipelines:"] + compiled
    if not_compiled:
        lines += ["Not compiled (vectorized):"] + not_compiled
    return "\n".join(lines)
