"""Right to erasure (`uptake forget`) and the retention purge of raw messages."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    column,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    table,
)
from sqlalchemy import update as sql_update

from settings import Settings
from store import cache
from store.dates import as_date
from store.engine import write_transaction
from store.identity import Identity
from store.models import (
    Account,
    DailyActivity,
    Erasure,
    Message,
    PersonAttribute,
    RefreshQueue,
    RosterSnapshot,
)

REFRESH_SOURCE = "forget"
KEEP = {"erasures", "people"}  # erasures keep the key on purpose; people go last


def forget(engine: Engine, identity: Identity, email: str) -> int:
    """Remove one person from every table, record the erasure (never the email); rows removed.

    Everything happens in one transaction: the person's rows in every table with a
    `person_key` column (and messages sent from their accounts) are deleted, attribute values
    naming them (e.g. `manager`) become NULL, the refresh cache goes, an `erasures` row keeps
    the keyed hash so later ingests skip them, and a refresh of every day from the earliest day
    in the store is queued.
    An unknown email still records the erasure and returns 0.
    """
    key = identity.person_key(email)
    now = _utcnow()
    with write_transaction(engine) as conn:
        earliest = _earliest_day(conn)
        removed = _delete_messages_of_accounts(conn, key)
        for name in _person_tables(conn):
            removed += _delete_where_person(conn, name, key)
        removed += _delete_where_person(conn, "people", key)
        nulled = conn.execute(
            sql_update(PersonAttribute).where(PersonAttribute.value == key).values(value=None)
        ).rowcount
        cache.forget_all(conn)  # decoded roster and activity rows: theirs, values naming them
        _record_erasure(conn, key, now, removed)
        if (removed or nulled) and earliest is not None:
            conn.execute(
                insert(RefreshQueue).values(
                    source=REFRESH_SOURCE, day_from=earliest, day_to=None, queued_at=now
                )
            )
    return removed


def purge_old_messages(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> int:
    """Delete messages from local days more than `privacy.retention_days` ago; rows deleted.

    Only raw messages go: the per person-day facts already derived from them stay.
    """
    days = settings.privacy.retention_days
    if days is None:
        return 0
    cutoff = retention_cutoff(settings, days, now or _utcnow())
    with write_transaction(engine) as conn:
        return conn.execute(delete(Message).where(Message.created_at < cutoff)).rowcount


def retention_cutoff(settings: Settings, days: int, now: dt.datetime) -> dt.datetime:
    """Naive-UTC start of the oldest local day kept: today (local) minus `days`."""
    zone = settings.zone
    today = now.replace(tzinfo=dt.UTC).astimezone(zone).date()
    start = dt.datetime.combine(today - dt.timedelta(days=days), dt.time(), tzinfo=zone)
    return start.astimezone(dt.UTC).replace(tzinfo=None)


def _person_tables(conn: Connection) -> list[str]:
    """Every table with a `person_key` column (models and later migrations), children first."""
    inspector = inspect(conn)
    ordered = [name for name, _ in inspector.get_sorted_table_and_fkc_names() if name]
    return [
        name
        for name in reversed(ordered)
        if name not in KEEP and any(c["name"] == "person_key" for c in inspector.get_columns(name))
    ]


def _delete_where_person(conn: Connection, name: str, key: str) -> int:
    target = table(name, column("person_key"))
    return conn.execute(delete(target).where(target.c.person_key == key)).rowcount


def _delete_messages_of_accounts(conn: Connection, key: str) -> int:
    """Messages sent from the person's accounts, even when stored without their key."""
    accounts = conn.execute(
        select(Account.platform, Account.account_id).where(Account.person_key == key)
    ).all()
    if not accounts:
        return 0
    sent_by = or_(
        *(and_(Message.platform == p, Message.sender_account_id == a) for p, a in accounts)
    )
    return conn.execute(delete(Message).where(sent_by)).rowcount


def _earliest_day(conn: Connection) -> dt.date | None:
    """The earliest local day any fact can belong to (UTC times: one day earlier, any zone)."""
    days = [
        as_date(conn.scalar(select(func.min(DailyActivity.day)))),
        as_date(conn.scalar(select(func.min(RosterSnapshot.as_of)))),
    ]
    for moment in (
        as_date(conn.scalar(select(func.min(Message.created_at)))),
        as_date(conn.scalar(select(func.min(Account.joined_at)))),
    ):
        if moment is not None:
            days.append(moment - dt.timedelta(days=1))
    known = [d for d in days if d is not None]
    return min(known) if known else None


def _record_erasure(conn: Connection, key: str, now: dt.datetime, removed: int) -> None:
    before = conn.scalar(select(Erasure.rows_removed).where(Erasure.person_key == key))
    if before is None:
        conn.execute(
            insert(Erasure).values(person_key=key, erased_at=now, rows_removed=removed)
        )
    else:
        conn.execute(
            sql_update(Erasure)
            .where(Erasure.person_key == key)
            .values(erased_at=now, rows_removed=before + removed)
        )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
