"""Store: migrations match the models, upsert dedupes and updates, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from errors import StoreError
from store.engine import make_engine, write_transaction
from store.migrate import current_revision, head_revision, require_current, upgrade
from store.models import Base, Group, Person
from store.upsert import dedupe, upsert
from tests.conftest import BACKENDS


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
