"""Typed SQLAlchemy models of the store: facts, dimensions and the run log. Never a message body."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

KEY = String(64)  # hex HMAC-SHA256 person key
ID = String(64)  # platform ids: 16-digit Yammer ids, Slack strings


class Base(DeclarativeBase):
    """Declarative base with one MetaData and a naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Person(Base):
    """One person, keyed by a keyed hash of the normalised email."""

    __tablename__ = "people"
    person_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))  # only when pseudonymise is off
    display_name: Mapped[str | None] = mapped_column(String(200))  # likewise
    matched: Mapped[bool] = mapped_column(Boolean, default=True)  # False: concealed Graph name
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class RosterSnapshot(Base):
    """One HR roster snapshot, in effect from `as_of` until the next one."""

    __tablename__ = "roster_snapshots"
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    people: Mapped[int] = mapped_column(Integer)
    ingested_at: Mapped[dt.datetime] = mapped_column(DateTime)


class PersonAttribute(Base):
    """A person's HR attribute value in the roster snapshot in effect from `valid_from`."""

    __tablename__ = "person_attributes"
    person_key: Mapped[str] = mapped_column(
        KEY, ForeignKey("people.person_key", ondelete="CASCADE"), primary_key=True
    )
    attribute: Mapped[str] = mapped_column(String(64), primary_key=True)
    valid_from: Mapped[dt.date] = mapped_column(
        Date, ForeignKey("roster_snapshots.as_of", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_person_attributes_attr_day", "attribute", "valid_from"),)


class Account(Base):
    """A platform account; `has_user_record` is False for accounts seen only in activity."""

    __tablename__ = "accounts"
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ID, primary_key=True)
    person_key: Mapped[str] = mapped_column(
        KEY, ForeignKey("people.person_key", ondelete="CASCADE"), index=True
    )
    has_user_record: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str | None] = mapped_column(String(32))  # active|pending|suspended|deleted
    joined_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # UTC
    suspended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # UTC
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # UTC
    department: Mapped[str | None] = mapped_column(String(200))  # profile field
    location: Mapped[str | None] = mapped_column(String(200))  # profile field
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Group(Base):
    """A community (Yammer group) — metadata only."""

    __tablename__ = "groups"
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(300))
    private: Mapped[bool | None] = mapped_column(Boolean)
    external: Mapped[bool | None] = mapped_column(Boolean)
    deleted: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Message(Base):
    """A message's metadata (thread, reply, sender, times) — the body is never stored."""

    __tablename__ = "messages"
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(ID, primary_key=True)
    # no index on thread_id: a starter's message_id is its thread's, so the key finds it
    thread_id: Mapped[str] = mapped_column(ID)
    replied_to_id: Mapped[str | None] = mapped_column(ID)
    group_id: Mapped[str | None] = mapped_column(ID)
    sender_account_id: Mapped[str | None] = mapped_column(ID)
    # no index on person_key: only `uptake forget` looks a person's messages up (a scan),
    # and at scale an index on random keys costs more per insert than the other three
    person_key: Mapped[str | None] = mapped_column(
        KEY, ForeignKey("people.person_key", ondelete="CASCADE")
    )
    sender_type: Mapped[str | None] = mapped_column(String(32))
    message_type: Mapped[str | None] = mapped_column(String(32))
    is_thread_starter: Mapped[bool] = mapped_column(Boolean)
    in_private_group: Mapped[bool | None] = mapped_column(Boolean)
    in_private_conversation: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)  # UTC
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # UTC


class DailyActivity(Base):
    """Per person-day activity counts from one source: the fact table engagement reads."""

    __tablename__ = "daily_activity"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_key: Mapped[str] = mapped_column(
        KEY, ForeignKey("people.person_key", ondelete="CASCADE"), primary_key=True
    )
    posts: Mapped[int] = mapped_column(Integer, default=0)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    reactions: Mapped[int] = mapped_column(Integer, default=0)
    reads: Mapped[int] = mapped_column(Integer, default=0)

    # Key (day, source, person_key) and, on SQLite, no rowid: the rows live in the key's
    # B-tree, a day's rows land together at its end, and a day range is one ordered scan —
    # one B-tree to write per row instead of three (table, key, day index).
    __table_args__ = (
        PrimaryKeyConstraint("day", "source", "person_key"),
        {"sqlite_with_rowid": False},
    )


class IngestRun(Base):
    """One ingest run: what it read, wrote and skipped, and how it ended."""

    __tablename__ = "ingest_runs"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(500))  # file name or API window
    window_start: Mapped[str | None] = mapped_column(String(40))
    window_end: Mapped[str | None] = mapped_column(String(40))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))  # running|success|failed|abandoned
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    rows_skipped: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[str | None] = mapped_column(Text)  # newline-separated


class IngestState(Base):
    """The cursor (high-water mark) of one source."""

    __tablename__ = "ingest_state"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class FactZone(Base):
    """The time zone a source's message-derived facts were counted in (None: unknown, or more
    than one), so a refresh recounts them only when that is not the configured zone."""

    __tablename__ = "fact_zones"
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    zone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class RefreshQueue(Base):
    """Days whose facts changed since the last refresh (`day_to` None: every later day too)."""

    __tablename__ = "refresh_queue"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    day_from: Mapped[dt.date] = mapped_column(Date)
    day_to: Mapped[dt.date | None] = mapped_column(Date)
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Lock(Base):
    """A named lease so two processes never run the same job at once."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Erasure(Base):
    """A right-to-erasure request: the keyed hash is kept so later ingests skip the person."""

    __tablename__ = "erasures"
    person_key: Mapped[str] = mapped_column(KEY, primary_key=True)
    erased_at: Mapped[dt.datetime] = mapped_column(DateTime)
    rows_removed: Mapped[int] = mapped_column(Integer)

import store.aggregates  # noqa: E402,F401  (materialised tables join the metadata)
