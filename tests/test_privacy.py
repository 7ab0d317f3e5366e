"""Minimum group size: no output reveals a group below k, directly or by subtraction."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from errors import ConfigError
from metrics.attribution import Attribution
from metrics.calendar import FOREVER, as_datetime64, day_number
from metrics.facts import Facts, _no_messages
from metrics.membership import Membership, merge_intervals
from metrics.privacy import suppress, suppress_cells
from metrics.read import _shape
from metrics.trends import compute_daily, derive
from settings import Settings, load_settings

D0 = dt.date(2025, 1, 6)  # a Monday
DAYS = 14
DEPARTMENTS = ["Claims", "IT", "Ops", "Sales"]


def test_suppress_hides_small_groups_and_the_smallest_other_one():
    frame = pd.DataFrame({
        "day": ["d1"] * 4 + ["d2"] * 2 + ["d3"],
        "group": ["A", "B", "C", "D", "A", "B", "A"],
        "members": [3, 9, 7, 7, 9, 9, 2],
        "engaged": [1, 4, 2, 3, 5, 6, 1],
    })
    out = suppress(frame, 5, values=["engaged"])
    assert list(out["suppressed"]) == [True, False, True, False, False, False, True]
    assert out["engaged"].isna().tolist() == [True, False, True, False, False, False, True]
    assert list(out["members"]) == [3, 9, 7, 7, 9, 9, 2]  # head counts stay visible


def test_matrix_cells_under_k_are_withheld_with_their_head_count():
    cells = pd.DataFrame({"people": [2, 5], "replies": [7, 9]})
    out = suppress_cells(cells, 5, values=["replies"])
    assert out["replies"].isna().tolist() == [True, False]
    assert out["people"].isna().tolist() == [True, False]


def test_k_is_never_below_three(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("privacy: {min_group_size: 2}\n")
    with pytest.raises(ConfigError, match="privacy.min_group_size"):
        load_settings(config, environ={})


@st.composite
def organisations(draw):
    """Random small organisations: memberships, two roster snapshots, engaged/read days."""
    n = draw(st.integers(2, 24))
    people = []
    for _ in range(n):
        start = draw(st.integers(0, DAYS - 1))
        end = draw(st.one_of(st.just(FOREVER), st.integers(start + 1, DAYS + 2)))
        depts = (draw(st.sampled_from(DEPARTMENTS)), draw(st.sampled_from(DEPARTMENTS)))
        engaged = draw(st.sets(st.integers(0, DAYS - 1), max_size=6))
        reads = draw(st.sets(st.integers(0, DAYS - 1), max_size=4))
        people.append((start, end, depts, engaged, reads))
    return people, draw(st.integers(3, 6))


def make_facts(people) -> Facts:
    base = day_number(D0)
    n = len(people)
    pids = np.arange(n)
    starts = np.array([base + p[0] for p in people])
    ends = np.array([p[1] if p[1] == FOREVER else base + p[1] for p in people])
    rows = []
    for pid, (_, _, depts, _, _) in enumerate(people):
        for snap, dept in enumerate(depts):
            rows.append({"pid": pid, "attribute": "department", "snap": snap, "value": dept})
    attribution = Attribution.from_labels(
        n, np.array([base, base + 7]), pd.DataFrame(rows), np.full(n, None, dtype=object)
    )
    acts = []
    for pid, (_, _, _, engaged, reads) in enumerate(people):
        for day in sorted(engaged | reads):
            acts.append((pid, base + day, int(day in engaged), 0, 0, int(day in reads)))
    frame = pd.DataFrame(acts, columns=["pid", "day", "posts", "replies", "reactions", "reads"])
    frame = frame.sort_values(["pid", "day"]).reset_index(drop=True)
    frame["day"] = as_datetime64(frame["day"].to_numpy())
    frame = frame.astype({"pid": np.int32, "posts": np.int32, "replies": np.int32,
                          "reactions": np.int32, "reads": np.int32})
    membership = Membership(*merge_intervals(pids, starts, ends))
    return Facts(ZoneInfo("UTC"), D0, D0 + dt.timedelta(days=DAYS - 1), np.array(
        [f"p{i}" for i in range(n)], dtype=object), frame, _no_messages(), membership,
        attribution)


def shown(facts: Facts, by: str, grain: str, k: int) -> pd.DataFrame:
    settings = Settings()
    settings.privacy.min_group_size = k
    end = D0 + dt.timedelta(days=DAYS - 1)
    daily = derive(compute_daily(facts, by, D0, end), settings.metrics.target_engaged_share)
    return _shape(daily, grain, settings, D0, end)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(organisations(), st.sampled_from(["day", "week", "month"]))
def test_no_output_reveals_a_group_below_k(org, grain):
    people, k = org
    facts = make_facts(people)
    key = "day" if grain == "day" else "period"
    size = "members" if grain == "day" else "min_members"
    total = shown(facts, "all", grain, k).set_index(key)
    groups = shown(facts, "department", grain, k)
    behaviour = ["engaged", "active", "engaged_share", "wau", "mau", "stickiness"]
    for when, part in groups.groupby(key):
        small = part[size] < k
        hidden = part["suppressed"]
        assert hidden[small].all(), "a group below k is shown"
        assert part.loc[hidden, behaviour].isna().all().all()
        if len(part) > 1:
            assert hidden.sum() != 1, "one hidden group could be derived from the others"
        if hidden.sum() == 0 and when in total.index and not total.loc[when, "suppressed"]:
            # everything visible: the parts add up to the total, nothing else is hidden
            assert part["engaged"].sum() == pytest.approx(total.loc[when, "engaged"])
    # Visible figures are the true ones.
    truth = compute_daily(facts, "department", D0, D0 + dt.timedelta(days=DAYS - 1))
    if grain == "day":
        merged = groups.assign(day=pd.to_datetime(groups["day"])).merge(
            truth, on=["day", "group"], suffixes=("", "_true"))
        visible = ~merged["suppressed"]
        assert (merged.loc[visible, "engaged"] == merged.loc[visible, "engaged_true"]).all()
        assert (merged["members"] == merged["members_true"]).all()


def test_matrix_lines_never_leave_one_hidden_cell():
    """A lone hidden cell in a row or column is joined by the smallest other cell of that line."""
    cells = pd.DataFrame(
        {
            "period": ["m"] * 4,
            "group": ["A", "A", "B", "B"],
            "target": ["A", "B", "A", "B"],
            "people": [2, 9, 7, 8],
            "replies": [3, 20, 11, 12],
        }
    )
    lines = (("period", "group"), ("period", "target"))
    out = suppress_cells(cells, 5, values=["replies"], lines=lines)
    # A→A is small; row A then hides A→B, column A hides B→A, then row B / column B hide B→B.
    assert out["suppressed"].tolist() == [True, True, True, True]
    assert out["replies"].isna().all()
    plain = suppress_cells(cells, 5, values=["replies"])
    assert plain["suppressed"].tolist() == [True, False, False, False]


def test_matrix_lines_leave_two_hidden_cells_alone():
    cells = pd.DataFrame(
        {
            "period": ["m"] * 3,
            "group": ["A", "A", "A"],
            "target": ["X", "Y", "Z"],
            "people": [2, 3, 9],
            "replies": [2, 4, 30],
        }
    )
    out = suppress_cells(cells, 5, values=["replies"], lines=(("period", "group"),))
    assert out["suppressed"].tolist() == [True, True, False]
    assert out.loc[2, "replies"] == 30
