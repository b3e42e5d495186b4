"""Seeded random differential test: random queries over random tables, Dawn against DuckDB.

Each run builds small random tables (NULLs, duplicate keys, an empty table now and then), asks a
grammar-based generator for queries over them, runs every query on Dawn and on DuckDB (which reads
the very same Arrow tables) and compares the results: floats to 1e-6 relative, rows as multisets
unless the query's ORDER BY makes the order total (it orders by every output column), in which case
the order is checked too; a partial ORDER BY is checked for sortedness on Dawn's side.

Reproducing a failure: the assertion message names the seed and query index; run

    DAWN_DIFF_SEED=<seed> python tests/test_differential.py <index>

to print the tables and the query. ``DAWN_DIFF_SEED`` and ``DAWN_DIFF_QUERIES`` set the seed and
the number of queries of the default test (e.g. 5000 for a long local run).

What the generator avoids, because the answer is legitimately implementation-defined or because
Dawn documents a deliberate difference:
- LIMIT/OFFSET without an ORDER BY over every output column, and row-dependent window functions
  (row_number, lag, lead, ROWS frames) without a total window order (their ORDER BY ends with every
  column in scope, so ties are identical rows);
- division by zero (divisors are wrapped in NULLIF(x, 0)); DuckDB raises for ``//`` and ``%`` by 0;
- integer overflow (small values; products only of leaves);
- DECIMAL: Dawn computes DECIMAL as DOUBLE (engine/plan/types.py), so decimal expressions are
  never cast to INTEGER or VARCHAR (DuckDB rounds/prints exact decimals there); data and literals
  are multiples of 0.25, so double arithmetic on them is exact;
- round(x, 1) (0.25 rounds to 0.3, which a double cannot hold: sums of such values then differ
  in the last bit by summation order, and a cast to BIGINT can round either way); round(x, 2)
  keeps the quarter values exact;
- casts that fail on the data (VARCHAR -> INTEGER of letters), order-dependent aggregates
  (string_agg, list) and floating-point functions whose results differ in the last bits.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import os
import random
import re
import sys
import time

import duckdb
import pyarrow as pa
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from tpch_compare import compare_results  # noqa: E402

import engine  # noqa: E402

DEFAULT_SEED = 1729
DEFAULT_QUERIES = 600
QUERIES_PER_DATASET = 25
MAX_ROWS = 20_000  # a query whose DuckDB result is larger is replaced (keeps comparisons cheap)

# ---------------------------------------------------------------- random tables

# kinds: i integer, f double, m decimal, s varchar, b boolean, d date
ARROW_TYPES = {"int": pa.int32(), "bigint": pa.int64(), "f": pa.float64(),
               "m": pa.decimal128(10, 2), "s": pa.string(), "b": pa.bool_(), "d": pa.date32()}
STRINGS = ["", "a", "b", "A", "B", "ab", "ba", "Ab", "aB", "abc", "bca", " a", "b ", "aa", "BB"]
BASE_DATE = _dt.date(2024, 1, 1)


class Table:
    def __init__(self, name: str, cols: list[tuple[str, str, pa.DataType]], data: pa.Table):
        self.name = name
        self.cols = cols  # (name, kind, arrow type)
        self.data = data

    @property
    def rows(self) -> int:
        return self.data.num_rows


def _value(rng: random.Random, kind: str, domain: int):
    if kind == "i":
        return rng.randint(0, domain) if domain else rng.randint(-20, 20)
    if kind == "f":
        return rng.randint(-80, 80) / 4
    if kind == "m":
        return decimal.Decimal(rng.randint(-400, 400)) / 4
    if kind == "s":
        return rng.choice(STRINGS[:domain] if domain else STRINGS)
    if kind == "b":
        return rng.random() < 0.5
    if kind == "d":
        return BASE_DATE + _dt.timedelta(days=rng.randint(0, domain or 90))
    raise AssertionError(kind)


def make_tables(rng: random.Random) -> list[Table]:
    tables = []
    for ti in range(rng.choice([2, 3, 3])):
        r = rng.random()
        n = 0 if r < 0.08 else rng.randint(1, 6) if r < 0.2 else rng.randint(7, 60) if r < 0.6 \
            else rng.randint(61, 200)
        key_domain = rng.choice([3, 5, 8, 12])
        specs = [("k", "i", rng.choice(["int", "bigint"]), key_domain),
                 ("s", "s", "s", rng.choice([4, 8, len(STRINGS)]))]
        extra = rng.sample(["i", "i", "f", "f", "m", "s", "b", "d"], rng.randint(2, 5))
        counts: dict[str, int] = {}
        for kind in extra:
            counts[kind] = counts.get(kind, 0) + 1
            name = f"{kind}{counts[kind]}"
            at = rng.choice(["int", "bigint"]) if kind == "i" else kind
            specs.append((name, kind, at, 0 if kind != "d" else rng.choice([10, 90])))
        arrays, cols = {}, []
        for name, kind, at, domain in specs:
            p_null = rng.choice([0.0, 0.1, 0.2, 0.2, 0.3, 0.5])
            vals = [None if rng.random() < p_null else _value(rng, kind, domain) for _ in range(n)]
            arrays[name] = pa.array(vals, ARROW_TYPES[at])
            cols.append((name, kind, ARROW_TYPES[at]))
        tables.append(Table(f"t{ti + 1}", cols, pa.table(arrays)))
    return tables


# ---------------------------------------------------------------- the query generator

NUMERIC = ("i", "f", "m")
SQL_TYPES = {"i": "INTEGER", "f": "DOUBLE", "m": "DECIMAL(10,2)", "s": "VARCHAR", "b": "BOOLEAN",
             "d": "DATE"}
_INT_CONST = re.compile(r"[(\s-]*\d+[)\s]*")  # 4, (-4), (-(-4)): DuckDB folds signs


class Query:
    def __init__(self, sql: str, kinds: list[str], ordered: bool = False, order_spec=None):
        self.sql = sql
        self.kinds = kinds            # output column kinds
        self.ordered = ordered        # ORDER BY covers every output column: compare in order
        self.order_spec = order_spec  # [(position, desc, nulls_first)] of a partial ORDER BY


class Ctx:
    """What an expression may read: columns (sql, kind), or, in an aggregate context, the group
    keys plus aggregate calls over ``inner``."""

    def __init__(self, cols: list[tuple[str, str]], inner: "Ctx | None" = None,
                 outer: "Ctx | None" = None):
        self.cols = cols
        self.inner = inner  # set in an aggregate context: the rows the aggregates read
        self.outer = outer  # the enclosing query's columns (correlated subqueries)

    def of(self, kind: str) -> list[str]:
        return [c for c, k in self.cols if k == kind]


class Gen:
    def __init__(self, rng: random.Random, tables: list[Table]):
        self.rng = rng
        self.tables = tables
        self.n_alias = 0

    # -- helpers
    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq):
        return self.rng.choice(seq)

    def alias(self, base: str = "a") -> str:
        self.n_alias += 1
        return f"{base}{self.n_alias}"

    # -- literals
    def literal(self, kind: str) -> str:
        r = self.rng
        if self.chance(0.03):
            # typed: DuckDB types a bare NULL late (NULL - 0 unions with a DATE), Dawn early
            return f"CAST(NULL AS {SQL_TYPES[kind]})"
        if kind == "i":
            v = r.randint(-5, 20)
            return f"({v})" if v < 0 else str(v)
        if kind == "f":
            v = r.randint(-40, 40) / 4
            return f"CAST({v} AS DOUBLE)" if self.chance(0.5) else f"({v}::DOUBLE)"
        if kind == "m":
            v = r.randint(-200, 200) / 4
            return f"({v:.2f})"
        if kind == "s":
            return "'" + r.choice(STRINGS) + "'"
        if kind == "b":
            return r.choice(["TRUE", "FALSE"])
        if kind == "d":
            return f"DATE '{BASE_DATE + _dt.timedelta(days=r.randint(0, 90))}'"
        raise AssertionError(kind)

    # -- scalar expressions
    def leaf(self, kind: str, ctx: Ctx) -> str:
        if ctx.inner is not None:  # aggregate context: a group key or an aggregate
            keys = ctx.of(kind)
            if keys and self.chance(0.4):
                return self.pick(keys)
            return self.agg_call(kind, ctx.inner)
        cols = ctx.of(kind)
        if ctx.outer is not None and self.chance(0.15) and ctx.outer.of(kind):
            cols = ctx.outer.of(kind)  # a correlated reference
        if cols and self.chance(0.8):
            return self.pick(cols)
        if kind == "m" and not cols:
            return self.literal("m")
        return self.literal(kind)

    def expr(self, kind: str, ctx: Ctx, depth: int = 2) -> str:
        if depth <= 0 or self.chance(0.35):
            return self.leaf(kind, ctx)
        d = depth - 1
        r = self.rng.random()
        if r < 0.12:
            return f"CASE WHEN {self.pred(ctx, d)} THEN {self.expr(kind, ctx, d)} ELSE {self.expr(kind, ctx, d)} END"
        if r < 0.17:
            return (f"CASE {self.expr(kind, ctx, 0)} WHEN {self.literal(kind)} THEN {self.expr(kind, ctx, d)} "
                    f"WHEN {self.literal(kind)} THEN {self.expr(kind, ctx, d)} END")
        if r < 0.27:
            args = [self.expr(kind, ctx, d) for _ in range(self.rng.randint(2, 3))]
            return f"COALESCE({', '.join(args)})"
        if r < 0.30:
            return f"NULLIF({self.expr(kind, ctx, d)}, {self.leaf(kind, ctx)})"
        if r < 0.34 and kind != "b":
            return f"{self.pick(['GREATEST', 'LEAST'])}({self.expr(kind, ctx, d)}, {self.expr(kind, ctx, d)})"
        return getattr(self, "expr_" + kind)(ctx, d)

    def expr_i(self, ctx: Ctx, d: int) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"({self.expr('i', ctx, d)} {self.pick(['+', '-'])} {self.expr('i', ctx, d)})"
        if r < 0.4:
            return f"({self.leaf('i', ctx)} * {self.leaf('i', ctx)})"
        if r < 0.5:
            op = self.pick(["//", "%"])
            return f"({self.expr('i', ctx, d)} {op} NULLIF({self.leaf('i', ctx)}, 0))"
        if r < 0.55:
            return f"(-{self.leaf('i', ctx)})"
        if r < 0.62:
            return f"abs({self.expr('i', ctx, d)})"
        if r < 0.72:
            return f"{self.pick(['length', 'strlen'])}({self.expr('s', ctx, d)})"
        if r < 0.77:
            return f"strpos({self.expr('s', ctx, d)}, '{self.pick(['a', 'b', 'B'])}')"
        if r < 0.85:
            return f"CAST({self.expr('f', ctx, d)} AS {self.pick(['INTEGER', 'BIGINT'])})"
        if r < 0.93:
            part = self.pick(["year", "month", "day", "dow", "doy", "quarter", "week"])
            return self.pick([f"date_part('{part}', {self.expr('d', ctx, d)})",
                              f"extract({part} FROM {self.expr('d', ctx, d)})"])
        if r < 0.97:
            return f"({self.expr('d', ctx, d)} - {self.expr('d', ctx, d)})"
        return f"sign({self.expr('i', ctx, d)})"

    def expr_f(self, ctx: Ctx, d: int) -> str:
        r = self.rng.random()
        a, b = self.pick([("f", "f"), ("f", "i"), ("i", "f"), ("f", "m"), ("m", "f")])
        if r < 0.3:
            return f"({self.expr(a, ctx, d)} {self.pick(['+', '-'])} {self.expr(b, ctx, d)})"
        if r < 0.4:
            return f"({self.leaf(a, ctx)} * {self.leaf(b, ctx)})"
        if r < 0.5:
            a, b = self.pick([("f", "f"), ("i", "i"), ("f", "i"), ("i", "f"), ("m", "m")])
            return f"({self.expr(a, ctx, d)} / NULLIF({self.leaf(b, ctx)}, 0))"
        if r < 0.55:
            op = self.pick(["%", "//"])  # DuckDB's // on DOUBLE divides without flooring
            return f"({self.expr('f', ctx, d)} {op} NULLIF({self.leaf('f', ctx)}, 0))"
        if r < 0.62:
            return f"round({self.expr('f', ctx, d)}{self.pick(['', ', 0', ', 2'])})"
        if r < 0.7:
            return f"{self.pick(['abs', 'floor', 'ceil'])}({self.expr('f', ctx, d)})"
        if r < 0.75:
            return f"(-{self.leaf('f', ctx)})"
        return f"CAST({self.expr(self.pick(['i', 'm']), ctx, d)} AS DOUBLE)"

    def expr_m(self, ctx: Ctx, d: int) -> str:
        r = self.rng.random()
        if r < 0.5:
            a, b = self.pick([("m", "m"), ("m", "i"), ("i", "m")])
            return f"({self.expr(a, ctx, d)} {self.pick(['+', '-'])} {self.expr(b, ctx, d)})"
        if r < 0.6:
            return f"({self.leaf('m', ctx)} * {self.leaf('i', ctx)})"
        if r < 0.75:
            return f"abs({self.expr('m', ctx, d)})"
        if r < 0.85:
            return f"(-{self.leaf('m', ctx)})"
        return self.leaf("m", ctx)

    def expr_s(self, ctx: Ctx, d: int) -> str:
        r = self.rng.random()
        if r < 0.2:
            return f"{self.pick(['lower', 'upper'])}({self.expr('s', ctx, d)})"
        if r < 0.35:
            start = self.rng.randint(-3, 4)
            if self.chance(0.7):
                return f"{self.pick(['substr', 'substring'])}({self.expr('s', ctx, d)}, {start}, {self.rng.randint(0, 3)})"
            return f"substr({self.expr('s', ctx, d)}, {start})"
        if r < 0.5:
            return f"({self.expr('s', ctx, d)} || {self.expr('s', ctx, d)})"
        if r < 0.6:
            args = [self.expr(self.pick(["s", "s", "i"]), ctx, d) for _ in range(self.rng.randint(2, 3))]
            return f"concat({', '.join(args)})"
        if r < 0.75:
            k = self.pick(["i", "d", "b"])
            return f"CAST({self.expr(k, ctx, d)} AS VARCHAR)"
        if r < 0.82:
            return f"replace({self.expr('s', ctx, d)}, '{self.pick(['a', 'b', 'A'])}', '{self.pick(['', 'x', 'yy'])}')"
        if r < 0.88:
            return f"{self.pick(['trim', 'ltrim', 'rtrim', 'reverse'])}({self.expr('s', ctx, d)})"
        if r < 0.94:
            return f"{self.pick(['left', 'right'])}({self.expr('s', ctx, d)}, {self.rng.randint(0, 3)})"
        return f"{self.pick(['lpad', 'rpad'])}({self.expr('s', ctx, d)}, {self.rng.randint(0, 4)}, '*')"

    def days(self, ctx: Ctx) -> str:
        # DuckDB adds only INTEGER (not BIGINT) to a DATE
        return str(self.rng.randint(0, 40)) if self.chance(0.5) else f"CAST({self.leaf('i', ctx)} AS INTEGER)"

    def expr_d(self, ctx: Ctx, d: int) -> str:
        r = self.rng.random()
        if r < 0.5:
            return f"({self.expr('d', ctx, d)} {self.pick(['+', '-'])} {self.days(ctx)})"
        if r < 0.6:
            return f"({self.days(ctx)} + {self.expr('d', ctx, d)})"
        return self.leaf("d", ctx)

    def expr_b(self, ctx: Ctx, d: int) -> str:
        return self.pred(ctx, d)

    # -- predicates
    def comparable(self) -> str:
        return self.pick(["i", "i", "f", "m", "s", "s", "d", "b"])

    def pred(self, ctx: Ctx, depth: int = 2) -> str:
        r = self.rng.random()
        d = max(depth - 1, 0)
        if depth > 0 and r < 0.2:
            op = self.pick(["AND", "OR"])
            return f"({self.pred(ctx, d)} {op} {self.pred(ctx, d)})"
        if depth > 0 and r < 0.25:
            return f"(NOT {self.pred(ctx, d)})"
        if r < 0.5:
            k = self.comparable()
            k2 = self.pick(NUMERIC) if k in NUMERIC else k
            op = self.pick(["=", "<>", "<", "<=", ">", ">=", "!="])
            return f"({self.expr(k, ctx, d)} {op} {self.expr(k2, ctx, d)})"
        if r < 0.58:
            k = self.comparable()
            return f"({self.expr(k, ctx, d)} IS {self.pick(['', 'NOT '])}NULL)"
        if r < 0.66:
            k = self.comparable()
            vals = [self.literal(k) for _ in range(self.rng.randint(1, 4))]
            if self.chance(0.2):
                vals.append("NULL")
            return f"({self.expr(k, ctx, d)} {self.pick(['IN', 'NOT IN'])} ({', '.join(vals)}))"
        if r < 0.72:
            k = self.pick(["i", "f", "s", "d", "m"])
            lo, hi = sorted([self.literal(k), self.literal(k)]) if k == "s" else (self.literal(k), self.literal(k))
            return f"({self.expr(k, ctx, d)} {self.pick(['BETWEEN', 'NOT BETWEEN'])} {lo} AND {hi})"
        if r < 0.8:
            pat = self.pick(["a%", "%a", "%b%", "_", "a_", "%", "A%", "_b%", "", "__%", "%a_"])
            op = self.pick(["LIKE", "NOT LIKE", "ILIKE", "LIKE"])
            return f"({self.expr('s', ctx, d)} {op} '{pat}')"
        if r < 0.84:
            k = self.comparable()
            return f"({self.expr(k, ctx, d)} IS {self.pick(['', 'NOT '])}DISTINCT FROM {self.expr(k, ctx, d)})"
        if r < 0.88:
            return f"{self.pick(['starts_with', 'contains'])}({self.expr('s', ctx, d)}, '{self.pick(['a', 'b', 'ab'])}')"
        if r < 0.92:
            return f"({self.leaf('b', ctx)} IS {self.pick(['', 'NOT '])}{self.pick(['TRUE', 'FALSE'])})"
        if ctx.inner is None and ctx.outer is None and depth > 0 and self.chance(0.5):
            return self.subquery_pred(ctx)
        return self.leaf("b", ctx)

    # -- aggregates
    def agg_call(self, kind: str, inner: Ctx) -> str:
        call = self._agg_call(kind, inner)
        if self.chance(0.08) and not call.startswith("("):
            call += f" FILTER (WHERE {self.pred(inner, 1)})"
        return call

    def _agg_call(self, kind: str, inner: Ctx) -> str:
        e = lambda k: self.expr(k, inner, 1)  # noqa: E731
        r = self.rng.random()
        if kind == "i":
            if r < 0.3:
                return "count(*)"
            if r < 0.5:
                return f"count({e(self.comparable())})"
            if r < 0.65:
                return f"count(DISTINCT {e(self.comparable())})"
            if r < 0.8:
                return f"sum({e('i')})"
            return f"{self.pick(['min', 'max'])}({e('i')})"
        if kind == "f":
            if r < 0.5:
                return f"avg({e(self.pick(NUMERIC))})"
            if r < 0.75:
                return f"sum({e('f')})"
            return f"{self.pick(['min', 'max'])}({e('f')})"
        if kind == "m":
            return f"{self.pick(['sum', 'min', 'max'])}({e('m')})"
        if kind == "b":
            if r < 0.5:
                return f"{self.pick(['bool_and', 'bool_or'])}({self.pred(inner, 1)})"
            return f"({self.agg_call('i', inner)} {self.pick(['>', '=', '<'])} {self.rng.randint(0, 4)})"
        return f"{self.pick(['min', 'max'])}({e(kind)})"

    # -- FROM
    def table_ref(self, depth: int) -> tuple[str, list[tuple[str, str]], int]:
        """A FROM item: (sql, columns as (qualified sql, kind), row bound)."""
        a = self.alias("a")
        if depth > 0 and self.chance(0.15):
            q = self.select(depth - 1, top=self.chance(0.3))
            cols = [(f"{a}.c{j}", k) for j, k in enumerate(q.kinds)]
            return f"({q.sql}) AS {a}", cols, 200 * 200
        t = self.pick(self.tables)
        return f"{t.name} AS {a}", [(f"{a}.{n}", k) for n, k, _ in t.cols], t.rows

    def from_clause(self, depth: int) -> tuple[str, list[tuple[str, str]], bool]:
        sql, cols, rows = self.table_ref(depth)
        using = False
        n_joins = self.pick([0, 0, 0, 1, 1, 1, 2])
        nonequi_used = False
        for j in range(n_joins):
            first = j == 0
            rsql, rcols, rrows = self.table_ref(depth)
            kind = self.pick(["JOIN", "INNER JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN",
                              "LEFT OUTER JOIN", "FULL OUTER JOIN", "CROSS JOIN"])
            big = rows * rrows > 40_000 or nonequi_used
            if kind == "CROSS JOIN" and big:
                kind = "JOIN"
            if kind == "CROSS JOIN":
                sql = f"{sql} CROSS JOIN {rsql}"
                nonequi_used = True
                rows *= max(rrows, 1)
            elif first and self.chance(0.15) and self.using_cols(cols, rcols):
                names = self.using_cols(cols, rcols)
                picked = self.rng.sample(names, self.rng.randint(1, min(2, len(names))))
                sql = f"{sql} {kind} {rsql} USING ({', '.join(picked)})"
                rows = max(rows, rrows) * 8
                using = True
            else:
                cond, equi = self.join_cond(cols, rcols, big)
                nonequi_used |= not equi
                sql = f"{sql} {kind} {rsql} ON {cond}"
                rows = rows * max(rrows, 1) if not equi else max(rows, rrows) * 8
            cols = cols + rcols
        return sql, cols, using

    @staticmethod
    def using_cols(lcols, rcols) -> list[str]:
        """Column names both sides share with one kind (USING needs comparable keys)."""
        lk = {c.split(".")[1]: k for c, k in lcols}
        return [c.split(".")[1] for c, k in rcols
                if lk.get(c.split(".")[1]) == k and k in ("i", "s", "d")]

    def join_cond(self, lcols, rcols, need_equi: bool) -> tuple[str, bool]:
        pairs = [(l, r) for l, lk in lcols for r, rk in rcols if lk == rk and lk in ("i", "s", "d")]
        both = Ctx(lcols + rcols)
        if pairs and (need_equi or self.chance(0.75)):
            l, r = self.pick(pairs)
            cond = f"{l} = {r}"
            if self.chance(0.3):
                l2, r2 = self.pick(pairs)
                cond += f" AND {l2} = {r2}"
            if self.chance(0.3):
                cond += f" AND {self.pred(both, 1)}"
            return cond, True
        if need_equi:
            return "FALSE" if self.chance(0.1) else f"{self.pred(Ctx(rcols), 0)}", True
        r = self.rng.random()
        if r < 0.5:
            k = self.pick(["i", "f", "s", "d"])
            lc, rc = [c for c, kk in lcols if kk == k], [c for c, kk in rcols if kk == k]
            if lc and rc:
                return f"{self.pick(lc)} {self.pick(['<', '<=', '>', '<>'])} {self.pick(rc)}", False
        if r < 0.75 and pairs:
            (l, r1), (l2, r2) = self.pick(pairs), self.pick(pairs)
            return f"({l} = {r1} OR {l2} = {r2})", False
        return self.pred(both, 1), False

    # -- subqueries
    def subquery_pred(self, ctx: Ctx) -> str:
        t = self.pick(self.tables)
        a = self.alias("q")
        icols = [(f"{a}.{n}", k) for n, k, _ in t.cols]
        inner = Ctx(icols, outer=ctx)
        conds = []
        if self.chance(0.6):  # correlate on a shared kind
            pairs = [(ic, oc) for ic, ik in icols for oc, ok in ctx.cols if ik == ok and ik in ("i", "s")]
            if pairs:
                ic, oc = self.pick(pairs)
                conds.append(f"{ic} {self.pick(['=', '=', '=', '<', '<>'])} {oc}")
        if self.chance(0.6):
            conds.append(self.pred(Ctx(icols), 1))
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        r = self.rng.random()
        if r < 0.4:
            k = self.pick(["i", "s", "f", "d"])
            e = self.expr(k, Ctx(icols), 1)
            return (f"({self.expr(k, ctx, 1)} {self.pick(['IN', 'NOT IN'])} "
                    f"(SELECT {e} FROM {t.name} AS {a}{where}))")
        if r < 0.7:
            return f"({self.pick(['', 'NOT '])}EXISTS (SELECT {self.pick(['1', '*'])} FROM {t.name} AS {a}{where}))"
        k = self.pick(["i", "f", "s"])
        agg = self.agg_call(k, Ctx(icols))
        return f"({self.expr(k, ctx, 1)} {self.pick(['=', '<', '>=', '<>'])} (SELECT {agg} FROM {t.name} AS {a}{where}))"

    def scalar_subquery(self, ctx: Ctx) -> tuple[str, str]:
        t = self.pick(self.tables)
        a = self.alias("q")
        icols = [(f"{a}.{n}", k) for n, k, _ in t.cols]
        conds = []
        pairs = [(ic, oc) for ic, ik in icols for oc, ok in ctx.cols if ik == ok and ik in ("i", "s")]
        if pairs and self.chance(0.7):
            ic, oc = self.pick(pairs)
            conds.append(f"{ic} = {oc}")
        if self.chance(0.4):
            conds.append(self.pred(Ctx(icols), 1))
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        k = self.pick(["i", "i", "f", "s"])
        return f"(SELECT {self.agg_call(k, Ctx(icols))} FROM {t.name} AS {a}{where})", k

    # -- window functions
    def window(self, ctx: Ctx, row_dependent: bool = True) -> tuple[str, str]:
        """A window call; ``row_dependent=False`` avoids row_number, lag/lead and ROWS frames,
        whose values for tied identical rows are arbitrary: one per select list is unambiguous
        (identical rows stay interchangeable), two pair their arbitrary choices differently."""
        cols = [c for c, _ in ctx.cols]
        part = ""
        if self.chance(0.7):
            keys = [c for c, k in ctx.cols if k in ("i", "s", "b", "d")]
            if keys:
                part = "PARTITION BY " + ", ".join(self.rng.sample(keys, min(len(keys), self.rng.randint(1, 2))))
        okind = self.pick(["i", "s", "f", "d"])
        okey = self.expr(okind, ctx, 1)
        direction = f"{self.pick(['', ' ASC', ' DESC'])}{self.pick(['', '', ' NULLS FIRST', ' NULLS LAST'])}"
        peer_order = f"ORDER BY {okey}{direction}"
        total_order = peer_order + "".join(f", {c}" for c in cols)
        r = self.rng.random()
        if not row_dependent:
            r = 0.15 + 0.2 * r if r < 0.5 else r
        if r < 0.15:
            return f"row_number() OVER ({part} {total_order})", "i"
        if r < 0.35:
            return f"{self.pick(['rank', 'dense_rank'])}() OVER ({part} {peer_order})", "i"
        if r < 0.5:
            k = self.pick(["i", "s", "f", "d"])
            fn = self.pick(["lag", "lead"])
            args = self.expr(k, ctx, 1)
            if self.chance(0.5):
                args += f", {self.rng.randint(1, 2)}"
                if self.chance(0.5):
                    args += f", {self.literal(k)}"
            return f"{fn}({args}) OVER ({part} {total_order})", k
        k = self.pick(["i", "f", "m"])
        fn, kind = self.pick([("sum", k if k != "i" else "i"), ("avg", "f"), ("count", "i"),
                              ("min", k), ("max", k), ("count(*)", "i")])
        call = "count(*)" if fn == "count(*)" else f"{fn}({self.expr(k, ctx, 1)})"
        s = self.rng.random()
        if not row_dependent:
            s *= 0.75
        if s < 0.35:
            over = part
        elif s < 0.75:
            over = f"{part} {peer_order}"
        else:
            frame = self.pick(["ROWS BETWEEN 1 PRECEDING AND CURRENT ROW",
                               "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
                               "ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING",
                               "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING"])
            over = f"{part} {total_order} {frame}"
        return f"{call} OVER ({over})", kind

    # -- SELECT
    def select(self, depth: int = 1, kinds: list[str] | None = None, top: bool = True,
               star: bool = False) -> Query:
        from_sql, cols, using = self.from_clause(depth)
        ctx = Ctx(cols)
        where = f" WHERE {self.pred(ctx)}" if self.chance(0.6) else ""
        form = self.pick(["plain", "plain", "agg", "agg", "window"])
        if kinds is not None and form == "window":
            form = "plain"
        distinct = ""
        group = having = ""
        items: list[tuple[str, str]] = []
        order_ctx = ctx
        if form == "agg":
            gctx, items, group, having = self.aggregate(ctx, kinds)
            order_ctx = gctx
            if kinds is None and self.chance(0.15):  # window functions over the groups
                items.append(self.window(gctx))
        elif star and not using and self.chance(0.05):  # outermost only: * keeps table column names
            sql = f"SELECT * FROM {from_sql}{where}"
            out_kinds = [k for _, k in cols]
            if not top:
                return Query(sql, out_kinds)
            return self.order_limit(sql, out_kinds, allow_expr=True, ctx=ctx, by_position=True)
        else:
            want = kinds or [self.pick(["i", "i", "f", "m", "s", "s", "d", "b"])
                             for _ in range(self.rng.randint(1, 4))]
            for k in want:
                if form == "plain" and top and self.chance(0.08):
                    items.append(self.scalar_subquery_of(ctx, k))
                else:
                    items.append((self.expr(k, ctx), k))
            if form == "window":
                for j in range(self.rng.randint(1, 2)):
                    items.append(self.window(ctx, row_dependent=j == 0))
            if self.chance(0.15):
                distinct = "DISTINCT "
        select_list = ", ".join(f"{e} AS c{j}" for j, (e, _) in enumerate(items))
        sql = f"SELECT {distinct}{select_list} FROM {from_sql}{where}{group}{having}"
        out_kinds = [k for _, k in items]
        if not top:
            return Query(sql, out_kinds)
        return self.order_limit(sql, out_kinds, allow_expr=not distinct, ctx=order_ctx)

    def scalar_subquery_of(self, ctx: Ctx, k: str) -> tuple[str, str]:
        sub, sk = self.scalar_subquery(ctx)
        if sk == k:
            return sub, k
        return self.expr(k, ctx), k

    def aggregate(self, ctx: Ctx, kinds):
        keys: list[tuple[str, str]] = []
        if kinds is None or self.chance(0.5):
            for _ in range(self.pick([0, 1, 1, 2, 2, 3]) if kinds is None else self.rng.randint(1, 2)):
                k = self.pick(["i", "i", "s", "s", "b", "d", "f", "m"])
                e = self.expr(k, ctx, self.pick([0, 0, 1]))
                if _INT_CONST.fullmatch(e):  # DuckDB reads GROUP BY <integer> as a position
                    e = self.pick(ctx.of(k)) if ctx.of(k) else f"{e} + 0"
                if e not in [x for x, _ in keys]:
                    keys.append((e, k))
        gctx = Ctx(keys, inner=ctx)
        items: list[tuple[str, str]] = []
        if kinds is None:
            key_items = [kk for kk in keys if self.chance(0.8)]
            items.extend(key_items)
            for _ in range(self.rng.randint(1, 3)):
                k = self.pick(["i", "i", "f", "m", "s", "d", "b"])
                items.append((self.expr(k, gctx, 1), k))
            self.rng.shuffle(items)
        else:
            for k in kinds:
                items.append((self.expr(k, gctx, 1), k))
        group = ""
        if keys:
            style = self.rng.random()
            if style < 0.2 and all(kk in items for kk in keys):
                group = " GROUP BY " + ", ".join(str(items.index(kk) + 1) for kk in keys)
            else:
                group = " GROUP BY " + ", ".join(e for e, _ in keys)
        having = f" HAVING {self.pred(gctx, 1)}" if self.chance(0.3) else ""
        return gctx, items, group, having

    def order_limit(self, sql: str, kinds: list[str], allow_expr: bool, ctx: Ctx,
                    by_position: bool = False) -> Query:
        r = self.rng.random()
        n = len(kinds)

        def term(pos: int) -> tuple[str, bool, bool]:
            desc = self.chance(0.4)
            nulls = self.pick(["", "", " NULLS FIRST", " NULLS LAST"])
            nulls_first = nulls == " NULLS FIRST" or (nulls == "" and False)
            ref = str(pos + 1) if by_position or self.chance(0.6) else f"c{pos}"
            return f"{ref}{' DESC' if desc else ''}{nulls}", desc, nulls_first

        if r < 0.35:  # total order over every output column, maybe LIMIT/OFFSET
            positions = list(range(n))
            self.rng.shuffle(positions)
            terms = [term(p) for p in positions]
            sql += " ORDER BY " + ", ".join(t for t, _, _ in terms)
            if self.chance(0.6):
                sql += f" LIMIT {self.rng.randint(0, 12)}"
                if self.chance(0.4):
                    sql += f" OFFSET {self.rng.randint(0, 5)}"
            return Query(sql, kinds, ordered=True)
        if r < 0.5:  # partial order: rows compared as a multiset, Dawn's order checked
            positions = self.rng.sample(range(n), self.rng.randint(1, n))
            terms = [term(p) for p in positions]
            sql += " ORDER BY " + ", ".join(t for t, _, _ in terms)
            spec = [(p, d, nf) for p, (_, d, nf) in zip(positions, terms)]
            return Query(sql, kinds, order_spec=spec)
        if r < 0.55 and allow_expr:  # ORDER BY an expression that is not an output column
            e = self.expr(self.pick(['i', 's']), ctx, 1)
            # a column or an aggregate, not a constant (DuckDB rejects those) or a position
            if ("." in e or "(" in e) and not _INT_CONST.fullmatch(e) and not e.startswith(("CAST(", "NULL")):
                sql += f" ORDER BY {e}"
        return Query(sql, kinds)

    def set_op(self) -> Query:
        kinds = [self.pick(["i", "i", "s", "s", "f", "d", "b", "m"]) for _ in range(self.rng.randint(1, 3))]
        left = self.select(1, kinds, top=False)
        right = self.select(1, kinds, top=False)
        op = self.pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "UNION", "UNION ALL",
                        "INTERSECT ALL", "EXCEPT ALL"])
        if self.chance(0.3):
            third = self.select(1, kinds, top=False)
            op2 = self.pick(["UNION", "UNION ALL", "EXCEPT", "INTERSECT"])
            sql = f"({left.sql}) {op} ({right.sql}) {op2} ({third.sql})"
        else:
            sql = f"({left.sql}) {op} ({right.sql})"
        return self.order_limit(sql, kinds, allow_expr=False, ctx=Ctx([]))

    def cte(self) -> Query:
        inner = self.select(1, top=False)
        name = self.alias("w")
        cols = [(f"{name}.c{j}", k) for j, k in enumerate(inner.kinds)]
        ctx = Ctx(cols)
        items = [(self.expr(k, ctx), k) for k in
                 [self.pick(inner.kinds) for _ in range(self.rng.randint(1, 3))]]
        where = f" WHERE {self.pred(ctx, 1)}" if self.chance(0.5) else ""
        body = f"SELECT {', '.join(f'{e} AS c{j}' for j, (e, _) in enumerate(items))} FROM {name}{where}"
        if self.chance(0.3):
            body += f" UNION ALL SELECT {', '.join(f'{e}' for e, _ in items)} FROM {name}"
        sql = f"WITH {name} AS ({inner.sql}) {body}"
        return self.order_limit(sql, [k for _, k in items], allow_expr=False, ctx=ctx)

    def query(self) -> Query:
        r = self.rng.random()
        if r < 0.15:
            return self.set_op()
        if r < 0.22:
            return self.cte()
        return self.select(depth=1, star=True)


# ---------------------------------------------------------------- running and comparing

def _dawn_rows(tbl: pa.Table) -> list[tuple]:
    cols = [c.to_pylist() for c in tbl.columns]
    return list(zip(*cols)) if cols else [() for _ in range(tbl.num_rows)]


def _cmp_values(a, b) -> int:
    """Order two non-NULL values of one column (Dawn's own result, so one type)."""
    return (a > b) - (a < b)


def _check_sorted(rows: list[tuple], spec) -> str | None:
    for i in range(1, len(rows)):
        prev, cur = rows[i - 1], rows[i]
        for pos, desc, nulls_first in spec:
            a, b = prev[pos], cur[pos]
            if a is None and b is None:
                continue
            if a is None or b is None:
                # NULLS LAST is the default for both directions
                a_first = (a is None) == nulls_first
                if a_first:
                    break
                return f"rows {i - 1} and {i} are out of order on column {pos}: {prev!r} then {cur!r}"
            c = _cmp_values(a, b)
            if c == 0:
                continue
            if (c < 0) != desc:
                break
            return f"rows {i - 1} and {i} are out of order on column {pos}: {prev!r} then {cur!r}"
    return None


class Runner:
    def __init__(self, tables: list[Table]):
        self.dawn = engine.connect()
        self.duck = duckdb.connect()
        for t in tables:
            self.dawn.register(t.name, t.data)
            self.duck.register(t.name, t.data)

    def close(self):
        self.dawn.close()
        self.duck.close()

    def duck_rows(self, sql: str):
        try:
            return self.duck.execute(sql).fetchall(), None
        except duckdb.Error as e:
            return None, f"{type(e).__name__}: {e}"

    def dawn_rows(self, sql: str):
        try:
            cur = self.dawn.cursor()
            cur.execute(sql)
            return _dawn_rows(cur.fetch_arrow_table()), None
        except Exception as e:  # noqa: BLE001 - any failure is reported with the query
            return None, f"{type(e).__name__}: {e}"


def _show(rows, limit: int = 30) -> str:
    if rows is None:
        return "None"
    body = "\n".join(f"    {r!r}" for r in rows[:limit])
    more = f"\n    ... ({len(rows) - limit} more)" if len(rows) > limit else ""
    return f"{len(rows)} rows\n{body}{more}"


def dataset(seed: int, block: int) -> list[Table]:
    return make_tables(random.Random(f"tables:{seed}:{block}"))


def generate(seed: int, index: int, tables: list[Table], attempt: int = 0) -> Query:
    rng = random.Random(f"query:{seed}:{index}:{attempt}")
    return Gen(rng, tables).query()


def run_differential(seed: int, n_queries: int) -> dict:
    stats = {"queries": 0, "both_error": 0, "replaced": 0, "ordered": 0, "mismatches": [],
             "errors": []}
    runner, tables, block = None, None, -1
    try:
        for i in range(n_queries):
            if i // QUERIES_PER_DATASET != block:
                block = i // QUERIES_PER_DATASET
                if runner is not None:
                    runner.close()
                tables = dataset(seed, block)
                runner = Runner(tables)
            for attempt in range(5):
                q = generate(seed, i, tables, attempt)
                expected, duck_err = runner.duck_rows(q.sql)
                if expected is None or len(expected) <= MAX_ROWS:
                    break
                stats["replaced"] += 1
            got, dawn_err = runner.dawn_rows(q.sql)
            stats["queries"] += 1
            stats["ordered"] += q.ordered
            problem = None
            if duck_err and dawn_err:
                stats["both_error"] += 1
                stats["errors"].append(f"query={i}: {duck_err.splitlines()[0][:200]}\n  {q.sql}")
                continue
            if duck_err:
                problem = f"DuckDB raised but Dawn did not: {duck_err}"
            elif dawn_err:
                problem = f"Dawn raised: {dawn_err}"
            else:
                problem = compare_results(got, expected, q.ordered)
                if problem is None and q.order_spec:
                    problem = _check_sorted(got, q.order_spec)
            if problem is not None:
                stats["mismatches"].append(
                    f"seed={seed} query={i}: {problem}\n  SQL: {q.sql}\n"
                    f"  Dawn: {dawn_err or _show(got)}\n  DuckDB: {duck_err or _show(expected)}")
    finally:
        if runner is not None:
            runner.close()
    return stats


def _assert_clean(stats: dict, seed: int) -> None:
    n = stats["queries"]
    print(f"\ndifferential seed={seed}: {n} queries, {stats['ordered']} order-checked, "
          f"{stats['both_error']} errored on both engines, {stats['replaced']} replaced (too large), "
          f"{len(stats['mismatches'])} mismatches")
    assert not stats["mismatches"], (
        f"{len(stats['mismatches'])} of {n} queries disagree with DuckDB "
        f"(reproduce: DAWN_DIFF_SEED={seed} python tests/test_differential.py <query>)\n\n"
        + "\n\n".join(stats["mismatches"][:10]))
    assert stats["both_error"] <= 0.05 * n, f"too many queries fail on both engines: {stats['both_error']}"


def test_differential_against_duckdb():
    seed = int(os.environ.get("DAWN_DIFF_SEED", DEFAULT_SEED))
    n = int(os.environ.get("DAWN_DIFF_QUERIES", DEFAULT_QUERIES))
    stats = run_differential(seed, n)
    _assert_clean(stats, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 22, 33, 44, 55])
