"""Errors name what was wrong and where, and come from one DB-API exception hierarchy."""
from __future__ import annotations

import pyarrow as pa
import pytest

import engine


@pytest.fixture()
def con():
    c = engine.connect()
    c.register("orders", pa.table({"o_orderkey": [1, 2, 3], "o_custkey": [10, 20, 10],
                                   "o_comment": ["a", "b", "c"]}))
    c.register("customer", pa.table({"c_custkey": [10, 20], "c_name": ["x", "y"]}))
    return c


def test_syntax_error_names_line_and_column(con):
    with pytest.raises(engine.ParseError) as ei:
        con.execute("SELECT o_orderkey\nFROM orders\nWHERE o_custkey = = 1")
    e = ei.value
    assert isinstance(e, engine.ProgrammingError) and isinstance(e, engine.Error)
    assert e.line == 3
    assert "line 3" in str(e) and "column" in str(e)


def test_syntax_error_on_first_line(con):
    with pytest.raises(engine.ParseError) as ei:
        con.execute("SELEC 1")
    assert ei.value.line == 1 and "line 1, column" in str(ei.value)


def test_unknown_table_suggests_closest(con):
    with pytest.raises(engine.BindError) as ei:
        con.execute("SELECT * FROM order")
    msg = str(ei.value)
    assert '"order"' in msg and 'Did you mean "orders"?' in msg and "line 1, column 15" in msg
    assert isinstance(ei.value, engine.ProgrammingError)


def test_unknown_column_suggests_closest(con):
    with pytest.raises(engine.BindError) as ei:
        con.execute("SELECT o_custky FROM orders")
    msg = str(ei.value)
    assert '"o_custky" not found' in msg and 'Did you mean "o_custkey"?' in msg
    assert "line 1, column 8" in msg


def test_unknown_qualified_column(con):
    with pytest.raises(engine.BindError, match='Did you mean "c_name"'):
        con.execute("SELECT c.c_nam FROM customer c")


def test_ambiguous_column(con):
    con.register("o2", pa.table({"o_orderkey": [1]}))
    with pytest.raises(engine.BindError, match="ambiguous"):
        con.execute("SELECT o_orderkey FROM orders, o2")


def test_unknown_function_suggests_closest(con):
    with pytest.raises(engine.BindError, match='Did you mean "upper"'):
        con.execute("SELECT uper(o_comment) FROM orders")


def test_type_error_names_the_expression(con):
    with pytest.raises(engine.TypeMismatchError) as ei:
        con.execute("SELECT o_orderkey + o_comment FROM orders")
    msg = str(ei.value)
    assert "o_orderkey + o_comment" in msg
    assert isinstance(ei.value, engine.ProgrammingError)


def test_type_error_in_function_argument(con):
    with pytest.raises(engine.TypeMismatchError, match=r"(?i)upper\(o_orderkey\)"):
        con.execute("SELECT upper(o_orderkey) FROM orders")


def test_type_error_sum_of_text(con):
    with pytest.raises(engine.TypeMismatchError, match="sum"):
        con.execute("SELECT sum(o_comment) FROM orders")


def test_where_must_be_boolean(con):
    with pytest.raises(engine.TypeMismatchError, match="must be BOOLEAN"):
        con.execute("SELECT * FROM orders WHERE o_orderkey")


def test_non_grouped_column(con):
    with pytest.raises(engine.BindError, match="GROUP BY"):
        con.execute("SELECT o_custkey, o_orderkey, count(*) FROM orders GROUP BY o_custkey")


def test_division_by_zero_is_data_error(con):
    with pytest.raises(engine.DataError):
        con.execute("SELECT o_orderkey // 0 FROM orders")


def test_bad_cast_is_data_error(con):
    with pytest.raises(engine.DataError, match="Cannot cast"):
        con.execute("SELECT CAST(o_comment AS INTEGER) FROM orders")
    assert con.execute("SELECT TRY_CAST(o_comment AS INTEGER) FROM orders").fetchall() == [(None,)] * 3


def test_missing_file(con):
    with pytest.raises(engine.Error, match="does not exist"):
        con.execute("SELECT * FROM read_parquet('/nonexistent/x.parquet')")


def test_wrong_parameter_count(con):
    with pytest.raises(engine.ProgrammingError, match="2 parameter"):
        con.execute("SELECT * FROM orders WHERE o_orderkey = ? AND o_custkey = ?", [1])


def test_unknown_rule_in_disabled_rules(con):
    with pytest.raises(engine.ProgrammingError, match='Did you mean "pushdown_filters"'):
        con.execute("SET disabled_rules = 'pushdown_filter'")
