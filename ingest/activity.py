"""Derive per person-day activity facts from stored messages, in the configured time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import cast
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, Table, and_, delete, select

from store.models import DailyActivity, Message
from store.upsert import insert_rows

SOURCE = "yammer_export"
FACTS = cast(Table, DailyActivity.__table__)
FACT_COLUMNS = ("source", "person_key", "day", "posts", "replies", "reactions", "reads")


def local_days(utc_times: pd.Series, zone: ZoneInfo) -> pd.Series:
    """Local calendar dates of naive-UTC timestamps."""
    return utc_times.dt.tz_localize("UTC").dt.tz_convert(str(zone)).dt.date


def rebuild_message_activity(
    conn: Connection,
    zone: ZoneInfo,
    days: Iterable[dt.date] | None = None,
    platform: str = "yammer",
) -> int:
    """Recompute message-derived daily_activity for `days` (all days when None); idempotent.

    Only messages sent by users count (`sender_type` user or empty; system messages ignored);
    a thread starter (`thread_id == id`) is a post, anything else a reply; deleted messages
    still count on the day they were posted.
    """
    wanted = sorted(set(days)) if days is not None else None
    query = select(
        Message.person_key, Message.created_at, Message.is_thread_starter
    ).where(
        Message.platform == platform,
        Message.person_key.is_not(None),
        (Message.sender_type.is_(None)) | (Message.sender_type == "user"),
        (Message.message_type.is_(None)) | (Message.message_type != "system"),
    )
    if wanted:
        lo = dt.datetime.combine(wanted[0] - dt.timedelta(days=1), dt.time())
        hi = dt.datetime.combine(wanted[-1] + dt.timedelta(days=2), dt.time())
        query = query.where(and_(Message.created_at >= lo, Message.created_at < hi))
    # plain tuples: pandas probing SQLAlchemy Row objects costs ~20 µs a row
    # the driver's own tuples: SQLAlchemy's per-row result processing costs more than the query
    raw = conn.execute(query).cursor.fetchall()
    frame = pd.DataFrame(raw, columns=["person_key", "created_at", "starter"])
    clear = delete(DailyActivity).where(DailyActivity.source == SOURCE)
    if wanted is not None:
        if not wanted:
            return 0
        clear = clear.where(DailyActivity.day.in_(wanted)) if len(wanted) < 500 else clear.where(
            DailyActivity.day.between(wanted[0], wanted[-1])
        )
    if not frame.empty:
        frame["day"] = local_days(pd.to_datetime(frame["created_at"]), zone)
    if wanted is None:  # days before the oldest kept message were purged (retention): keep them
        if frame.empty:
            return 0
        clear = clear.where(DailyActivity.day >= frame["day"].min())
    conn.execute(clear)
    if frame.empty:
        return 0
    if wanted is not None:
        frame = frame[frame["day"].isin(set(wanted) if len(wanted) < 500 else _span(wanted))]
    frame["starter"] = frame["starter"].astype(bool)
    frame["posts"] = frame["starter"].astype("int64")
    frame["replies"] = (~frame["starter"]).astype("int64")
    facts = (
        frame.groupby(["person_key", "day"], sort=False)[["posts", "replies"]].sum().reset_index()
    )
    n = len(facts)
    rows = list(zip(
        [SOURCE] * n, facts["person_key"].tolist(), facts["day"].tolist(),
        facts["posts"].tolist(), facts["replies"].tolist(), [0] * n, [0] * n, strict=True,
    ))
    return insert_rows(conn, FACTS, FACT_COLUMNS, rows)


def _span(days: list[dt.date]) -> set[dt.date]:
    first, last = days[0], days[-1]
    return {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}
