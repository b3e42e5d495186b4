"""The scalar functions users reach for first, against DuckDB on the same random data.

Every function of the list binds under DuckDB's name and returns DuckDB's values and types: each
expression runs on Dawn and on DuckDB over the very same Arrow table (random values with NULLs in
every column), row by row, together with ``typeof`` of the expression. The nondeterministic
functions (random, now, current_date) are checked for their properties; the fuzzer's cases are
regression tests; error messages name the function as written.
"""
from __future__ import annotations

import datetime as _dt
import math
import random

import duckdb
import pyarrow as pa
import pytest

import engine

SEED = 20240511
ROWS = 240

STRINGS = ["", "a", "Hello World", "  padded  ", "\tTab", "Ünïcödé", "a,b,,c", "xxhixx", "abc",
           "ABC", "é", "hello", "1,234", "aaa", "b", " lead", "trail ", "mIxEd CaSe", "a.b.c"]


def _data() -> pa.Table:
    rng = random.Random(SEED)

    def maybe(v, p=0.15):
        return None if rng.random() < p else v

    base = _dt.datetime(2020, 1, 1)
    rows = {
        "k": list(range(ROWS)),
        "i": [maybe(rng.randint(-50, 50)) for _ in range(ROWS)],
        "j": [maybe(rng.randint(-3, 12)) for _ in range(ROWS)],
        "b": [maybe(rng.randint(-10 ** 12, 10 ** 12)) for _ in range(ROWS)],
        "f": [maybe(rng.choice([rng.uniform(-1e3, 1e3), rng.randint(-40, 40) / 4, 0.0, -0.0,
                                1e15, 1e16, 1.5e300, 1e-5, 1e-7, 123456789012345678.0,
                                2.5, -2.5, 0.5, 1.005]))
              for _ in range(ROWS)],
        "pos": [maybe(rng.uniform(0.001, 1e4)) for _ in range(ROWS)],
        "r": [maybe(rng.randint(-400, 400) / 8) for _ in range(ROWS)],
        "s": [maybe(rng.choice(STRINGS)) for _ in range(ROWS)],
        "p": [maybe(rng.choice(["a", "l", "b", ",", "é", "xx", "", "o"])) for _ in range(ROWS)],
        "d": [maybe((base + _dt.timedelta(days=rng.randint(-800, 800))).date())
              for _ in range(ROWS)],
        "ts": [maybe(base + _dt.timedelta(seconds=rng.randint(-6 * 10 ** 7, 6 * 10 ** 7),
                                          microseconds=rng.choice([0, 0, 500000, 123456])))
               for _ in range(ROWS)],
        "bo": [maybe(rng.random() < 0.5) for _ in range(ROWS)],
        "l": [maybe([maybe(rng.randint(-5, 9), 0.1) for _ in range(rng.randint(0, 5))])
              for _ in range(ROWS)],
        "st": [maybe({"a": maybe(rng.randint(0, 9)), "b": maybe(rng.choice(STRINGS))})
               for _ in range(ROWS)],
    }
    types = {"k": pa.int32(), "i": pa.int32(), "j": pa.int32(), "b": pa.int64(),
             "f": pa.float64(), "pos": pa.float64(), "r": pa.float32(), "s": pa.string(),
             "p": pa.string(), "d": pa.date32(), "ts": pa.timestamp("us"), "bo": pa.bool_(),
             "l": pa.list_(pa.int32()),
             "st": pa.struct([("a", pa.int32()), ("b", pa.string())])}
    return pa.table({n: pa.array(v, types[n]) for n, v in rows.items()})


@pytest.fixture(scope="module")
def engines():
    data = _data()
    dawn = engine.connect()
    dawn.register("t", data)
    duck = duckdb.connect()
    duck.register("t", data)
    return dawn, duck


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b or (a is None and b is None)


# integer result types of sign() and mod() are being changed with integer arithmetic's typing
# (another piece of the same issue): their values are compared here, their types there
VALUES_ONLY = {"sign(i)", "sign(f)", "mod(i, 7)", "mod(b, 1000)", "mod(i, NULL)"}
WHERE = {"to_timestamp(f)": "abs(f) < 1e10 OR f IS NULL", "f::INTEGER": "abs(f) < 1e9 OR f IS NULL",
         "CAST(s AS INTEGER)": "TRY_CAST(s AS INTEGER) IS NOT NULL OR s IS NULL",
         # DuckDB's fmt prints digits past the 17th of huge values from an inexact expansion
         "format('{:>8}|{:.2f}', s, f)": "abs(f) < 1e15 OR f IS NULL",
         "printf('%-6s|%.3f', p, f)": "abs(f) < 1e15 OR f IS NULL"}


