"""Integer semantics against DuckDB: result types, values and overflow errors of + - * / // %,
unary minus, abs and sign over every pair of integer types (signed, unsigned, HUGEINT) and FLOAT
and DOUBLE, with integer literals of every width on either side, literal with literal, and CAST /
TRY_CAST between all of them (and VARCHAR and BOOLEAN).

The data is seeded random columns with NULLs and values at the edges that matter (2^7, 2^15, 2^31,
2^53, 2^63, 2^64, HUGEINT's 38 digits), given to both engines as the same Arrow table; DuckDB reads
decimal128(38, 0) as DECIMAL(38, 0), so its queries cast that column to HUGEINT. For each
expression DuckDB itself says which rows fail (``TRY(expr)`` is NULL on a row without NULL
operands): on the other rows both engines must agree on values and types; on a failing row Dawn
must raise DataError where DuckDB raises an out-of-range, conversion or division-by-zero error.
Dawn's HUGEINT holds 38 digits (Arrow's decimal128(38, 0)), less than DuckDB's 2^127: a HUGEINT
result of 10^38 or more is a DataError in Dawn, and the test expects exactly that.
"""
from __future__ import annotations

import decimal
import math
import random
import re

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import engine
from engine.errors import DataError

SEED = 20240511
RANDOM_ROWS = 36

