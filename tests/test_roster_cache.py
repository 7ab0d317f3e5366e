"""The decoded roster kept between refreshes: used only for the roster it was read from."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
from sqlalchemy import select

from ingest.hr_roster import RosterSource
from ingest.runner import run_source
from metrics import facts as facts_module
from metrics import roster_cache
from metrics.refresh import refresh
from metrics.roster_cache import RosterChanges
from store.aggregates import RefreshCache
from store.engine import write_transaction
from store.erase import forget
from store.identity import Identity
from store.models import DailyActivity, RefreshQueue
from store.roster import fingerprint
from store.upsert import upsert
from tests import engagement_org as org
from tests.conftest import BACKENDS
from tests.test_refresh import dump

D = dt.date


def cached(engine) -> tuple[str, dict] | None:
    with engine.connect() as conn:
        row = conn.execute(select(RefreshCache.fingerprint, RefreshCache.labels)
                           .where(RefreshCache.name == "roster")).first()
    return None if row is None else (row[0], json.loads(row[1]))


def roster_reads(monkeypatch) -> list[int]:
    """Count the metrics load's reads of the stored roster."""
    calls: list[int] = []
    real = facts_module._attribute_rows

    def counted(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(facts_module, "_attribute_rows", counted)
    return calls


def add_a_day(engine, settings, who: str, day: dt.date) -> None:
    key = Identity(settings.hash_key()).person_key(org.email(who))
    with write_transaction(engine) as conn:
        upsert(conn, DailyActivity.__table__, [{
            "source": "graph_yammer_activity", "person_key": key, "day": day,
            "posts": 0, "replies": 0, "reactions": 3, "reads": 0}])
        conn.execute(RefreshQueue.__table__.insert().values(
            source="test", day_from=day, day_to=day, queued_at=dt.datetime(2025, 4, 2)))


@BACKENDS
def test_an_incremental_refresh_reads_the_roster_from_the_cache(london, monkeypatch):
    engine, settings = london
    reads = roster_reads(monkeypatch)
    refresh(engine, settings)
    with engine.connect() as conn:
        assert cached(engine)[0] == fingerprint(conn)
    assert reads == [1]
    add_a_day(engine, settings, "s2", D(2025, 4, 1))
    assert refresh(engine, settings).startswith("incremental refresh")
    assert reads == [1]  # not read again
    incremental = dump(engine)
    assert "full refresh (requested)" in refresh(engine, settings, full=True)
    assert reads == [1, 1]  # a full refresh reads everything again
    assert dump(engine) == incremental


@BACKENDS
def test_a_new_roster_is_read_again(london, monkeypatch, tmp_path):
    engine, settings = london
    refresh(engine, settings)
    before = cached(engine)
    path = tmp_path / "roster-2025-03-31.csv"
    path.write_text(org._roster(moved=False))  # s6 back in Sales
    run_source(engine, settings, RosterSource(settings, path, as_of="2025-03-31"))
    reads = roster_reads(monkeypatch)
    assert "HR roster changed" in refresh(engine, settings)
    assert reads == [1]
    after = cached(engine)
    with engine.connect() as conn:
        assert after[0] == fingerprint(conn) != before[0]
    rebuilt = dump(engine)
    monkeypatch.undo()
    with write_transaction(engine) as conn:  # no cache at all: the same figures
        conn.execute(RefreshCache.__table__.delete())
    refresh(engine, settings, full=True)
    assert dump(engine) == rebuilt


@BACKENDS
def test_forget_drops_the_cache_and_the_person_stays_out_of_it(london, monkeypatch):
    engine, settings = london
    refresh(engine, settings)
    identity = Identity(settings.hash_key())
    gone = identity.person_key(org.email("s6"))
    assert gone in cached(engine)[1]["keys"]
    forget(engine, identity, org.email("s6"))
    assert cached(engine) is None
    reads = roster_reads(monkeypatch)
    assert refresh(engine, settings).startswith("incremental refresh")
    assert reads == [1]
    assert gone not in cached(engine)[1]["keys"]


@BACKENDS
def test_changes_come_back_as_saved_and_map_to_a_later_index(engine):
    keys = np.array(["k-b", "k-a", "k-c"], dtype=object)
    changes = RosterChanges(
        keys, np.array([0, 1, 2, 0], dtype=np.int32), np.array([0, 1, 0, 1], dtype=np.int16),
        np.array([100, 100, 130, 130], dtype=np.int32), np.array([1, -1, 0, 1], dtype=np.int32),
        ("department", "~absent"), np.array(["Ventes é", "Ops, \"R&D\""], dtype=object),
    )
    with write_transaction(engine) as conn:
        roster_cache.save(conn, "2:2025-03-30:x:40", changes)
        roster_cache.save(conn, "2:2025-03-30:y:40", changes)  # replaces the first
    with engine.connect() as conn:
        assert roster_cache.load(conn, "2:2025-03-30:x:40") is None
        back = roster_cache.load(conn, "2:2025-03-30:y:40")
    assert back is not None
    for name in RosterChanges._fields:
        got, want = getattr(back, name), getattr(changes, name)
        assert list(got) == list(want), name
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype, name
    # a later load has another person first and k-c no more: pids follow the new index
    frame = back.frame(pd.Index(["k-0", "k-a", "k-b"]), np.array([100, 130]))
    assert frame.to_dict("list") == {
        "pid": [2, 1, 2], "attr": [0, 1, 1], "snap": [0, 0, 1], "value": [1, -1, 1]}
    # only the snapshots asked for
    assert back.frame(pd.Index(["k-a", "k-b", "k-c"]), np.array([100]))["snap"].tolist() == [0, 0]
    assert back.frame(pd.Index(["k-a"]), np.array([], dtype=np.int64)).empty



@BACKENDS
def test_a_roster_saved_while_a_refresh_runs_is_refreshed_next(london, monkeypatch, tmp_path):
    """The refresh records the roster it attributed, not the one stored when it ends."""
    from metrics import refresh as refresh_module

    engine, settings = london
    path = tmp_path / "roster-2025-03-31.csv"
    path.write_text(org._roster(moved=False))
    real = refresh_module.compute_views

    def meanwhile(*args, **kwargs):
        run_source(engine, settings, RosterSource(settings, path, as_of="2025-03-31"))
        return real(*args, **kwargs)

    monkeypatch.setattr(refresh_module, "compute_views", meanwhile)
    refresh(engine, settings)
    monkeypatch.undo()
    assert "HR roster changed" in refresh(engine, settings)
    assert refresh(engine, settings).startswith("metrics up to date")
