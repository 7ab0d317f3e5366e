"""Collaboration: replies across departments and regions, and the reply matrix, by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from errors import MetricError
from metrics.collaboration import (
    COMPUTE,
    PRIVACY,
    compute_cross_department_replies,
    compute_cross_region_replies,
    compute_reply_matrix,
)
from metrics.privacy import suppress, suppress_cells
from tests.conftest import BACKENDS
from tests.org_fixture import Org, org_facts, save_org

D = dt.date
T = dt.datetime
WEEK = (D(2025, 3, 3), D(2025, 3, 9))


def org() -> Org:
    sales = {f"a{i}": {"department": "Sales", "region": "EMEA"} for i in range(1, 6)}
    it = {f"b{i}": {"department": "IT", "region": "EMEA"} for i in range(1, 6)}
    first = sales | it | {"c1": {"department": "Ops", "region": "APAC"}}
    second = {p: dict(v) for p, v in first.items()}
    second["a5"]["department"] = "IT"  # moves on Thursday 6 March
    people = [*first, "p", "u"]
    accounts = {p: (D(2025, 1, 1), None, None, None) for p in people}
    accounts["p"] = (D(2025, 1, 1), None, None, "Sales")  # not in the roster: profile department
    return Org(
        people=people,
        accounts=accounts,
        roster={D(2025, 1, 1): first, D(2025, 3, 6): second},
        messages=[
            ("t1", "t1", "a1", T(2025, 3, 3, 9)),
            ("1", "t1", "b1", T(2025, 3, 3, 10)),  # IT → Sales
            ("2", "t1", "a2", T(2025, 3, 3, 11)),  # Sales → Sales
            ("self", "t1", "a1", T(2025, 3, 3, 12)),  # own thread: left out
            ("3", "t1", "c1", T(2025, 3, 4, 9)),  # Ops/APAC → Sales/EMEA
            ("anon", "t1", None, T(2025, 3, 4, 10)),  # unidentified: left out
            ("t2", "t2", "b1", T(2025, 3, 4, 9)),
            ("4", "t2", "a5", T(2025, 3, 5, 9)),  # Sales → IT (before the move)
            ("5", "t2", "a5", T(2025, 3, 7, 9)),  # IT → IT (after the move)
            ("6", "t2", "p", T(2025, 3, 5, 10)),  # Sales (profile) → IT; region unknown
            ("7", "t2", "u", T(2025, 3, 5, 11)),  # Unknown → IT
            *[(f"n{i}", "t2", f"a{i}", T(2025, 3, 4, 10 + i)) for i in range(1, 5)],
            ("t3", "t3", "u", T(2025, 3, 5, 9)),
            ("8", "t3", "a3", T(2025, 3, 5, 12)),  # Sales → Unknown
            ("orphan", "gone", "a1", T(2025, 3, 5, 9)),  # starter missing: ignored
        ],
    )


def by_group(frame):
    return {r["group"]: r for r in frame.to_dict("records")}


@BACKENDS
def test_cross_department_and_region_shares_for_everyone(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    dept = by_group(compute_cross_department_replies(facts, "all", *WEEK))["All"]
    assert dept["period"] == D(2025, 3, 3)
    assert (dept["replies"], dept["people"], dept["known"], dept["cross"]) == (12, 9, 10, 8)
    assert dept["cross_share"] == pytest.approx(0.8)
    region = by_group(compute_cross_region_replies(facts, "all", *WEEK))["All"]
    assert (region["replies"], region["known"], region["cross"]) == (12, 9, 1)
    assert region["cross_share"] == pytest.approx(1 / 9)


@BACKENDS
def test_cross_department_by_replier_department_follows_a_move(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    frame = compute_cross_department_replies(facts, "department", *WEEK)
    out = by_group(frame)
    assert set(out) == {"IT", "Ops", "Sales", "Unknown"}
    it, sales = out["IT"], out["Sales"]
    assert (it["replies"], it["people"], it["known"], it["cross"]) == (2, 2, 2, 1)
    assert (sales["replies"], sales["people"], sales["known"], sales["cross"]) == (8, 6, 7, 6)
    assert sales["cross_share"] == pytest.approx(6 / 7)
    assert out["Unknown"]["known"] == 0
    assert out["Unknown"]["cross_share"] != out["Unknown"]["cross_share"]  # NaN: nothing known
    hidden = by_group(suppress(frame, 5, **PRIVACY["cross_department_replies"]))
    assert [g for g, r in hidden.items() if r["suppressed"]] == ["IT", "Ops", "Unknown"]
    assert hidden["Sales"]["cross_share"] == pytest.approx(6 / 7)

    regions = by_group(compute_cross_region_replies(facts, "region", *WEEK))
    assert (regions["EMEA"]["replies"], regions["EMEA"]["known"], regions["EMEA"]["cross"]) == (
        9, 8, 0
    )
    assert regions["EMEA"]["people"] == 6
    assert (regions["APAC"]["cross"], regions["Unknown"]["replies"]) == (1, 2)


@BACKENDS
def test_reply_matrix_and_cell_suppression(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    frame = compute_reply_matrix(facts, "department", *WEEK)  # month grain by default
    assert set(frame["period"]) == {D(2025, 3, 1)}
    cells = {(r["group"], r["target"]): (r["replies"], r["people"])
             for r in frame.to_dict("records")}
    assert cells == {
        ("IT", "Sales"): (1, 1),
        ("Sales", "Sales"): (1, 1),
        ("Ops", "Sales"): (1, 1),
        ("Sales", "IT"): (6, 6),
        ("IT", "IT"): (1, 1),
        ("Unknown", "IT"): (1, 1),
        ("Sales", "Unknown"): (1, 1),
    }
    spec = PRIVACY["reply_matrix"]
    hidden = suppress_cells(frame, 5, size=spec["size"], values=spec["values"])
    shown = hidden[~hidden["suppressed"]]
    assert list(zip(shown["group"], shown["target"], shown["replies"], strict=True)) == [
        ("Sales", "IT", 6.0)
    ]
    assert hidden.loc[hidden["suppressed"], ["replies", "people"]].isna().all().all()


@BACKENDS
def test_collaboration_bad_requests_and_empty_ranges(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    assert compute_reply_matrix(facts, "region", D(2025, 4, 1), D(2025, 4, 30)).empty
    with pytest.raises(MetricError, match="unknown attribute"):
        compute_reply_matrix(facts, "floor")
    with pytest.raises(MetricError, match="before start"):
        compute_cross_region_replies(facts, "all", D(2025, 3, 9), D(2025, 3, 3))
    assert set(COMPUTE) == {"cross_department_replies", "cross_region_replies", "reply_matrix"}


@BACKENDS
def test_regions_unknown_without_a_region_attribute(engine, settings):
    plain = org()
    for snapshot in plain.roster.values():
        for values in snapshot.values():
            del values["region"]
    save_org(engine, settings, plain)
    region = by_group(compute_cross_region_replies(org_facts(engine, settings), "all", *WEEK))
    assert (region["All"]["replies"], region["All"]["known"]) == (12, 0)
    assert region["All"]["cross_share"] != region["All"]["cross_share"]  # nothing to compare


@BACKENDS
def test_read_metric_serves_the_matrix_with_cells_withheld(engine, settings):
    from metrics.read import read_metric

    save_org(engine, settings, org())
    frame = read_metric(engine, settings, "reply_matrix", "department", *WEEK, "month")
    shown = frame[~frame["suppressed"]]
    assert list(zip(shown["group"], shown["target"], shown["replies"], strict=True)) == [
        ("Sales", "IT", 6.0)
    ]
    assert frame.loc[frame["suppressed"], "replies"].isna().all() and len(frame) == 7
