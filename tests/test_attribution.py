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
