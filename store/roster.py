"""Roster snapshots stored as effective-dated changes: a person's attribute gets a row only
where its value differs from the snapshot before.

A year of daily or monthly rosters of 100,000 people is tens of millions of cells, of which a
few percent change; storing only the changes keeps the table, and every read of it, that
small. The state in effect at a snapshot is, per person, the latest row of each attribute on
or before it. Two kinds of rows make that exact:

- A person who is in a snapshot but not in the one before (first appearance, or back after an
  absence) gets a row for every attribute of the file, blanks included.
- A person who was in the snapshot before but is not in this one gets one ABSENT row; rows
  before it no longer apply. An attribute a snapshot lacks (a dropped column) is blank.

Every writer of roster snapshots goes through `save_snapshot`, which also rewrites the next
snapshot's changes, so snapshots can arrive in any order and be replaced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any, cast

from sqlalchemy import Connection, String, Table, delete, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import distinct_on

from store.dates import as_date
from store.models import PersonAttribute, RosterSnapshot
from store.upsert import upsert

ABSENT = "~absent"  # not in this snapshot (configured attribute names cannot start with ~)
BATCH = 50_000
State = dict[str, dict[str, str | None]]  # person key → attribute → value


def save_snapshot(
    conn: Connection,
    as_of: dt.date,
    people: Mapping[str, Mapping[str, str | None]],
    ingested_at: dt.datetime,
) -> int:
    """Replace the snapshot `as_of` with `people` (every person's attributes); rows written
    (the next snapshot's rewritten ones included).

    The people must exist already. Writes the changes from the snapshot before, and rewrites
    the next snapshot's changes against this one so its own state stays what it was.
    """
    snapshot = RosterSnapshot.as_of
    before = as_date(conn.scalar(select(func.max(snapshot)).where(snapshot < as_of)))
    after = as_date(conn.scalar(select(func.min(snapshot)).where(snapshot > as_of)))
    following = state_at(conn, after) if after is not None else None
    previous = state_at(conn, before) if before is not None else {}
    upsert(conn, _table(RosterSnapshot),
           [{"as_of": as_of, "people": len(people), "ingested_at": ingested_at}])
    written = _replace(conn, as_of, changes(previous, people))
    if after is not None and following is not None:
        written += _replace(conn, after, changes(people, following))
    return written


def changes(
    old: Mapping[str, Mapping[str, str | None]], new: Mapping[str, Mapping[str, str | None]]
) -> Iterator[tuple[str, str, str | None]]:
    """(person, attribute, value) rows that turn state `old` into state `new`."""
    for person, values in new.items():
        was = old.get(person)
        if was is None:
            yield from ((person, a, v) for a, v in values.items())
            continue
        for attribute in values.keys() | was.keys():  # blank and missing are alike
            value = values.get(attribute)
            if value != was.get(attribute):
                yield person, attribute, value
    for person in old.keys() - new.keys():
        yield person, ABSENT, None


def fingerprint(conn: Connection) -> str:
    """A fingerprint of the roster snapshots: any new, replaced or removed one changes it
    (every save stamps its snapshot's `ingested_at`)."""
    count, last, ingested, total = conn.execute(
        select(
            func.count(),
            sql_cast(func.max(RosterSnapshot.as_of), String),
            sql_cast(func.max(RosterSnapshot.ingested_at), String),
            func.coalesce(func.sum(RosterSnapshot.people), 0),
        )
    ).one()
    return f"{count}:{last}:{ingested}:{total}"


def state_at(conn: Connection, as_of: dt.date) -> State:
    """Every person's attributes in the snapshot in effect on `as_of` (people absent left out)."""
    key, name, value = PersonAttribute.person_key, PersonAttribute.attribute, PersonAttribute.value
    since = sql_cast(PersonAttribute.valid_from, String)
    upto = PersonAttribute.valid_from <= as_of
    # each (person, attribute)'s latest row, in key order: no sort, no window
    if conn.dialect.name == "postgresql":
        latest = (select(key, name, value, since).where(upto).ext(distinct_on(key, name))
                  .order_by(key, name, PersonAttribute.valid_from.desc()))
    else:  # SQLite takes the bare columns from the row holding the max
        latest = select(key, name, value, func.max(since)).where(upto).group_by(key, name)
    rows = conn.execute(latest).cursor.fetchall()  # the driver's tuples; days as ISO text
    gone = {person: day for person, attribute, _, day in rows if attribute == ABSENT}
    state: State = {}
    for person, attribute, cell, since_day in rows:
        left = gone.get(person)
        if attribute != ABSENT and (left is None or since_day > left):
            state.setdefault(person, {})[attribute] = cell
    return state


def _replace(conn: Connection, as_of: dt.date, rows: Iterator[tuple[str, str, str | None]]) -> int:
    conn.execute(delete(PersonAttribute).where(PersonAttribute.valid_from == as_of))
    written, batch = 0, []
    for person, attribute, value in rows:
        batch.append((person, attribute, as_of, value))
        if len(batch) >= BATCH:
            written += _write(conn, batch)
            batch = []
    return written + _write(conn, batch)


def _write(conn: Connection, batch: list[tuple[Any, ...]]) -> int:
    return upsert(conn, _table(PersonAttribute), batch,
                  columns=("person_key", "attribute", "valid_from", "value"))


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)
