"""Pipelines: operator roles, cutting physical plans at sinks, EXPLAIN VERBOSE's pipeline section,
the hash join's streaming probe side, and expressions bound to column positions once per plan."""
from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pyarrow as pa
import pytest

import engine
import engine.physical
from engine.physical import hash_join
from engine.physical.operator import SINK, STREAM, Operator
from engine.physical.pipelines import build_pipelines
from duckdb_pair import assert_same_answer, connect_pair


def _all_operator_classes() -> list[type]:
    for m in pkgutil.iter_modules(engine.physical.__path__):
        importlib.import_module(f"engine.physical.{m.name}")
    out, todo = [], [Operator]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            out.append(sub)
            todo.append(sub)
    return out


def test_every_operator_declares_its_roles():
    classes = _all_operator_classes()
    assert len(classes) >= 19
    for cls in classes:
        declared = any("ROLES" in k.__dict__ and k.__dict__["ROLES"] is not None
                       or "child_roles" in k.__dict__ for k in cls.__mro__ if k is not Operator)
        assert declared, f"{cls.__name__} declares no pipeline role"


def _tables(n_probe: int = 3000):
    rng = np.random.default_rng(7)
    orders = pa.table({"o_orderkey": pa.array(np.arange(400), pa.int64()),
                       "o_custkey": pa.array(rng.integers(0, 60, 400), pa.int64()),
                       "o_total": pa.array(rng.random(400) * 100)})
    keys = rng.integers(-20, 450, n_probe)  # some keys match no order
    lineitem = pa.table({"l_orderkey": pa.array(keys, pa.int64(), mask=rng.random(n_probe) < 0.05),
                         "l_qty": pa.array(rng.integers(1, 50, n_probe), pa.int64()),
                         "l_price": pa.array(rng.random(n_probe) * 1000)})
    lineitem = pa.Table.from_batches(lineitem.to_batches(max_chunksize=100))  # scanned in 100s
    customer = pa.table({"c_custkey": pa.array(np.arange(50), pa.int64()),
                         "c_name": [f"c{i}" for i in range(50)]})
    return {"orders": orders, "lineitem": lineitem, "customer": customer}


@pytest.fixture
def small_chunks(monkeypatch):
    """Probe chunks of a few hundred rows, so the joins below probe in many chunks."""
    monkeypatch.setattr(hash_join, "PROBE_CHUNK_MIN", 200)
    monkeypatch.setattr(hash_join, "BUILD_FACTOR", 0)


@pytest.mark.parametrize("kind", ["INNER", "LEFT", "RIGHT", "FULL", "SEMI", "ANTI"])
@pytest.mark.parametrize("residual", [False, True])
def test_chunked_probe_gives_duckdbs_answer(small_chunks, kind, residual):
    con, duck = connect_pair(_tables())
    cond = "l_orderkey = o_orderkey" + (" AND l_qty * 2 > o_total" if residual else "")
    cols = "l_orderkey, l_qty" if kind in ("SEMI", "ANTI") else "l_orderkey, l_qty, o_orderkey, o_total"
    sql = f"SELECT {cols} FROM lineitem {kind} JOIN orders ON {cond}"
    assert_same_answer(con, duck, sql, ordered=False)


def test_chunked_semi_join_keeps_probe_order(small_chunks, monkeypatch):
    chunks = []
    probe = hash_join.HashJoinExec._probe
    monkeypatch.setattr(hash_join.HashJoinExec, "_probe",
                        lambda self, left, *a: chunks.append(left.num_rows) or probe(self, left, *a))
    con, duck = connect_pair(_tables())
    sql = "SELECT l_orderkey, l_qty FROM lineitem SEMI JOIN orders ON l_orderkey = o_orderkey"
    got = con.execute(sql).fetchall()
    assert len(chunks) == 15 and sum(chunks) == 3000  # 200-row chunks of 100-row batches
    t = _tables()["lineitem"].to_pylist()
    keys = set(range(400))
    assert got == [(r["l_orderkey"], r["l_qty"]) for r in t if r["l_orderkey"] in keys]
