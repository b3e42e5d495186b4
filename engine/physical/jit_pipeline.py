"""JitPipelineExec: a ``scan -> filters -> projections -> aggregate`` pipeline run as one compiled loop.

The planner puts it in place of a HashAggregateExec when the optimizer chose to compile the
aggregate's pipeline (annotation ``jit``; engine/optimizer/cost/compile_choice.py) and
engine/jit/lower.py can fuse it. It keeps the operators it replaced: when a chunk shows
something the kernels cannot take (a type, too many groups, an overflow) it runs them instead,
from the start, before emitting anything, so the answer is always the vectorized path's. It is a
source (its pipeline's operators are inside it); EXPLAIN shows which operators it fused, EXPLAIN
ANALYZE its compile time, whether the machine code came from a cache, and the loop's time.
"""
from __future__ import annotations

from engine.physical.operator import Operator


class JitPipelineExec(Operator):
    ROLES = ()

    def __init__(self, agg: Operator, template, scan: Operator, fused: list[Operator]):
        super().__init__(agg.schema(), (), est_rows=agg.est_rows, est_cost=agg.est_cost)
        self.agg, self.template, self.scan, self.fused = agg, template, scan, fused
        self.table = scan.table
        self.fallback_reason: str | None = None

    def fused_names(self) -> str:
        from engine.physical.pipelines import label
        return " -> ".join(label(o) for o in reversed(self.fused))

    def params(self) -> str:
        s = f"compiled=[{self.fused_names()}] {self.agg.params()}"
        conj = self.template.filters
        if conj:
            from engine.physical.filter import describe_conjuncts
            s += " filters=" + describe_conjuncts(list(conj))
        return s

    def _execute(self, ctx):
        from engine.jit.kernel import Unsupported
        from engine.jit.execute import RunStats, run
        from engine.physical.operator import table_batches
        stats = RunStats()
        m = ctx.metrics_for(self)
        try:
            table = run(self.template, self.scan, self.agg, ctx, stats)
        except Unsupported as e:
            self.fallback_reason = str(e)
            m.extra["jit"] = f"fell back at run time: {e}"
            m.extra["scan"] = self.scan.stats
            yield from self.agg.execute(ctx)
            return
        m.extra["jit"] = stats.describe()
        m.extra["scan"] = self.scan.stats
        yield from table_batches(table)


def fuse(agg: Operator) -> Operator:
    """``agg`` as a JitPipelineExec when its pipeline can be compiled; else ``agg``, noting why
    (EXPLAIN prints it)."""
    from engine.jit.kernel import Unsupported
    from engine.jit.lower import lower
    try:
        template, scan, fused = lower(agg)
    except Unsupported as e:
        agg.jit_note = f"not compiled: {e}"
        return agg
    except ImportError as e:  # llvmlite missing: the vectorized path serves
        agg.jit_note = f"not compiled: {e}"
        return agg
    return JitPipelineExec(agg, template, scan, fused)
