"""The fuzzers' query generator, part 1: feature switches, literals, expressions, predicates and
aggregate calls (part 2, tests/fuzz_query.py, builds FROM clauses, subqueries, windows and whole
queries, and the cases of the TLP and NoREC oracles).

Feature switches
----------------
Every construct beyond the base grammar is generated only when its switch is in the feature set
handed to the generator, so the CI tests enable what Dawn passes today (``CI_FEATURES``) and the
lead adds switches as fixes land; ``ALL_FEATURES`` is everything (benchmarks/fuzz.py's default).
``base`` is always on: the grammar of the original differential test (joins, USING, subqueries
with simple correlation, window functions with total orders, set operations, CTEs, CASE,
COALESCE, LIKE, BETWEEN, IN lists, FILTER, DISTINCT, ORDER BY/LIMIT over every column, the
string, date and numeric functions Dawn had from the start).

Data
  bigint_values   BIGINT/INTEGER columns and literals near 2^31, 2^53 and 2^63, read only by what
                  cannot overflow (comparisons, min/max/count, GROUP BY/JOIN keys, CAST to VARCHAR)
  bigint_double   big integers as doubles: CAST(x AS DOUBLE), avg(x), x / n, x compared with DOUBLE
  bigint_sum      sum over big integers (a HUGEINT in DuckDB)
  overflow        arithmetic that overflows (+, -, *, negation, abs of the minimum, CAST to a
                  narrower type); the data holds -2^63 and -2^31. Where DuckDB raises, Dawn must
                  raise an engine.Error
  timestamps      TIMESTAMP columns and literals (kind t)
  strings_exotic  non-ASCII strings, tabs and newlines in the data
Casts
  casts           CAST / TRY_CAST / :: between every pair of kinds (INTEGER, BIGINT, SMALLINT,
                  TINYINT, HUGEINT, DOUBLE, REAL, DECIMAL, VARCHAR, BOOLEAN, DATE, TIMESTAMP)
  cast_text       text that may or may not parse (' 7 ', '2.5', '1e3', '2020-1-5', 'abc'...)
                  as columns and literals, cast to numbers, dates and booleans
  decimal_text    DECIMAL cast to VARCHAR or INTEGER (Dawn computes DECIMAL as DOUBLE by design,
                  so these differ where DuckDB prints or rounds the exact decimal)
Functions (tests/fuzz_functions.py: each call also has its own switch ``fn:<name>``)
  fn_math, fn_string, fn_hash, fn_regex, fn_date, fn_cond, fn_list (and unnest in FROM),
  fn_struct
Aggregates (each also ``fn:<name>``)
  agg_count_if, agg_quantile (median, quantile_cont/disc), agg_mode, agg_approx, agg_stats
  (stddev, variance, corr, covar, regr_*), agg_bits (bit_and/or, product), agg_arg (arg_max/min,
  max_by/min_by, first/last, any_value), agg_ordered (string_agg/list/array_agg with ORDER BY)
Constructs
  exclude_replace SELECT * EXCLUDE (...), * REPLACE (... AS c), t.* EXCLUDE (...)
  paren_join      parenthesised joins: FROM (a CROSS JOIN b), a JOIN (b JOIN c ON ...) ON ...
  distinct_on     SELECT DISTINCT ON (...) ... ORDER BY (a total order, so the kept row is fixed)
  qualify         QUALIFY over window functions
  grouping_sets   GROUP BY GROUPING SETS / ROLLUP / CUBE, grouping()
  correlated      correlated subqueries of more shapes: in SELECT of a grouped query, in HAVING,
                  in ON, nested two deep, over UNIONs, with ORDER BY ... LIMIT

What the generator avoids, because the answer is legitimately implementation-defined or because
Dawn documents a deliberate difference:
- LIMIT/OFFSET without an ORDER BY over every output column, and row-dependent window functions
  (row_number, lag, lead, ROWS frames) without a total window order (their ORDER BY ends with every
  column in scope, so ties are identical rows);
- division by zero (divisors are wrapped in NULLIF(x, 0)); DuckDB raises for ``//`` and ``%`` by 0;
- integer overflow unless ``overflow`` is on (small values; products only of leaves);
- DECIMAL expressions cast to INTEGER or VARCHAR unless ``decimal_text`` is on; data and literals
  are multiples of 0.25, so double arithmetic on them is exact;
- round(x, 1) (0.25 rounds to 0.3, which a double cannot hold);
- order-dependent aggregates whose input order is not fixed: arg_max and first read one column
  and order by it, mode and any_value read a group key, string_agg and list order by their input.
"""
from __future__ import annotations

