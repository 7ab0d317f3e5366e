"""Derive per person-day activity facts from stored messages, in the configured time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Select,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
)

from store.dates import utc_instants
from store.fact_insert import insert_facts
from store.models import DailyActivity, FactZone, Message
from store.upsert import upsert

SOURCE = "yammer_export"
OFFSET_PROBE = dt.timedelta(hours=1)  # UTC offsets change at most once within this
TALLY_ROWS = 400_000  # counted messages a tally holds before it adds them to the store
COUNTED_COLUMNS = ("person_key", "sender_type", "message_type", "is_thread_starter", "created_at")


def local_days(utc_times: pd.Series, zone: ZoneInfo) -> pd.Series:
    """Local calendar dates of naive-UTC timestamps."""
    return utc_times.dt.tz_localize("UTC").dt.tz_convert(str(zone)).dt.date


class MessageTally:
    """Keeps message-derived daily_activity exact while a load writes messages: each message
    stored is counted (+1), each stored message it overwrites uncounted (-1), and the
    difference is added to the facts — no message is read back and no day recounted."""

    def __init__(self, conn: Connection, zone: ZoneInfo, limit: int | None = None):
        self.conn = conn
        self.zone = zone
        self.limit = TALLY_ROWS if limit is None else limit
        # per counted message: local day number, person key, +1/-1 as a post, as a reply
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.held = 0

    def add(self, messages: Mapping[str, Sequence[Any]], sign: int = 1) -> None:
        """Count (sign 1) or uncount (-1) messages given column by column (COUNTED_COLUMNS;
        created_at as datetimes or `time_text`), counted as `rebuild_message_activity` does."""
        keys = np.asarray(messages["person_key"], dtype=object)
        sender = np.asarray(messages["sender_type"], dtype=object)
        kind = np.asarray(messages["message_type"], dtype=object)
        counted = (
            ~pd.isna(keys) & (pd.isna(sender) | (sender == "user")) & (kind != "system")
        )
        if not counted.any():
            return
        at = np.flatnonzero(counted)
        created = utc_instants(messages["created_at"])[at]
        local = created.tz_localize("UTC").tz_convert(str(self.zone))
        days = local.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int32)
        starts = np.asarray(messages["is_thread_starter"], dtype=bool)[at]
        self.parts.append((
            days, keys[at], np.where(starts, sign, 0).astype(np.int8),
            np.where(starts, 0, sign).astype(np.int8),
        ))
        self.held += len(at)
        if self.held >= self.limit:
            self.flush()

    def flush(self) -> int:
        """Add the held differences to daily_activity; rows left with nothing are removed.
        Returns the person-days changed."""
        if not self.parts:
            return 0
        day_numbers, keys, posts, replies = (
            np.concatenate(c) for c in zip(*self.parts, strict=True)
        )
        self.parts, self.held = [], 0
        # one integer per person-day, ordered as (day, key): the fact table's key order, which
        # insert_facts wants (its sort of an ordered input is one pass)
        codes, distinct = pd.factorize(keys, sort=True)
        width = max(len(distinct), 1)
        pair = day_numbers.astype(np.int64) * width + codes
        groups, inverse = np.unique(pair, return_inverse=True)
        totals = {
            "posts": np.bincount(inverse, posts, len(groups)).round().astype(np.int64),
            "replies": np.bincount(inverse, replies, len(groups)).round().astype(np.int64),
        }
        changed = (totals["posts"] != 0) | (totals["replies"] != 0)
        if not changed.any():
            return 0
        groups = groups[changed]
        counts = {c: values[changed] for c, values in totals.items()}
        day_of = (groups // width).astype("datetime64[D]")
        days = day_of.astype(object).tolist()
        insert_facts(self.conn, SOURCE, days, distinct[groups % width].tolist(), counts, add=True)
        if (counts["posts"] < 0).any() or (counts["replies"] < 0).any():
            self.conn.execute(delete(DailyActivity).where(
                DailyActivity.source == SOURCE,
                DailyActivity.day.between(min(days), max(days)),
                DailyActivity.posts == 0, DailyActivity.replies == 0,
                DailyActivity.reactions == 0, DailyActivity.reads == 0,
            ))
        return len(days)


def counted_zone(conn: Connection) -> tuple[bool, str | None]:
    """(recorded, zone): whether a zone is recorded for the message facts, and which (None:
    unknown, or counted in more than one)."""
    row = conn.execute(select(FactZone.zone).where(FactZone.source == SOURCE)).first()
    return (False, None) if row is None else (True, row.zone)


def note_counted_zone(conn: Connection, zone: ZoneInfo, recounted: bool = False) -> None:
    """Record that message facts were counted in `zone`: every one of them (`recounted`), or
    some more — then the recorded zone stays if it is the same, else becomes unknown."""
    recorded, before = counted_zone(conn)
    after = zone.key if recounted or not recorded or before == zone.key else None
    if recorded and after == before:
        return
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    row = {"source": SOURCE, "zone": after, "updated_at": now}
    upsert(conn, FactZone.__table__, [row])  # type: ignore[arg-type]


def rebuild_message_activity(
    conn: Connection,
    zone: ZoneInfo,
    days: Iterable[dt.date] | None = None,
    platform: str = "yammer",
) -> int:
    """Recompute message-derived daily_activity for `days` (all days when None); idempotent.

    Only messages sent by users count (`sender_type` user or empty; system messages ignored);
    a thread starter (`thread_id == id`) is a post, anything else a reply; deleted messages
    still count on the day they were posted. One INSERT … SELECT … GROUP BY: the database
    counts, and no message row comes back to Python.
    """
    wanted = sorted(set(days)) if days is not None else None
    if wanted is not None and not wanted:
        return 0
    counted = message_query(platform, wanted)
    first, last = conn.execute(counted.with_only_columns(
        func.min(Message.created_at), func.max(Message.created_at)
    )).one()
    clear = delete(DailyActivity).where(DailyActivity.source == SOURCE)
    if wanted is not None:
        clear = clear.where(_among(DailyActivity.day, wanted))
    elif first is None:
        return 0
    else:  # days before the oldest kept message were purged (retention): keep them
        clear = clear.where(DailyActivity.day >= _local(_as_datetime(first), zone).date())
    conn.execute(clear)
    if first is None:
        return 0
    day = local_day_sql(conn, zone, _as_datetime(first), _as_datetime(last)).label("day")
    starts = case((Message.is_thread_starter, 1), else_=0)
    grouped = counted.with_only_columns(
        day, Message.person_key, func.sum(starts).label("posts"),
        func.sum(1 - starts).label("replies"),
    ).group_by(day, Message.person_key).subquery()
    rows = select(
        grouped.c.day, literal(SOURCE), grouped.c.person_key, grouped.c.posts,
        grouped.c.replies, literal(0), literal(0),
    )
    if wanted is not None:
        rows = rows.where(_among(grouped.c.day, wanted))
    inserted = conn.execute(insert(DailyActivity).from_select(
        ["day", "source", "person_key", "posts", "replies", "reactions", "reads"],
        rows.order_by(grouped.c.day, grouped.c.person_key),  # the fact table's key order
    ).execution_options(preserve_rowcount=True))  # an INSERT's count is not kept by default
    return int(inserted.rowcount)


def local_day_sql(
    conn: Connection, zone: ZoneInfo, first: dt.datetime, last: dt.datetime
) -> ColumnElement[Any]:
    """SQL for the local date of `messages.created_at` (naive UTC) between `first` and `last`:
    each stretch of one UTC offset of `zone` shifts the time by that offset."""
    stretches = utc_offsets(zone, first, last)
    *changes, (_, final) = stretches
    shifted = [_shifted_date(conn, seconds) for _, seconds in stretches]
    if not changes:
        return shifted[0]
    return case(
        *((Message.created_at < until, shifted[i]) for i, (until, _) in enumerate(changes)),
        else_=shifted[-1],
    )


def utc_offsets(
    zone: ZoneInfo, first: dt.datetime, last: dt.datetime
) -> list[tuple[dt.datetime | None, int]]:
    """(until, seconds): the zone's UTC offset in seconds before each naive-UTC instant
    `until` where it changes, from `first` to `last`; the final one's `until` is None."""
    stretches: list[tuple[dt.datetime | None, int]] = []
    at, current = first, _offset(zone, first)
    while at < last:
        step = min(at + OFFSET_PROBE, last)
        if _offset(zone, step) != current:  # a change in (at, step]: find its exact second
            lo, hi = at, step
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if _offset(zone, mid) == current else (lo, mid)
            changed = hi.replace(microsecond=0)
            stretches.append((changed, current))
            current = _offset(zone, changed)
        at = step
    stretches.append((None, current))
    return stretches


