"""FilterExec: keep rows whose predicate is TRUE (NULL and FALSE drop the row), batch by batch."""
from __future__ import annotations

from engine.physical.evaluate import evaluate_mask
from engine.physical.operator import Operator


class FilterExec(Operator):
    def __init__(self, child: Operator, predicate, **kw):
        super().__init__(child.schema(), (child,), **kw)
        self.predicate = predicate

    def params(self) -> str:
        return f"predicate={self.predicate.sql()}"

    def _execute(self, ctx):
        emitted = False
        last = None
        for b in self._children[0].execute(ctx):
            last = b
            if not b.num_rows:
                continue
            m = evaluate_mask(self.predicate, b, ctx)
            if m is False:
                continue
            out = b if m is True else b.filter(m)
            if out.num_rows:
                emitted = True
                yield out
        if not emitted:
            yield self.empty_batch() if self._schema else (last.slice(0, 0) if last is not None else self.empty_batch())
