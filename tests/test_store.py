"""Store: migrations match the models, upsert dedupes and updates, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from errors import StoreError
from store.engine import make_engine, write_transaction
from store.fact_rows import estimated_fact_rows, middle_day
from store.migrate import current_revision, head_revision, require_current, upgrade
from store.models import Base, DailyActivity, Group, Person
from store.upsert import dedupe, upsert
from tests.conftest import BACKENDS, migrate


@BACKENDS
def test_migrations_match_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


@BACKENDS
def test_uninitialised_store_is_refused(database_url):
    eng = make_engine(database_url)
    with pytest.raises(StoreError, match="not initialised"):
        require_current(eng)
    before, after = upgrade(eng)
    assert before is None and after == head_revision()
    require_current(eng)
    assert upgrade(eng) == (head_revision(), head_revision())  # idempotent


@BACKENDS
def test_upsert_dedupes_batch_and_updates(engine):
    rows = [
        {"platform": "yammer", "group_id": "2000337749565441", "name": "first"},
        {"platform": "yammer", "group_id": "2000337749565441", "name": "second"},
        {"platform": "yammer", "group_id": "7", "name": "other"},
    ]
    with write_transaction(engine) as conn:
        assert upsert(conn, Group.__table__, rows) == 2
    with write_transaction(engine) as conn:
        upsert(conn, Group.__table__, [{"platform": "yammer", "group_id": "7", "name": "renamed"}])
    with engine.connect() as conn:
        names = dict(conn.execute(select(Group.group_id, Group.name)).all())
    assert names == {"2000337749565441": "second", "7": "renamed"}


@BACKENDS
def test_upsert_insert_only_keeps_existing(engine):
    now = dt.datetime(2026, 1, 1)
    with write_transaction(engine) as conn:
        upsert(conn, Person.__table__, [{"person_key": "a", "email": "x", "created_at": now}])
        upsert(
            conn, Person.__table__, [{"person_key": "a", "email": "y", "created_at": now}],
            update=(),
        )
    with engine.connect() as conn:
        assert conn.scalar(select(Person.email)) == "x"
        assert conn.scalar(select(func.count()).select_from(Person)) == 1


@BACKENDS
def test_failed_transaction_writes_nothing(engine):
    with pytest.raises(RuntimeError):
        with write_transaction(engine) as conn:
            upsert(conn, Group.__table__, [{"platform": "p", "group_id": "1", "name": "n"}])
            raise RuntimeError("boom")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Group)) == 0


def test_dedupe_keeps_last_in_first_seen_order():
    rows = [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}, {"k": 1, "v": "c"}]
    assert dedupe(rows, ["k"]) == [{"k": 1, "v": "c"}, {"k": 2, "v": "b"}]


def test_a_new_sqlite_store_has_16_kib_pages_and_an_old_one_keeps_its_own(tmp_path):
    import sqlite3

    new = tmp_path / "new.db"
    upgrade(make_engine(f"sqlite:///{new}"))
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as made_before:  # a store created with SQLite's 4 KiB default
        made_before.execute("CREATE TABLE t (x)")
    upgrade(make_engine(f"sqlite:///{old}"))
    for path, size in ((new, 16384), (old, 4096)):
        engine = make_engine(f"sqlite:///{path}")
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA page_size").scalar() == size, path.name
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def _facts_per_day(conn, first: dt.date, counts: list[int]) -> None:
    """counts[i] people with a fact on day first + i (people p0, p1, …)."""
    now = dt.datetime(2026, 1, 1)
    people = [{"person_key": f"p{i}", "created_at": now} for i in range(max(counts))]
    upsert(conn, Person.__table__, people)
    rows = [
        {"source": "graph_yammer_activity", "day": first + dt.timedelta(days=i),
         "person_key": f"p{j}", "posts": 1, "replies": 0, "reactions": 0, "reads": 0}
        for i, n in enumerate(counts) for j in range(n)
    ]
    upsert(conn, DailyActivity.__table__, rows)


@BACKENDS
def test_fact_rows_are_estimated_from_sampled_days(engine):
    first = dt.date(2026, 3, 1)
    with write_transaction(engine) as conn:
        assert estimated_fact_rows(conn) == 0
        _facts_per_day(conn, first, [3, 1, 4, 1, 5])
        assert estimated_fact_rows(conn) == 14  # five days: counted exactly
    with write_transaction(engine) as conn:
        conn.execute(DailyActivity.__table__.delete())
        _facts_per_day(conn, first, list(range(1, 31)))  # 465 rows, i + 1 on day i
        # samples on days 0, 5, 10, 14, 19, 24, 29 hold 1, 6, 11, 15, 20, 25, 30 rows:
        # mean 108 / 7, times 30 days = 462.9
        assert estimated_fact_rows(conn) == 463
        # rows on days 0..20 sum to 231, on days 0..21 to 253: day 21 holds the 233rd row
        assert middle_day(conn, first, first + dt.timedelta(days=29)) == first + dt.timedelta(21)


@BACKENDS
def test_migration_0003_keeps_every_fact(database_url):
    from alembic import command

    eng = make_engine(database_url)
    migrate(eng, command.upgrade, "0002")
    first = dt.date(2026, 3, 1)
    with write_transaction(eng) as conn:
        _facts_per_day(conn, first, [2, 3])
    read = select(DailyActivity.day, DailyActivity.person_key).order_by(
        DailyActivity.day, DailyActivity.person_key)
    for step, revision in ((command.upgrade, "head"), (command.downgrade, "0002"),
                           (command.upgrade, "head")):
        migrate(eng, step, revision)
        with eng.connect() as conn:
            rows = conn.execute(read).all()
        assert [(d - first).days for d, _ in rows] == [0, 0, 1, 1, 1], revision
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        if eng.dialect.name == "sqlite":  # the facts live in their key's B-tree
            with pytest.raises(OperationalError, match="rowid"):
                conn.exec_driver_sql("SELECT rowid FROM daily_activity")
    eng.dispose()


@BACKENDS
@pytest.mark.parametrize("with_messages", [True, False])
def test_migration_0004_marks_the_zone_of_existing_message_facts_unknown(
    database_url, with_messages
):
    """Messages stored before the zone was recorded were counted in a zone nobody knows: the
    upgrade records it as unknown, so the next refresh recounts them; no messages, no row."""
    from alembic import command

    from store.message_activity import counted_zone
    from store.models import Message

    eng = make_engine(database_url)
    migrate(eng, command.upgrade, "0003")
    if with_messages:
        with write_transaction(eng) as conn:
            conn.execute(Message.__table__.insert().values(
                platform="yammer", message_id="1", thread_id="1", is_thread_starter=True,
                created_at=dt.datetime(2026, 3, 1, 9, 0)))
    migrate(eng, command.upgrade, "head")
    with eng.connect() as conn:
        assert counted_zone(conn) == ((True, None) if with_messages else (False, None))
    eng.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_migration_0008_stores_the_refresh_cache_uncompressed_on_postgresql(database_url):
    """Arrays a refresh keeps are written uncompressed (pglz cost a refresh half a second);
    the downgrade gives the default back, and a kept entry reads the same either way."""
    from alembic import command

    from store import cache

    eng = make_engine(database_url)
    storage = ("SELECT attname, attstorage FROM pg_attribute WHERE attrelid = "
               "'refresh_cache'::regclass AND attname IN ('arrays', 'labels') ORDER BY attname")
    arrays = {"who": np.zeros(50_000, dtype=np.int32)}
    for step, revision, kind in ((command.upgrade, "head", "e"), (command.downgrade, "0007", "x"),
                                 (command.upgrade, "head", "e")):
        migrate(eng, step, revision)
        with write_transaction(eng) as conn:
            assert conn.exec_driver_sql(storage).all() == [("arrays", kind), ("labels", kind)]
            cache.save(conn, "test", "fp", arrays, {"keys": ["a"]})
        with eng.connect() as conn:
            kept = cache.load(conn, "test", "fp")
            assert kept is not None and (kept[0]["who"] == arrays["who"]).all()
            assert len(kept[0]["who"]) == 50_000
            size = conn.exec_driver_sql(
                "SELECT pg_column_size(arrays) FROM refresh_cache WHERE name = 'test'").scalar()
            assert (size > 200_000) == (kind == "e")  # compressed, 50,000 zeros take far less
    eng.dispose()
