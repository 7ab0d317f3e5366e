"""Daily engagement against a hand-computed organisation, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest

from app import build_parser
from errors import MetricError
from metrics.cli import run_metric_command
from metrics.read import read_engagement
from tests import engagement_org as org
from tests.conftest import BACKENDS


def cli(engine, settings, *argv: str) -> str:
    out = io.StringIO()
    args = build_parser().parse_args(["metrics", *argv])
    assert run_metric_command(engine, settings, args, out) == 0
    return out.getvalue()


@BACKENDS
@pytest.mark.parametrize("rows_chunk", [None, 3], ids=["whole", "in-chunks-of-3"])
def test_department_breakdown_matches_the_hand_computed_table(london, monkeypatch, rows_chunk):
    if rows_chunk:  # the daily tallies a few rows at a time give the same table
        monkeypatch.setattr("metrics.engagement.ROWS_CHUNK", rows_chunk)
    engine, settings = london
    text = cli(engine, settings, "engagement", "--by", "department", "--start", "2025-03-28",
               "--end", "2025-03-31", "--format", "csv")
    assert text == org.EXPECTED_DEPARTMENT_CSV


@BACKENDS
def test_all_breakdown_matches_the_hand_computed_table(london):
    engine, settings = london
    text = cli(engine, settings, "engagement", "--by", "all", "--start", "2025-03-28",
               "--end", "2025-03-31", "--format", "csv")
    assert text == org.EXPECTED_ALL_CSV


@BACKENDS
def test_a_small_group_and_its_complement_are_withheld(london):
    engine, settings = london
    settings.privacy.min_group_size = 6  # Sales has 5 members from the 30th
    text = cli(engine, settings, "engagement", "--by", "department", "--start", "2025-03-29",
               "--end", "2025-03-31", "--format", "csv")
    assert text == (
        "day,group,members,engaged,active,engaged_share,suppressed\n"
        "2025-03-29,Ops,7,1,1,0.1429,false\n"
        "2025-03-29,Sales,6,2,2,0.3333,false\n"
        "2025-03-30,Ops,10,,,,true\n"  # the smallest other group, so Sales can't be derived
        "2025-03-30,Sales,5,,,,true\n"
        "2025-03-31,Ops,9,,,,true\n"
        "2025-03-31,Sales,5,,,,true\n"
    )
    rows = __import__("json").loads(cli(engine, settings, "engagement", "--by", "department",
                                        "--start", "2025-03-30", "--end", "2025-03-30",
                                        "--format", "json"))
    assert rows == [
        {"day": "2025-03-30", "group": "Ops", "members": 10, "engaged": None, "active": None,
         "engaged_share": None, "suppressed": True},
        {"day": "2025-03-30", "group": "Sales", "members": 5, "engaged": None, "active": None,
         "engaged_share": None, "suppressed": True},
    ]


@BACKENDS
def test_facts_take_the_larger_count_per_kind_across_sources(london):
    from metrics.facts import load_facts
    from store.identity import Identity

    engine, settings = london
    facts = load_facts(engine, settings)
    key = Identity(settings.hash_key()).person_key(org.email("s1"))
    pid = int(list(facts.person_keys).index(key))
    rows = facts.activity[facts.activity["pid"] == pid]
    got = {str(d.date()): (p, r, x, n) for d, p, r, x, n in rows[
        ["day", "posts", "replies", "reactions", "reads"]].itertuples(index=False)}
    assert got == {"2025-03-28": (1, 0, 0, 2), "2025-03-30": (1, 0, 0, 5)}


@BACKENDS
def test_workforce_adoption_and_region_filter(london):
    engine, settings = london
    frame = read_engagement(engine, settings, "department", org_day(28), org_day(30))
    got = {(str(r.day), r.group): (r.workforce, round(r.adoption, 4))
           for r in frame.itertuples()}
    assert got == {
        ("2025-03-28", "Ops"): (9, round(6 / 9, 4)),
        ("2025-03-28", "Sales"): (8, round(7 / 8, 4)),  # p1 is employed but pending
        ("2025-03-29", "Ops"): (9, round(7 / 9, 4)),
        ("2025-03-29", "Sales"): (8, round(6 / 8, 4)),
        ("2025-03-30", "Ops"): (10, 1.0),
        ("2025-03-30", "Sales"): (7, round(5 / 7, 4)),
    }
    emea = read_engagement(engine, settings, "department", org_day(28), org_day(30),
                           filters={"region": "EMEA"})
    assert emea.equals(frame)
    assert read_engagement(engine, settings, "department", org_day(28), org_day(30),
                           filters={"region": "APAC"}).empty


@BACKENDS
def test_bad_requests_raise_one_line_errors(london):
    engine, settings = london
    with pytest.raises(MetricError, match="unknown attribute 'team'"):
        read_engagement(engine, settings, "team")
    with pytest.raises(MetricError, match="before start"):
        read_engagement(engine, settings, "all", org_day(31), org_day(28))
    assert read_engagement(engine, settings, "all", org_day(40), org_day(45)).empty


def org_day(n: int):
    import datetime as dt

    return dt.date(2025, 3, 1) + dt.timedelta(days=n - 1)


@BACKENDS
def test_activity_mix_counts_members_once_per_source_overlap(london):
    from metrics.read import read_activity_mix

    engine, settings = london
    mix = read_activity_mix(engine, settings, "all", org_day(28), org_day(30), "day")
    got = {str(r.day): (r.posts, r.replies, r.reactions, r.reads) for r in mix.itertuples()}
    assert got == {
        "2025-03-28": (1, 2, 0, 2),  # s1's post seen by export and Graph counts once
        "2025-03-29": (2, 1, 0, 0),
        "2025-03-30": (2, 1, 2, 8),  # p1 (pending), the system and bot messages: not counted
    }


@BACKENDS
def test_days_after_the_last_activity_count_members_with_nobody_engaged(london):
    engine, settings = london
    text = cli(engine, settings, "engagement", "--by", "department", "--start", "2025-03-31",
               "--end", "2025-04-02", "--format", "csv")
    assert text == (
        "day,group,members,engaged,active,engaged_share,suppressed\n"
        "2025-03-31,Ops,9,2,3,0.2222,false\n"
        "2025-03-31,Sales,5,0,0,0.0000,false\n"
        "2025-04-01,Ops,9,0,0,0.0000,false\n"
        "2025-04-01,Sales,5,0,0,0.0000,false\n"
        "2025-04-02,Ops,9,0,0,0.0000,false\n"
        "2025-04-02,Sales,5,0,0,0.0000,false\n"
    )
    assert read_engagement(engine, settings, "all", org_day(40), org_day(45)).empty


@BACKENDS
def test_breakdowns_summed_from_a_crossed_one_equal_their_own_pass(london, monkeypatch):
    """Once a crossed breakdown's row tallies are kept, the two it crosses and All are its
    sums: the same as a pass of their own over every row, which they no longer make."""
    import numpy as np

    from metrics import engagement
    from metrics.calendar import day_number
    from metrics.facts import load_facts

    engine, settings = london
    facts = load_facts(engine, settings)
    lo, hi = day_number(facts.start), day_number(facts.end)
    own = {by: engagement.row_tallies(facts, by, lo, hi)
           for by in ("all", "department", "region", "country")}
    assert not [key for key in facts.cache if isinstance(key, tuple)]  # plain ones: not kept
    assert own["all"]["engaged"].sum() > 0 and own["department"]["engaged"].shape[0] == 4
    engagement.row_tallies(facts, "department@region", lo, hi)

    def no_pass(*_):
        raise AssertionError("a pass over the rows")

    monkeypatch.setattr(engagement, "_counted_tallies", no_pass)
    for by in ("all", "department", "region"):
        summed = engagement.row_tallies(facts, by, lo, hi)
        assert summed.keys() == own[by].keys()
        for name, total in own[by].items():
            np.testing.assert_array_equal(summed[name], total)
    with pytest.raises(AssertionError, match="a pass"):  # crossed by nothing kept
        engagement.row_tallies(facts, "country", lo, hi)
    with pytest.raises(AssertionError, match="a pass"):  # another span of days
        engagement.row_tallies(facts, "department", lo + 1, hi)
