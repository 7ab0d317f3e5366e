"""Message-derived daily activity: local days, what counts, and the query SQLite plans."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import select

from store.engine import write_transaction
from store.message_activity import SOURCE, message_query, rebuild_message_activity
from store.models import DailyActivity, Message, Person
from store.upsert import upsert
from tests.conftest import BACKENDS

ANA, BOB = "a" * 64, "b" * 64


def _message(mid: str, thread: str, person: str, at: dt.datetime, **extra: str) -> dict:
    return {
        "platform": "yammer", "message_id": mid, "thread_id": thread, "replied_to_id": None,
        "group_id": "g1", "sender_account_id": "1001", "person_key": person,
        "sender_type": "user", "message_type": "update", "is_thread_starter": mid == thread,
        "created_at": at, **extra,
    }


def _facts(engine) -> dict[tuple[str, dt.date], tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(
            DailyActivity.person_key, DailyActivity.day, DailyActivity.posts,
            DailyActivity.replies,
        ).where(DailyActivity.source == SOURCE)).all()
    return {(k, d): (p, r) for k, d, p, r in rows}


@BACKENDS
def test_rebuild_counts_local_days_across_a_clock_change(engine, settings):
    settings.timezone = "Europe/Paris"  # summer time from 2026-03-29 02:00 (UTC+1 → UTC+2)
    day = dt.date
    with write_transaction(engine) as conn:
        upsert(conn, Person.__table__, [{"person_key": k, "created_at": dt.datetime(2026, 1, 1)}
                                        for k in (ANA, BOB)])
        upsert(conn, Message.__table__, [
            _message("1", "1", ANA, dt.datetime(2026, 3, 28, 22, 59)),  # local 23:59 on the 28th
            _message("2", "1", ANA, dt.datetime(2026, 3, 28, 23, 0)),  # local 00:00 on the 29th
            _message("3", "3", ANA, dt.datetime(2026, 3, 29, 21, 59)),  # local 23:59 on the 29th
            _message("4", "3", BOB, dt.datetime(2026, 3, 29, 22, 0)),  # local 00:00 on the 30th
            _message("5", "5", BOB, dt.datetime(2026, 3, 29, 12), message_type="system"),
            _message("6", "6", BOB, dt.datetime(2026, 3, 29, 12), sender_type="bot"),
            _message("7", "3", BOB, dt.datetime(2026, 3, 29, 12),
                     deleted_at=dt.datetime(2026, 3, 30)),  # deleted: still counts
            _message("8", "8", BOB, dt.datetime(2026, 3, 31, 12)),  # outside the days asked for
        ])
        upsert(conn, DailyActivity.__table__, [  # stale facts: replaced on the days asked for
            {"source": SOURCE, "person_key": BOB, "day": day(2026, 3, 29), "posts": 9},
            {"source": SOURCE, "person_key": BOB, "day": day(2026, 3, 31), "posts": 9},
        ])
        written = rebuild_message_activity(
            conn, settings.zone, days=[day(2026, 3, 30), day(2026, 3, 28), day(2026, 3, 29)]
        )
    assert written == 4
    assert _facts(engine) == {
        (ANA, day(2026, 3, 28)): (1, 0),
        (ANA, day(2026, 3, 29)): (1, 1),
        (BOB, day(2026, 3, 29)): (0, 1),
        (BOB, day(2026, 3, 30)): (0, 1),
        (BOB, day(2026, 3, 31)): (9, 0),
    }


def test_sqlite_reads_a_span_through_the_created_at_index(engine):
    compiled = message_query("yammer", [dt.date(2026, 3, 1)]).compile(engine)
    params = tuple(str(compiled.params[name]) for name in compiled.positiontup or ())
    with engine.connect() as conn:  # bound parameters, as the ingester runs it
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params).all()
    assert [row[3] for row in plan] == [
        "SEARCH messages USING INDEX ix_messages_created_at (created_at>? AND created_at<?)"
    ]


def test_utc_offsets_change_at_the_exact_second():
    from zoneinfo import ZoneInfo

    from store.message_activity import utc_offsets

    at = dt.datetime
    # Paris: CET (+1 h) until 2026-03-29 01:00 UTC, CEST (+2 h) until 2026-10-25 01:00 UTC
    assert utc_offsets(ZoneInfo("Europe/Paris"), at(2026, 1, 1), at(2026, 12, 31)) == [
        (at(2026, 3, 29, 1), 3600), (at(2026, 10, 25, 1), 7200), (None, 3600)
    ]
    # Lord Howe moves by half an hour: +10:30 until 2026-10-04 02:00 local (15:30 UTC)
    assert utc_offsets(ZoneInfo("Australia/Lord_Howe"), at(2026, 9, 1), at(2026, 10, 31)) == [
        (at(2026, 10, 3, 15, 30), 37800), (None, 39600)
    ]
    assert utc_offsets(ZoneInfo("UTC"), at(2026, 9, 1), at(2026, 9, 1)) == [(None, 0)]


def test_utc_instants_read_time_text_as_the_datetimes_it_came_from():
    from store.dates import time_text, utc_instants

    values = [dt.datetime(2026, 3, 29, 0, 59, 59, 999999), dt.datetime(2026, 3, 29, 1),
              dt.datetime(1970, 1, 1), dt.datetime(2026, 12, 31, 23, 59, 59, 1)]
    texts = [time_text(v) for v in values]
    assert texts[0] == "2026-03-29 00:59:59.999999" and texts[2] == "1970-01-01 00:00:00.000000"
    assert list(utc_instants(texts)) == list(utc_instants(values)) == [
        pd.Timestamp(v) for v in values
    ]
    assert len(utc_instants([])) == 0


@BACKENDS
def test_a_whole_rebuild_counts_each_side_of_both_clock_changes(engine, settings):
    settings.timezone = "Europe/Paris"
    at = dt.datetime
    with write_transaction(engine) as conn:
        upsert(conn, Person.__table__, [{"person_key": ANA, "created_at": at(2026, 1, 1)}])
        upsert(conn, Message.__table__, [
            _message("1", "1", ANA, at(2026, 3, 28, 22, 59, 59)),  # 23:59:59 CET, the 28th
            _message("2", "1", ANA, at(2026, 3, 28, 23, 0)),  # 00:00 CET, the 29th
            _message("3", "3", ANA, at(2026, 10, 24, 21, 59, 59)),  # 23:59:59 CEST, the 24th
            _message("4", "3", ANA, at(2026, 10, 24, 22, 0)),  # 00:00 CEST, the 25th
            _message("5", "5", ANA, at(2026, 10, 25, 22, 59)),  # 23:59 CET, the 25th
            _message("6", "5", ANA, at(2026, 10, 25, 23, 0)),  # 00:00 CET, the 26th
        ])
        assert rebuild_message_activity(conn, settings.zone) == 5  # person-days
    day = dt.date
    assert _facts(engine) == {
        (ANA, day(2026, 3, 28)): (1, 0), (ANA, day(2026, 3, 29)): (0, 1),
        (ANA, day(2026, 10, 24)): (1, 0), (ANA, day(2026, 10, 25)): (1, 1),
        (ANA, day(2026, 10, 26)): (0, 1),
    }
