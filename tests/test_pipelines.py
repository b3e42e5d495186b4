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
    monkeypatch.setattr(hash_join, "GROWTH", 1)


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


def test_probe_chunks_grow_after_the_first():
    """A LIMIT above stops after the first 65,536 probe rows; a long probe side then takes
    chunks GROWTH times larger, so 2M rows cost 4 join calls instead of 31."""
    batches = [pa.record_batch({"a": pa.array(np.arange(i, i + 50_000))}) for i in range(0, 2_000_000, 50_000)]
    chunks = list(hash_join._probe_chunks(batches[0], iter(batches[1:]), batches[0].schema,
                                          1 << 16, hash_join.PROBE_CHUNK_MAX))
    assert [c.num_rows for c in chunks] == [65_536, 262_144, 1_048_576, 623_744]
    assert pa.concat_tables(chunks).column("a").to_pylist() == list(range(2_000_000))


def test_join_that_multiplies_rows_streams_in_bounded_pieces(monkeypatch):
    """Few keys on both sides (a cross join in disguise): each probe call's output stays near
    OUTPUT_CHUNK rows instead of the whole product at once, and the answer is DuckDB's."""
    monkeypatch.setattr(hash_join, "OUTPUT_CHUNK", 20_000)
    outs = []
    probe = hash_join.HashJoinExec._probe
    monkeypatch.setattr(hash_join.HashJoinExec, "_probe",
                        lambda self, *a: (lambda t: outs.append(t.num_rows) or t)(probe(self, *a)))
    rng = np.random.default_rng(3)
    a = pa.table({"k": pa.array(rng.integers(0, 5, 2000), pa.int64()), "x": pa.array(rng.random(2000))})
    b = pa.table({"k": pa.array(rng.integers(0, 6, 1000), pa.int64()), "y": pa.array(rng.random(1000))})
    con, duck = connect_pair({"a": a, "b": b})
    for sql in ("SELECT count(*), sum(x), sum(y) FROM a FULL JOIN b ON a.k = b.k",
                "SELECT count(*), count(x), count(y) FROM a LEFT JOIN b ON a.k = b.k"):
        outs.clear()
        assert_same_answer(con, duck, sql, ordered=False)
        assert sum(outs) > 300_000 and len(outs) > 10
        assert max(outs) < 3 * 20_000  # about OUTPUT_CHUNK rows a call (keys are uneven)


def _physical(con, sql: str):
    """The physical plan Dawn runs for ``sql``."""
    import sqlglot
    from engine.sql.dialect import Dawn
    s = con._session
    return s.physical(s.plan_query(sqlglot.parse_one(sql, read=Dawn), []))[0]


Q = """SELECT c_name, sum(l_price) AS revenue
FROM lineitem JOIN orders ON l_orderkey = o_orderkey JOIN customer ON o_custkey = c_custkey
WHERE l_qty > 5 GROUP BY c_name ORDER BY revenue DESC"""


def test_join_aggregate_order_by_pipelines():
    con, _ = connect_pair(_tables())
    pipes = build_pipelines(_physical(con, Q))
    assert [p.id for p in pipes] == list(range(1, len(pipes) + 1))
    # customer builds a join, orders probes it and builds the next, lineitem probes that one
    # into the aggregate; the aggregate's groups feed the sort; the sort emits the result
    assert len(pipes) == 5
    names = [(p.source.name, getattr(p.source, "table", None), [o.name for o in p.operators],
              p.sink.name if p.sink else None) for p in pipes]
    assert names == [
        ("ScanExec", "customer", [], "HashJoinExec"),
        ("ScanExec", "orders", ["HashJoinExec"], "HashJoinExec"),
        ("ScanExec", "lineitem", ["HashJoinExec"], "HashAggregateExec"),
        ("HashAggregateExec", None, ["ProjectExec"], "SortExec"),
        ("SortExec", None, [], None),
    ], names
    # every probe pipeline depends on the pipeline that built the join it streams through
    for p in pipes:
        for op in p.operators:
            if op.name == "HashJoinExec":
                build = [q for q in pipes if q.sink is op]
                assert build and all(q.id in p.dependencies for q in build)
        assert all(d < p.id for d in p.dependencies)
    assert pipes[3].dependencies == (3,) and pipes[4].dependencies == (4,)
    # each operator is in exactly one pipeline as a source or streaming operator
    seen = [id(p.source) for p in pipes] + [id(o) for p in pipes for o in p.operators]
    assert len(seen) == len(set(seen))


def test_roles_of_sinks_and_streams():
    con, _ = connect_pair(_tables())
    root = _physical(con, Q)
    ops, todo = [], [root]
    while todo:
        o = todo.pop()
        ops.append(o)
        todo.extend(o.children())
    by = {}
    for o in ops:
        by.setdefault(o.name, o)
    assert by["HashJoinExec"].child_roles() == (STREAM, SINK)
    assert by["HashAggregateExec"].is_sink() and by["HashAggregateExec"].is_source()
    assert by["ScanExec"].is_source() and not by["ScanExec"].is_sink()
    assert not by["ProjectExec"].is_source() and not by["ProjectExec"].is_sink()


