"""Roster snapshots stored as changes (store/roster.py): every snapshot's state survives any
order of ingest and replacement, the migration from full snapshots, and the metrics' load."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from store.engine import make_engine, write_transaction
from store.models import Person, PersonAttribute, RosterSnapshot
from store.roster import ABSENT, changes, save_snapshot, state_at
from tests.conftest import BACKENDS, migrate

NOW = dt.datetime(2026, 1, 1)
DAYS = [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 4, 1)]
PEOPLE = [f"p{i}" for i in range(8)]
Snapshot = dict[str, dict[str, str | None]]


def _random_snapshots(rng: random.Random) -> dict[dt.date, Snapshot]:
    """Four snapshots: people come, go and come back; values change, blank out; a column
    is dropped from one file."""
    out = {}
    for day in DAYS:
        columns = ["department", "region"] + (["country"] if rng.random() < 0.7 else [])
        out[day] = {
            p: {c: rng.choice(["A", "B", None]) for c in columns}
            for p in PEOPLE if rng.random() < 0.75
        }
    return out


def _blank_free(state: Snapshot) -> Snapshot:
    """A state with blank cells left out: a blank and a missing cell mean the same."""
    return {p: {a: v for a, v in values.items() if v is not None} for p, values in state.items()}


def _people(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        conn.execute(Person.__table__.insert(),
                     [{"person_key": p, "matched": True, "created_at": NOW} for p in PEOPLE])


def _stored(engine: Engine) -> set[tuple[str, str, dt.date, str | None]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(select(
            PersonAttribute.person_key, PersonAttribute.attribute, PersonAttribute.valid_from,
            PersonAttribute.value))}


def _chain(snapshots: dict[dt.date, Snapshot]) -> set[tuple[str, str, dt.date, str | None]]:
    """The rows of the snapshots ingested in date order, each one's changes from the last."""
    rows, before = set(), {}
    for day in sorted(snapshots):
        rows |= {(p, a, day, v) for p, a, v in changes(before, snapshots[day])}
        before = snapshots[day]
    return rows


def _telling(rows: set[tuple[str, str, dt.date, str | None]]) -> set[tuple[Any, ...]]:
    """The rows that set a value or an absence (where blank cells get a row depends on the
    order snapshots came in; a blank and a missing cell mean the same)."""
    return {r for r in rows if r[3] is not None or r[1] == ABSENT}


def test_changes_from_one_state_to_the_next() -> None:
    old = {"a": {"department": "IT", "region": "EU"}, "b": {"department": "HR"}}
    new = {"a": {"department": "Ops"}, "c": {"department": "IT", "region": None}}
    assert sorted(changes(old, new), key=str) == sorted([
        ("a", "department", "Ops"), ("a", "region", None),  # dropped column: blank
        ("c", "department", "IT"), ("c", "region", None),  # newcomer: every cell
        ("b", ABSENT, None),
    ], key=str)
    assert list(changes(new, new)) == []


@BACKENDS
def test_a_snapshot_stores_only_what_changed(engine: Engine) -> None:
    _people(engine)
    jan = {p: {"department": "IT", "region": "EU"} for p in PEOPLE[:6]}
    feb = {**jan, "p1": {"department": "Ops", "region": "EU"}, "p6": {"department": "IT"}}
    del feb["p5"]
    with write_transaction(engine) as conn:
        assert save_snapshot(conn, DAYS[0], jan, NOW) == 12
        assert save_snapshot(conn, DAYS[1], feb, NOW) == 3
    assert {r for r in _stored(engine) if r[2] == DAYS[1]} == {
        ("p1", "department", DAYS[1], "Ops"), ("p6", "department", DAYS[1], "IT"),
        ("p5", ABSENT, DAYS[1], None)}
    with engine.connect() as conn:
        assert state_at(conn, DAYS[1]) == feb
        assert state_at(conn, DAYS[0] - dt.timedelta(days=1)) == {}


