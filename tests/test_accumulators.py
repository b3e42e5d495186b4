"""Accumulators: user aggregates with several arguments (GROUP BY, no GROUP BY, OVER windows and
frames) against the same computation in DuckDB SQL, the streaming hash aggregation (chunks give
the answer of one pass), and the interfaces' contracts."""
from __future__ import annotations

import math

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import engine
import engine.physical.hash_aggregate as H
from engine.errors import DataError, NotSupportedError
from udfs import udf
from udfs.accumulator import Accumulator


def _np(a: pa.Array, fill=0.0) -> np.ndarray:
    return pc.fill_null(a.cast(pa.float64()), fill).to_numpy(zero_copy_only=False)


@udf.aggregate(returns="DOUBLE")
class wavg(Accumulator):
    """Weighted average sum(x * w) / sum(w) over rows where both are non-NULL."""

    supports_retract = True

    def __init__(self) -> None:
        self.sxw = np.zeros(0)
        self.sw = np.zeros(0)

    def _grow(self, n: int) -> None:
        if n > len(self.sw):
            self.sxw = np.concatenate([self.sxw, np.zeros(n - len(self.sxw))])
            self.sw = np.concatenate([self.sw, np.zeros(n - len(self.sw))])

    def _add(self, args, group_ids, n_groups, sign: float) -> None:
        self._grow(n_groups)
        x, w = args
        ok = pc.and_(pc.is_valid(x), pc.is_valid(w)).to_numpy(zero_copy_only=False)
        xs, ws = _np(x), _np(w)
        xs, ws = np.where(ok, xs, 0.0), np.where(ok, ws, 0.0)
        self.sxw += sign * np.bincount(group_ids, weights=xs * ws, minlength=n_groups)
        self.sw += sign * np.bincount(group_ids, weights=ws, minlength=n_groups)

    def update(self, args, group_ids, n_groups) -> None:
        self._add(args, group_ids, n_groups, 1.0)

    def retract(self, args, group_ids, n_groups) -> None:
        self._add(args, group_ids, n_groups, -1.0)

    def merge(self, states, group_ids, n_groups) -> None:
        self._grow(n_groups)
        self.sxw += np.bincount(group_ids, weights=_np(states[0]), minlength=n_groups)
        self.sw += np.bincount(group_ids, weights=_np(states[1]), minlength=n_groups)

    def state(self):
        return [pa.array(self.sxw), pa.array(self.sw)]

    def finalize(self):
        with np.errstate(all="ignore"):
            return pa.array(self.sxw / self.sw, mask=self.sw == 0)


def _data(n: int = 3000, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 3, n)
    w = rng.integers(1, 5, n).astype(np.float64)
    return pa.table({
        "g": pa.array(rng.integers(0, 13, n)),
        "o": pa.array(rng.permutation(n)),            # a unique ordering key
        "x": pa.array(x, mask=rng.random(n) < 0.05),
        "w": pa.array(w, mask=rng.random(n) < 0.05),
    })


@pytest.fixture()
def cons():
    t = _data()
    # many small batches: the aggregation and the windows see the input in pieces
    t = pa.Table.from_batches(t.to_batches(max_chunksize=128))
    con = engine.connect()
    con.register("t", t)
    con.register_function(wavg)
    duck = duckdb.connect()
    duck.register("t", t)
    yield con, duck
    con.close()
    duck.close()


def _same(a, b) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert len(ra) == len(rb)
        for va, vb in zip(ra, rb):
            if isinstance(va, float) or isinstance(vb, float):
                assert va is not None and vb is not None, (ra, rb)
                assert math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-9), (ra, rb)
            else:
                assert va == vb, (ra, rb)


# DuckDB's weighted average: only rows where both are non-NULL count
_REF = "sum(x * w) / sum(CASE WHEN x IS NOT NULL THEN w END)"


def test_wavg_group_by(cons):
    con, duck = cons
    got = con.execute("SELECT g, wavg(x, w), count(*) FROM t GROUP BY g ORDER BY g").fetchall()
    want = duck.execute(f"SELECT g, {_REF}, count(*) FROM t GROUP BY g ORDER BY g").fetchall()
    _same(got, want)