def compare(engines, expr: str, where: str = "true") -> None:
    """``expr`` and its typeof() agree with DuckDB on every row of t."""
    dawn, duck = engines
    where = WHERE.get(expr, where)
    if expr in VALUES_ONLY:
        expr = f"CAST({expr} AS BIGINT)"
    sql = f"SELECT k, {expr} AS v, typeof({expr}) AS ty FROM t WHERE {where} ORDER BY k"
    want = duck.execute(sql).fetchall()
    got = dawn.execute(sql).fetchall()
    assert len(got) == len(want), expr
    bad = [(w, g) for w, g in zip(want, got) if not (_same(w[1], g[1]) and w[2] == g[2])]
    assert not bad, f"{expr}: {len(bad)} rows differ, e.g. DuckDB {bad[0][0]} Dawn {bad[0][1]}"


def scalar(engines, sql: str):
    dawn, duck = engines
    return dawn.execute(sql).fetchall(), duck.execute(sql).fetchall()


NUMERIC = [
    "abs(i)", "abs(f)", "abs(NULL::DOUBLE)", "ceil(f)", "ceil(i)", "ceiling(r)", "floor(f)",
    "floor(b)", "round(f)", "round(f, 2)", "round(i, -1)", "round(b, -3)", "round(r)",
    "round(f, j)", "round(i, NULL)", "round(NULL::DOUBLE, 1)", "trunc(f)", "trunc(i)",
    "trunc(f, 1)", "sign(i)", "sign(f)", "sqrt(f)", "sqrt(pos)", "cbrt(f)", "exp(r)", "ln(pos)",
    "ln(f)", "log(pos)", "log(2, pos)", "log2(pos)", "log10(pos)", "pow(r, 2)", "power(pos, 0.5)",
    "pow(2, j)", "mod(i, 7)", "mod(b, 1000)", "mod(f, 3.0::DOUBLE)", "mod(i, NULL)", "pi() + i",
    "greatest(i, j)", "greatest(i, j, 0)", "least(f, r)", "greatest(s, p)", "least(d, DATE '2020-06-01')",
    "greatest(NULL::INTEGER, i)", "isnan(f)", "isnan(i)", "isinf(f)", "isinf(r)", "isnan(NULL::DOUBLE)",
]

STRING = [
    "length(s)", "len(s)", "length(NULL::VARCHAR)", "lower(s)", "upper(s)", "trim(s)", "ltrim(s)",
    "rtrim(s)", "trim(s, 'x')", "ltrim(s, ' a')", "rtrim(s, p)", "trim(BOTH 'x' FROM s)",
    "trim(LEADING ' ' FROM s)", "trim(TRAILING 'e' FROM s)", "substr(s, 2)", "substr(s, 2, 3)",
    "substr(s, -3)", "substr(s, -3, 2)", "substr(s, 0, 2)", "substr(s, j, 2)", "substring(s, i)",
    "substring(s FROM 2 FOR 3)", "substring(s FROM 2)", "left(s, 3)", "left(s, -2)", "right(s, 2)",
    "right(s, -1)", "left(s, j)", "concat(s, p)", "concat(s, i, f)", "concat(f, 'a')",
    "concat(r, d, ts, bo)", "concat(NULL, s)", "s || p", "s || f", "f || 'x'", "i || s",
    "concat_ws(',', s, p)", "concat_ws(p, s, i)", "concat_ws(',', NULL, s)", "replace(s, 'a', 'X')",
    "replace(s, p, '_')", "replace(s, '', 'x')", "reverse(s)", "repeat(s, 2)", "repeat(p, j)",
    "lpad(s, 8, '*')", "lpad(s, 3, 'xy')", "rpad(s, 7, 'ab')", "lpad(s, j, '.')", "strpos(s, p)",
    "strpos(s, 'é')", "instr(s, 'l')", "position('a' IN s)", "position(p IN s)",
    "starts_with(s, p)", "ends_with(s, 'c')", "contains(s, p)", "split_part(s, ',', 2)",
    "split_part(s, ',', -1)", "split_part(s, p, j)", "split_part(s, '', 1)", "string_split(s, ',')",
    "string_split(s, p)", "str_split(s, ' ')", "regexp_matches(s, '[a-c]+')",
    "regexp_matches(s, 'h.l', 'i')", "regexp_matches(s, p)", "regexp_extract(s, '([a-z])([a-z])')",
    "regexp_extract(s, '([a-z])([a-z])', 2)", "regexp_extract(s, '(L+)', 1, 'i')",
    "regexp_replace(s, 'a', '#')", "regexp_replace(s, '[aeiou]', '#', 'g')",
    "regexp_replace(s, '(l+)', '<\\1>')", "md5(s)", "sha256(s)", "ascii(s)", "chr(i + 60)",
    "chr(NULL::INTEGER)", "format('{}-{}', s, i)", "format('{:>8}|{:.2f}', s, f)",
    "format('{:05d}', i)", "printf('%s=%d', s, i)", "printf('%-6s|%.3f', p, f)",
    "printf('%x', j)",
]

