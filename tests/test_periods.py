"""Period helpers at the sizes where they switch to tables and counts: the same answers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from metrics.periods import (
    TABLE_MIN,
    distinct_counts,
    last_day_numbers,
    last_days,
    numbers,
    period_index,
    period_start,
    unique_pairs,
)

D = dt.date


@pytest.mark.parametrize("grain", ["week", "month"])
def test_last_days_of_many_periods_are_those_of_each_one(grain):
    days = np.arange(numbers([D(2024, 1, 1)])[0], numbers([D(2025, 3, 31)])[0] + 1)
    index = period_index(np.tile(days, TABLE_MIN // len(days) + 1), grain)
    assert len(index) >= TABLE_MIN
    hi = D(2025, 3, 20)  # within the last period: its last day is clipped to hi
    by_table = last_day_numbers(index, grain, hi)
    one_by_one = numbers(last_days(period_start(index, grain), grain, hi))
    np.testing.assert_array_equal(by_table, one_by_one)
    np.testing.assert_array_equal(last_day_numbers(index[:10], grain, hi), one_by_one[:10])
    assert by_table.max() == numbers([hi])[0]
    if grain == "month":  # February of a leap year, and of another
        ends = set(by_table.tolist())
        assert numbers([D(2024, 2, 29)])[0] in ends and numbers([D(2025, 2, 28)])[0] in ends


@pytest.mark.parametrize("size, span", [(10, 5), (50_000, 100), (50_000, 10**9)],
                         ids=["few", "counted", "sparse-sorted"])
def test_distinct_counts_are_numpys_unique(size, span):
    keys = np.random.default_rng(3).integers(0, span, size)
    distinct, counts = distinct_counts(keys)
    expected, expected_counts = np.unique(keys, return_counts=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(counts, expected_counts)
    assert [a.tolist() for a in distinct_counts(keys[:0])] == [[], []]


def test_unique_pairs_in_order_or_not_give_the_same_pairs():
    first = np.array([3, 3, 4, 1, 2, 2, 5])
    second = np.array([0, 0, 0, 1, 1, 1, 1])  # in (second, first) order, with repeats
    in_order = unique_pairs(first, second)
    assert [a.tolist() for a in in_order] == [[3, 4, 1, 2, 5], [0, 0, 1, 1, 1]]
    shuffled = np.array([6, 0, 3, 5, 1, 4, 2])
    assert [a.tolist() for a in unique_pairs(first[shuffled], second[shuffled])] == [
        a.tolist() for a in in_order]
    distinct = unique_pairs(np.array([1, 2]), np.array([0, 0]))
    assert [a.tolist() for a in distinct] == [[1, 2], [0, 0]]