import datetime as _dt
import random
import re

from fuzz_data import BASE_DATE, BASE_TS, BIG_INT32, BIG_INT64, CAST_TEXT, STRINGS, Table
from fuzz_functions import AGGREGATES, GROUPS, NAMES, POOLS, SCALARS

DATA_FEATURES = {"bigint_values", "bigint_double", "bigint_sum", "overflow", "timestamps",
                 "strings_exotic"}
CAST_FEATURES = {"casts", "cast_text", "decimal_text"}
CONSTRUCT_FEATURES = {"exclude_replace", "paren_join", "distinct_on", "qualify", "grouping_sets",
                      "correlated"}
ALL_FEATURES = frozenset({"base"} | DATA_FEATURES | CAST_FEATURES | CONSTRUCT_FEATURES
                         | set(GROUPS))
# What the CI tests generate: everything but decimal_text (DECIMAL to text, which Dawn prints as
# DOUBLE by its documented DECIMAL-as-DOUBLE rule: 10.5 where DuckDB prints 10.50)
CI_FEATURES = frozenset(ALL_FEATURES - {"decimal_text"})


def parse_features(spec: str) -> frozenset:
    """``all``, ``ci``, or a comma list of switches; ``all,-overflow`` removes one, and
    ``all,-fn:replace_empty`` one function of a group that stays on."""
    out: set[str] = {"base"}
    known = ALL_FEATURES | {f"fn:{n}" for n in NAMES}
    for word in (w.strip() for w in spec.split(",")):
        if not word:
            continue
        if word in ("all", "ci"):
            out |= ALL_FEATURES if word == "all" else CI_FEATURES
            continue
        if word.startswith("!"):  # as stored: a function turned off ("-fn:x")
            word = "-" + word[1:]
        name = word.lstrip("-")
        if name not in known:
            raise ValueError(f"unknown feature {name!r} (see tests/fuzz_gen.py)")
        if word.startswith("-"):
            out.discard(name)
            if name.startswith("fn:"):
                out.add("!" + name)
        else:
            out.add(name)
    return frozenset(out)


NUMERIC = ("i", "f", "m")
SQL_TYPES = {"i": "INTEGER", "I": "BIGINT", "f": "DOUBLE", "m": "DECIMAL(10,2)", "s": "VARCHAR",
             "b": "BOOLEAN", "d": "DATE", "t": "TIMESTAMP"}
CAST_TARGETS = {"i": ["INTEGER", "BIGINT", "SMALLINT", "TINYINT"], "I": ["BIGINT", "HUGEINT"],
                "f": ["DOUBLE", "REAL"], "m": ["DECIMAL(10,2)", "DECIMAL(18,3)"], "s": ["VARCHAR"],
                "b": ["BOOLEAN"], "d": ["DATE"], "t": ["TIMESTAMP"]}
_INT_CONST = re.compile(r"[(\s-]*\d+[)\s]*")  # 4, (-4), (-(-4)): DuckDB folds signs
_TOKEN = re.compile(r"\$([A-Za-z]+[0-9]?)")


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
        # what else makes an order by the columns total (grouping(...) under grouping sets,
        # whose groups at different levels may show the same keys)
        self.tiebreak = ""

    def of(self, kind: str) -> list[str]:
        return [c for c, k in self.cols if k == kind]


