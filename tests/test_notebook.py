"""con.sql(...) relations for notebooks and Python (10/11, first step)."""
from __future__ import annotations

import pyarrow as pa

import engine


def _con():
    c = engine.connect()
    c.register("t", pa.table({"a": list(range(25)), "b": ["x<y"] * 24 + [None]}))
    return c


def test_relation_methods_return_the_query_result():
    c = _con()
    rel = c.sql("SELECT a, b FROM t WHERE a > 2 ORDER BY a")
    assert rel.columns == ["a", "b"] and rel.types == ["BIGINT", "VARCHAR"]
    assert rel.fetchall()[:2] == [(3, "x<y"), (4, "x<y")]
    assert rel.arrow().num_rows == 22 and len(rel) == 22
    assert list(rel.df()["a"])[:3] == [3, 4, 5]
    assert "ScanExec" in rel.explain() and "rows=" in rel.explain(analyze=True)


def test_relation_renders_as_grid_and_html():
    c = _con()
    rel = c.sql("SELECT a, b FROM t ORDER BY a")
    text = repr(rel)
    assert "25 rows" in text and "│     0 │" in text and "│    24 │" in text
    page = rel._repr_html_()
    assert "<small>BIGINT</small>" in page and "x&lt;y" in page     # types shown, text escaped
    assert page.count("<tr>") == 11                                  # header + the first 10 rows
    assert "25 rows x 2 columns (showing the first 10)" in page
    assert "<i>NULL</i>" in c.sql("SELECT b FROM t WHERE a = 24")._repr_html_()


def test_relation_reruns_and_other_statements_run_at_once():
    c = _con()
    assert c.sql("CREATE TABLE u AS SELECT 1 AS z") is None
    rel = c.sql("SELECT count(*) FROM u")
    assert rel.fetchone() == (1,)
    c.execute("INSERT INTO u VALUES (2)")
    assert rel.fetchone() == (2,)        # a relation runs its query when asked, like DuckDB's


def test_a_cursor_renders_its_next_rows_without_consuming_them():
    c = _con()
    cur = c.cursor()
    cur.execute("SELECT a FROM t ORDER BY a")
    assert cur.fetchone() == (0,)
    page = cur._repr_html_()
    assert "<td>1</td>" in page and "<td>0</td>" not in page
    assert cur.fetchone() == (1,)          # the preview read nothing
    assert "rowcount" in c.cursor()._repr_html_()


def test_explain_analyze_and_runs_render_in_a_notebook():
    c = _con()
    rel = c.sql("EXPLAIN ANALYZE SELECT sum(a) FROM t WHERE a < 5")
    assert rel is not None                      # shown, not run and dropped
    page = rel._repr_html_()
    assert page.startswith('<pre class="dawn-plan">') and "actual_rows=5" in page
    assert "HashAggregateExec" in repr(rel) and "Total: rows=1" in repr(rel)
    assert "BIGINT" in repr(c.sql("DESCRIBE t"))
    assert c.execute("SELECT 42 AS answer").fetchall() == [(42,)]   # read: its run has ended
    runs = c.runs(limit=3)
    assert runs.columns[:4] == ["run_id", "started", "statement_kind", "status"]
    rows = runs.fetchall()
    assert len(rows) == 3 and rows[0][5] == "SELECT 42 AS answer"
    page = runs._repr_html_()
    assert "<small>TIMESTAMP</small>" in page and "SELECT 42 AS answer" in page
