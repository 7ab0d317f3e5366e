"""Adoption funnel, retention cohorts and weekly lifecycle, checked against hand counts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from errors import MetricError
from metrics.funnel import (
    COMPUTE,
    PRIVACY,
    compute_funnel,
    compute_lifecycle,
    compute_retention,
)
from metrics.privacy import suppress
from tests.conftest import BACKENDS
from tests.org_fixture import Org, org_facts, save_org

D = dt.date
JAN = D(2025, 1, 1)
MARCH = (D(2025, 3, 1), D(2025, 3, 31))
WEEKDAYS_IN_MARCH = 21  # 1 March 2025 is a Saturday


def org() -> Org:
    roster = {f"a{i}": {"department": "Sales"} for i in range(1, 7)}
    roster |= {f"b{i}": {"department": "IT"} for i in range(1, 6)}
    roster["a5"]["termination_date"] = "2025-03-15"  # still employed for half of March
    roster["w1"] = {"department": "Sales", "hire_date": "2025-04-01"}  # not yet employed
    accounts = {p: (JAN, None, None, None) for p in roster if p not in ("a6", "w1")}
    accounts["a4"] = (JAN, D(2025, 3, 10), None, None)  # suspended on 10 March
    accounts["b5"] = (D(2025, 3, 20), None, None, None)  # joins on 20 March
    reaction = 0, 1, 0
    return Org(
        people=[*roster, "x"],
        accounts=accounts,
        roster={JAN: roster},
        graph=[
            ("a1", D(2025, 1, 15), *reaction),
            ("a1", D(2025, 2, 11), *reaction),
            ("b2", D(2025, 2, 10), *reaction),
            ("b1", D(2025, 3, 1), *reaction),  # a Saturday
            ("a1", D(2025, 3, 3), *reaction),
            ("a1", D(2025, 3, 4), *reaction),
            ("a2", D(2025, 3, 3), 0, 0, 5),  # reads only: active, not engaged
            ("x", D(2025, 3, 5), *reaction),  # no account, no roster row: member from today
            ("a1", D(2025, 3, 11), *reaction),
            ("a4", D(2025, 3, 12), *reaction),  # suspended by then: not a member
            ("b5", D(2025, 3, 25), *reaction),
            ("a2", D(2025, 3, 31), 0, 0, 1),  # the data runs to the end of March
        ],
    )


def by_group(frame):
    return {r["group"]: r for r in frame.to_dict("records")}


@BACKENDS
@pytest.mark.parametrize("rows_chunk", [None, 2], ids=["whole", "in-chunks-of-2"])
def test_funnel_by_department(engine, settings, monkeypatch, rows_chunk):
    if rows_chunk:  # the per-row steps a few rows at a time give the same figures
        for module in ("metrics.engagement", "metrics.funnel"):
            monkeypatch.setattr(f"{module}.ROWS_CHUNK", rows_chunk)
    save_org(engine, settings, org())
    frame = compute_funnel(org_facts(engine, settings), "department", *MARCH)
    assert set(frame["period"]) == {D(2025, 3, 1)}
    out = by_group(frame)
    sales, it, unknown = out["Sales"], out["IT"], out["Unknown"]
    assert (sales["workforce"], sales["members"], sales["engaged"]) == (6, 5, 1)
    assert (it["workforce"], it["members"], it["engaged"]) == (5, 5, 2)
    assert (unknown["workforce"], unknown["members"], unknown["engaged"]) == (0, 1, 1)
    assert sales["adoption"] == pytest.approx(5 / 6)
    assert unknown["adoption"] != unknown["adoption"]  # no workforce: no adoption
    assert it["engaged_share"] == pytest.approx(2 / 5)
    # Weekday shares: Sales 1/5 on 3 and 4 March, 1/4 on 11 March (a4 gone); IT 1/5 on the
    # 25th (the Saturday does not count); x alone is engaged on 5 of its 19 weekdays.
    assert sales["typical_engaged_share"] == pytest.approx((0.2 + 0.2 + 0.25) / 21)
    assert it["typical_engaged_share"] == pytest.approx(0.2 / WEEKDAYS_IN_MARCH)
    assert unknown["typical_engaged_share"] == pytest.approx(1 / 19)

    hidden = by_group(suppress(frame, 5, **PRIVACY["funnel"]))
    assert hidden["Unknown"]["suppressed"] and hidden["IT"]["suppressed"]  # IT: complementary
    assert hidden["IT"]["engaged"] != hidden["IT"]["engaged"]
    assert (hidden["IT"]["members"], hidden["IT"]["workforce"]) == (5, 5)
    assert not hidden["Sales"]["suppressed"] and hidden["Sales"]["engaged"] == 1


@BACKENDS
def test_funnel_for_everyone_by_week(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    month = by_group(compute_funnel(facts, "all", *MARCH))["All"]
    assert (month["workforce"], month["members"], month["engaged"]) == (11, 11, 4)
    assert month["typical_engaged_share"] == pytest.approx((3 / 9 + 1 / 10 + 1 / 10) / 21)
    weeks = compute_funnel(facts, "all", D(2025, 3, 3), D(2025, 3, 16), "week")
    assert list(weeks["period"]) == [D(2025, 3, 3), D(2025, 3, 10)]
    first, second = weeks.to_dict("records")
    assert (first["members"], first["engaged"]) == (10, 2)  # x joins on Wednesday
    assert first["typical_engaged_share"] == pytest.approx((1 / 9 + 1 / 9 + 1 / 10) / 5)
    assert (second["members"], second["engaged"], second["workforce"]) == (9, 1, 11)


@BACKENDS
def test_retention_by_join_month(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    out = compute_retention(facts, "all", JAN, MARCH[1])
    got = {(r["period"], r["offset"]): (r["members"], r["engaged"]) for r in out.to_dict("records")}
    assert got == {
        (JAN, 0): (9, 1),  # a1
        (JAN, 1): (9, 2),  # a1, b2
        (JAN, 2): (9, 2),  # a1, b1 (a4 was suspended when active)
        (D(2025, 3, 1), 0): (2, 2),  # b5 and x
    }
    march = out[(out["period"] == D(2025, 3, 1))]
    assert march["retention"].tolist() == [1.0]
    depts = compute_retention(facts, "department", JAN, MARCH[1])
    got = {(r["period"], r["offset"], r["group"]): (r["members"], r["engaged"])
           for r in depts.to_dict("records")}
    assert got[(JAN, 1, "IT")] == (4, 1) and got[(JAN, 1, "Sales")] == (5, 1)
    assert got[(D(2025, 3, 1), 0, "IT")] == (1, 1) and got[(D(2025, 3, 1), 0, "Unknown")] == (1, 1)
    hidden = suppress(depts, 5, **PRIVACY["retention"])
    jan = hidden[(hidden["period"] == JAN) & (hidden["offset"] == 2)]
    assert jan["suppressed"].tolist() == [True, True]  # IT has 4: Sales is its complement


@BACKENDS
def test_lifecycle_by_week(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    out = compute_lifecycle(facts, "all", D(2025, 2, 24), D(2025, 3, 30))
    got = {
        r["period"]: (r["members"], r["new"], r["returning"], r["resurrected"], r["dormant"])
        for r in out.to_dict("records")
    }
    assert got == {
        D(2025, 2, 24): (9, 1, 0, 0, 0),  # b1 (Saturday 1 March)
        D(2025, 3, 3): (10, 1, 0, 1, 1),  # x new, a1 back after February, b1 lapses
        D(2025, 3, 10): (9, 0, 1, 0, 1),  # a1 again, x lapses
        D(2025, 3, 17): (10, 0, 0, 0, 1),  # a1 lapses; b5 joins
        D(2025, 3, 24): (10, 1, 0, 0, 0),  # b5
    }
    assert out["engaged"].tolist() == [1, 2, 1, 0, 1]


@BACKENDS
def test_lifecycle_by_month_and_bad_requests(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    out = compute_lifecycle(facts, "department", JAN, MARCH[1], "month")
    got = {(r["period"], r["group"]): (r["new"], r["returning"], r["resurrected"], r["dormant"])
           for r in out.to_dict("records")}
    assert got[(D(2025, 2, 1), "IT")] == (1, 0, 0, 0)
    assert got[(D(2025, 2, 1), "Sales")] == (0, 1, 0, 0)
    assert got[(D(2025, 3, 1), "IT")] == (2, 0, 0, 1)  # b1 and b5 new; b2 lapses
    assert got[(D(2025, 3, 1), "Unknown")] == (1, 0, 0, 0)
    with pytest.raises(MetricError, match="unknown grain"):
        compute_funnel(facts, "all", grain="day")
    with pytest.raises(MetricError, match="crossed breakdown"):
        compute_retention(facts, "department@region")
    assert set(COMPUTE) == {"funnel", "retention", "lifecycle"}
    assert compute_funnel(facts, "department", D(2030, 1, 1), D(2030, 1, 31)).empty


@BACKENDS
def test_lifecycle_does_not_depend_on_activity_order(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    expected = compute_lifecycle(facts, "department", JAN, MARCH[1])
    funnel = compute_funnel(facts, "department", JAN, MARCH[1])
    facts.activity = facts.activity.iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(compute_lifecycle(facts, "department", JAN, MARCH[1]), expected)
    pd.testing.assert_frame_equal(compute_funnel(facts, "department", JAN, MARCH[1]), funnel)


@BACKENDS
def test_readers_only_give_members_but_no_lifecycle_events(engine, settings):
    save_org(engine, settings, Org(
        people=["r"], accounts={"r": (JAN, None, None, None)},
        graph=[("r", D(2025, 1, 6), 0, 0, 4), ("r", D(2025, 1, 20), 0, 0, 1)],
    ))
    facts = org_facts(engine, settings)
    out = compute_lifecycle(facts, "all")
    assert out["members"].tolist() == [1, 1, 1, 1] and out["engaged"].sum() == 0
    assert out[["new", "returning", "resurrected", "dormant"]].to_numpy().sum() == 0
    funnel = compute_funnel(facts, "all").to_dict("records")[0]
    assert (funnel["members"], funnel["engaged"], funnel["typical_engaged_share"]) == (1, 0, 0.0)


def test_member_periods_reached_are_looked_up_pair_by_pair() -> None:
    import numpy as np

    from metrics.funnel import _among

    # members (pid, period index) against the engaged pairs: same pid or period alone is not enough
    found = _among(np.array([0, 0, 3, 7, 3]), np.array([700, 701, 700, 702, 699]),
                   np.array([0, 3, 9]), np.array([701, 699, 700]))
    assert found.tolist() == [False, True, False, False, True]
    assert _among(np.array([1]), np.array([5]), np.array([], dtype=int),
                  np.array([], dtype=int)).tolist() == [False]