class ExprGen:
    def __init__(self, rng: random.Random, tables: list[Table], features: frozenset = CI_FEATURES):
        self.rng = rng
        self.tables = tables
        self.features = features
        self.n_alias = 0
        on = features.__contains__
        # the kinds a select list, a group key or a comparison draws from
        self.out_kinds = ["i", "i", "f", "m", "s", "s", "d", "b"]
        self.cmp_kinds = ["i", "i", "f", "m", "s", "s", "d", "b"]
        if on("bigint_values"):
            self.out_kinds.append("I")
            self.cmp_kinds += ["I"]
        if on("timestamps"):
            self.out_kinds.append("t")
            self.cmp_kinds.append("t")
        self.scalars: dict[str, list[str]] = {}
        for name, group, kind, tpl in SCALARS:
            if self.fn_on(name, group):
                self.scalars.setdefault(kind, []).append(tpl)
        self.aggs: dict[str, list[str]] = {}
        for name, group, kind, tpl in AGGREGATES:
            if self.fn_on(name, group):
                self.aggs.setdefault(kind, []).append(tpl)

    # -- helpers
    def on(self, feature: str) -> bool:
        return feature in self.features

    def fn_on(self, name: str, group: str) -> bool:
        if f"!fn:{name}" in self.features:
            return False
        return group in self.features or f"fn:{name}" in self.features

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, seq):
        return self.rng.choice(seq)

    def alias(self, base: str = "a") -> str:
        self.n_alias += 1
        return f"{base}{self.n_alias}"

    def fill(self, tpl: str, kind: str, ctx: Ctx, d: int) -> str:
        """A function template with its ``$`` placeholders filled (see tests/fuzz_functions.py)."""
        def sub(m: re.Match) -> str:
            tok = m.group(1)
            if tok == "SAME":
                return self.expr(kind, ctx, d)
            if tok in POOLS:
                return self.pick(POOLS[tok])
            if len(tok) == 2 and tok[1] == "0":
                return self.leaf(tok[0], ctx)
            return self.expr(tok, ctx, d)
        return _TOKEN.sub(sub, tpl)

    # -- literals
    def literal(self, kind: str) -> str:
        r = self.rng
        if self.chance(0.03):
            # typed: DuckDB types a bare NULL late (NULL - 0 unions with a DATE), Dawn early
            return f"CAST(NULL AS {SQL_TYPES[kind]})"
        if kind == "i":
            v = r.randint(-5, 20)
            return f"({v})" if v < 0 else str(v)
        if kind == "I":
            v = r.choice(BIG_INT64 + BIG_INT32)
            if self.on("overflow") and self.chance(0.1):
                v = r.choice([-(2**63), -(2**31), 2**63 - 1])
            return f"({v})" if v < 0 else str(v)
        if kind == "f":
            v = r.randint(-40, 40) / 4
            return f"CAST({v} AS DOUBLE)" if self.chance(0.5) else f"({v}::DOUBLE)"
        if kind == "m":
            v = r.randint(-200, 200) / 4
            return f"({v:.2f})"
        if kind == "s":
            if self.on("cast_text") and self.chance(0.3):
                return "'" + r.choice(CAST_TEXT) + "'"
            return "'" + r.choice(STRINGS) + "'"
        if kind == "b":
            return r.choice(["TRUE", "FALSE"])
        if kind == "d":
            return f"DATE '{BASE_DATE + _dt.timedelta(days=r.randint(0, 90))}'"
        if kind == "t":
            ts = BASE_TS + _dt.timedelta(seconds=r.randint(0, 90 * 86400))
            return f"TIMESTAMP '{ts.isoformat(sep=' ')}'"
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
        tpls = self.scalars.get(kind, []) + self.scalars.get("*", [])
        if tpls and self.chance(0.2):
            return self.fill(self.pick(tpls), kind, ctx, d)
        if self.on("casts") and self.chance(0.1):
            return self.cast(kind, ctx, d)
        return getattr(self, "expr_" + kind)(ctx, d)

    def cast(self, kind: str, ctx: Ctx, d: int) -> str:
        """CAST/TRY_CAST/:: into ``kind`` from a random kind (the pair may be invalid: then both
        engines must refuse it)."""
        src = self.pick(self.out_kinds + ["s", "s"] if self.on("cast_text") else self.out_kinds)
        if src == "m" and kind in ("i", "s", "I") and not self.on("decimal_text"):
            src = "f"
        target = self.pick(CAST_TARGETS[kind])
        if target in ("SMALLINT", "TINYINT") and src in ("I", "f") and not self.on("overflow"):
            target = "INTEGER"
        if kind == "i" and src == "I" and not self.on("overflow"):
            kind, target = "I", "BIGINT"
        e = self.expr(src, ctx, d)
        try_ = src == "s" and not self.on("cast_text") or self.chance(0.5)
        if not try_ and self.chance(0.3):
            return f"({e})::{target}"
        return f"{'TRY_CAST' if try_ else 'CAST'}({e} AS {target})"

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
            if self.on("overflow") and self.chance(0.3):
                return f"CAST({self.expr('I', ctx, d)} AS INTEGER)"
            return f"CAST({self.expr('f', ctx, d)} AS {self.pick(['INTEGER', 'BIGINT'])})"
        if r < 0.93:
            part = self.pick(["year", "month", "day", "dow", "doy", "quarter", "week"])
            return self.pick([f"date_part('{part}', {self.expr('d', ctx, d)})",
                              f"extract({part} FROM {self.expr('d', ctx, d)})"])
        if r < 0.97:
            return f"({self.expr('d', ctx, d)} - {self.expr('d', ctx, d)})"
        return f"sign({self.expr('i', ctx, d)})"

    def expr_I(self, ctx: Ctx, d: int) -> str:
        r = self.rng.random()
        if self.on("overflow") and r < 0.5:
            if r < 0.15:
                return f"({self.expr('I', ctx, d)} {self.pick(['+', '-'])} {self.expr(self.pick(['I', 'i']), ctx, d)})"
            if r < 0.25:
                return f"({self.leaf('I', ctx)} * {self.leaf(self.pick(['I', 'i']), ctx)})"
            if r < 0.35:
                return f"(-{self.leaf('I', ctx)})"
            if r < 0.42:
                return f"abs({self.expr('I', ctx, d)})"
            return f"CAST({self.expr('I', ctx, d)} AS {self.pick(['INTEGER', 'BIGINT'])})"
        if r < 0.7:
            return f"({self.expr('I', ctx, d)} {self.pick(['//', '%'])} NULLIF({self.leaf('i', ctx)}, 0))"
        if r < 0.85:
            return f"CAST({self.expr('i', ctx, d)} AS BIGINT)"
        return self.leaf("I", ctx)

    def expr_f(self, ctx: Ctx, d: int) -> str:
        r = self.rng.random()
        a, b = self.pick([("f", "f"), ("f", "i"), ("i", "f"), ("f", "m"), ("m", "f")])
        if self.on("bigint_double") and r < 0.12:
            if r < 0.04:
                return f"CAST({self.expr('I', ctx, d)} AS DOUBLE)"
            if r < 0.08:
                return f"({self.expr('I', ctx, d)} / NULLIF({self.leaf(self.pick(['i', 'I']), ctx)}, 0))"
            return f"({self.leaf('I', ctx)} + {self.leaf('f', ctx)})"
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
            k = self.pick(["i", "d", "b"] + (["I"] if self.on("bigint_values") else [])
                          + (["t"] if self.on("timestamps") else []))
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
        if r < 0.7 and self.on("timestamps"):
            return f"CAST({self.expr('t', ctx, d)} AS DATE)"
        return self.leaf("d", ctx)

    def expr_t(self, ctx: Ctx, d: int) -> str:
        r = self.rng.random()
        if r < 0.4:
            unit = self.pick(["HOUR", "DAY", "MINUTE", "SECOND", "MONTH"])
            return f"({self.expr('t', ctx, d)} {self.pick(['+', '-'])} INTERVAL {self.rng.randint(0, 30)} {unit})"
        if r < 0.55:
            return f"CAST({self.expr('d', ctx, d)} AS TIMESTAMP)"
        return self.leaf("t", ctx)

    def expr_b(self, ctx: Ctx, d: int) -> str:
        return self.pred(ctx, d)

    # -- predicates
    def comparable(self) -> str:
        return self.pick(self.cmp_kinds)

    def other_side(self, k: str) -> str:
        """The kind compared with a ``k`` (numbers mix)."""
        if k == "I":
            return self.pick(["I", "I", "i"] + (["f"] if self.on("bigint_double") else []))
        return self.pick(NUMERIC) if k in NUMERIC else k

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
            k2 = self.other_side(k)
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
            k = self.pick(["i", "f", "s", "d", "m"] + (["t"] if self.on("timestamps") else []))
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
        if self.may_subquery(ctx) and depth > 0 and self.chance(0.5):
            return self.subquery_pred(ctx)
        return self.leaf("b", ctx)

    def may_subquery(self, ctx: Ctx) -> bool:
        if ctx.inner is None and ctx.outer is None:
            return True
        # nested and HAVING subqueries are the ``correlated`` shapes
        return self.on("correlated") and ctx.inner is None and ctx.outer is not None \
            and ctx.outer.outer is None and self.chance(0.3)

    def subquery_pred(self, ctx: Ctx) -> str:  # fuzz_query.QueryGen
        raise NotImplementedError

    # -- aggregates
    def agg_call(self, kind: str, inner: Ctx) -> str:
        self.wrapped = False  # set by special_agg for a call inside an expression (no FILTER)
        call = self._agg_call(kind, inner)
        if self.chance(0.08) and not call.startswith("(") and not self.wrapped:
            call += f" FILTER (WHERE {self.pred(inner, 1)})"
        return call

    def _agg_call(self, kind: str, inner: Ctx) -> str:
        e = lambda k: self.expr(k, inner, 1)  # noqa: E731
        tpls = self.aggs.get(kind)
        if tpls and self.chance(0.25):
            return self.fill(self.pick(tpls), kind, inner, 1)
        special = self.special_agg(kind, inner)
        if special is not None:
            return special
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
        if kind == "I":
            if self.on("bigint_sum") and r < 0.4:
                return f"sum({e('I')})"
            return f"{self.pick(['min', 'max'])}({e('I')})"
        if kind == "f":
            if self.on("bigint_double") and r < 0.1:
                return f"avg({e('I')})"
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

    def special_agg(self, kind: str, inner: Ctx) -> str | None:
        """Order-dependent aggregates, built so that their answer is determined: arg_max/first
        read an expression of one column and order by that column; string_agg/list order by
        their own input; mode/any_value read a group key (constant within the group)."""
        r = self.rng.random()
        if r < 0.1 and (self.fn_on("arg_max", "agg_arg") or self.fn_on("arg_min", "agg_arg")
                        or self.fn_on("max_by", "agg_arg") or self.fn_on("min_by", "agg_arg")):
            names = [n for n in ("arg_max", "arg_min", "max_by", "min_by") if self.fn_on(n, "agg_arg")]
            by_kind = self.pick(["i", "s", "f", "d"])
            cols = inner.of(by_kind)
            if cols:
                c = self.pick(cols)
                return f"{self.pick(names)}({self.expr(kind, Ctx([(c, by_kind)]), 1)}, {c})"
        if r < 0.2 and (self.fn_on("first", "agg_arg") or self.fn_on("last", "agg_arg")):
            names = [n for n in ("first", "last") if self.fn_on(n, "agg_arg")]
            by_kind = self.pick(["i", "s", "f", "d"])
            cols = inner.of(by_kind)
            if cols:
                c = self.pick(cols)
                direction = self.pick(["", " DESC", " NULLS FIRST", " DESC NULLS LAST"])
                return f"{self.pick(names)}({self.expr(kind, Ctx([(c, by_kind)]), 1)} ORDER BY {c}{direction})"
        # (ordered by their own input; a constant input needs no order, and DuckDB refuses
        # ORDER BY a literal)
        if r < 0.3 and kind == "s" and self.fn_on("string_agg", "agg_ordered"):
            e = self.expr("s", inner, 1)
            sep = self.pick(["','", "''", "' | '"])
            dist = "DISTINCT " if self.chance(0.2) else ""
            order = f" ORDER BY {e}{self.pick(['', ' DESC'])}" if "." in e else ""
            return f"string_agg({dist}{e}, {sep}{order})"
        if r < 0.4 and (self.fn_on("list", "agg_ordered") or self.fn_on("array_agg", "agg_ordered")):
            names = [n for n in ("list", "array_agg") if self.fn_on(n, "agg_ordered")]
            e = self.expr(kind, inner, 1)
            self.wrapped = True
            if kind == "i" and self.chance(0.3):
                return f"len({self.pick(names)}({e}))"
            order = f" ORDER BY {e}{self.pick(['', ' DESC', ' NULLS FIRST', ' DESC NULLS LAST'])}" \
                if "." in e else ""
            return f"{self.pick(names)}({e}{order})[{self.pick(['1', '2', '(-1)'])}]"
        if r < 0.5 and (self.fn_on("mode", "agg_mode") or self.fn_on("any_value", "agg_arg")):
            grouped = getattr(self, "group_keys", None)  # (the rows' context, the keys)
            keys = [e for e, k in grouped[1] if k == kind] if grouped and grouped[0] is inner else []
            names = [n for n, g in (("mode", "agg_mode"), ("any_value", "agg_arg")) if self.fn_on(n, g)]
            if keys:
                return f"{self.pick(names)}({self.pick(keys)})"
        return None
