"""Shrinking a failing fuzz case to a minimal reproduction (a delta-debugging reducer).

    python benchmarks/fuzz_reduce.py fuzz_failures.jsonl            # every failing case
    python benchmarks/fuzz_reduce.py fuzz_failures.jsonl --limit 50 --out reduced.jsonl

A case from benchmarks/fuzz.py (a JSON line: seed, index, features, statements) is rebuilt (its
tables regenerated from the seed), and the statement on which the engines disagree is shrunk
while the failure stays the same kind: the same Dawn error (class and message words), the same
DuckDB error with Dawn answering, a crash of the same exception class, or different rows. The SQL
shrinks on sqlglot's tree (drop a select item, a WHERE/HAVING/GROUP BY/ORDER BY/LIMIT, a join,
one side of a set operation; replace an expression by one of its operands or by NULL), then the
tables (rows in halves, then one by one; columns the query does not name). Each step is checked on
both engines, so the result is a real reproduction: CREATE TABLE + INSERT + the query, with both
engines' answers. TLP and NoREC cases whose two forms differ (no single statement fails) are kept
as they are.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

import pyarrow as pa
import sqlglot
from sqlglot import exp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

import fuzz_oracles as fo  # noqa: E402
from fuzz_data import Table, table_sql  # noqa: E402
from fuzz_gen import parse_features  # noqa: E402
from tpch_compare import compare_results  # noqa: E402

MAX_CHECKS = 250


def _words(msg: str | None) -> str:
    """An error message without its numbers, quoted fragments and positions."""
    msg = (msg or "").splitlines()[0] if msg else ""
    msg = re.sub(r" at line \d+, column \d+", "", msg)
    msg = re.sub(r'"[^"]*"|\'[^\']*\'', "Q", msg)
    return re.sub(r"\d+", "N", msg)[:80]


class Case:
    """Tables + one statement, and the kind of failure to keep while shrinking."""

    def __init__(self, tables: list[Table], sql: str):
        self.tables = tables
        self.sql = sql
        self.kind: tuple | None = None

    def outcome(self, tables: list[Table], sql: str) -> tuple | None:
        eng = fo.Engines(tables)
        try:
            d = eng.duck(sql)
            w = eng.dawn(sql)
        finally:
            eng.close()
        if w.status == "crash":
            return ("crash", w.error.split(":")[0])
        if d.ok and not w.ok:
            return ("dawn_error", w.status, _words(w.error))
        if not d.ok and w.ok:
            return ("duck_error", _words(d.error))
        if d.ok and w.ok and compare_results(w.rows, d.rows, ordered=False) is not None:
            return ("rows",)
        return None

    def answers(self) -> str:
        eng = fo.Engines(self.tables)
        try:
            d, w = eng.duck(self.sql), eng.dawn(self.sql)
        finally:
            eng.close()
        return f"-- DuckDB: {d.error or d.rows[:10]}\n-- Dawn:   {w.error or w.rows[:10]}"


def _candidates(tree: exp.Expression):
    """Smaller variants of ``tree`` (copies), roughly biggest cut first."""
    nodes = list(tree.walk())
    for node in nodes:
        if isinstance(node, (exp.Union, exp.Intersect, exp.Except)):
            for side in ("this", "expression"):
                yield _replace(tree, node, node.args[side])
    for node in nodes:
        if isinstance(node, exp.Select):
            for key in ("where", "having", "group", "order", "limit", "offset", "qualify", "distinct"):
                if node.args.get(key) is not None:
                    yield _edit(tree, node, lambda n, k=key: n.set(k, None))
            joins = node.args.get("joins") or []
            for j in range(len(joins)):
                yield _edit(tree, node, lambda n, j=j: n.set("joins", [x for i, x in enumerate(n.args["joins"]) if i != j]))
            items = node.expressions
            if len(items) > 1:
                for j in range(len(items)):
                    yield _edit(tree, node, lambda n, j=j: n.set("expressions", [x for i, x in enumerate(n.expressions) if i != j]))
    for node in nodes:
        if node is tree or not isinstance(node, exp.Expression) or isinstance(
                node, (exp.Select, exp.From, exp.Table, exp.Column, exp.Identifier, exp.TableAlias,
                       exp.Join, exp.Ordered, exp.Alias, exp.Literal, exp.Null, exp.Star, exp.DataType,
                       exp.Subquery, exp.Group, exp.Where, exp.Having, exp.Order, exp.Limit, exp.Offset)):
            continue
        for child in node.iter_expressions():
            if isinstance(child, (exp.Identifier, exp.DataType, exp.Ordered, exp.Select)):
                continue
            yield _replace(tree, node, child)
        yield _replace(tree, node, exp.Null())


def _path(tree: exp.Expression, node: exp.Expression) -> list[int]:
    order = list(tree.walk())
    return [i for i, n in enumerate(order) if n is node]


def _edit(tree, node, fn):
    idx = _path(tree, node)[0]
    new = tree.copy()
    target = list(new.walk())[idx]
    fn(target)
    return new


def _replace(tree, node, repl):
    idx = _path(tree, node)[0]
    new = tree.copy()
    target = list(new.walk())[idx]
    target.replace(repl.copy())
    return new


def reduce_sql(case: Case, budget: list[int]) -> None:
    try:
        tree = sqlglot.parse_one(case.sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return
    base = tree.sql(dialect="duckdb")
    if case.outcome(case.tables, base) != case.kind:
        return  # sqlglot's round trip changes the case: keep the text
    case.sql = base
    improved = True
    while improved and budget[0] > 0:
        improved = False
        for cand in _candidates(tree):
            if budget[0] <= 0:
                break
            try:
                sql = cand.sql(dialect="duckdb")
            except Exception:  # noqa: BLE001 - a variant sqlglot cannot print
                continue
            if len(sql) >= len(case.sql):
                continue
            budget[0] -= 1
            if case.outcome(case.tables, sql) == case.kind:
                tree, case.sql, improved = cand, sql, True
                break


def _with(tables: list[Table], name: str, data: pa.Table) -> list[Table]:
    out = []
    for t in tables:
        if t.name == name:
            cols = [c for c in t.cols if c[0] in data.column_names]
            out.append(Table(t.name, cols, data))
        else:
            out.append(t)
    return out


def reduce_tables(case: Case, budget: list[int]) -> None:
    used = [t for t in case.tables if re.search(rf"\b{t.name}\b", case.sql)]
    case.tables = used
    for t in list(used):
        name = t.name
        # rows: halves while they keep the failure, then one at a time
        while budget[0] > 0:
            cur = next(x for x in case.tables if x.name == name)
            n = cur.rows
            if n <= 1:
                break
            for part in (cur.data.slice(0, n // 2), cur.data.slice(n // 2)):
                budget[0] -= 1
                cand = _with(case.tables, name, part)
                if case.outcome(cand, case.sql) == case.kind:
                    case.tables = cand
                    break
            else:
                break
        i = 0
        while budget[0] > 0:
            cur = next(x for x in case.tables if x.name == name)
            if i >= cur.rows or cur.rows <= 1:
                break
            part = pa.concat_tables([cur.data.slice(0, i), cur.data.slice(i + 1)])
            budget[0] -= 1
            cand = _with(case.tables, name, part)
            if case.outcome(cand, case.sql) == case.kind:
                case.tables = cand
            else:
                i += 1
        if "*" not in case.sql:
            cur = next(x for x in case.tables if x.name == name)
            for col in list(cur.data.column_names):
                if re.search(rf"\.{col}\b|\b{col}\b", case.sql) or budget[0] <= 0:
                    continue
                cur = next(x for x in case.tables if x.name == name)
                if cur.data.num_columns <= 1:
                    break
                cand = _with(case.tables, name, cur.data.drop([col]))
                budget[0] -= 1
                if case.outcome(cand, case.sql) == case.kind:
                    case.tables = cand


def reduce_failure(f: dict) -> dict | None:
    """The failing statement of a fuzz.py failure, shrunk; None when no single statement fails."""
    features = parse_features(f["features"])
    tables = fo.dataset(f["seed"], f["index"] // fo.QUERIES_PER_DATASET, features)
    for sql in f["statements"]:
        case = Case(tables, sql)
        case.kind = case.outcome(tables, sql)
        if case.kind is None:
            continue
        budget = [MAX_CHECKS]
        reduce_sql(case, budget)
        reduce_tables(case, budget)
        reduce_sql(case, budget)
        setup = "\n".join(table_sql(t) for t in case.tables)
        return {"oracle": f["oracle"], "status": f["status"], "seed": f["seed"], "index": f["index"],
                "kind": list(case.kind), "sql": case.sql, "setup": setup, "answers": case.answers()}
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("failures", help="a --out file of benchmarks/fuzz.py")
    ap.add_argument("--limit", type=int, default=0, help="reduce at most this many cases")
    ap.add_argument("--per-reason", type=int, default=0,
                    help="reduce at most this many cases per failure reason (a quick overview)")
    ap.add_argument("--out", help="reduced cases, one JSON per line")
    args = ap.parse_args(argv)
    seen: dict[str, int] = {}
    n = 0
    out = open(args.out, "w") if args.out else None
    for line in open(args.failures):
        f = json.loads(line)
        key = f"{f['oracle']} {f['status']} {_words(f['reason'])}"
        if args.per_reason and seen.get(key, 0) >= args.per_reason:
            continue
        seen[key] = seen.get(key, 0) + 1
        r = reduce_failure(f)
        if r is None:
            continue
        n += 1
        print(f"== {f['oracle']}:{f['seed']}:{f['index']} {f['status']}: {f['reason'].splitlines()[0][:160]}")
        print(r["setup"])
        print(r["sql"] + ";")
        print(r["answers"], "\n", flush=True)
        if out:
            out.write(json.dumps(r) + "\n")
            out.flush()
        if args.limit and n >= args.limit:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