INT_TYPES = {"TINYINT": pa.int8(), "SMALLINT": pa.int16(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
             "HUGEINT": pa.decimal128(38, 0), "UTINYINT": pa.uint8(), "USMALLINT": pa.uint16(),
             "UINTEGER": pa.uint32(), "UBIGINT": pa.uint64()}
TYPES = INT_TYPES | {"FLOAT": pa.float32(), "DOUBLE": pa.float64()}
RANGE = {"TINYINT": (-2 ** 7, 2 ** 7 - 1), "SMALLINT": (-2 ** 15, 2 ** 15 - 1),
         "INTEGER": (-2 ** 31, 2 ** 31 - 1), "BIGINT": (-2 ** 63, 2 ** 63 - 1),
         "HUGEINT": (-(10 ** 38 - 1), 10 ** 38 - 1), "UTINYINT": (0, 2 ** 8 - 1),
         "USMALLINT": (0, 2 ** 16 - 1), "UINTEGER": (0, 2 ** 32 - 1), "UBIGINT": (0, 2 ** 64 - 1)}
EDGES = [0, 1, -1, 2, -2, 7, -7, 100, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, 65535,
         65536, 2 ** 31 - 1, 2 ** 31, -2 ** 31, -2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 1,
         -2 ** 53 - 1, 2 ** 62, 2 ** 63 - 1, 2 ** 63, -2 ** 63, 2 ** 64 - 1, 2 ** 64, 10 ** 19 + 7,
         -10 ** 20 - 3, 10 ** 37 + 11, -(10 ** 37) * 3, 10 ** 38 - 1, -(10 ** 38 - 1)]
# rows holding one value in every column (where it fits), so that comparisons across types meet
# equal and nearly equal values
ALIGNED = [0, -1, 127, 128, 2 ** 24 + 1, 2 ** 31, 2 ** 53, 2 ** 53 + 1, 2 ** 63 - 1, 10 ** 20 + 1]
LITERALS = [0, 1, -1, 2, 100, -100, 127, 128, 200, 1000, -1000, 32767, 40000, 70000, 2 ** 31 - 1,
            2 ** 31, -2 ** 31, 3000000000, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63, 2 ** 64 - 1,
            10 ** 20, -10 ** 20, 10 ** 37]
FLOATS = [0.0, 1.5, -2.5, 0.5, 3.0, 1e10, 2.0 ** 53, 2.0 ** 53 + 2, -2.0 ** 63, 9.3e18, 1.8e19, 1e37,
          -1e30, 3.0e38, 1e-3]
DUCK_ERRORS = (duckdb.OutOfRangeException, duckdb.ConversionException, duckdb.InvalidInputException)


def _random_int(rng: random.Random, name: str) -> int:
    lo, hi = RANGE[name]
    if rng.random() < 0.35:
        return rng.randint(max(lo, -50), min(hi, 50))
    if rng.random() < 0.6:
        v = rng.choice(EDGES) + rng.randint(-2, 2)
        return min(max(v, lo), hi)
    bits = rng.randint(1, 127)
    v = rng.randint(0, 2 ** bits) * (rng.choice([1, -1]) if lo < 0 else 1)
    return min(max(v, lo), hi)


def _column(rng: random.Random, name: str) -> pa.Array:
    if name in INT_TYPES:
        lo, hi = RANGE[name]
        vals = [v if lo <= v <= hi else None for v in ALIGNED]
        vals += [None if rng.random() < 0.12 else _random_int(rng, name) for _ in range(RANDOM_ROWS)]
        if name == "HUGEINT":
            return pa.array([None if v is None else decimal.Decimal(v) for v in vals], TYPES[name])
        return pa.array(vals, TYPES[name])
    vals = [float(v) for v in ALIGNED] + [None if rng.random() < 0.12 else
                                          rng.choice(FLOATS) * rng.choice([1, -1])
                                          for _ in range(RANDOM_ROWS)]
    if name == "FLOAT":
        vals = [v if v is None or abs(v) < 3.4e38 else 1.0 for v in vals]
    return pa.array(vals, TYPES[name])


TEXTS = ["12", " 12 ", "-7", "+5", "2.5", "-2.5", "1.4", "1e3", "abc", "", "1e40",
         "99999999999999999999999999999999999999", "-99999999999999999999999999999999999999",
         "123456789012345678901234567890", "9223372036854775808", "-0", None]


@pytest.fixture(scope="module")
def db():
    rng = random.Random(SEED)
    n = len(ALIGNED) + RANDOM_ROWS
    cols = {"i": pa.array(range(n), pa.int32())}
    for name in TYPES:
        cols[f"c_{name.lower()}"] = _column(rng, name)
    cols["s"] = pa.array([TEXTS[k % len(TEXTS)] for k in range(n)], pa.string())
    cols["b"] = pa.array([None if k % 7 == 3 else k % 2 == 0 for k in range(n)], pa.bool_())
    table = pa.table(cols)
    dawn, duck = engine.connect(), duckdb.connect()
    dawn.register("t", table)
    duck.register("t", table)
    return dawn, duck


def col(name: str) -> tuple[str, str]:
    """A column as (Dawn's SQL, DuckDB's SQL): DuckDB reads the decimal128 column as DECIMAL."""
    c = f"c_{name.lower()}"
    return (c, f"CAST({c} AS HUGEINT)") if name == "HUGEINT" else (c, c)


def lit(v: int) -> tuple[str, str]:
    s = f"({v})" if v < 0 else str(v)
    return s, s


def _run(con, sql: str):
    cur = con.execute(sql)
    rows = cur.fetchall()
    return rows, [str(d[1]) for d in cur.description]


def _same(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (math.isnan(x) and math.isnan(y))
    return type(x) is type(y) and x == y


def _beyond_dawn(v, t: str) -> bool:
    return t == "HUGEINT" and isinstance(v, int) and abs(v) >= 10 ** 38


def check(db, exprs: dict[str, tuple[str, str]], what: str, where: str = "TRUE",
          fallible: bool = True, errors: set | None = None) -> int:
    """Compare Dawn with DuckDB on every expression over the rows of ``t`` that satisfy ``where``;
    ``exprs`` maps a label to (Dawn's SQL, DuckDB's SQL); ``fallible=False`` says they never
    raise (TRY_CAST). Returns the number of values and errors compared.

    All expressions run in one query per engine, each that fails somewhere as ``CASE WHEN <a row
    it does not fail on> THEN expr END`` (both engines evaluate a CASE branch only on the rows
    that take it). Each failing
    expression then runs on its first failing row alone, in both engines; ``errors`` collects
    (expression kind, result type, failure) keys already checked in this test, so that one query
    per kind of overflow suffices."""
    dawn, duck = db
    labels = list(exprs)
    # one DuckDB query says, per row and expression, its value under TRY (NULL where it fails) and
    # whether an operand is NULL (where NULL is the right answer); its types are the expressions'
    probe = ", ".join([f"TRY({exprs[k][1]})" for k in labels] + _operands_null(exprs))
    cur = duck.execute(f"SELECT i, {probe} FROM t WHERE {where} ORDER BY i")
    rows = cur.fetchall()
    types = [str(d[1]) for d in cur.description[1:1 + len(labels)]]
    rows_in = [r[0] for r in rows]
    good = {k: list(rows_in) for k in labels}
    failures: list[tuple[str, str, int]] = []
    if fallible:
        for j, k in enumerate(labels):
            bad = [(r[0], "fails") for r in rows if r[1 + j] is None and not r[1 + len(labels) + j]]
            bad += [(r[0], "beyond 38 digits") for r in rows if _beyond_dawn(r[1 + j], types[j])]
            bad_rows = {b for b, _ in bad}
            good[k] = [i for i in rows_in if i not in bad_rows]
            if bad:
                failures.append((k, bad[0][1], bad[0][0]))
    compared = _compare(db, exprs, what, where, good)
    for k, kind, row in failures:
        key = (k.split(" ")[0], types[labels.index(k)], kind)
        if errors is not None:
            if key in errors:
                continue
            errors.add(key)
        q = f"SELECT {{}} FROM t WHERE i = {row}"
        if kind == "fails":
            with pytest.raises(DUCK_ERRORS):
                duck.execute(q.format(exprs[k][1])).fetchall()
        with pytest.raises(DataError):
            dawn.execute(q.format(exprs[k][0])).fetchall()
            pytest.fail(f"{what}: {exprs[k][0]} on row {row} did not raise ({kind} in DuckDB)")
        compared += 1
    return compared


def _compare(db, exprs: dict[str, tuple[str, str]], what: str, where: str,
             good: dict[str, list[int]]) -> int:
    """Values and types of the expressions on their good rows, in both engines: a table ``g``
    holds one BOOLEAN column per expression, true on its good rows, joined to ``t`` by row."""
    dawn, duck = db
    labels = list(exprs)
    n = duck.execute("SELECT count(*) FROM t").fetchall()[0][0]
    guard = pa.table({"gi": pa.array(range(n), pa.int32())}
                     | {f"g{j}": pa.array(np.isin(np.arange(n), good[k]))
                        for j, k in enumerate(labels)})
    for con in db:
        con.register("g", guard)

    def select(side: int) -> str:
        cols = [exprs[k][side] if len(good[k]) == n else f"CASE WHEN g{j} THEN {exprs[k][side]} END"
                for j, k in enumerate(labels)]
        return (f"SELECT i, {', '.join(cols)} FROM t JOIN g ON i = gi WHERE {where} ORDER BY i")

    got, got_types = _run(dawn, select(0))
    want, want_types = _run(duck, select(1))
    for j, k in enumerate(labels):
        assert got_types[1 + j] == want_types[1 + j], \
            f"{what}: type of {k}: Dawn {got_types[1 + j]}, DuckDB {want_types[1 + j]}"
    assert len(got) == len(want), f"{what}: {len(got)} rows, DuckDB {len(want)}"
    compared = 0
    for g, w in zip(got, want):
        for j, k in enumerate(labels):
            assert _same(g[1 + j], w[1 + j]), \
                f"{what}: {exprs[k][0]} on row {g[0]}: Dawn {g[1 + j]!r}, DuckDB {w[1 + j]!r}"
            compared += g[1 + j] is not None
    return compared


def _operands_null(exprs: dict[str, tuple[str, str]]) -> list[str]:
    """Per expression, SQL that says whether one of its operands is NULL."""
    checks = []
    for _, sql in exprs.values():
        operands = [c for c in _COLUMN_NAMES if re.search(rf"\b{c}\b", sql)]
        checks.append(" OR ".join(f"{c} IS NULL" for c in operands) or "FALSE")
    return checks


_COLUMN_NAMES = [f"c_{n.lower()}" for n in TYPES] + ["s", "b"]

BINARY = {"+": "{a} + {b}", "-": "{a} - {b}", "*": "{a} * {b}", "//": "{a} // {b}",
          "%": "{a} % {b}", "/": "{a} / {b}", "<": "{a} < {b}", "=": "{a} = {b}"}
FALLIBLE = ["+", "-", "*", "//", "%"]


def _binary(a: tuple[str, str], b: tuple[str, str], tag: str,
            ops: list[str] | None = None) -> dict[str, tuple[str, str]]:
    return {f"{op} {tag}": (BINARY[op].format(a=a[0], b=b[0]), BINARY[op].format(a=a[1], b=b[1]))
            for op in ops or BINARY}


def _binary_on_columns(db, left: str, full: bool) -> None:
    """Every type on the right with + - * // %; / < = with the same type and two others (all of
    them when ``full``)."""
    rng = random.Random(f"{SEED}-{left}")
    others = set(rng.sample([t for t in TYPES if t != left], 2)) | {left}
    exprs = {}
    for right in TYPES:
        ops = None if full or right in others else FALLIBLE
        exprs |= _binary(col(left), col(right), right, ops)
    assert check(db, exprs, f"{left} op column", errors=set()) > 200


def _column_with_literals(db, name: str, count: int) -> None:
    rng = random.Random(f"{SEED}-{name}")
    exprs = {}
    for v in sorted(set(rng.sample(LITERALS, count) + [1])):
        ops = FALLIBLE + ([rng.choice(["/", "<", "="])] if count < len(LITERALS) else ["/", "<", "="])
        exprs |= _binary(col(name), lit(v), f"col-{v}", ops)
        exprs |= _binary(lit(v), col(name), f"{v}-col", ops)
    assert check(db, exprs, f"{name} with literals", errors=set()) > 100


@pytest.mark.parametrize("left", list(TYPES))
def test_binary_operators_on_columns(db, left):
    _binary_on_columns(db, left, full=False)


@pytest.mark.parametrize("name", list(INT_TYPES))
def test_column_with_literal(db, name):
    """TINYINT + 1 is TINYINT, TINYINT + 1000 INTEGER, UINTEGER + 3000000000 UINTEGER, ..."""
    _column_with_literals(db, name, 3)


@pytest.mark.slow
def test_every_operator_every_pair_every_literal(db):
    for name in TYPES:
        _binary_on_columns(db, name, full=True)
    for name in INT_TYPES:
        _column_with_literals(db, name, len(LITERALS))


def test_literal_with_literal(db):
    rng = random.Random(f"{SEED}-literals")
    pairs = [(1, 1), (2147483647, 1), (-2147483648, 1), (2147483647, 2147483647),
             (9223372036854775807, 1), (-9223372036854775808, -1), (2 ** 63, 2 ** 63), (10 ** 37, 10)]
    pairs += [tuple(rng.sample(LITERALS, 2)) for _ in range(10)]
    exprs = {}
    for x, y in pairs:
        exprs |= _binary(lit(x), lit(y), f"{x},{y}")
    check(db, exprs, "literal op literal", "i = 0", errors=set())


@pytest.mark.parametrize("name", list(TYPES))
def test_unary(db, name):
    a = col(name)
    check(db, {"neg": (f"-{a[0]}", f"-{a[1]}"), "abs": (f"abs({a[0]})", f"abs({a[1]})"),
               "sign": (f"sign({a[0]})", f"sign({a[1]})")}, f"unary {name}")


def test_literals_of_every_width(db):
    texts = ["0", "2147483647", "2147483648", "-2147483648", "-2147483647", "9223372036854775807",
             "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
             "99999999999999999999999999999999999999", "-99999999999999999999999999999999999999",
             "- -5", "-(2147483648)"]
    check(db, {t: (t, t) for t in texts}, "literals", "i = 0")


@pytest.mark.parametrize("source", list(TYPES) + ["VARCHAR", "BOOLEAN"])
def test_casts(db, source):
    a = {"VARCHAR": ("s", "s"), "BOOLEAN": ("b", "b")}.get(source) or col(source)
    targets = list(TYPES) + ["BOOLEAN"] + (["VARCHAR"] if source in INT_TYPES else [])
    if source == "VARCHAR":
        targets = ["HUGEINT"]  # text to the other types belongs to the text casts' own tests
    targets = [x for x in targets if x != source]
    check(db, {f"cast {x}": (f"CAST({a[0]} AS {x})", f"CAST({a[1]} AS {x})") for x in targets},
          f"{source} -> each type", errors=set())
    check(db, {f"try {x}": (f"TRY_CAST({a[0]} AS {x})", f"TRY_CAST({a[1]} AS {x})") for x in targets},
          f"TRY_CAST {source} -> each type", fallible=False)


def test_overflow_messages_name_type_and_operands(db):
    dawn, _ = db
    cases = {"SELECT 2147483647 + 1": "Overflow in addition of INTEGER (2147483647 + 1)",
             "SELECT CAST(100 AS TINYINT) * 2": "Overflow in multiplication of TINYINT (100 * 2)",
             "SELECT CAST(0 AS UTINYINT) - 1": "Overflow in subtraction of UTINYINT (0 - 1)",
             "SELECT abs(CAST(-2147483648 AS INTEGER))": "Overflow in abs of INTEGER (-2147483648)",
             "SELECT 1 // 0": "Division by zero (1 // 0)"}
    for sql, message in cases.items():
        with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")
                           .replace("*", r"\*").replace("+", r"\+")):
            dawn.execute(sql).fetchall()


def test_big_bigint_to_double_everywhere(db):
    """BIGINT above 2^53 in CAST, / and comparisons with DOUBLE rounds to the nearest double."""
    dawn, duck = db
    q = ("SELECT CAST(c_bigint AS DOUBLE), c_bigint / 2, c_bigint = CAST(c_bigint AS DOUBLE), "
         "c_bigint < 9.3e18, CAST(c_hugeint AS DOUBLE) FROM t ORDER BY i")
    got, _ = _run(dawn, q)
    want, _ = _run(duck, q.replace("CAST(c_hugeint", "CAST(CAST(c_hugeint AS HUGEINT)"))
    assert got == want
    assert any(r[0] is not None and abs(r[0]) > 2 ** 53 for r in got)
