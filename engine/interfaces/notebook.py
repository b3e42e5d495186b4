"""Dawn in notebooks and Python (10/11, first step): ``con.sql(text)`` returns a ``Relation``,
on the model of DuckDB's Python API, that runs its query when asked for rows.

    rel = con.sql("SELECT l_returnflag, count(*) FROM lineitem GROUP BY 1")
    rel.show()            # the duckbox grid, as the CLI prints it
    rel.arrow(); rel.df(); rel.fetchall(); rel.explain()
    rel                   # in Jupyter: an HTML table with the column types, the first rows, the row count

``con.sql("EXPLAIN ANALYZE ...")`` is a relation too, shown as the plan's text (``<pre>`` in a
notebook), as are DESCRIBE and SHOW; ``con.runs()`` is one over the latest tracked runs. A
statement that changes something (DDL, DML, SET) runs at once and ``sql`` returns None, as
DuckDB's ``con.sql`` does. Each method runs the query again (the data may have changed), like
DuckDB's relations; ``arrow()`` once and reuse the table to avoid that.
"""
from __future__ import annotations

import html

import pyarrow as pa

HTML_ROWS = 10


def html_table(table: pa.Table, total_rows: int | None = None, max_rows: int = HTML_ROWS) -> str:
    """A result as an HTML table: column names with their SQL types, the first ``max_rows``
    rows, and the row count (``total_rows`` when only the first rows were read)."""
    from engine.plan.types import sql_name
    total = table.num_rows if total_rows is None else total_rows
    head = table.slice(0, max_rows)
    cells = []
    cells.append("<tr>" + "".join(f"<th>{html.escape(f.name)}<br><small>{html.escape(sql_name(f.type))}</small></th>"
                                  for f in table.schema) + "</tr>")
    cols = [c.to_pylist() for c in head.columns]
    for i in range(head.num_rows):
        cells.append("<tr>" + "".join(
            f"<td>{'<i>NULL</i>' if col[i] is None else html.escape(str(col[i]))}</td>" for col in cols) + "</tr>")
    more = f" (showing the first {head.num_rows})" if total > head.num_rows else ""
    return (f'<table class="dawn-result">{"".join(cells)}</table>'
            f"<p><small>{total:,} row{'s' if total != 1 else ''} x {table.num_columns} "
            f"column{'s' if table.num_columns != 1 else ''}{more}</small></p>")


class Relation:
    """A query to run on a connection (see the module docstring)."""

    def __init__(self, connection, sql: str, params=None, plan: bool = False) -> None:
        self.connection, self.sql, self.params = connection, sql, params
        self.plan = plan          # an EXPLAIN [ANALYZE]: shown as the plan's text, not a grid

    def _plan_text(self) -> str:
        return "\n".join(r[0] for r in self._cursor().fetchall())

    def _cursor(self):
        cur = self.connection.cursor()
        cur.execute(self.sql, self.params)
        return cur

    def arrow(self) -> pa.Table:
        return self._cursor().fetch_arrow_table()

    def df(self):
        return self.arrow().to_pandas()

    def fetchall(self) -> list[tuple]:
        return self._cursor().fetchall()

    def fetchone(self) -> tuple | None:
        return self._cursor().fetchone()

    def _schema(self) -> pa.Schema:
        """The result's schema, known from the plan without running the query."""
        return self.connection.prepare(self.sql)[0].schema

    @property
    def columns(self) -> list[str]:
        return self._schema().names

    @property
    def types(self) -> list[str]:
        from engine.plan.types import sql_name
        return [sql_name(f.type) for f in self._schema()]

    def explain(self, analyze: bool = False) -> str:
        cur = self.connection.cursor()
        cur.execute(("EXPLAIN ANALYZE " if analyze else "EXPLAIN ") + self.sql, self.params)
        return "\n".join(r[0] for r in cur.fetchall())

    def _head(self, n: int) -> tuple[pa.Table, int]:
        """The first ``n`` rows and the total row count, streaming the rest without keeping it."""
        cur = self._cursor()
        batches, kept, total = [], 0, 0
        for b in cur._rest_batches():
            total += b.num_rows
            if kept < n:
                batches.append(b.slice(0, n - kept))
                kept += min(b.num_rows, n - kept)
        schema = cur.fetch_arrow_table().schema if not batches else batches[0].schema
        table = pa.Table.from_batches(batches, schema=schema) if batches else schema.empty_table()
        return table, total

    def _grid(self, max_rows: int) -> str:
        """The duckbox grid of the result: its first and last rows, as the CLI shows a long one
        (the middle rows stream past without being kept)."""
        from engine.interfaces.render import _shown_rows, render_table
        cur = self._cursor()
        head, tail, total = [], [], 0
        for b in cur._rest_batches():
            total += b.num_rows
            if sum(x.num_rows for x in head) < max_rows:
                head.append(b)
            tail.append(b)
            while tail and sum(x.num_rows for x in tail) - tail[0].num_rows >= max_rows:
                tail.pop(0)
        schema = (head[0].schema if head else self._schema())
        top, bottom = _shown_rows(total, max_rows)
        first = pa.Table.from_batches(head, schema=schema).slice(0, top) if head else schema.empty_table()
        if bottom:
            t = pa.Table.from_batches(tail, schema=schema)
            first = pa.concat_tables([first, t.slice(t.num_rows - bottom, bottom)])
        return render_table(first, max_rows=max_rows, total_rows=total)

    def show(self, max_rows: int = 40) -> None:
        print(self._plan_text() if self.plan else self._grid(max_rows))

    def __repr__(self) -> str:
        return self._plan_text() if self.plan else self._grid(40)

    def _repr_html_(self) -> str:
        if self.plan:   # EXPLAIN ANALYZE: the operator tree with its measured rows and times
            return f'<pre class="dawn-plan">{html.escape(self._plan_text())}</pre>'
        table, total = self._head(HTML_ROWS)
        return html_table(table, total)

    def __len__(self) -> int:
        return self._head(0)[1]