DATES = [
    "date_trunc('month', d)", "date_trunc('year', ts)", "date_trunc('week', d)",
    "date_trunc('quarter', ts)", "date_trunc('hour', ts)", "date_trunc('day', ts)",
    "date_part('year', d)", "date_part('dow', ts)", "date_part('epoch', ts)", "date_part('doy', d)",
    "date_part('week', d)", "date_part('isodow', d)", "date_part('microsecond', ts)",
    "extract(year FROM d)", "extract(month FROM ts)", "extract(epoch FROM d)",
    "extract(quarter FROM ts)", "date_diff('day', d, ts)", "date_diff('month', d, ts)",
    "date_diff('year', ts, d)", "date_diff('hour', ts, d)", "date_diff('week', d, ts)",
    "datediff('second', ts, d)", "date_sub('month', d, ts)", "date_sub('day', ts, d)",
    "date_sub('year', d, ts)", "date_add(d, INTERVAL 1 DAY)", "date_add(ts, INTERVAL 1 MONTH)",
    "date_add(d, INTERVAL '2 hours')", "d + INTERVAL 3 DAY", "strftime(d, '%d/%m/%Y')",
    "strftime(ts, '%Y-%m-%d %H:%M:%S')", "strftime(ts, '%a %b %-d %j %p %I %f %G-%V')",
    "strptime(strftime(ts, '%d/%m/%Y %H:%M:%S'), '%d/%m/%Y %H:%M:%S')",
    "strptime(strftime(d, '%Y%m%d'), '%Y%m%d')", "epoch(ts)", "epoch(d)", "epoch_ms(ts)",
    "epoch_ms(b)", "make_date(2020, abs(j) % 12 + 1, abs(i) % 28 + 1)",
    "make_timestamp(2021, abs(j) % 12 + 1, 5, abs(i) % 24, 30, 1.5)",
    "to_timestamp(f)", "to_timestamp(NULL::DOUBLE)", "last_day(d)", "last_day(ts)", "dayname(d)",
    "monthname(ts)", "year(d)", "month(ts)", "day(d)", "hour(ts)", "minute(ts)", "second(ts)",
    "CAST(age(ts, d) AS VARCHAR)", "CAST(age(d, ts) AS VARCHAR)",
]

LOGIC = [
    "coalesce(i, j)", "coalesce(NULL, s, p)", "nullif(i, j)", "nullif(s, 'a')", "ifnull(i, 0)",
    "if(i > j, s, p)", "if(bo, f, NULL)", "CASE WHEN i > 0 THEN 'pos' WHEN i < 0 THEN 'neg' END",
    "CASE i WHEN 1 THEN f ELSE r END", "CAST(i AS VARCHAR)", "CAST(f AS VARCHAR)",
    "CAST(r AS VARCHAR)", "CAST(d AS VARCHAR)", "CAST(ts AS VARCHAR)", "CAST(bo AS VARCHAR)",
    "CAST(s AS INTEGER)", "TRY_CAST(s AS INTEGER)", "TRY_CAST(s AS DOUBLE)", "TRY_CAST(s AS DATE)",
    "TRY_CAST(CAST(f AS VARCHAR) AS DOUBLE)", "CAST(CAST(i AS VARCHAR) AS BIGINT)",
    "TRY_CAST(CAST(d AS VARCHAR) AS DATE)", "TRY_CAST(CAST(ts AS VARCHAR) AS TIMESTAMP)",
    "CAST(CAST(bo AS VARCHAR) AS BOOLEAN)", "i::DOUBLE", "f::INTEGER", "typeof(i)",
    "typeof(st)", "typeof(l)", "typeof(NULL)",
]

