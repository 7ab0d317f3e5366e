"""Participation profile (90-9-1 tiers) and personas per group, checked against hand counts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from errors import MetricError
from metrics.participation import (
    COMPUTE,
    PRIVACY,
    compute_participation_profile,
    compute_personas,
)
from metrics.privacy import suppress
from tests.conftest import BACKENDS
from tests.org_fixture import Org, org_facts, save_org

D = dt.date
T = dt.datetime
MARCH = (D(2025, 3, 1), D(2025, 3, 31))
TIERS = ["starters", "repliers", "reactors", "readers", "inactive"]
PERSONAS = ["observers", "responders", "broadcasters", "catalysts", "engagers"]


def org() -> Org:
    roster = {f"p{i}": {"department": "Sales"} for i in range(1, 7)}
    roster |= {"q1": {"department": "IT"}, "q2": {"department": "IT"}}
    roster |= {f"o{i}": {"department": "Ops"} for i in range(1, 6)}
    roster["z"] = {"department": "Ops"}
    accounts = {p: (D(2025, 1, 1), None, None, None) for p in roster}
    accounts["z"] = (D(2025, 3, 20), None, None, None)
    reacting_days = [3, 4, 5, 6, 7, 10, 11, 12]
    return Org(
        people=list(roster),
        accounts=accounts,
        roster={D(2025, 1, 1): roster},
        messages=[
            ("tp1a", "tp1a", "p1", T(2025, 3, 3, 9)),
            ("tp1b", "tp1b", "p1", T(2025, 3, 4, 9)),
            ("tp1c", "tp1c", "p1", T(2025, 3, 5, 9)),
            ("r1", "tp1a", "p2", T(2025, 3, 3, 10)),
            ("tq", "tq", "q1", T(2025, 3, 3, 11)),
            ("r2", "tq", "p2", T(2025, 3, 4, 10)),
            ("r3", "tq", "p1", T(2025, 3, 5, 10)),
            ("r4", "tq", "q2", T(2025, 3, 6, 10)),
            ("r5", "tq", "p2", T(2025, 3, 11, 10)),
            ("t6", "t6", "p6", T(2025, 3, 10, 9)),
            ("r6", "t6", "p2", T(2025, 3, 10, 10)),
            ("r7", "t6", "q1", T(2025, 3, 10, 11)),
            ("r8", "t6", "q2", T(2025, 3, 10, 12)),
            ("r9", "t6", "p6", T(2025, 3, 10, 13)),  # a self-reply reaches no one new
        ],
        graph=[
            *[("p3", D(2025, 3, d), 0, 1, 0) for d in reacting_days],
            ("p4", D(2025, 3, 3), 0, 0, 2),
            ("z", D(2025, 3, 5), 0, 1, 0),  # before joining: not a member yet
            ("z", D(2025, 3, 21), 0, 0, 1),
            ("p4", D(2025, 3, 31), 0, 0, 1),
        ],
    )


def by_group(frame):
    return {r["group"]: r for r in frame.to_dict("records")}


@BACKENDS
def test_profile_tiers_for_everyone_and_by_week(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    month = by_group(compute_participation_profile(facts, "all", *MARCH))["All"]
    # starters p1 p6 q1; repliers p2 q2; reactor p3; readers p4 z; inactive p5 o1…o5
    assert month["members"] == 14
    assert [month[t] for t in TIERS] == [3, 2, 1, 2, 6]
    assert month["starters_share"] == pytest.approx(3 / 14)
    assert sum(month[f"{t}_share"] for t in TIERS) == pytest.approx(1.0)
    weeks = compute_participation_profile(facts, "all", D(2025, 3, 3), D(2025, 3, 9), "week")
    week = weeks.to_dict("records")[0]
    assert week["period"] == D(2025, 3, 3)
    assert (week["members"], *[week[t] for t in TIERS]) == (13, 2, 2, 1, 1, 7)  # z not yet


@BACKENDS
def test_profile_by_department_with_suppression(engine, settings):
    save_org(engine, settings, org())
    frame = compute_participation_profile(org_facts(engine, settings), "department", *MARCH)
    out = by_group(frame)
    assert [out["Sales"][t] for t in TIERS] == [2, 1, 1, 1, 1]
    assert [out["IT"][t] for t in TIERS] == [1, 1, 0, 0, 0]
    assert [out["Ops"][t] for t in TIERS] == [0, 0, 0, 1, 5]
    hidden = by_group(suppress(frame, 5, **PRIVACY["participation_profile"]))
    # IT (2) is small; Ops and Sales tie on 6 members, so Ops is the complement by name.
    assert [g for g, r in hidden.items() if r["suppressed"]] == ["IT", "Ops"]
    assert hidden["IT"]["members"] == 2 and hidden["IT"]["starters"] != hidden["IT"]["starters"]
    assert hidden["Sales"]["readers_share"] == pytest.approx(1 / 6)


@BACKENDS
def test_personas_by_group(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    everyone = by_group(compute_personas(facts, "all", *MARCH))["All"]
    # observers p4 z; responders p2 q2; broadcaster p1 (3 threads, 1 reply back);
    # catalysts p6 and q1 (3 distinct others each); engager p3 (8 reaction days)
    assert [everyone[p] for p in PERSONAS] == [2, 2, 1, 2, 1]
    depts = by_group(compute_personas(facts, "department", *MARCH))
    assert [depts["Sales"][p] for p in PERSONAS] == [1, 1, 1, 1, 1]
    assert [depts["IT"][p] for p in PERSONAS] == [0, 1, 0, 1, 0]
    assert depts["Ops"]["members"] == 6 and depts["Ops"]["observers"] == 1
    hidden = by_group(suppress(compute_personas(facts, "department", *MARCH), 5,
                               **PRIVACY["personas"]))
    assert hidden["IT"]["suppressed"] and hidden["IT"]["catalysts"] != hidden["IT"]["catalysts"]


@BACKENDS
def test_personas_thresholds_are_exact(engine, settings):
    small = org()
    small.graph = [g for g in small.graph if not (g[0] == "p3" and g[1] == D(2025, 3, 12))]
    small.messages = [m for m in small.messages if m[0] != "r8"]  # t6 now reaches only two
    save_org(engine, settings, small)
    everyone = by_group(compute_personas(org_facts(engine, settings), "all", *MARCH))["All"]
    assert (everyone["engagers"], everyone["catalysts"]) == (0, 1)  # 7 days; only q1 left
    assert everyone["responders"] == 1  # q2 now has a single reply


@BACKENDS
def test_graph_posted_count_mixes_threads_and_replies(engine, settings):
    people = ["g1", "g2", "g3"]
    save_org(engine, settings, Org(
        people=people,
        accounts={p: (D(2025, 1, 1), None, None, None) for p in people},
        messages=[
            ("s", "s", "g2", T(2025, 3, 4, 9)),
            ("other", "other", "g2", T(2025, 2, 4, 9)),
            ("a", "other", "g3", T(2025, 3, 4, 10)),
        ],
        graph=[
            ("g1", D(2025, 3, 4), 2, 0, 0),  # posted twice, no stored message: replies
            ("g2", D(2025, 3, 4), 3, 0, 0),  # one stored thread start, so two replies
            ("g3", D(2025, 3, 4), 1, 0, 0),  # the same single reply seen by both sources
        ],
    ))
    facts = org_facts(engine, settings)
    profile = by_group(compute_participation_profile(facts, "all", *MARCH))["All"]
    assert [profile[t] for t in TIERS] == [1, 2, 0, 0, 0]
    personas = by_group(compute_personas(facts, "all", *MARCH))["All"]
    assert personas["responders"] == 2  # g1 (2 replies) and g2 (2 replies ≥ 2 × 1 thread)


@BACKENDS
def test_participation_bad_requests(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    with pytest.raises(MetricError, match="unknown grain 'week'"):
        compute_personas(facts, "all", grain="week")
    with pytest.raises(MetricError, match="unknown attribute 'team'"):
        compute_participation_profile(facts, "team")
    assert compute_personas(facts, "all", D(2026, 1, 1), D(2026, 1, 31)).empty
    assert set(COMPUTE) == {"participation_profile", "personas"}


@BACKENDS
def test_results_do_not_depend_on_activity_order(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    expected = compute_participation_profile(facts, "department", *MARCH)
    personas = compute_personas(facts, "department", *MARCH)
    facts.activity = facts.activity.iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        compute_participation_profile(facts, "department", *MARCH), expected
    )
    pd.testing.assert_frame_equal(compute_personas(facts, "department", *MARCH), personas)


@BACKENDS
def test_counts_near_the_cap_add_up_without_wrapping(engine, settings):
    """Person-day counts are held as int16 (capped at 32,767); their sums are not: o1's
    2 × 30,000 reactions make March's 60,000, and o1 and o2 together 60,000 on the 17th."""
    from metrics.trends import compute_daily

    heavy = org()
    heavy.graph += [("o1", D(2025, 3, 17), 0, 30_000, 0), ("o1", D(2025, 3, 18), 0, 30_000, 0),
                    ("o2", D(2025, 3, 17), 0, 30_000, 0)]
    save_org(engine, settings, heavy)
    facts = org_facts(engine, settings)
    assert facts.activity["reactions"].max() == 30_000
    month = by_group(compute_participation_profile(facts, "all", *MARCH))["All"]
    assert [month[t] for t in TIERS] == [3, 2, 3, 2, 4]  # o1 and o2 now react
    people = compute_personas(facts, "all", *MARCH)
    assert people.loc[0, "engagers"] == 1  # p3 only: o1 reacts on two days, not on seven
    day = compute_daily(facts, "all", D(2025, 3, 17), D(2025, 3, 17))
    assert day.loc[0, "reactions"] == 60_000
