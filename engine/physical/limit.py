"""LimitExec: skip OFFSET rows, pass LIMIT rows, and stop pulling its input once done."""
from __future__ import annotations

from engine.physical.operator import Operator


class LimitExec(Operator):
    def __init__(self, child: Operator, limit: int | None, offset: int = 0, **kw):
        super().__init__(child.schema(), (child,), **kw)
        self.limit = limit
        self.offset = offset

    def params(self) -> str:
        return f"limit={self.limit} offset={self.offset}"

    def _execute(self, ctx):
        skip = self.offset
        left = self.limit
        emitted = False
        if left == 0:
            yield self.empty_batch()
            return
        for b in self._children[0].execute(ctx):
            if skip:
                if b.num_rows <= skip:
                    skip -= b.num_rows
                    continue
                b = b.slice(skip)
                skip = 0
            if left is not None:
                if b.num_rows >= left:
                    yield b.slice(0, left)
                    return
                left -= b.num_rows
            emitted = True
            yield b
        if not emitted:
            yield self.empty_batch()