@BACKENDS
def test_every_snapshot_keeps_its_state_in_any_order_of_ingest(engine: Engine) -> None:
    _people(engine)
    rng = random.Random(7)
    for _ in range(12):
        snapshots = _random_snapshots(rng)
        order = rng.sample(DAYS, len(DAYS)) + [rng.choice(DAYS)]  # and one replaced
        with write_transaction(engine) as conn:
            conn.execute(PersonAttribute.__table__.delete())
            conn.execute(RosterSnapshot.__table__.delete())
            for day in order:
                if day == order[-1]:
                    snapshots[day] = _random_snapshots(rng)[day]
                save_snapshot(conn, day, snapshots[day], NOW)
        with engine.connect() as conn:
            for day in DAYS:
                assert _blank_free(state_at(conn, day)) == _blank_free(snapshots[day]), order
            # between snapshots, the one before is in effect
            assert _blank_free(state_at(conn, dt.date(2026, 2, 15))) == _blank_free(
                snapshots[DAYS[1]])
            for day in DAYS:  # everyone in a snapshot is in its state; nobody else is
                assert set(state_at(conn, day)) == set(snapshots[day])
        # the rows of an ingest in date order: nothing stale left by the replacements
        assert _telling(_stored(engine)) == _telling(_chain(snapshots))


@BACKENDS
def test_the_metrics_load_rebuilds_every_snapshot_from_the_changes(engine: Engine) -> None:
    from metrics import facts
    from metrics.attribution import in_snapshots

    _people(engine)
    snapshots = _random_snapshots(random.Random(3))
    with write_transaction(engine) as conn:
        for day in (DAYS[2], DAYS[0], DAYS[3], DAYS[1]):
            save_snapshot(conn, day, snapshots[day], NOW)
    index = pd.Index(PEOPLE)
    as_of = np.array([facts.day_number(d) for d in DAYS], dtype=np.int64)
    with engine.connect() as conn:
        names = facts._attribute_names(conn)
        stored, values = facts._attribute_rows(conn, index, as_of, names)
    absent = names.index(ABSENT) if ABSENT in names else -1
    for first in range(len(DAYS)):  # also a load of the later snapshots only
        rows = in_snapshots(stored, absent, len(DAYS), first)
        got: dict[dt.date, Snapshot] = {d: {} for d in DAYS[first:]}
        for pid, attr, snap, value in rows.itertuples(index=False):
            got[DAYS[first + snap]].setdefault(PEOPLE[pid], {})[names[attr]] = (
                values[value] if value >= 0 else None)
        want = {d: snapshots[d] for d in DAYS[first:]}
        assert {d: _blank_free(s) for d, s in got.items()} == {
            d: _blank_free(s) for d, s in want.items()}
        # everyone in a snapshot has rows in it; nobody else has
        assert {d: set(s) for d, s in got.items()} == {d: set(s) for d, s in want.items()}


@BACKENDS
def test_migration_0005_turns_full_snapshots_into_changes_and_back(database_url: str) -> None:
    from alembic import command

    eng = make_engine(database_url)
    migrate(eng, command.upgrade, "0004")
    _people(eng)
    snapshots = _random_snapshots(random.Random(11))
    full = [{"person_key": p, "attribute": a, "valid_from": day, "value": v}
            for day, snapshot in snapshots.items() for p, values in snapshot.items()
            for a, v in values.items()]
    with write_transaction(eng) as conn:  # as revision 0004 stored them: every cell
        conn.execute(RosterSnapshot.__table__.insert(),
                     [{"as_of": d, "people": len(s), "ingested_at": NOW}
                      for d, s in snapshots.items()])
        conn.execute(PersonAttribute.__table__.insert(), full)
    migrate(eng, command.upgrade, "0005")
    with eng.connect() as conn:
        for day in DAYS:
            assert _blank_free(state_at(conn, day)) == _blank_free(snapshots[day]), day
            assert set(state_at(conn, day)) == set(snapshots[day])
    assert _stored(eng) == _chain(snapshots)  # what an ingest in date order writes
    migrate(eng, command.downgrade, "0004")
    with eng.connect() as conn:
        for day in DAYS:
            rows = conn.execute(select(
                PersonAttribute.person_key, PersonAttribute.attribute, PersonAttribute.value,
            ).where(PersonAttribute.valid_from == day)).all()
            back: Snapshot = {}
            for p, a, v in rows:
                back.setdefault(p, {})[a] = v
            assert _blank_free(back) == _blank_free(snapshots[day]), day
            assert set(back) == set(snapshots[day])
    migrate(eng, command.upgrade, "head")
    with eng.connect() as conn:
        for day in DAYS:
            assert _blank_free(state_at(conn, day)) == _blank_free(snapshots[day]), day
    eng.dispose()