NESTED = [
    "[1, 2]", "[i, j]", "[s, p, NULL]", "[f, i]", "list_value(i, j, 3)", "list_value(d)", "len(l)",
    "length(l)", "l[1]", "l[2]", "l[-1]", "l[0]", "l[10]", "l[j]", "list_extract(l, 2)",
    "list_extract(l, -2)", "list_contains(l, 3)", "list_contains(l, i)", "list_contains(l, NULL)",
    "list_sum(l)", "list_sort(l)", "list_sort(l, 'DESC')", "list_sort(l, 'ASC', 'NULLS FIRST')",
    "list_sort(list_distinct(l))", "len(list_distinct(l))", "{'a': i, 'b': s}", "{'x': l}",
    "struct_pack(a := i, b := d)", "st.a", "st.b", "st['a']", "t.st.b", "struct_extract(st, 'b')",
    "({'q': i}).q", "[i, j][2]", "CAST(l AS VARCHAR)", "CAST(st AS VARCHAR)", "s[2]",
    "hash(i)", "hash(b)", "hash(f)", "hash(r)", "hash(s)", "hash(d)", "hash(ts)", "hash(bo)",
    "hash(i, s)", "hash(NULL)", "hash(s, d, f)",
]


@pytest.mark.parametrize("expr", NUMERIC)
def test_numeric(engines, expr):
    compare(engines, expr)


@pytest.mark.parametrize("expr", STRING)
def test_string(engines, expr):
    compare(engines, expr)


@pytest.mark.parametrize("expr", DATES)
def test_dates(engines, expr):
    compare(engines, expr)


@pytest.mark.parametrize("expr", LOGIC)
def test_logic_and_casts(engines, expr):
    compare(engines, expr)


@pytest.mark.parametrize("expr", NESTED)
def test_lists_structs_hash(engines, expr):
    compare(engines, expr)


# ---------------------------------------------------------------- the nondeterministic ones


def test_random_is_a_fresh_double_per_row_and_setseed_repeats_it(engines):
    dawn, _ = engines
    rows = dawn.execute("SELECT random() AS x, typeof(random()) FROM t").fetchall()
    xs = [r[0] for r in rows]
    assert all(0.0 <= x < 1.0 for x in xs) and rows[0][1] == "DOUBLE"
    assert len(set(xs)) > ROWS * 0.9  # one draw per row, not one per statement
    dawn.execute("SELECT setseed(0.25)").fetchall()
    first = [r[0] for r in dawn.execute("SELECT random() FROM t ORDER BY k").fetchall()]
    dawn.execute("SELECT setseed(0.25)").fetchall()
    again = [r[0] for r in dawn.execute("SELECT random() FROM t ORDER BY k").fetchall()]
    assert first == again
    with pytest.raises(engine.DataError, match="between -1.0 and 1.0"):
        dawn.execute("SELECT setseed(2)").fetchall()


def test_now_and_current_date(engines):
    dawn, duck = engines
    (now, tnow, today, ttoday), = dawn.execute(
        "SELECT now(), typeof(now()), current_date, typeof(current_date)").fetchall()
    (dnow, dtnow, dtoday, dttoday), = duck.execute(
        "SELECT now(), typeof(now()), current_date, typeof(current_date)").fetchall()
    assert (tnow, ttoday) == (dtnow, dttoday) == ("TIMESTAMP WITH TIME ZONE", "DATE")
    assert abs((now - dnow).total_seconds()) < 60
    assert today == dtoday


# ---------------------------------------------------------------- fuzzer cases


