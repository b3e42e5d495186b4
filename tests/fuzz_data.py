"""Random tables for the fuzzers (tests/fuzz_gen.py generates queries over them).

Each table has a key column ``k`` (small integer domain, so joins and groups collide), a string
``s`` and a few columns of random kinds, each with its own share of NULLs; now and then a table is
empty or has a handful of rows. The kinds (the letters the generator types expressions with):

    i  small integer (INTEGER or BIGINT)       I  big integer near 2^31, 2^53, 2^63 (feature
    f  DOUBLE (multiples of 0.25: exact sums)     ``bigint_values``; ``overflow`` adds -2^63, -2^31)
    m  DECIMAL(10,2) (multiples of 0.25)       t  TIMESTAMP (feature ``timestamps``)
    s  VARCHAR                                 b  BOOLEAN
    d  DATE

``cast_text`` adds string columns ``x<n>`` of text that may or may not parse as a number, a date
or a boolean (kind ``s``: every string operation applies to them); ``strings_exotic`` adds
non-ASCII characters, tabs and newlines to the string pool.

``table_sql`` writes a table as CREATE TABLE + INSERT, so a failing case can be reproduced in any
SQL shell.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import random

import pyarrow as pa

ARROW_TYPES = {"int": pa.int32(), "bigint": pa.int64(), "f": pa.float64(),
               "m": pa.decimal128(10, 2), "s": pa.string(), "b": pa.bool_(), "d": pa.date32(),
               "t": pa.timestamp("us")}
STRINGS = ["", "a", "b", "A", "B", "ab", "ba", "Ab", "aB", "abc", "bca", " a", "b ", "aa", "BB"]
EXOTIC_STRINGS = ["Ünïcödé", "é", "ß", "日本", "\ta", "a\t", "a\nb", "  ", "ÀB", "ǅ"]
# text that a cast may or may not accept: numbers, dates, booleans, junk, and the tricky ones
# (spaces, exponents, fractions into INTEGER, out-of-range, partial dates)
CAST_TEXT = ["12", "-3", " 7 ", "2.5", "-2.5", "1e3", "abc", "", "0", "+4", "0x1F", "1_000",
             "2020-01-05", "2020-1-5", "20200105", "2020-01-05 10:00:00", "2024-02-30",
             "true", "f", "T", "no", "NaN", "inf", "-0", "3.75", "9223372036854775808",
             "2147483648", "1.5e300", " ", "00012"]
BASE_DATE = _dt.date(2024, 1, 1)
BASE_TS = _dt.datetime(2024, 1, 1)
# big integers: the edges of INTEGER, of exact doubles and of BIGINT (and a few ordinary ones)
BIG_INT64 = [2**31 - 1, 2**31, -(2**31) - 1, 2**32, 2**53, 2**53 + 1, -(2**53) - 1, 2**62,
             2**63 - 1, -(2**63) + 1, 2**63 - 2, 0, 1, -1, 12_345_678_901]
BIG_INT32 = [2**31 - 1, -(2**31) + 1, 2**30, -(2**30), 2**31 - 2, 46_341, 65_536, 0, 1, -1]
OVERFLOW_INT64 = [-(2**63)]
OVERFLOW_INT32 = [-(2**31)]


class Table:
    def __init__(self, name: str, cols: list[tuple[str, str, pa.DataType]], data: pa.Table):
        self.name = name
        self.cols = cols  # (name, kind, arrow type)
        self.data = data

    @property
    def rows(self) -> int:
        return self.data.num_rows


def _value(rng: random.Random, kind: str, domain: int, at: str, features: frozenset):
    if kind == "i":
        return rng.randint(0, domain) if domain else rng.randint(-20, 20)
    if kind == "I":
        pool = BIG_INT32 if at == "int" else BIG_INT64
        if "overflow" in features:
            pool = pool + (OVERFLOW_INT32 if at == "int" else OVERFLOW_INT64)
        return rng.choice(pool)
    if kind == "f":
        return rng.randint(-80, 80) / 4
    if kind == "m":
        return decimal.Decimal(rng.randint(-400, 400)) / 4
    if kind == "s":
        pool = STRINGS + EXOTIC_STRINGS if "strings_exotic" in features else STRINGS
        return rng.choice(pool[:domain] if domain else pool)
    if kind == "x":
        return rng.choice(CAST_TEXT)
    if kind == "b":
        return rng.random() < 0.5
    if kind == "d":
        return BASE_DATE + _dt.timedelta(days=rng.randint(0, domain or 90))
    if kind == "t":
        return BASE_TS + _dt.timedelta(seconds=rng.randint(0, 90 * 86400))
    raise AssertionError(kind)


def make_tables(rng: random.Random, features: frozenset = frozenset()) -> list[Table]:
    extra_kinds = ["i", "i", "f", "f", "m", "s", "b", "d"]
    if "bigint_values" in features:
        extra_kinds += ["I", "I"]
    if "timestamps" in features:
        extra_kinds += ["t"]
    if "cast_text" in features:
        extra_kinds += ["x", "x"]
    tables = []
    for ti in range(rng.choice([2, 3, 3])):
        r = rng.random()
        n = 0 if r < 0.08 else rng.randint(1, 6) if r < 0.2 else rng.randint(7, 60) if r < 0.6 \
            else rng.randint(61, 200)
        key_domain = rng.choice([3, 5, 8, 12])
        specs = [("k", "i", rng.choice(["int", "bigint"]), key_domain),
                 ("s", "s", "s", rng.choice([4, 8, len(STRINGS)]))]
        extra = rng.sample(extra_kinds, rng.randint(2, 5))
        counts: dict[str, int] = {}
        for kind in extra:
            counts[kind] = counts.get(kind, 0) + 1
            name = f"{kind.lower() if kind != 'I' else 'big'}{counts[kind]}"
            at = rng.choice(["int", "bigint"]) if kind in ("i", "I") else "s" if kind == "x" else kind
            specs.append((name, kind, at, 0 if kind != "d" else rng.choice([10, 90])))
        arrays, cols = {}, []
        for name, kind, at, domain in specs:
            p_null = rng.choice([0.0, 0.1, 0.2, 0.2, 0.3, 0.5])
            vals = [None if rng.random() < p_null else _value(rng, kind, domain, at, features)
                    for _ in range(n)]
            arrays[name] = pa.array(vals, ARROW_TYPES[at])
            cols.append((name, "s" if kind == "x" else kind, ARROW_TYPES[at]))
        tables.append(Table(f"t{ti + 1}", cols, pa.table(arrays)))
    return tables


_SQL_OF_ARROW = {pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float64(): "DOUBLE",
                 pa.decimal128(10, 2): "DECIMAL(10,2)", pa.string(): "VARCHAR",
                 pa.bool_(): "BOOLEAN", pa.date32(): "DATE", pa.timestamp("us"): "TIMESTAMP"}


def sql_literal(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, _dt.datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    if isinstance(v, _dt.date):
        return f"DATE '{v.isoformat()}'"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def table_sql(t: Table) -> str:
    """CREATE TABLE + INSERT statements that rebuild ``t`` (DuckDB and Dawn read both)."""
    cols = ", ".join(f"{name} {_SQL_OF_ARROW[at]}" for name, _, at in t.cols)
    out = [f"CREATE TABLE {t.name} ({cols});"]
    if t.rows:
        rows = zip(*(c.to_pylist() for c in t.data.columns))
        values = ",\n  ".join("(" + ", ".join(sql_literal(v) for v in r) + ")" for r in rows)
        out.append(f"INSERT INTO {t.name} VALUES\n  {values};")
    return "\n".join(out)
