"""Listening: reply rate, unanswered share and time to first reply, checked by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from errors import MetricError
from metrics.catalog import get
from metrics.listening import COMPUTE, PRIVACY, compute_listening
from metrics.privacy import suppress
from tests.conftest import BACKENDS
from tests.org_fixture import Org, org_facts, save_org

D = dt.date
T = dt.datetime
H = dt.timedelta(hours=1)
SALES = [f"s{i}" for i in range(1, 6)]
IT = [f"i{i}" for i in range(1, 6)]
START = T(2025, 3, 3, 10)  # a Monday


def org() -> Org:
    people = [*SALES, *IT, "m1"]
    roster = {p: {"department": "Sales"} for p in SALES}
    roster |= {p: {"department": "IT"} for p in IT}
    roster["m1"] = {"department": "Ops"}
    messages = [
        ("t1", "t1", "s1", START),
        ("r1", "t1", "i1", START + 7 * 24 * H),  # exactly 7 days later: answered
        ("t2", "t2", "s2", START),
        ("r2", "t2", "i2", START + 7 * 24 * H + H),  # one hour too late
        ("t3", "t3", "s3", START),
        ("r3a", "t3", "s3", START + H),  # a self-reply never answers a thread
        ("r3b", "t3", "s4", START + 5 * H),
        ("t4", "t4", "s4", START),
        ("r4", "t4", "s4", START + 2 * H),  # only self-replies: unanswered
        ("t5", "t5", "s5", START),
        ("r5", "t5", None, START + 10 * H),  # an unidentified sender is someone else
        ("x1", "gone", "s1", START + H),  # the starter is not stored: ignored
        ("t6", "t6", "m1", T(2025, 3, 5, 9)),
        ("t7", "t7", "s1", T(2025, 3, 16, 23, 30)),
        ("r7", "t7", "i1", T(2025, 3, 17, 0, 30)),
    ]
    for n, person in enumerate(IT, start=1):
        messages.append((f"u{n}", f"u{n}", person, T(2025, 3, 4, 12)))
        messages.append((f"v{n}", f"u{n}", "s1", T(2025, 3, 4, 13)))
    return Org(
        people=people,
        accounts={p: (D(2025, 1, 1), None, None, None) for p in people},
        roster={D(2025, 1, 1): roster},
        messages=messages,
    )


def rows(frame):
    return {(r["period"], r["group"]): r for r in frame.to_dict("records")}


@BACKENDS
def test_listening_by_week_for_everyone(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    out = rows(compute_listening(facts, "all", D(2025, 3, 1), D(2025, 3, 31), "week"))
    assert set(out) == {(D(2025, 3, 3), "All"), (D(2025, 3, 10), "All")}
    week = out[(D(2025, 3, 3), "All")]
    # 11 threads: t1 t3 t5 and u1…u5 answered; t2 replied too late; t4 and t6 never answered.
    assert (week["people"], week["threads"], week["answered"], week["replied"]) == (11, 11, 8, 9)
    assert week["reply_rate"] == pytest.approx(8 / 11)
    assert week["unanswered_share"] == pytest.approx(3 / 11)
    # first-reply hours sorted: 1 1 1 1 1 5 10 168 169
    assert week["median_hours"] == pytest.approx(1.0)
    assert week["p90_hours"] == pytest.approx(168 + 0.2 * (169 - 168))
    late = out[(D(2025, 3, 10), "All")]
    assert (late["threads"], late["answered"], late["median_hours"]) == (1, 1, pytest.approx(1.0))


@BACKENDS
def test_listening_by_department_and_suppression(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    frame = compute_listening(facts, "department", D(2025, 3, 3), D(2025, 3, 9), "week")
    out = rows(frame)
    sales, it, ops = (out[(D(2025, 3, 3), g)] for g in ("Sales", "IT", "Ops"))
    assert (sales["threads"], sales["answered"], sales["replied"]) == (5, 3, 4)
    assert sales["reply_rate"] == pytest.approx(0.6)
    assert sales["median_hours"] == pytest.approx((10 + 168) / 2)
    assert sales["p90_hours"] == pytest.approx(168 + 0.7)
    assert (it["threads"], it["answered"], it["median_hours"], it["p90_hours"]) == (5, 5, 1, 1)
    assert (ops["people"], ops["threads"], ops["answered"]) == (1, 1, 0)
    assert ops["median_hours"] != ops["median_hours"]  # no reply: NaN

    hidden = suppress(frame, 5, **PRIVACY["listening"])
    shown = {r["group"]: r for r in hidden.to_dict("records")}
    assert shown["Ops"]["suppressed"] and shown["Ops"]["threads"] != shown["Ops"]["threads"]
    # The complementary group: IT and Sales tie on 5 people, IT comes first by name.
    assert shown["IT"]["suppressed"] and shown["IT"]["reply_rate"] != shown["IT"]["reply_rate"]
    assert not shown["Sales"]["suppressed"] and shown["Sales"]["reply_rate"] == 0.6
    assert shown["Ops"]["people"] == 1  # the head count stays visible


@BACKENDS
def test_thread_start_day_follows_the_time_zone_across_dst(engine, settings):
    settings.timezone = "America/New_York"  # DST began on 2025-03-09 at 02:00 local
    early = Org(
        people=["a", "b"],
        accounts={"a": (D(2025, 1, 1), None, None, None), "b": (D(2025, 1, 1), None, None, None)},
        messages=[
            ("t", "t", "a", T(2025, 3, 10, 3, 59)),  # 23:59 EDT on Sunday 9 March
            ("r", "t", "b", T(2025, 3, 17, 3, 59)),  # exactly 7×24 h later
            ("w", "w", "b", T(2025, 3, 10, 4, 0)),  # 00:00 EDT on Monday 10 March
        ],
    )
    save_org(engine, settings, early)
    facts = org_facts(engine, settings)
    out = rows(compute_listening(facts, "all", D(2025, 3, 3), D(2025, 3, 16), "week"))
    assert out[(D(2025, 3, 3), "All")]["answered"] == 1
    assert out[(D(2025, 3, 3), "All")]["median_hours"] == pytest.approx(168.0)
    assert out[(D(2025, 3, 10), "All")]["threads"] == 1
    assert out[(D(2025, 3, 10), "All")]["answered"] == 0


@BACKENDS
def test_listening_by_month_and_bad_requests(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    out = rows(compute_listening(facts, "all", grain="month"))
    assert out[(D(2025, 3, 1), "All")]["threads"] == 12
    assert out[(D(2025, 3, 1), "All")]["answered"] == 9
    with pytest.raises(MetricError, match="before start"):
        compute_listening(facts, "all", D(2025, 3, 9), D(2025, 3, 1))
    with pytest.raises(MetricError, match="unknown attribute 'shoe_size'"):
        compute_listening(facts, "shoe_size")
    with pytest.raises(MetricError, match="unknown grain 'day'"):
        compute_listening(facts, "all", grain="day")
    empty = compute_listening(facts, "department", D(2024, 1, 1), D(2024, 1, 31))
    assert empty.empty and "reply_rate" in empty.columns


def test_listening_is_declared_and_exposed():
    assert get("listening").grains == ("week", "month")
    assert COMPUTE["listening"] is compute_listening


@BACKENDS
def test_no_messages_gives_no_rows(engine, settings):
    save_org(engine, settings, Org(people=["a"], accounts={"a": (D(2025, 1, 1), None, None, None)},
                                   graph=[("a", D(2025, 1, 6), 1, 0, 0)]))
    out = compute_listening(org_facts(engine, settings), "department")
    assert out.empty and list(out.columns)[:3] == ["period", "group", "people"]


@BACKENDS
def test_read_metric_serves_listening_suppressed(engine, settings):
    from metrics.read import read_metric

    save_org(engine, settings, org())
    frame = read_metric(engine, settings, "listening", "department", D(2025, 3, 3), D(2025, 3, 9))
    shown = {r["group"]: r for r in frame.to_dict("records")}
    assert {g for g, r in shown.items() if r["suppressed"]} == {"IT", "Ops"}
    assert shown["Sales"]["reply_rate"] == pytest.approx(0.6)
    assert shown["IT"]["reply_rate"] != shown["IT"]["reply_rate"]