@pytest.mark.parametrize("sql", [
    "SELECT concat(0.0e0, 'a'), 0.0e0 || 'a', CAST(-0.0::DOUBLE AS VARCHAR)",
    "SELECT CAST(1e15 AS VARCHAR), CAST(1e16 AS VARCHAR), CAST(1e17 AS VARCHAR), "
    "CAST(1.5e300 AS VARCHAR), CAST(1e-5 AS VARCHAR), CAST(1e-7 AS VARCHAR), "
    "CAST(123456789012345678.0::DOUBLE AS VARCHAR), CAST('inf'::DOUBLE AS VARCHAR), "
    "CAST('-inf'::DOUBLE AS VARCHAR), CAST('nan'::DOUBLE AS VARCHAR)",
    "SELECT CAST(0.1::FLOAT AS VARCHAR), CAST((1/3)::FLOAT AS VARCHAR), CAST(1.5e15::FLOAT AS VARCHAR), "
    "CAST(1e16::FLOAT AS VARCHAR), CAST(1e-5::FLOAT AS VARCHAR), CAST(2.5::FLOAT AS VARCHAR)",
    "SELECT round(15, -1), round(0, NULL), round(NULL, 0), round(-25, -1), round(2.5::DOUBLE)",
    "SELECT TRY_CAST('2.5' AS INTEGER), TRY_CAST('1e3' AS INTEGER), TRY_CAST('-2.5' AS BIGINT), "
    "TRY_CAST(' 7 ' AS INTEGER), TRY_CAST('0x1F' AS INTEGER), TRY_CAST('1_000' AS INTEGER), "
    "TRY_CAST('12abc' AS INTEGER), TRY_CAST('300' AS TINYINT)",
    "SELECT TRY_CAST('2020-1-5' AS DATE), TRY_CAST('2020-01-05 10:00:00' AS DATE), "
    "TRY_CAST('20200105' AS DATE), TRY_CAST('2020/01/05' AS DATE), TRY_CAST('2020-02-30' AS DATE)",
    "SELECT TRY_CAST('2020-01-05 10:00' AS TIMESTAMP), TRY_CAST('2020-01-05T10:00:00.5' AS TIMESTAMP), "
    "TRY_CAST('2020-01-05 25:00:00' AS TIMESTAMP), TRY_CAST('yes' AS BOOLEAN), "
    "TRY_CAST(' true' AS BOOLEAN), TRY_CAST('inf' AS DOUBLE), TRY_CAST('1,5' AS DOUBLE)",
    "SELECT trim(chr(9) || 'a'), ltrim(chr(9) || 'a '), rtrim(' a' || chr(10))",
    "SELECT strpos('Ünïcödé', 'é'), instr('Ünïcödé', 'ö'), position('é' IN 'Ünïcödé')",
    "SELECT replace('abc', '', 'x'), replace('', '', '')",
])
def test_fuzzer_cases(engines, sql):
    got, want = scalar(engines, sql)
    assert len(got) == len(want) == 1
    assert all(_same(w, g) for w, g in zip(want[0], got[0])), (want, got)


def test_double_text_in_string_agg_and_columns(engines):
    dawn, duck = engines
    sql = "SELECT k, f::VARCHAR, concat('[', f, ']'), r::VARCHAR FROM t ORDER BY k"
    assert dawn.execute(sql).fetchall() == duck.execute(sql).fetchall()


def test_strftime_with_a_literal_format_is_not_cast(engines):
    got, want = scalar(engines, "SELECT strftime(DATE '2024-03-09', '%d/%m/%Y'), "
                                "strftime(TIMESTAMP '2024-03-09 10:11:12', '%H:%M')")
    assert got == want == [("09/03/2024", "10:11")]


def test_cast_of_bad_text_raises_data_error(engines):
    dawn, _ = engines
    with pytest.raises(engine.DataError, match="Cannot cast 'abc' to INTEGER"):
        dawn.execute("SELECT CAST('abc' AS INTEGER)").fetchall()
    with pytest.raises(engine.DataError, match="Cannot cast '.*' to INTEGER"):
        dawn.execute("SELECT CAST(s AS INTEGER) FROM t").fetchall()


# ---------------------------------------------------------------- argument forms


@pytest.mark.parametrize("sql", [
    "SELECT regexp_extract('abc', '(b)(c)', 2), regexp_extract('ABC', 'b', 0, 'i')",
    "SELECT regexp_replace('aaa', 'a', 'b', 'g'), regexp_replace('aaa', 'a', 'b')",
    "SELECT date_add(DATE '2020-01-31', INTERVAL 1 MONTH), date_add(DATE '2020-01-31', 3)",
    "SELECT extract(year FROM DATE '2021-03-04'), extract(dow FROM TIMESTAMP '2021-03-04 10:00')",
    "SELECT position('l' IN 'hello'), substring('hello' FROM 2 FOR 3), substring('hello', 2)",
    "SELECT trim(BOTH 'x' FROM 'xxaxx'), trim(LEADING 'x' FROM 'xxa'), trim(TRAILING FROM 'a  ')",
    "SELECT round(1.2345::DOUBLE, 2), log(2, 1024), log2(1024), log10(1000), log(1000)",
    "SELECT date_trunc('month', TIMESTAMP '2020-05-17 10:00'), datediff('day', DATE '2020-01-01', DATE '2020-02-01')",
    "SELECT strptime('05/01/2021', '%d/%m/%Y'), strftime('%Y', DATE '2021-01-05')",
    "SELECT list_sort([3, 1, 2], 'DESC'), list_reverse_sort([1, 3]), array_length([1, 2])",
    "SELECT lpad('7', 3, '0'), rpad('7', 3, '0'), repeat('-', 3), ascii('A'), chr(66)",
    "SELECT epoch_ms(1000), make_timestamp(1000000), make_date(2021, 2, 28), ifnull(NULL, 5)",
])
def test_documented_argument_forms(engines, sql):
    got, want = scalar(engines, sql)
    assert all(_same(w, g) for w, g in zip(want[0], got[0])), (want, got)


