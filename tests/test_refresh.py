"""Incremental refresh gives exactly what a full rebuild gives; the queue drives it."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from app import build_parser
from ingest.graph_activity import GraphActivitySource
from ingest.runner import run_source
from metrics.cli import run_metric_command
from metrics.refresh import read_state, refresh
from store.aggregates import AggEngagement, AggFirstActivity
from store.message_activity import counted_zone
from store.models import DailyActivity, RefreshQueue
from tests import engagement_org as org
from tests.conftest import BACKENDS

D = dt.date


def dump(engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(AggEngagement.__table__).order_by(
            AggEngagement.dimension, AggEngagement.day, AggEngagement.grp, AggEngagement.sub
        )).all()
        firsts = conn.execute(select(AggFirstActivity.__table__).order_by(
            AggFirstActivity.person_key)).all()
    return [tuple(r) for r in rows] + [tuple(r) for r in firsts]


def queued(engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(RefreshQueue))


def csv(engine, settings, by="department") -> str:
    out = io.StringIO()
    args = build_parser().parse_args(["metrics", "engagement", "--by", by, "--start",
                                      "2025-03-28", "--end", "2025-03-31", "--format", "csv"])
    run_metric_command(engine, settings, args, out)
    return out.getvalue()


@BACKENDS
def test_reads_after_an_ingest_are_exact_without_an_explicit_refresh(
    engine, settings, tmp_path, monkeypatch
):
    settings.timezone = org.ZONE
    reports = {}
    monkeypatch.setattr(org, "_graph_reports", lambda: reports)  # export and roster first
    org.build(engine, settings, tmp_path / "org")
    first = csv(engine, settings)
    assert "2025-03-30,Ops,9,2,2,0.2222,false" in first  # g1 not seen yet: not a member
    assert queued(engine) == 0
    monkeypatch.undo()
    folder = tmp_path / "graph"
    folder.mkdir()
    for day, rows in org._graph_reports().items():
        lines = [org.GRAPH_HEADER] + [
            f"{day},{org.email(w)},{w},,,{day},{p},{r},{x},MICROSOFT 365 E5,1"
            for w, p, r, x in rows
        ]
        (folder / f"YammerActivityUserDetail{day}.csv").write_text("\r\n".join(lines) + "\r\n")
    run_source(engine, settings, GraphActivitySource(settings, path=folder))
    assert queued(engine) > 0
    assert csv(engine, settings) == org.EXPECTED_DEPARTMENT_CSV  # auto-refreshed
    assert queued(engine) == 0
    incremental = dump(engine)
    assert "full refresh (requested)" in refresh(engine, settings, full=True)
    assert dump(engine) == incremental


@BACKENDS
def test_one_new_day_recomputes_that_day_only(london):
    engine, settings = london
    refresh(engine, settings)
    before = dump(engine)
    assert refresh(engine, settings).startswith("metrics up to date")
    from store.engine import write_transaction
    from store.upsert import upsert

    key = __import__("store.identity", fromlist=["Identity"]).Identity(
        settings.hash_key()).person_key(org.email("s2"))
    with write_transaction(engine) as conn:
        upsert(conn, DailyActivity.__table__, [{
            "source": "graph_yammer_activity", "person_key": key, "day": D(2025, 4, 1),
            "posts": 0, "replies": 0, "reactions": 3, "reads": 0}])
        conn.execute(RefreshQueue.__table__.insert().values(
            source="test", day_from=D(2025, 4, 1), day_to=D(2025, 4, 1),
            queued_at=dt.datetime(2025, 4, 2)))
    summary = refresh(engine, settings)
    assert summary.startswith("incremental refresh (1 queued change(s)): 1 days recomputed")
    after = dump(engine)
    assert [r for r in after if len(r) > 2 and r[1] != D(2025, 4, 1)] == [
        r for r in before if len(r) > 2]
    assert read_state(engine).last_day == D(2025, 4, 1)
    assert ("all", D(2025, 4, 1), "All", "", 14, 1, 1, 17, 10, 10, 13, 13, 0, 0, 3, 0) in after
    refresh(engine, settings, full=True)
    assert dump(engine) == after


@BACKENDS
def test_a_time_zone_change_rebuilds_message_days(london):
    engine, settings = london
    assert "2025-03-31,All,14,2,3,0.1429,false" in csv(engine, settings, "all")
    settings.timezone = "UTC"
    text = csv(engine, settings, "all")
    # In UTC o1's post at 23:30 UTC on the 30th stays on the 30th, x1 is suspended on the 30th
    # and o6 joins on the 29th at 23:30, so the 29th counts o6 too.
    assert text.splitlines()[3:] == [
        "2025-03-30,All,14,5,6,0.3571,false",
        "2025-03-31,All,14,1,2,0.0714,false",
    ]
    assert read_state(engine).timezone == "UTC"


@BACKENDS
def test_an_empty_store_refreshes_to_nothing(engine, settings):
    assert refresh(engine, settings).endswith("0 days recomputed in 0.0s") or "0 days" in refresh(
        engine, settings, full=True)
    assert dump(engine) == []


@BACKENDS
def test_a_full_refresh_keeps_facts_of_days_whose_messages_were_purged(london):
    from sqlalchemy import delete

    from store.engine import write_transaction
    from store.models import Message

    engine, settings = london
    before = csv(engine, settings, "all")
    settings.privacy.retention_days = 28
    with write_transaction(engine) as conn:  # what the retention purge does to old days
        conn.execute(delete(Message).where(Message.created_at < dt.datetime(2025, 3, 30)))
    refresh(engine, settings, full=True)
    assert csv(engine, settings, "all") == before


def test_every_attribute_is_crossed_with_region():
    from metrics.refresh import materialised_dimensions

    assert materialised_dimensions(["all", "department", "is_manager", "region"]) == [
        "all", "department", "is_manager", "region", "department@region", "is_manager@region"]
    assert materialised_dimensions(["all", "department"]) == ["all", "department"]


@BACKENDS
@pytest.mark.parametrize("module, chunk", [("metrics.refresh", "INSERT_CHUNK"),
                                           ("metrics.facts", "ATTRIBUTE_CHUNK")])
def test_small_chunks_give_the_same_aggregates(london, monkeypatch, module, chunk):
    """Daily rows written, and roster rows read, a few at a time: the same tables."""
    import importlib

    engine, settings = london
    refresh(engine, settings, full=True)
    whole = dump(engine)
    monkeypatch.setattr(importlib.import_module(module), chunk, 5)
    refresh(engine, settings, full=True)
    assert dump(engine) == whole and len(whole) > 5


@BACKENDS
def test_message_facts_rebuilt_a_few_days_at_a_time_are_the_same(london, monkeypatch):
    import metrics.refresh as refresh_module

    engine, settings = london

    def message_facts() -> list[tuple]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                select(DailyActivity.__table__).where(DailyActivity.source == "yammer_export")
                .order_by(DailyActivity.day, DailyActivity.person_key))]

    ingested = message_facts()
    assert len({r[0] for r in ingested}) > 2  # several days (the key is day, source, person)
    monkeypatch.setattr(refresh_module, "MESSAGE_DAYS_CHUNK", 1)
    refresh(engine, settings, full=True)
    assert message_facts() == ingested
    settings.timezone = "UTC"  # a new zone moves the late-evening messages to other days
    refresh(engine, settings, full=True)
    one_day = message_facts()
    monkeypatch.setattr(refresh_module, "MESSAGE_DAYS_CHUNK", 31)
    refresh(engine, settings, full=True)
    assert message_facts() == one_day != ingested


UTC_LINES = ["2025-03-30,All,14,5,6,0.3571,false", "2025-03-31,All,14,1,2,0.0714,false"]


@BACKENDS
def test_a_zone_changed_before_the_first_refresh_recounts_message_days(london):
    """Messages were counted in London at ingest; the first refresh, under UTC, cannot know
    that zone and recounts them: the same figures as a change after a refresh."""
    engine, settings = london
    settings.timezone = "UTC"
    assert csv(engine, settings, "all").splitlines()[3:] == UTC_LINES
    assert read_state(engine).timezone == "UTC"
    with engine.connect() as conn:
        assert counted_zone(conn) == (True, "UTC")  # recounted: in the configured zone now


def _message_facts(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(DailyActivity.__table__).where(DailyActivity.source == "yammer_export")
            .order_by(DailyActivity.day, DailyActivity.person_key))]


@BACKENDS
def test_a_full_refresh_reads_the_facts_and_recounting_repairs_them(london):
    """Ingest keeps message facts exact, so `--full` rebuilds the aggregates from them as they
    are; `--recount-messages` recounts them from the stored messages."""
    from sqlalchemy import update

    from store.engine import write_transaction

    engine, settings = london
    refresh(engine, settings, full=True)
    ingested, aggregates = _message_facts(engine), dump(engine)
    day, _, key = ingested[0][:3]
    with write_transaction(engine) as conn:  # facts drifted from the messages (a bug, a hand edit)
        conn.execute(update(DailyActivity).where(
            DailyActivity.day == day, DailyActivity.source == "yammer_export",
            DailyActivity.person_key == key).values(posts=DailyActivity.posts + 40))
    drifted = _message_facts(engine)
    assert "full refresh (requested)" in refresh(engine, settings, full=True)
    assert _message_facts(engine) == drifted and dump(engine) != aggregates
    summary = refresh(engine, settings, recount=True)
    assert "full refresh (requested, messages recounted)" in summary
    assert _message_facts(engine) == ingested and dump(engine) == aggregates


def _drift(engine, fact: tuple) -> None:
    """Add 40 posts to one message fact, as a bug or a hand edit would."""
    from sqlalchemy import update

    from store.engine import write_transaction

    day, _, key = fact[:3]
    with write_transaction(engine) as conn:
        conn.execute(update(DailyActivity).where(
            DailyActivity.day == day, DailyActivity.source == "yammer_export",
            DailyActivity.person_key == key).values(posts=DailyActivity.posts + 40))


@BACKENDS
def test_the_first_refresh_reads_facts_counted_in_the_configured_zone(london):
    """The ingest records the zone it counted message facts in; a first refresh in that zone
    reads them as they are, without recounting (a drifted fact shows it), and records nothing
    new."""
    engine, settings = london
    assert read_state(engine) is None
    with engine.connect() as conn:
        assert counted_zone(conn) == (True, org.ZONE)
    _drift(engine, _message_facts(engine)[0])
    drifted = _message_facts(engine)
    summary = refresh(engine, settings)
    assert "full refresh (first refresh):" in summary and "recounted" not in summary
    assert _message_facts(engine) == drifted


@BACKENDS
def test_facts_counted_in_two_zones_are_recounted_by_the_next_refresh(london, tmp_path):
    """A message ingested after the zone changed is counted in the new zone, the earlier ones
    in the old: the recorded zone becomes unknown, and the next refresh recounts them all."""
    from ingest.yammer_export import YammerExportSource
    from tests.yammer_fixtures import export_zip, message

    engine, settings = london
    settings.timezone = "UTC"
    late = message("115", "101", "11", dt.datetime(2025, 3, 31, 9, 0), email=org.email("s1"))
    zipped = export_zip(tmp_path / "late.zip", users=[], messages=[late])
    run_source(engine, settings, YammerExportSource(settings, file=zipped))
    with engine.connect() as conn:
        assert counted_zone(conn) == (True, None)
    mixed = _message_facts(engine)
    summary = refresh(engine, settings)
    assert "full refresh (first refresh, messages recounted)" in summary
    recounted = _message_facts(engine)
    assert recounted != mixed  # 104 (23:30 UTC on the 30th) moved from London's 31st
    assert "full refresh (requested, messages recounted)" in refresh(
        engine, settings, recount=True)
    assert _message_facts(engine) == recounted
    with engine.connect() as conn:
        assert counted_zone(conn) == (True, "UTC")


@BACKENDS
def test_a_refresh_that_fails_part_way_writes_nothing(london, monkeypatch):
    """On PostgreSQL a refresh writes while it computes (store/write_behind.py): a failure
    after some of its writes ran still leaves the store as the last refresh left it."""
    import threading

    from sqlalchemy import delete, update

    from metrics import refresh as refresh_module

    engine, settings = london
    refresh(engine, settings)
    with engine.begin() as conn:  # marks a successful rewrite would undo
        conn.execute(update(AggEngagement).values(members=-1))
        conn.execute(delete(AggFirstActivity))
    before, state = dump(engine), read_state(engine)
    assert before and all(row[4] == -1 for row in before)
    written = threading.Event()
    real_save = refresh_module._save_engagement

    def save(*args):
        real_save(*args)
        written.set()

    def views(*_args):
        # on PostgreSQL the daily rows were written meanwhile; SQLite writes none before the end
        assert written.wait(timeout=10) == (engine.dialect.name == "postgresql")
        raise RuntimeError("views failed")

    monkeypatch.setattr(refresh_module, "_save_engagement", save)
    monkeypatch.setattr(refresh_module, "compute_views", views)
    with pytest.raises(RuntimeError, match="views failed"):
        refresh(engine, settings, full=True)
    assert dump(engine) == before
    assert read_state(engine) == state
    monkeypatch.undo()
    assert refresh(engine, settings, full=True).startswith("full refresh")  # the lock is free
    assert dump(engine) != before  # rewritten this time