def test_union_all_and_materialized_cte_pipelines():
    con, duck = connect_pair(_tables())
    sql = ("WITH big AS MATERIALIZED (SELECT o_custkey, count(*) AS n FROM orders GROUP BY o_custkey) "
           "SELECT * FROM big WHERE n > 8 UNION ALL SELECT * FROM big WHERE n < 3")
    assert_same_answer(con, duck, sql, ordered=False)
    pipes = build_pipelines(_physical(con, sql))
    text = "\n".join(p.describe() for p in pipes)
    body = [p for p in pipes if p.sink is not None and p.sink.name == "MaterializedCteExec"]
    assert len(body) == 1, text
    readers = [p for p in pipes if p.source.name == "CteScanExec"]
    assert len(readers) == 2 and all(body[0].id in p.dependencies for p in readers), text
    assert all(p.sink is None for p in readers), text  # both UNION ALL inputs stream to the result


def test_explain_verbose_lists_pipelines_identically_on_two_connections():
    texts = []
    for _ in range(2):
        con, _duck = connect_pair(_tables())
        con.execute("SELECT 1 AS x").fetchall()  # a statement first: ids differ between connections
        texts.append("\n".join(r[0] for r in con.execute("EXPLAIN VERBOSE " + Q).fetchall()))
    assert texts[0] == texts[1]
    section = texts[0].split("Pipelines:\n", 1)[1].split("\n")
    assert section == [
        "  Pipeline 1: ScanExec customer -> HashJoinExec (sink)",
        "  Pipeline 2: ScanExec orders -> HashJoinExec -> HashJoinExec (sink); depends on Pipeline 1",
        "  Pipeline 3: ScanExec lineitem -> HashJoinExec -> HashAggregateExec (sink); depends on Pipeline 2",
        "  Pipeline 4: HashAggregateExec -> ProjectExec -> SortExec (sink); depends on Pipeline 3",
        "  Pipeline 5: SortExec -> result; depends on Pipeline 4",
    ]
    plain = "\n".join(r[0] for r in con.execute("EXPLAIN " + Q).fetchall())
    assert "Pipelines:" not in plain


def test_limit_over_join_pulls_only_the_first_probe_rows():
    n = 2_000_000
    big = pa.table({"k": pa.array(np.arange(n) % 1000, pa.int64()), "v": pa.array(np.arange(n), pa.int64())})
    con, duck = connect_pair({"big": big, "small": pa.table({"k": pa.array(np.arange(1000), pa.int64())})})
    sql = "SELECT big.v, small.k FROM big JOIN small ON big.k = small.k LIMIT 1"
    text = "\n".join(r[0] for r in con.execute("EXPLAIN ANALYZE " + sql).fetchall())
    line = next(x for x in text.split("\n") if "ScanExec: table=big" in x)
    scanned = int(line.split("actual_rows=")[1].split()[0])
    assert 0 < scanned <= 200_000, text  # the first batch or two, not 2,000,000 rows
    assert len(con.execute(sql).fetchall()) == 1
    # and the whole join is still DuckDB's
    assert_same_answer(con, duck, "SELECT count(*), sum(big.v) FROM big JOIN small ON big.k = small.k",
                       ordered=False)


def test_bound_expressions_match_the_interpreter():
    from engine.physical.bound import BoundExpr
    from engine.physical.evaluate import evaluate_array
    from engine.physical.operator import ExecContext
    con, _ = connect_pair(_tables())
    sql = ("SELECT l_qty + 1, l_price * 2 > 100, CAST(l_qty AS VARCHAR), coalesce(l_orderkey, -1), "
           "CASE WHEN l_qty > 10 THEN 10 // l_qty END, l_qty IN (1, 2, 3), NULL + l_qty, "
           "abs(l_price - 500) FROM lineitem")
    proj = _physical(con, sql)
    while proj.name != "ProjectExec":
        proj = proj.children()[0]
    ctx = ExecContext()
    batch = next(iter(proj.children()[0].execute(ctx)))
    renamed = pa.RecordBatch.from_arrays(batch.columns[::-1], names=batch.schema.names[::-1])
    for (_, e), bound in zip(proj.exprs, proj.bound):
        assert isinstance(bound, BoundExpr)
        want = evaluate_array(e, batch, ctx)
        assert bound.array(batch, ctx).equals(want)
        # another schema (columns in another order): evaluated by name, the same values
        assert bound.array(renamed, ctx).equals(want)
        assert len(bound.array(batch.slice(0, 0), ctx)) == 0


def test_wide_projection_gives_duckdbs_answer():
    t = pa.table({f"c{i}": pa.array(np.arange(2000) + i, pa.int64()) for i in range(12)})
    t = pa.Table.from_batches(t.to_batches(max_chunksize=50))
    con, duck = connect_pair({"t": t})
    exprs = ", ".join(f"c{i} + 1, c{i} * 2 > c{(i + 1) % 12}" for i in range(12))
    assert_same_answer(con, duck, f"SELECT {exprs} FROM t WHERE c0 % 7 <> 3", ordered=True)
