"""The pages' period metrics are stored at refresh exactly as computed, and read back suppressed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from demo.run import run_demo
from metrics.facts import load_facts
from metrics.materialise import PAGE_VIEWS, implementation, read_view, views
from metrics.read import read_metric
from metrics.refresh import read_state, refresh
from settings import Settings
from store.aggregates import AggResult
from tests.conftest import BACKENDS

END = dt.date(2026, 3, 31)


@pytest.fixture
def demo_store(settings: Settings, engine: Engine, tmp_path: Path) -> tuple[Engine, Settings]:
    run_demo(settings, members=150, days=70, seed=11, out=tmp_path / "demo", end=END,
             say=lambda _: None)
    refresh(engine, settings, full=True)
    return engine, settings


@BACKENDS
def test_every_page_view_is_stored_as_computed(demo_store: tuple[Engine, Settings]) -> None:
    engine, settings = demo_store
    facts = load_facts(engine, settings, with_messages=True)
    dimensions = read_state(engine).dimensions.split(",")
    wanted = list(views(dimensions))
    assert {name for name, _, _ in wanted} == {name for name, _, _ in PAGE_VIEWS}
    assert ("funnel", "region", "month") in wanted
    assert ("reply_matrix", "department", "week") in wanted
    for name, by, grain in wanted:
        computed = implementation(name)[0](facts, by, facts.start, facts.end, grain)
        with engine.connect() as conn:
            stored = read_view(conn, name, by, grain, facts.start, facts.end)
        assert len(computed) > 0, (name, by, grain)
        pd.testing.assert_frame_equal(stored, computed, check_dtype=False,
                                      obj=f"{name}/{by}/{grain}")


@BACKENDS
def test_pages_read_whole_periods_and_the_cli_exact_ranges(
    demo_store: tuple[Engine, Settings],
) -> None:
    engine, settings = demo_store
    mid_month = dt.date(2026, 3, 10)
    whole = read_metric(engine, settings, "funnel", "all", mid_month, END, "month",
                        whole_periods=True)
    exact = read_metric(engine, settings, "funnel", "all", mid_month, END, "month")
    assert whole["period"].tolist() == exact["period"].tolist() == [dt.date(2026, 3, 1)]
    # the whole month has more members on some day than its last three weeks
    assert whole["members"].iloc[0] >= exact["members"].iloc[0]
    assert whole["workforce"].iloc[0] > 0
    everything = read_metric(engine, settings, "funnel", "all", None, None, "month")
    assert everything["period"].min() == dt.date(2026, 1, 1)  # 70 days up to 31 March
    assert everything.equals(read_metric(engine, settings, "funnel", "all", None, None, "month",
                                         whole_periods=True))


@BACKENDS
def test_stored_rows_are_suppressed_when_read(demo_store: tuple[Engine, Settings]) -> None:
    engine, settings = demo_store
    settings.privacy.min_group_size = 40
    frame = read_metric(engine, settings, "funnel", "department", whole_periods=True)
    small = frame[frame["members"] < 40]
    assert len(small) > 0 and small["suppressed"].all()
    assert small["engaged"].isna().all() and small["engaged_share"].isna().all()


@BACKENDS
def test_refresh_replaces_the_stored_views(demo_store: tuple[Engine, Settings]) -> None:
    engine, settings = demo_store
    with engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(AggResult))
    assert before > 0
    refresh(engine, settings, full=True)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AggResult)) == before


def _dump(engine: Engine) -> list[tuple]:
    """Every materialised row: the views, the daily figures and the first activity days."""
    from store.aggregates import AggEngagement, AggFirstActivity

    rows = []
    with engine.connect() as conn:
        for table in (AggResult.__table__, AggEngagement.__table__, AggFirstActivity.__table__):
            keys = [c for c in table.columns if c.name != "id"]
            rows += [(table.name, *r) for r in conn.execute(select(*keys).order_by(*keys))]
    return rows


def _assert_incremental_is_full(
    engine: Engine, settings: Settings, first: dt.date, last: dt.date | None
) -> None:
    """Queue days [first, last] (None: every later day), refresh incrementally, and compare
    every materialised table with a full rebuild's."""
    from store.engine import write_transaction
    from store.models import RefreshQueue

    with write_transaction(engine) as conn:
        conn.execute(RefreshQueue.__table__.insert().values(
            source="test", day_from=first, day_to=last, queued_at=dt.datetime(2026, 4, 1)))
    assert refresh(engine, settings).startswith("incremental refresh")
    incremental = _dump(engine)
    refresh(engine, settings, full=True)
    assert _dump(engine) == incremental