def test_wavg_without_group_by_and_filter(cons):
    con, duck = cons
    got = con.execute("SELECT wavg(x, w), wavg(x, w) FILTER (WHERE g < 5), sum(x) FROM t").fetchall()
    want = duck.execute(f"SELECT {_REF}, (SELECT {_REF} FROM t WHERE g < 5), sum(x) FROM t").fetchall()
    _same(got, want)
    # over no rows: one group that saw nothing (NULL), as a built-in
    assert con.execute("SELECT wavg(x, w), count(*) FROM t WHERE g > 100").fetchall() == [(None, 0)]


def test_wavg_over_partitions(cons):
    con, duck = cons
    got = con.execute("SELECT o, wavg(x, w) OVER (PARTITION BY g) FROM t ORDER BY o").fetchall()
    over = "OVER (PARTITION BY g)"
    want = duck.execute(f"SELECT o, sum(x * w) {over} / sum(CASE WHEN x IS NOT NULL THEN w END) {over} "
                        "FROM t ORDER BY o").fetchall()
    _same(got, want)


@pytest.mark.parametrize("frame", ["", "ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING",
                                   "ROWS BETWEEN 40 PRECEDING AND CURRENT ROW",
                                   "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING"])
def test_wavg_over_frames(cons, frame):
    con, duck = cons
    over = f"OVER (PARTITION BY g ORDER BY o {frame})"
    got = con.execute(f"SELECT o, wavg(x, w) {over} FROM t ORDER BY o").fetchall()
    want = duck.execute(f"SELECT o, sum(x * w) {over} / sum(CASE WHEN x IS NOT NULL THEN w END) {over} "
                        "FROM t ORDER BY o").fetchall()
    for (oa, va), (ob, vb) in zip(got, want):
        assert oa == ob
        if vb is None or va is None:
            assert va is None and vb is None or (vb is not None and abs(vb) < 1e-300)
        else:
            assert math.isclose(va, vb, rel_tol=1e-7, abs_tol=1e-7), (oa, va, vb)


def test_function_aggregate_udf_takes_several_lists():
    @udf.aggregate(returns="DOUBLE")
    def spread_of_sums(xs, ys):  # one list per argument and group
        return [max(a + b for a, b in zip(x, y)) - min(a + b for a, b in zip(x, y)) for x, y in
                zip(xs.to_pylist(), ys.to_pylist())]

    con = engine.connect()
    con.register_function(spread_of_sums)
    con.register("s", pa.table({"g": [1, 1, 2, 2, 2], "a": [1.0, 5.0, 2.0, 2.0, 9.0], "b": [0.0, 1.0, 1.0, 0.0, 0.0]}))
    assert con.execute("SELECT g, spread_of_sums(a, b) FROM s GROUP BY g ORDER BY g").fetchall() == \
        [(1, 5.0), (2, 7.0)]


def test_user_aggregate_errors_are_data_errors():
    @udf.aggregate(returns="DOUBLE")
    class broken(Accumulator):
        def update(self, args, group_ids, n_groups):
            raise ValueError("no thanks")

    con = engine.connect()
    con.register_function(broken)
    con.register("s", pa.table({"x": [1.0]}))
    with pytest.raises(DataError, match='"broken" failed: ValueError: no thanks'):
        con.execute("SELECT broken(x) FROM s").fetchall()
    with pytest.raises(NotSupportedError, match="DISTINCT"):
        con.execute("SELECT broken(DISTINCT x) FROM s").fetchall()