@pytest.mark.parametrize("sql, what", [
    ("SELECT regexp_extract('abc', 'b', 0, 'i', 5)", 'Function "regexp_extract" does not take 5'),
    ("SELECT round(1.5, 2, 3)", 'round(): the argument "truncate"'),
    ("SELECT substring('abc', 1, 2, 3)", "substring"),
    ("SELECT [1, 2, 3][1:2]", "List slices"),
])
def test_arguments_sqlglot_parses_but_dawn_does_not_read_are_refused(engines, sql, what):
    dawn, _ = engines
    with pytest.raises((engine.NotSupportedError, engine.ProgrammingError), match=what.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        dawn.execute(sql).fetchall()


# ---------------------------------------------------------------- messages


def test_unknown_function_suggests_a_real_function_never_an_operator(engines):
    dawn, _ = engines
    with pytest.raises(engine.BindError) as ei:
        dawn.execute("SELECT randm()").fetchall()
    msg = str(ei.value)
    assert '"randm"' in msg and 'Did you mean "random"' in msg and "line 1, column 8" in msg
    for typo in ("andd(1)", "eqq(1, 2)", "concat_opp(1)", "single_row(1)"):
        with pytest.raises(engine.BindError) as ei:
            dawn.execute(f"SELECT {typo}").fetchall()
        for internal in ('"and"', '"eq"', '"concat_op"', '"single_row_value"', '"is_not_null"'):
            assert internal not in str(ei.value), str(ei.value)


def test_arity_and_type_errors_name_the_function_as_written(engines):
    dawn, _ = engines
    with pytest.raises(engine.ProgrammingError) as ei:
        dawn.execute("SELECT instr('abc')").fetchall()
    assert 'Function "instr" does not take 1 argument' in str(ei.value)
    assert "strposition" not in str(ei.value).lower() and "<class" not in str(ei.value)
    with pytest.raises(engine.TypeMismatchError) as ei:
        dawn.execute("SELECT instr(1, 2)").fetchall()
    msg = str(ei.value)
    assert '"instr(1, 2)"' in msg and "line 1, column 8" in msg and "STRPOS" not in msg
    with pytest.raises(engine.TypeMismatchError) as ei:
        dawn.execute("SELECT regexp_extract(1, 'a')").fetchall()
    assert "regexp_extract" in str(ei.value) and "regexpextract" not in str(ei.value)
    with pytest.raises(engine.ProgrammingError, match='Function "Lower" does not take 2'):
        dawn.execute("SELECT Lower('a', 'b')").fetchall()


def test_double_and_float_text_over_random_bit_patterns():
    """Shortest round-trip digits in DuckDB's layout, for every magnitude; FLOATs on which
    DuckDB's formatter falls back to the double's digits (222777392.0) included."""
    import struct
    rng = random.Random(7)
    bits = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(6000)]
    vals = bits + [10.0 ** k * m for k in range(-12, 22) for m in (1.0, 1.5, -2.25, 9.999999999999998)]
    vals += [0.0, -0.0, 222777392.0, -3319314.25, 298633.875, 5173023.0, 123456789012345678.0]
    data = pa.table({"d": pa.array(vals, pa.float64()),
                     "r": pa.array(vals, pa.float64()).cast(pa.float32(), safe=False)})
    dawn, duck = engine.connect(), duckdb.connect()
    dawn.register("v", data)
    duck.register("v", data)
    sql = "SELECT CAST(d AS VARCHAR), CAST(r AS VARCHAR), d || '', concat(r) FROM v"
    got, want = dawn.execute(sql).fetchall(), duck.execute(sql).fetchall()
    bad = [(g, w) for g, w in zip(got, want) if g != w]
    assert not bad, f"{len(bad)} differ, e.g. Dawn {bad[0][0]} DuckDB {bad[0][1]}"