def test_differential_against_duckdb_long(seed):
    stats = run_differential(seed, 1000)
    _assert_clean(stats, seed)


def _reproduce(index: int) -> None:
    seed = int(os.environ.get("DAWN_DIFF_SEED", DEFAULT_SEED))
    tables = dataset(seed, index // QUERIES_PER_DATASET)
    for t in tables:
        print(f"-- {t.name}: {t.rows} rows")
        print(t.data.to_pandas().to_string(max_rows=40))
    runner = Runner(tables)
    for attempt in range(5):
        q = generate(seed, index, tables, attempt)
        expected, duck_err = runner.duck_rows(q.sql)
        if expected is None or len(expected) <= MAX_ROWS:
            break
    got, dawn_err = runner.dawn_rows(q.sql)
    print(f"\nSQL: {q.sql}\nordered={q.ordered} order_spec={q.order_spec}")
    print(f"Dawn: {dawn_err or _show(got)}\nDuckDB: {duck_err or _show(expected)}")
    if not (duck_err or dawn_err):
        print("difference:", compare_results(got, expected, q.ordered))


if __name__ == "__main__":
    t0 = time.time()
    if len(sys.argv) > 1:
        _reproduce(int(sys.argv[1]))
    else:
        seed = int(os.environ.get("DAWN_DIFF_SEED", DEFAULT_SEED))
        n = int(os.environ.get("DAWN_DIFF_QUERIES", DEFAULT_QUERIES))
        st = run_differential(seed, n)
        for m in st["mismatches"]:
            print(m, "\n")
        if os.environ.get("DAWN_DIFF_SHOW_ERRORS"):
            print("\n".join(st["errors"]))
        print(f"{st['queries']} queries, {len(st['mismatches'])} mismatches, "
              f"{st['both_error']} both-error, {st['replaced']} replaced, {time.time() - t0:.1f}s")
