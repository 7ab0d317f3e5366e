"""Period helpers at the sizes where they switch to tables and counts: the same answers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


class _Facts:
    """What the period helpers read of the facts: the roster attribution and a cache."""

    def __init__(self, attribution):
        from metrics.facts import Facts

        self.attribution, self.cache = attribution, {}
        self.group_codes = Facts.group_codes.__get__(self)
        self.cached = Facts.cached.__get__(self)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_counts_from_intervals_are_those_of_the_pairs(data):
    """counted_by_period, from each person's intervals, counts what people_codes' pairs count:
    people overlapping a period once however many of their intervals do, in their group (and
    extra flag) as of the period's last day clipped to hi."""
    import pandas as pd

    from metrics.attribution import Attribution
    from metrics.periods import counted_by_period, people_codes

    base = int(numbers([D(2024, 12, 20)])[0])
    people = data.draw(st.integers(1, 6))
    span = st.integers(0, 120)
    pieces = data.draw(st.lists(st.tuples(st.integers(0, people - 1), span, span), max_size=12))
    pieces = [(p, base + min(a, b), base + max(a, b) + 1) for p, a, b in pieces]  # any order
    intervals = tuple(np.array([x[i] for x in pieces], dtype=np.int64) for i in range(3))
    as_of = np.array(sorted(set(data.draw(st.lists(span, min_size=1, max_size=3))))) + base
    rows = pd.DataFrame(
        [(pid, "department", snap, data.draw(st.sampled_from(["Ops", "Sales", ""])))
         for pid in range(people) for snap in range(len(as_of))],
        columns=["pid", "attribute", "snap", "value"])
    attribution = Attribution.from_labels(people, as_of, rows, np.array([None] * people))
    facts = _Facts(attribution)
    extra = np.array(data.draw(st.lists(st.booleans(), min_size=len(as_of) * people,
                                        max_size=len(as_of) * people))).reshape(len(as_of), people)
    lo = D(2024, 12, 20) + dt.timedelta(days=data.draw(span))
    hi = lo + dt.timedelta(days=data.draw(st.integers(0, 90)))
    grain = data.draw(st.sampled_from(["week", "month"]))
    for by in ("department", "all"):
        pairs = people_codes(facts, by, intervals, lo, hi, grain)
        ends = last_day_numbers(pairs.index, grain, hi)
        flags = extra[attribution.snapshot_index(ends), pairs.pid]
        for wanted, flagged in ((pairs.counts(), None), (pairs.counts(extra=flags), extra)):
            got = counted_by_period(facts, by, intervals, lo, hi, grain, flagged)
            pd.testing.assert_frame_equal(got, wanted, check_dtype=False)


def test_counts_from_intervals_of_a_hand_made_case():
    """Two intervals of one person in one week count once; a roster change inside the span
    moves the person's later weeks to the new group."""
    import pandas as pd

    from metrics.attribution import Attribution
    from metrics.periods import counted_by_period

    monday = int(numbers([D(2025, 3, 3)])[0])
    rows = pd.DataFrame([(0, "department", 0, "Ops"), (0, "department", 1, "Sales"),
                         (1, "department", 0, "Ops"), (1, "department", 1, "Ops")],
                        columns=["pid", "attribute", "snap", "value"])
    attribution = Attribution.from_labels(2, np.array([monday, monday + 9]), rows,
                                          np.array([None, None]))
    intervals = (np.array([0, 0, 1]), np.array([monday, monday + 3, monday + 7]),
                 np.array([monday + 2, monday + 20, monday + 8]))
    got = counted_by_period(_Facts(attribution), "department", intervals, D(2025, 3, 3),
                            D(2025, 3, 23), "week")
    # week 1: person 0 (twice) in Ops; week 2 (ends 16 Mar, snapshot 2): 0 in Sales, 1 in
    # Ops (its roster row keeps it there); week 3: 0 in Sales
    assert [(str(p.date()), g, c) for p, g, c in got.itertuples(index=False)] == [
        ("2025-03-03", "Ops", 1), ("2025-03-10", "Ops", 1), ("2025-03-10", "Sales", 1),
        ("2025-03-17", "Sales", 1)]
