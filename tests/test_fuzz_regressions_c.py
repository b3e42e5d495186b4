"""Regression tests for the 100,000-query fuzz run of 2026-12-02 (benchmarks/fuzz.py, seeds
10000-10666, --features ci), each against DuckDB on the same data.

diff:10506:18: date_part('week', ...) of a date 4.7 million years BC answered -242784726
(Arrow's calendar kernels overflow past about 27,000 years; DuckDB's DATE spans 5.8 million);
the calendar arithmetic beside them went through microseconds, which overflow int64 past
292,000 years. The same dates exposed BC centuries, millenniums, yearweeks and %Y/%y in strftime,
and last_day() of the last DATE wrapping to a BC date.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from duckdb_pair import assert_both_refuse, assert_same_answer, connect_pair

DAYS = [-1710715527, -2147483646, -1000000000, -756028, -719894, -719529, -719528, 5, 19788,
        100_000_000, 2_000_000_000, 2147483646, None]
PARTS = ["year", "month", "day", "quarter", "doy", "week", "isoyear", "dow", "isodow", "yearweek",
         "decade", "century", "millennium", "era", "epoch", "julian"]


@pytest.fixture(scope="module")
def engines():
    d = pa.table({"i": pa.array(range(len(DAYS)), pa.int64()),
                  "d": pa.array([x for x in DAYS], pa.int32()).cast(pa.date32())})
    # every year from 2200 BC to 5 AD, a week apart (BC centuries and weeks)
    days = np.arange(-719528 - 365 * 2200, -719528 + 365 * 5, 97, dtype=np.int32)
    bc = pa.table({"d": pa.array(days).cast(pa.date32())})
    return connect_pair({"d": d, "bc": bc})


@pytest.mark.parametrize("part", PARTS)
def test_date_parts_of_far_dates(engines, part):
    assert_same_answer(*engines, f"SELECT i, date_part('{part}', d) FROM d ORDER BY i", ordered=True)


def test_date_parts_of_one_far_date_as_a_constant(engines):
    # the fuzz case's shape: a constant folded through a list
    sql = "SELECT date_part('week', [DATE '2024-03-06' - CAST(1710735315 AS INTEGER)][1])"
    assert_same_answer(*engines, sql, ordered=True)


@pytest.mark.parametrize("part", ["century", "millennium", "decade", "yearweek", "isoyear", "week"])
def test_bc_parts(engines, part):
    assert_same_answer(*engines, f"SELECT d, date_part('{part}', d) FROM bc ORDER BY d", ordered=True)


def test_strftime_of_bc_and_far_years(engines):
    assert_same_answer(*engines, "SELECT i, strftime(d, '%Y-%m-%d|%y|%G|%-y') FROM d ORDER BY i",
                       ordered=True)
    assert_same_answer(*engines, "SELECT d, strftime(d, '%Y|%y') FROM bc ORDER BY d", ordered=True)


def test_epoch_ms_of_far_dates(engines):
    assert_same_answer(*engines, "SELECT i, epoch_ms(d), epoch(d) FROM d ORDER BY i", ordered=True)


def test_last_day_past_the_last_date_refuses(engines):
    assert_both_refuse(*engines, "SELECT last_day(d) FROM d WHERE i = 11")
    assert_same_answer(*engines, "SELECT i, last_day(d) FROM d WHERE i <> 11 ORDER BY i", ordered=True)
