"""Manager participation: threads, replies, shares and replies per thread, checked by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from errors import MetricError
from metrics.managers import COMPUTE, PRIVACY, compute_manager_participation
from metrics.privacy import suppress
from tests.conftest import BACKENDS
from tests.org_fixture import Org, org_facts, save_org

D = dt.date
T = dt.datetime
MANAGERS = [f"m{i}" for i in range(1, 6)]
OTHERS = [f"o{i}" for i in range(1, 8)]
WEEK = (D(2025, 3, 3), D(2025, 3, 9))


def org() -> Org:
    people = [*MANAGERS, *OTHERS]
    first = {p: {"department": "Sales", "is_manager": "true"} for p in MANAGERS}
    first |= {p: {"department": "Sales", "is_manager": "false"} for p in OTHERS}
    first["o5"]["department"] = "Ops"
    second = {p: dict(v) for p, v in first.items()}
    second["o6"]["is_manager"] = "true"  # promoted on Thursday 6 March
    return Org(
        people=people,
        accounts={p: (D(2025, 1, 1), None, None, None) for p in people},
        roster={D(2025, 1, 1): first, D(2025, 3, 6): second},
        messages=[
            ("t1", "t1", "o1", T(2025, 3, 3, 9)),
            ("a", "t1", "m1", T(2025, 3, 3, 10)),
            ("b", "t1", "m2", T(2025, 3, 3, 11)),
            ("c", "t1", "o2", T(2025, 3, 3, 12)),
            ("t2", "t2", "o2", T(2025, 3, 4, 9)),
            ("d", "t2", "m3", T(2025, 3, 4, 10)),
            ("t3", "t3", "m4", T(2025, 3, 4, 9)),
            ("e", "t3", "o3", T(2025, 3, 4, 10)),
            ("f", "t3", "o4", T(2025, 3, 4, 11)),
            ("t4", "t4", "o6", T(2025, 3, 4, 15)),  # still an individual contributor
            ("g", "t1", "o6", T(2025, 3, 7, 9)),  # now a manager
            ("t5", "t5", "o5", T(2025, 3, 5, 9)),
            ("t8", "t8", "o1", T(2025, 3, 12, 9)),  # next week: outside the range
        ],
    )


def rows(frame):
    return {(r["group"], r["role"]): r for r in frame.to_dict("records")}


@BACKENDS
def test_managers_vs_others_for_everyone(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    frame = compute_manager_participation(facts, "all", *WEEK, grain="week")
    assert set(frame["period"]) == {D(2025, 3, 3)}
    out = rows(frame)
    manager, other = out[("All", "manager")], out[("All", "other")]
    # Role on the message's day: o6's thread counts as other, o6's reply as manager.
    assert (manager["threads"], manager["replies"], manager["authors"]) == (1, 4, 5)
    assert (other["threads"], other["replies"], other["authors"]) == (4, 3, 6)
    # Members by role on the week's last day: o6 is a manager by then.
    assert (manager["members"], other["members"]) == (6, 6)
    assert manager["thread_share"] == pytest.approx(1 / 5)
    assert other["thread_share"] == pytest.approx(4 / 5)
    assert manager["reply_share"] == pytest.approx(4 / 7)
    assert manager["replies_per_thread"] == pytest.approx(4.0)
    assert other["replies_per_thread"] == pytest.approx(0.75)


@BACKENDS
def test_managers_by_department_with_suppression(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    frame = compute_manager_participation(facts, "department", *WEEK, grain="month")
    assert set(frame["period"]) == {D(2025, 3, 1)}
    out = rows(frame)
    assert set(out) == {("Ops", "manager"), ("Ops", "other"), ("Sales", "manager"),
                        ("Sales", "other")}
    assert (out[("Sales", "other")]["threads"], out[("Sales", "other")]["members"]) == (3, 5)
    assert out[("Sales", "manager")]["thread_share"] == pytest.approx(1 / 4)
    ops_manager = out[("Ops", "manager")]
    assert (ops_manager["members"], ops_manager["threads"], ops_manager["thread_share"]) == (
        0, 0, 0.0
    )
    assert out[("Ops", "other")]["thread_share"] == 1.0

    hidden = rows(suppress(frame, 5, **PRIVACY["manager_participation"]))
    assert hidden[("Ops", "manager")]["suppressed"] and hidden[("Ops", "other")]["suppressed"]
    assert hidden[("Ops", "other")]["thread_share"] != hidden[("Ops", "other")]["thread_share"]
    assert not hidden[("Sales", "manager")]["suppressed"]
    assert not hidden[("Sales", "other")]["suppressed"]
    assert hidden[("Sales", "other")]["replies"] == 3


@BACKENDS
def test_one_small_role_hides_both_roles_of_its_group(engine, settings):
    small = org()
    small.people.remove("o7")
    del small.accounts["o7"]
    for snapshot in small.roster.values():
        del snapshot["o7"]
    save_org(engine, settings, small)
    frame = compute_manager_participation(org_facts(engine, settings), "department", *WEEK)
    hidden = rows(suppress(frame, 5, **PRIVACY["manager_participation"]))
    assert hidden[("Sales", "other")]["members"] == 4
    assert hidden[("Sales", "other")]["suppressed"] and hidden[("Sales", "manager")]["suppressed"]
    assert hidden[("Sales", "manager")]["members"] == 6  # the head count stays visible


@BACKENDS
def test_manager_participation_rejects_bad_requests(engine, settings):
    save_org(engine, settings, org())
    facts = org_facts(engine, settings)
    with pytest.raises(MetricError, match="crossed breakdown"):
        compute_manager_participation(facts, "department@region")
    with pytest.raises(MetricError, match="unknown grain"):
        compute_manager_participation(facts, "all", grain="quarter")
    assert COMPUTE["manager_participation"] is compute_manager_participation


@BACKENDS
def test_without_a_roster_nobody_is_a_manager(engine, settings):
    bare = org()
    bare.roster = {}
    save_org(engine, settings, bare)
    frame = compute_manager_participation(org_facts(engine, settings), "all", *WEEK)
    out = rows(frame)
    assert (out[("All", "manager")]["members"], out[("All", "manager")]["threads"]) == (0, 0)
    assert (out[("All", "other")]["members"], out[("All", "other")]["threads"]) == (12, 5)


@pytest.mark.parametrize("bitmap", [True, False], ids=["flags", "hashed-pairs"])
def test_grouped_counts_are_a_groupbys_nunique_and_sums(
    monkeypatch: pytest.MonkeyPatch, bitmap: bool
) -> None:
    import numpy as np
    import pandas as pd

    from metrics import periods
    from metrics.periods import grouped_counts

    if not bitmap:
        monkeypatch.setattr(periods, "BITMAP_CELLS", 0)

    rng = np.random.default_rng(3)
    period, group, role = rng.integers(-3, 4, 500), rng.integers(0, 5, 500), rng.random(500) > 0.5
    pids, starter = rng.integers(0, 40, 500), rng.random(500) > 0.3
    (p, g, r), people, sums = grouped_counts([period, group, role], pids,
                                             {"threads": starter, "replies": ~starter})
    expected = pd.DataFrame({"p": period, "g": group, "r": role, "pid": pids, "t": starter,
                             "s": ~starter}).groupby(["p", "g", "r"]).agg(
        people=("pid", "nunique"), threads=("t", "sum"), replies=("s", "sum")).reset_index()
    assert p.tolist() == expected["p"].tolist() and g.tolist() == expected["g"].tolist()
    assert r.astype(bool).tolist() == expected["r"].tolist()
    assert people.tolist() == expected["people"].tolist()
    assert sums["threads"].tolist() == expected["threads"].tolist()
    assert sums["replies"].tolist() == expected["replies"].tolist()
    (none,), nobody, nothing = grouped_counts([np.zeros(0)], np.zeros(0), {"x": np.zeros(0)})
    assert len(none) == len(nobody) == len(nothing["x"]) == 0
