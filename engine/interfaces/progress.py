"""A progress bar for long statements in the shell (10/11): how much of the rows the statement's
scans will read they have read, as DuckDB's CLI shows it.

The statement runs on the calling thread as always (so Ctrl-C still cancels it); a watcher thread
wakes every 0.1 s, and once the statement has run ``DELAY`` seconds draws a bar on stderr with
rich (transient: it disappears when the statement ends, before its result prints). The fraction
is the rows read so far by the plan's scans over the rows their sources hold
(``ScanExec.expected_rows``); a plan with no scan of known size shows a pulsing bar. Nothing is
added to the operators' work: the watcher only reads counters the scans keep anyway.
"""
from __future__ import annotations

import sys
import threading

DELAY = 0.7      # seconds before a bar appears: short statements never show one


def scan_fraction(ctx) -> float | None:
    """Rows read / rows to read over the scans of the statement's physical plan, or None."""
    from engine.physical.scan import ScanExec
    root = getattr(ctx, "root", None) if ctx is not None else None
    if root is None:
        return None
    read = total = 0
    stack = [root]
    while stack:
        op = stack.pop()
        if isinstance(op, ScanExec) and op.expected_rows:
            total += op.expected_rows
            read += min(op.stats.rows_read, op.expected_rows)
        stack.extend(op.children())
    return read / total if total else None


class StatementProgress:
    """``with StatementProgress(session): ...`` around a statement's run (see the module doc)."""

    def __init__(self, session, file=None, delay: float = DELAY) -> None:
        self.session, self.delay = session, delay
        self.file = file or sys.stderr
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "StatementProgress":
        self.session.active_ctx = None
        self._thread = threading.Thread(target=self._watch, name="dawn-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        if self._stop.wait(self.delay):
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
        bar = Progress(TextColumn("running"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                       console=Console(file=self.file), transient=True, auto_refresh=False)
        task = bar.add_task("statement", total=None)
        with bar:
            while True:
                f = scan_fraction(getattr(self.session, "active_ctx", None))
                if f is not None:
                    bar.update(task, total=100, completed=round(100 * f, 1))
                bar.refresh()
                if self._stop.wait(0.1):
                    return
