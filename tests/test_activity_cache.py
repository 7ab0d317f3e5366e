"""Recent engaging person-days kept for the next incremental refresh, which reads only the
changed days from the store: the same figures as reading them all."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from metrics import activity_cache
from metrics import facts as facts_module
from metrics.refresh import refresh
from store import cache
from store.aggregates import RefreshCache
from store.engine import write_transaction
from store.erase import forget
from store.identity import Identity
from store.models import Person
from tests import engagement_org as org
from tests.conftest import BACKENDS
from tests.test_refresh import dump
from tests.test_roster_cache import add_a_day

D = dt.date


def activity_reads(monkeypatch) -> list[tuple[dt.date, dt.date]]:
    """Record the day range of every person-day read from the store."""
    ranges: list[tuple[dt.date, dt.date]] = []
    real = facts_module.ActivityRead

    def recorded(conn, index, start, end, complete_from=None, to_pid=None):
        ranges.append((start, end))
        return real(conn, index, start, end, complete_from, to_pid)

    monkeypatch.setattr(facts_module, "ActivityRead", recorded)
    return ranges


def incremental_then_full(engine, settings) -> tuple[list, list]:
    add_a_day(engine, settings, "s2", D(2025, 4, 1))
    assert refresh(engine, settings).startswith("incremental refresh")
    incremental = dump(engine)
    refresh(engine, settings, full=True)
    return incremental, dump(engine)


@BACKENDS
def test_an_incremental_refresh_reads_only_the_changed_days(london, monkeypatch):
    engine, settings = london
    refresh(engine, settings)
    with engine.connect() as conn:  # kept: the last KEEP_DAYS days
        assert cache.fingerprint(conn, "activity") == f"{org.ZONE}|2025-02-20|2025-03-31"
    reads = activity_reads(monkeypatch)
    add_a_day(engine, settings, "s2", D(2025, 4, 1))
    refresh(engine, settings)
    assert reads == [(D(2025, 4, 1), D(2025, 4, 1))]  # March came from the cache
    incremental = dump(engine)
    refresh(engine, settings, full=True)
    assert reads[-1][0] < D(2025, 3, 1) and reads[-1][1] == D(2025, 4, 1)  # every day
    assert dump(engine) == incremental
    with engine.connect() as conn:
        assert cache.fingerprint(conn, "activity") == f"{org.ZONE}|2025-02-21|2025-04-01"


@BACKENDS
@pytest.mark.parametrize("how", ["nothing kept", "kept for another zone", "dropped meanwhile"])
def test_without_the_kept_days_an_incremental_refresh_reads_them(london, monkeypatch, how):
    engine, settings = london
    refresh(engine, settings)
    with write_transaction(engine) as conn:
        if how == "nothing kept":
            conn.execute(RefreshCache.__table__.delete().where(RefreshCache.name == "activity"))
        elif how == "kept for another zone":
            conn.execute(RefreshCache.__table__.update().where(RefreshCache.name == "activity")
                         .values(fingerprint="UTC|2025-03-01|2025-03-31"))
    if how == "dropped meanwhile":  # found, then gone when read (a forget, on PostgreSQL)
        monkeypatch.setattr(activity_cache, "rows", lambda *args: None)
    reads = activity_reads(monkeypatch)
    incremental, full = incremental_then_full(engine, settings)
    assert min(start for start, _ in reads) < D(2025, 4, 1)  # earlier days read too
    assert incremental == full


@BACKENDS
def test_forget_drops_the_kept_days(london):
    engine, settings = london
    refresh(engine, settings)
    forget(engine, Identity(settings.hash_key()), org.email("s1"))
    with engine.connect() as conn:
        assert conn.scalar(select(RefreshCache.name)) is None
    incremental, full = incremental_then_full(engine, settings)
    assert incremental == full


@BACKENDS
def test_kept_rows_are_the_engaging_ones_of_the_days_asked(london):
    engine, settings = london
    refresh(engine, settings)
    with engine.connect() as conn:
        kept = activity_cache.covering(conn, org.ZONE, D(2025, 3, 28), D(2025, 3, 31))
        assert kept is not None
        assert activity_cache.covering(conn, org.ZONE, D(2025, 2, 19), D(2025, 3, 31)) is None
        assert activity_cache.covering(conn, "UTC", D(2025, 3, 28), D(2025, 3, 31)) is None
        index = facts_module.pd.Index(sorted(conn.execute(select(Person.person_key)).scalars()))
        pid, day, counts = activity_cache.rows(conn, index, kept, D(2025, 3, 30), D(2025, 3, 31))
    people = {index[p] for p in pid}
    ident = Identity(settings.hash_key())
    # 30 March: s1 posted, o4 reacted (g1 only read: not kept); 31 March: only reads and replies
    assert ident.person_key(org.email("g1")) not in people
    assert ident.person_key(org.email("o4")) in people
    assert (counts[:, :3] > 0).any(axis=1).all()
    assert set(day.tolist()) <= {facts_module.day_number(D(2025, 3, 30)),
                                 facts_module.day_number(D(2025, 3, 31))}
