"""Roster attribution from integer codes: groups per snapshot and employment intervals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from metrics.attribution import Attribution
from metrics.calendar import NEVER, day_number

D = day_number  # ISO text → day number


def roster() -> Attribution:
    rows = [
        (0, "department", 0, "Sales"), (0, "hire_date", 0, "1970-04-15"),
        (0, "department", 1, " IT "), (0, "hire_date", 1, "1970-04-15"),
        (0, "termination_date", 1, "1970-04-25"),
        (1, "department", 0, ""), (1, "hire_date", 0, ""), (1, "termination_date", 0, "junk"),
    ]  # pid 2 is in no snapshot; pid 1 is not in the second
    frame = pd.DataFrame(rows, columns=["pid", "attribute", "snap", "value"])
    as_of = np.array([D(dt.date(1970, 4, 11)), D(dt.date(1970, 4, 21))])
    profile = np.array([None, None, "Ops"], dtype=object)
    return Attribution.from_labels(3, as_of, frame, profile)


def test_many_days_find_their_snapshot_as_a_search_per_day_would() -> None:
    """Above TABLE_ROWS days the snapshots are looked up in a table of day numbers: the same
    answers, on snapshot days, around them, before the first and on day 0."""
    from metrics import attribution

    first, second = roster().as_of.tolist()
    edges = np.array([0, first - 1, first, second - 1, second, second + 400])
    assert roster().snapshot_index(edges).tolist() == [0, 0, 0, 0, 1, 1]
    many = np.random.default_rng(5).integers(0, second + 500, attribution.TABLE_ROWS + 1000)
    many[:len(edges)] = edges
    expected = np.maximum(np.searchsorted(roster().as_of, many, side="right") - 1, 0)
    for days in (many, many.astype(np.int32)):
        got = roster().snapshot_index(days)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == expected.dtype
    negative = many.copy()
    negative[-1] = -3  # a day before 1970: searched row by row
    assert roster().snapshot_index(negative)[-1] == 0


def test_group_codes_fall_back_to_the_profile_then_unknown() -> None:
    matrix, labels = roster().codes("department")
    assert list(labels) == ["IT", "Ops", "Sales", "Unknown"]
    assert labels[matrix].tolist() == [["Sales", "Unknown", "Ops"], ["IT", "Unknown", "Ops"]]


def test_workforce_pieces_clip_hire_and_termination_to_each_snapshot() -> None:
    attribution = roster()
    pid, start, end, snap = attribution.workforce_pieces()
    hired, left = D(dt.date(1970, 4, 15)), D(dt.date(1970, 4, 25))
    second = attribution.as_of[1]
    assert list(zip(pid.tolist(), start.tolist(), end.tolist(), snap.tolist(), strict=True)) == [
        (0, hired, second, 0),  # hired within the first snapshot's span
        (0, second, left, 1),  # left within the second's
        (1, NEVER, second, 0),  # blank hire date: since ever; junk termination: not left
    ]


def test_attributes_list_roster_names_but_not_dates() -> None:
    assert roster().attributes() == ["all", "department"]