@BACKENDS
def test_an_incremental_refresh_stores_what_a_full_one_does(
    demo_store: tuple[Engine, Settings],
) -> None:
    from store.engine import write_transaction
    from store.models import DailyActivity, Message

    engine, settings = demo_store
    cutoff = END - dt.timedelta(days=9)
    late = Message.created_at >= dt.datetime.combine(cutoff, dt.time())
    with write_transaction(engine) as conn:
        messages = [dict(r._mapping) for r in conn.execute(select(Message.__table__).where(late))]
        facts = [dict(r._mapping) for r in conn.execute(
            select(DailyActivity.__table__).where(DailyActivity.day >= cutoff))]
        conn.execute(Message.__table__.delete().where(late))
        conn.execute(DailyActivity.__table__.delete().where(DailyActivity.day >= cutoff))
    refresh(engine, settings, full=True)
    replies = [m for m in messages if not m["is_thread_starter"]]
    assert len(replies) > 20  # late replies, some to threads started before the cutoff
    with write_transaction(engine) as conn:
        conn.execute(Message.__table__.insert(), messages)
        conn.execute(DailyActivity.__table__.insert(), facts)
    _assert_incremental_is_full(engine, settings, cutoff, None)


@BACKENDS
@pytest.mark.parametrize("day", [dt.date(2026, 3, 1), dt.date(2026, 3, 17)])
def test_one_changed_day_refreshes_as_a_full_rebuild_would(
    demo_store: tuple[Engine, Settings], day: dt.date,
) -> None:
    """Rows that only read, a person's first activity moving earlier, rows removed: a day in
    the middle of the data, refreshed alone, stores what a full rebuild stores."""
    from store.engine import write_transaction
    from store.models import DailyActivity, Person

    engine, settings = demo_store
    facts = DailyActivity.__table__
    with write_transaction(engine) as conn:
        that_day = conn.execute(select(facts).where(facts.c.day == day)).all()
        firsts = conn.execute(
            select(facts.c.person_key, func.min(facts.c.day)).group_by(facts.c.person_key)
        ).all()
        seen = {key for key, _ in firsts}
        never = sorted(set(conn.scalars(select(Person.person_key))) - seen)
        later = sorted(key for key, first in firsts if str(first)[:10] > day.isoformat()) + never
        assert len(that_day) > 10 and len(later) >= 2
        removed = [r.person_key for r in that_day[:5]]
        conn.execute(facts.delete().where(  # Graph rows: a full refresh re-derives message ones
            facts.c.day == day, facts.c.person_key.in_(removed),
            facts.c.source == "graph_yammer_activity",
        ))
        conn.execute(facts.insert(), [  # one newcomer engages, one only reads, on the day
            {"source": "test", "day": day, "person_key": later[0], "posts": 0, "replies": 0,
             "reactions": 2, "reads": 1},
            {"source": "test", "day": day, "person_key": later[1], "posts": 0, "replies": 0,
             "reactions": 0, "reads": 3},
        ])
    _assert_incremental_is_full(engine, settings, day, day)


@BACKENDS
def test_a_partial_load_brings_the_earlier_starters_of_its_replies(
    demo_store: tuple[Engine, Settings],
) -> None:
    from metrics.collaboration import reply_pairs

    engine, settings = demo_store
    everything = load_facts(engine, settings, with_messages=True).messages
    starters = everything[everything["is_starter"]].set_index("thread_id")["day"]
    replies = everything[~everything["is_starter"]]
    began = starters.reindex(replies["thread_id"]).to_numpy()
    late = replies[(replies["day"].to_numpy() - began) >= pd.Timedelta(days=2)]
    assert len(late) > 0
    day = late["day"].max().date()
    partial = load_facts(engine, settings, day, day, with_messages=True)
    wanted = set(late.loc[late["day"].dt.date == day, "thread_id"])
    present = set(partial.messages.loc[partial.messages["is_starter"], "thread_id"])
    assert wanted <= present  # started days before the loaded day, still there
    pairs = reply_pairs(partial, day, day)
    assert len(pairs) > 0 and (pairs["day"] == pd.Timestamp(day)).all()