def _offset(zone: ZoneInfo, utc: dt.datetime) -> int:
    offset = _local(utc, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _local(utc: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    return utc.replace(tzinfo=dt.UTC).astimezone(zone)


def _shifted_date(conn: Connection, seconds: int) -> ColumnElement[Any]:
    """The date of created_at moved by `seconds`, in the connection's dialect."""
    if conn.dialect.name == "sqlite":
        return func.date(Message.created_at, f"{seconds:+d} seconds")
    return cast(Message.created_at + literal(dt.timedelta(seconds=seconds)), Date)


def _among(column: Any, wanted: list[dt.date]) -> ColumnElement[bool]:
    """`column` is one of the wanted days (a long list: any day of their span)."""
    if len(wanted) < 500:
        return column.in_(wanted)
    return column.between(wanted[0], wanted[-1])


def _as_datetime(value: Any) -> dt.datetime:
    """A stored time (SQLite aggregates come back as text)."""
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value  # type: ignore[no-any-return]


def message_query(
    platform: str, wanted: list[dt.date] | None
) -> Select[str | None, dt.datetime, bool]:
    """The counted messages of `platform`, from the day before `wanted` to the day after."""
    query = select(
        Message.person_key, Message.created_at, Message.is_thread_starter
    ).where(
        Message.person_key.is_not(None),
        (Message.sender_type.is_(None)) | (Message.sender_type == "user"),
        (Message.message_type.is_(None)) | (Message.message_type != "system"),
    )
    if not wanted:
        return query.where(Message.platform == platform)
    lo = dt.datetime.combine(wanted[0] - dt.timedelta(days=1), dt.time())
    hi = dt.datetime.combine(wanted[-1] + dt.timedelta(days=2), dt.time())
    # `platform || ''`: without statistics SQLite would rather read every message of the
    # platform through the primary key than the created_at range (20× slower for a month)
    return query.where(
        Message.platform.concat("") == platform,
        and_(Message.created_at >= lo, Message.created_at < hi),
    )
