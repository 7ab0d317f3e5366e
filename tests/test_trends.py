"""WAU, MAU, stickiness, periods and changes against hand-computed values, on both backends."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from app import build_parser
from metrics.cli import run_metric_command
from metrics.read import read_engagement, read_trends
from store.engine import write_transaction
from store.models import Account, DailyActivity, Person
from store.upsert import upsert
from tests.conftest import BACKENDS

NOW = dt.datetime(2025, 1, 1)
D = dt.date


def save(engine, people, engaged_days, joined=dt.datetime(2024, 12, 1)):
    """People with user records joined before the range; Graph likes on (person, day) pairs."""
    with write_transaction(engine) as conn:
        upsert(conn, Person.__table__, [
            {"person_key": p, "matched": True, "created_at": NOW} for p in people
        ])
        upsert(conn, Account.__table__, [
            {"platform": "yammer", "account_id": p, "person_key": p, "has_user_record": True,
             "state": "active", "joined_at": joined, "suspended_at": None, "deleted_at": None,
             "department": "Claims", "updated_at": NOW}
            for p in people
        ])
        upsert(conn, DailyActivity.__table__, [
            {"source": "graph_yammer_activity", "person_key": p, "day": d, "posts": 0,
             "replies": 0, "reactions": 1, "reads": 0}
            for p, d in engaged_days
        ])


@pytest.fixture
def two_windows(engine, settings):
    """Five members; A engages on Jan 1 and Jan 20 (two windows), B on Jan 5."""
    save(engine, ["A", "B", "C", "D", "E"],
         [("A", D(2025, 1, 1)), ("B", D(2025, 1, 5)), ("A", D(2025, 1, 20)),
          ("C", D(2025, 2, 10))])
    return engine, settings


@BACKENDS
def test_wau_and_mau_count_distinct_people_in_trailing_windows(two_windows):
    engine, settings = two_windows
    frame = read_trends(engine, settings, "all", D(2025, 1, 1), D(2025, 2, 2))
    by_day = {r.day: (r.wau, r.mau) for r in frame.itertuples()}
    assert by_day[D(2025, 1, 1)] == (1, 1)
    assert by_day[D(2025, 1, 5)] == (2, 2)
    assert by_day[D(2025, 1, 7)] == (2, 2)  # window Jan 1–7 still holds A
    assert by_day[D(2025, 1, 8)] == (1, 2)  # A's Jan 1 left the week
    assert by_day[D(2025, 1, 12)] == (0, 2)
    assert by_day[D(2025, 1, 20)] == (1, 2)  # A again, counted once in the month
    assert by_day[D(2025, 1, 26)] == (1, 2)  # week Jan 20–26 holds A
    assert by_day[D(2025, 1, 27)] == (0, 2)  # week Jan 21–27 does not
    assert by_day[D(2025, 1, 29)] == (0, 2)  # A's Jan 1 gone, A's Jan 20 and B's Jan 5 stay
    assert by_day[D(2025, 2, 1)] == (0, 2)  # Jan 5–Feb 1
    assert by_day[D(2025, 2, 2)] == (0, 1)  # Jan 6–Feb 2: only A (Jan 20)
    jan20 = frame[frame["day"] == D(2025, 1, 20)].iloc[0]
    assert jan20["stickiness"] == pytest.approx(3 / 28 / 2)
    assert jan20["engaged_7d_avg"] == pytest.approx(1 / 7)
    assert jan20["engaged_share"] == pytest.approx(0.2)
    assert jan20["change_prev"] == pytest.approx(0.2)  # nobody engaged on Jan 19
    assert jan20["progress"] == pytest.approx(0.2 / 0.5)
    assert pd_isna(jan20["change_year"])


@BACKENDS
def test_nobody_engaged_gives_zero_wau_and_mau(engine, settings):
    save(engine, ["A", "B", "C", "D", "E"], [])  # five: not suppressed
    with write_transaction(engine) as conn:  # reads only: members active, nobody engaged
        upsert(conn, DailyActivity.__table__, [
            {"source": "graph_yammer_activity", "person_key": "A", "day": D(2025, 1, 3),
             "posts": 0, "replies": 0, "reactions": 0, "reads": 4}
        ])
    frame = read_trends(engine, settings, "all", D(2025, 1, 1), D(2025, 1, 5))
    assert {(r.wau, r.mau) for r in frame.itertuples()} == {(0, 0)}
    assert frame["members"].tolist() == [5] * 5


@BACKENDS
def test_month_and_week_grains(two_windows):
    engine, settings = two_windows
    month = read_engagement(engine, settings, "all", D(2025, 1, 1), D(2025, 2, 28), "month")
    jan, feb = month.itertuples()
    assert (jan.period, jan.members, jan.min_members) == (D(2025, 1, 1), 5, 5)
    assert jan.engaged_share == pytest.approx(3 / 155)
    assert jan.engaged == pytest.approx(3 / 31)
    assert jan.mau == 2  # Jan 4–31: A and B
    assert feb.engaged_share == pytest.approx(1 / 140)  # members stay after the last activity
    assert feb.mau == 1  # Feb 1–28: C
    week = read_engagement(engine, settings, "all", D(2025, 1, 1), D(2025, 1, 12), "week")
    assert [r.period for r in week.itertuples()] == [D(2024, 12, 30), D(2025, 1, 6)]
    assert week.iloc[0]["engaged_share"] == pytest.approx(2 / 25)  # Jan 1–5 inside the range
    assert week.iloc[1]["engaged_share"] == 0
    trend = read_trends(engine, settings, "all", D(2025, 2, 1), D(2025, 2, 28), "month")
    assert trend.iloc[0]["engaged_share_prev"] == pytest.approx(3 / 155)
    assert trend.iloc[0]["change_prev"] == pytest.approx(1 / 140 - 3 / 155)


@BACKENDS
def test_wau_follows_the_group_a_person_is_in_on_the_day(london):
    engine, settings = london
    frame = read_trends(engine, settings, "department", D(2025, 3, 28), D(2025, 3, 31))
    got = {(r.day, r.group): r.wau for r in frame.itertuples()}
    assert got == {
        (D(2025, 3, 28), "Ops"): 0, (D(2025, 3, 28), "Sales"): 3,
        (D(2025, 3, 29), "Ops"): 1, (D(2025, 3, 29), "Sales"): 5,  # s6 still in Sales
        (D(2025, 3, 30), "Ops"): 5, (D(2025, 3, 30), "Sales"): 4,  # s6 moved to Ops
        (D(2025, 3, 31), "Ops"): 6, (D(2025, 3, 31), "Sales"): 4,  # d1 (deleted) still counts
    }
    total = read_trends(engine, settings, "all", D(2025, 3, 28), D(2025, 3, 31))
    assert list(total["wau"]) == [3, 6, 9, 10]
    assert list(total["mau"]) == [3, 6, 9, 10]
    assert total.iloc[-1]["stickiness"] == pytest.approx(12 / 28 / 10)


@BACKENDS
def test_trend_metrics_print_through_the_cli(two_windows):
    engine, settings = two_windows
    out = io.StringIO()
    args = build_parser().parse_args(["metrics", "mau", "--start", "2025-02-01", "--end",
                                      "2025-02-02", "--format", "csv"])
    assert run_metric_command(engine, settings, args, out) == 0
    assert out.getvalue() == (
        "day,group,members,mau,suppressed\n"
        "2025-02-01,All,5,2,false\n"
        "2025-02-02,All,5,1,false\n"
    )


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