def test_chunks_give_the_answer_of_one_pass(monkeypatch):
    """The hash aggregation streams in chunks; merging their states must change nothing, with
    groups first seen in later chunks, NULL keys, FILTER and holistic aggregates."""
    rng = np.random.default_rng(3)
    n = 4000
    t = pa.table({"k": pa.array(rng.integers(0, 60, n) * (np.arange(n) // 1000 + 1)),
                  "h": pa.array(rng.integers(0, 3, n), mask=rng.random(n) < 0.1),
                  "i": pa.array(rng.integers(-10 ** 12, 10 ** 12, n)),
                  "x": pa.array(np.where(rng.random(n) < 0.02, np.nan, rng.random(n)))})
    t = pa.Table.from_batches(t.to_batches(max_chunksize=100))
    con = engine.connect()
    con.register("t", t)
    con.register_function(wavg)
    aggs = ("count(*), count(h), sum(i), avg(i), avg(x), min(x), max(x), sum(x) FILTER (WHERE i > 0), "
            "count(DISTINCT h), median(i), bool_and(i > 0), wavg(x, i), string_agg(CAST(h AS VARCHAR), ',' "
            "ORDER BY i)")
    queries = [f"SELECT k, h, {aggs} FROM t GROUP BY k, h ORDER BY k, h", f"SELECT {aggs} FROM t"]
    one = [con.execute(q).fetchall() for q in queries]
    monkeypatch.setattr(H, "CHUNK_ROWS", 250)
    many = [con.execute(q).fetchall() for q in queries]
    for a, b in zip(one, many):
        assert len(a) == len(b)
        for ra, rb in zip(a, b):
            for va, vb in zip(ra, rb):
                if isinstance(va, float) and math.isnan(va):
                    assert math.isnan(vb)
                elif isinstance(va, float):
                    assert math.isclose(va, vb, rel_tol=1e-9), (ra, rb)
                else:
                    assert va == vb, (ra, rb)
    # and against DuckDB for the built-ins
    duck = duckdb.connect()
    duck.register("t", t)
    q = "SELECT k, h, count(*), sum(i), min(x), count(DISTINCT h) FROM t GROUP BY k, h ORDER BY k, h"
    assert con.execute(q).fetchall() == duck.execute(q).fetchall()


def test_sum_over_a_cross_join_streams():
    """10^6 pairs summed: the aggregation holds a chunk, not every pair (the states of one group)."""
    a = pa.table({"x": np.arange(1000, dtype=np.float64)})
    con = engine.connect()
    con.register("a", a)
    con.register("b", a)
    duck = duckdb.connect()
    duck.register("a", a)
    duck.register("b", a)
    q = "SELECT sum(a.x + b.x), count(*), max(a.x * b.x) FROM a CROSS JOIN b"
    _same(con.execute(q).fetchall(), duck.execute(q).fetchall())


def test_builtin_aggregates_run_through_the_registry():
    from engine.physical.accumulator import BufferAccumulator, StateAccumulator, make_accumulator
    from engine.plan import aggregates as R
    from engine.plan.expressions import AggCall, Literal
    x = Literal(1.0, pa.float64())
    kinds = {e.name: type(make_accumulator(AggCall(e.name, (x,) * e.nargs[0], pa.float64())))
             for e in R.AGGREGATES}
    assert kinds["sum"] is StateAccumulator and kinds["avg"] is StateAccumulator
    assert kinds["median"] is BufferAccumulator and kinds["corr"] is BufferAccumulator
    assert set(kinds) == {e.name for e in R.AGGREGATES}


def test_aggregate_without_merge_works_where_no_states_combine():
    @udf.aggregate(returns="BIGINT")
    class nrows(Accumulator):  # only update and finalize
        def __init__(self):
            self.n = np.zeros(0, np.int64)

        def update(self, args, group_ids, n_groups):
            self.n = np.concatenate([self.n, np.zeros(n_groups - len(self.n), np.int64)])
            self.n += np.bincount(group_ids, minlength=n_groups)

        def finalize(self):
            return self.n

    con = engine.connect()
    con.register_function(nrows)
    con.register("s", pa.table({"g": [1, 1, 2], "x": [1.0, 2.0, 3.0]}))
    assert con.execute("SELECT g, nrows(x) FROM s GROUP BY g ORDER BY g").fetchall() == [(1, 2), (2, 1)]
    assert con.execute("SELECT x, nrows(x) OVER (PARTITION BY g) FROM s ORDER BY x").fetchall() == \
        [(1.0, 2), (2.0, 2), (3.0, 1)]
    with pytest.raises(NotSupportedError, match='"nrows" has no merge and state methods'):
        con.execute("SELECT nrows(x) OVER (ORDER BY x) FROM s").fetchall()
