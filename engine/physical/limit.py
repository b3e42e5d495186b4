"""LimitExec: skip OFFSET rows, pass LIMIT rows, and stop pulling its input once done."""
from __future__ import annotations

from engine.physical.operator import Operator, SINK, STREAM


class LimitExec(Operator):
    def child_roles(self) -> tuple[str, ...]:
        # LIMIT p% needs the input's row count, so it reads the input whole
        return (SINK,) if self.percent is not None else (STREAM,)

    def __init__(self, child: Operator, limit: int | None, offset: int = 0,
                 percent: float | None = None, **kw):
        super().__init__(child.schema(), (child,), **kw)
        self.limit = limit
        self.offset = offset
        self.percent = percent  # LIMIT p%: the share of all input rows, so the input is read whole

    def params(self) -> str:
        shown = f"{self.percent:g}%" if self.percent is not None else self.limit
        return f"limit={shown} offset={self.offset}"

    def _execute(self, ctx):
        if self.percent is not None:
            batches = list(self._children[0].execute(ctx))
            total = sum(b.num_rows for b in batches)
            n = int(total * self.percent / 100.0)
            yield from _limited(iter(batches), n, self.offset, self.empty_batch)
            return
        yield from _limited(self._children[0].execute(ctx), self.limit, self.offset, self.empty_batch)


def _limited(batches, limit: int | None, offset: int, empty):
    """Skip ``offset`` rows of ``batches``, then pass ``limit`` rows (all if None)."""
    skip = offset
    left = limit
    emitted = False
    if left == 0:
        yield empty()
        return
    for b in batches:
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
        yield empty()
