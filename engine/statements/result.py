"""A statement's result: its schema and a stream of record batches that ends the statement.

A query's batches are pulled from the physical plan as the reader asks for them, so the first row
of ``SELECT ... FROM range(100000000)`` arrives before the second batch exists. ``Result`` keeps
what the statement said (row count, EXPLAIN text) and its ``ResultStream``; the stream calls
``on_end`` exactly once, when the last batch has been read, when it is closed early, or when
producing a batch failed: that is where the statement's run is recorded and its caches and UDF
statistics are written (engine/statements/run.py). Everything that reads a result (the DB-API
cursor, ``fetch_arrow_table``, ``fetch_df``, the command line, ``Statement.execute``) reads this
one stream.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa


class ResultStream:
    """Batches of one statement's result, read once, front to back.

    ``prefetch(rows)`` pulls batches ahead until ``rows`` are buffered or the plan is done: a
    statement whose whole answer fits is finished (run recorded, row count known) when
    ``execute`` returns, and errors in its first batches raise there, as users expect."""

    def __init__(self, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                 on_end: Callable[[BaseException | None], None] | None = None,
                 map_error: Callable[[BaseException], BaseException] | None = None):
        self.schema = schema
        self._gen = batches
        self._buffer: list[pa.RecordBatch] = []
        self._on_end = on_end
        self._map_error = map_error
        self.rows = 0          # rows produced by the plan so far
        self.done = False      # the plan produced its last batch (or failed, or was closed)
        self.closed_early = False
        self.reader_owned = False   # handed out as a RecordBatchReader (see settle)
        self._invalidated = False

    # ---- producing
    def _pull(self) -> pa.RecordBatch | None:
        if self.done:
            return None
        try:
            b = next(self._gen)
        except StopIteration:
            self._end(None)
            return None
        except BaseException as e:
            err = self._map_error(e) if self._map_error is not None and isinstance(e, Exception) else e
            self._end(err)
            if err is e:
                raise
            raise err from None
        self.rows += b.num_rows
        return b

    def _end(self, error: BaseException | None) -> None:
        self.done = True
        self._gen = iter(())
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end(error)

    def prefetch(self, rows: int) -> None:
        have = sum(b.num_rows for b in self._buffer)
        while not self.done and have < rows:
            b = self._pull()
            if b is None:
                break
            self._buffer.append(b)
            have += b.num_rows

    def drain(self) -> None:
        """Buffer everything that is left."""
        while not self.done:
            b = self._pull()
            if b is not None:
                self._buffer.append(b)

    def settle(self) -> None:
        """Another statement is about to use the connection. A cursor's result is read into
        memory, so it stays readable (PEP 249 cursors are independent); a RecordBatchReader's
        stream is ended instead (its reader may have been closed and forgotten, and reading a
        huge result into memory nobody reads would be worse): reading it further raises."""
        if self.done:
            return
        if self.reader_owned:
            self.close()
            self._invalidated = True
        else:
            self.drain()

    # ---- reading
    def next_batch(self) -> pa.RecordBatch | None:
        if self._invalidated:
            from engine.errors import InterfaceError
            raise InterfaceError("The result was ended because another statement ran on the "
                                 "connection before it was read to the end; read it first, or "
                                 "use a cursor (whose results stay readable) or a second connection")
        while True:
            if self._buffer:
                return self._buffer.pop(0)
            b = self._pull()
            if b is None:
                return None
            if b.num_rows or self.done:
                return b

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            b = self.next_batch()
            if b is None:
                return
            yield b

    @property
    def complete(self) -> bool:
        """Whether the whole result has been produced (it may still sit in the buffer)."""
        return self.done and not self.closed_early

    def read_all(self) -> pa.Table:
        batches = list(self)
        if len(self.schema) == 0:
            n = sum(b.num_rows for b in batches)
            return pa.table({"__n": pa.nulls(n)}).select([])
        return pa.Table.from_batches(batches, schema=self.schema)

    def reader(self) -> pa.RecordBatchReader:
        """The rest of the stream as a ``pyarrow.RecordBatchReader``; closing it (or reading it to
        the end) ends the statement."""
        stream = self
        self.reader_owned = True

        def gen():
            try:
                yield from stream
            finally:
                stream.close()
        return pa.RecordBatchReader.from_batches(self.schema, gen())

    def close(self) -> None:
        """Stop the statement: the plan stops producing and the run is recorded with the rows
        produced so far."""
        self._buffer = []
        if not self.done:
            self.closed_early = True
            gen = self._gen
            try:
                close = getattr(gen, "close", None)
                if close is not None:
                    close()
            finally:
                self._end(None)


@dataclass
class Result:
    """What one statement returned: a result set (``stream``) or a row count, EXPLAIN's text, and
    the tracked run's id."""
    stream: ResultStream | None = None   # None for statements without a result set
    rowcount: int = -1
    plan_text: str | None = None
    run_id: str | None = None       # the tracked run of the statement (catalog/tracking.py)
    _table: pa.Table | None = None
    # an approximate answer's interval and oracle calls (engine/physical/approx.py), once known
    exec_ctx: object = None

    @property
    def approx(self) -> dict | None:
        return getattr(self.exec_ctx, "approx", None)

    @classmethod
    def of_table(cls, table: pa.Table | None, rowcount: int | None = None,
                 plan_text: str | None = None) -> "Result":
        """A result computed whole (utility statements: SHOW, DESCRIBE, EXPLAIN)."""
        if table is None:
            return cls(None, -1 if rowcount is None else rowcount, plan_text)
        stream = ResultStream(table.schema, iter(table.to_batches()) if table.num_rows else iter(()))
        res = cls(stream, table.num_rows if rowcount is None else rowcount, plan_text)
        res._table = table
        stream.drain()
        return res

    @property
    def schema(self) -> pa.Schema | None:
        return None if self.stream is None else self.stream.schema

    @property
    def table(self) -> pa.Table | None:
        """The whole result as one table (reads the rest of the stream; for internal callers and
        results read only once)."""
        if self.stream is None:
            return None
        if self._table is None:
            self._table = self.stream.read_all()
            if self.rowcount < 0:
                self.rowcount = self._table.num_rows
        return self._table