@BACKENDS
def test_a_view_without_rows_reads_empty_and_shaped_without_the_facts(
    demo_store: tuple[Engine, Settings], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from metrics import facts as facts_module
    from metrics import read as read_module
    from store.engine import write_transaction
    from store.models import Message

    engine, settings = demo_store
    with write_transaction(engine) as conn:  # a Graph-only tenant: no messages at all
        conn.execute(Message.__table__.delete())
    refresh(engine, settings, full=True)

    def no_facts(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a stored view must not load the facts")

    monkeypatch.setattr(facts_module, "load_facts", no_facts)
    read_module._FACTS.clear()
    frame = read_module.read_page_metric(engine, settings, "listening", "all", END, END, "week")
    assert frame.empty
    assert {"period", "group", "threads", "reply_rate", "suppressed"} <= set(frame.columns)
    funnel = read_module.read_page_metric(engine, settings, "funnel", "all", END, END, "month")
    assert funnel["period"].tolist() == [dt.date(2026, 3, 1)]


@BACKENDS
def test_the_manager_column_feeds_is_manager_but_is_no_breakdown(
    demo_store: tuple[Engine, Settings],
) -> None:
    from errors import MetricError
    from metrics.read import read_engagement
    from store.models import PersonAttribute

    engine, settings = demo_store
    with engine.connect() as conn:
        managers = conn.scalar(select(func.count()).select_from(PersonAttribute).where(
            PersonAttribute.attribute == "manager", PersonAttribute.value.is_not(None)))
    assert managers > 0  # stored, and it decides is_manager
    dimensions = read_state(engine).dimensions.split(",")
    assert "is_manager" in dimensions
    assert not any(part == "manager" for d in dimensions for part in d.split("@"))
    with pytest.raises(MetricError, match="unknown attribute 'manager'"):
        read_engagement(engine, settings, "manager")


def test_a_range_needs_the_snapshot_in_effect_at_its_start_and_the_later_ones() -> None:
    import numpy as np

    from metrics.facts import in_effect

    as_of = np.array([10, 40, 70, 100])
    assert in_effect(as_of, 45, 80).tolist() == [40, 70]  # 40 is in effect on day 45
    assert in_effect(as_of, 40, 40).tolist() == [40]
    assert in_effect(as_of, 0, 5).tolist() == [10]  # before the first: the first
    assert in_effect(as_of, 0, 50).tolist() == [10, 40]
    assert in_effect(as_of, 120, 130).tolist() == [100]
    assert in_effect(np.array([], dtype=np.int64), 1, 2).tolist() == []


@BACKENDS
def test_a_partial_load_reads_the_snapshots_it_needs_and_computes_the_same(
    demo_store: tuple[Engine, Settings],
) -> None:
    from metrics.trends import compute_daily

    engine, settings = demo_store
    everything = load_facts(engine, settings)
    assert len(everything.attribution.as_of) >= 3  # monthly rosters: moves between them
    lo, hi = END - dt.timedelta(days=20), END
    partial = load_facts(engine, settings, lo - dt.timedelta(days=27), hi)
    assert 0 < len(partial.attribution.as_of) < len(everything.attribution.as_of)
    assert partial.attributes() == everything.attributes()
    for by in ("department", "is_manager", "department@region"):
        pd.testing.assert_frame_equal(compute_daily(partial, by, lo, hi),
                                      compute_daily(everything, by, lo, hi), obj=by)


@BACKENDS
def test_deferred_messages_are_read_at_their_first_use_and_are_the_same(
    demo_store: tuple[Engine, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from metrics import factload
    from metrics import facts as facts_module

    engine, settings = demo_store
    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)  # a "large" table: a reader process reads
    eager = load_facts(engine, settings, with_messages=True)
    reads = []
    real = facts_module._load_messages

    def counted(*args, **kwargs):
        reads.append(args[3:5])
        return real(*args, **kwargs)

    monkeypatch.setattr(facts_module, "_load_messages", counted)
    deferred = load_facts(engine, settings, with_messages=True, defer_messages=True)
    assert reads == []  # nothing read until the messages are used
    pd.testing.assert_frame_equal(deferred.messages, eager.messages)
    assert len(eager.messages) > 0
    pd.testing.assert_frame_equal(deferred.messages, eager.messages)
    assert reads == [(eager.start, eager.end)]  # once
    deferred.close()  # nothing left to stop: safe


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_closing_facts_whose_messages_were_never_used_stops_their_reader(
    demo_store: tuple[Engine, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from metrics import factload, split_read

    engine, settings = demo_store
    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)
    folders = []
    real = split_read.Readers.__init__

    def recorded(self, *args):
        real(self, *args)
        folders.append(Path(self._tmp.name))

    monkeypatch.setattr(split_read.Readers, "__init__", recorded)
    facts = load_facts(engine, settings, with_messages=True, defer_messages=True)
    # the activity's readers are done with; the messages' reader waits for their first use
    assert len([folder for folder in folders if folder.exists()]) == 1
    facts.close()
    assert not any(folder.exists() for folder in folders)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("defer", [False, True], ids=["wanted-now", "deferred"])
def test_deferred_messages_are_begun_once_the_activity_readers_are_done(
    demo_store: tuple[Engine, Settings], monkeypatch: pytest.MonkeyPatch, defer: bool
) -> None:
    from metrics import factload, split_read

    engine, settings = demo_store
    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)
    monkeypatch.setattr(factload, "SPLIT_DAYS", 1)
    events = []
    real_start, real_result = split_read.start, factload.ActivityRead.result
    monkeypatch.setattr(split_read, "start", lambda *a: events.append(a[2]) or real_start(*a))

    def result(self):
        done = real_result(self)
        events.append("activity read")
        return done

    monkeypatch.setattr(factload.ActivityRead, "result", result)
    facts = load_facts(engine, settings, with_messages=True, defer_messages=defer)
    facts.close()
    activity, message = factload.ACTIVITY_WIDTH, factload.MESSAGE_WIDTH
    assert events[:2] == [activity, activity]  # two halves, in reader processes
    read = events.index("activity read")
    assert (message in events[read:]) == defer and (message in events[:read]) != defer
