"""Derive per person-day activity facts from stored messages, in the configured time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, and_, delete, select

from store.fact_insert import insert_facts
from store.models import DailyActivity, Message

SOURCE = "yammer_export"


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
    if wanted is not None and not wanted:
        return 0
    raw = _messages(conn, platform, wanted)
    clear = delete(DailyActivity).where(DailyActivity.source == SOURCE)
    if wanted is not None:
        clear = clear.where(DailyActivity.day.in_(wanted)) if len(wanted) < 500 else clear.where(
            DailyActivity.day.between(wanted[0], wanted[-1])
        )
    frame = _person_days(raw, zone)
    if wanted is None:  # days before the oldest kept message were purged (retention): keep them
        if frame.empty:
            return 0
        clear = clear.where(DailyActivity.day >= frame["day"].min().date())
    conn.execute(clear)
    if frame.empty:
        return 0
    if wanted is not None:
        keep = wanted if len(wanted) < 500 else _span(wanted)
        frame = frame[frame["day"].isin(pd.DatetimeIndex(sorted(keep)))]
    # (day, person_key) order: the fact table's key, so its B-tree pages fill one after another
    facts = frame.groupby(["day", "person_key"])[["posts", "replies"]].sum().reset_index()
    none = np.zeros(len(facts), dtype=np.int64)
    return insert_facts(conn, SOURCE, _dates(facts["day"]), facts["person_key"].tolist(), {
        "posts": facts["posts"].to_numpy(np.int64), "replies": facts["replies"].to_numpy(np.int64),
        "reactions": none, "reads": none,
    })


def _messages(
    conn: Connection, platform: str, wanted: list[dt.date] | None
) -> list[tuple[str, Any, Any]]:
    """(person_key, created_at, is_thread_starter) of the counted messages around `wanted`."""
    # the driver's own tuples: SQLAlchemy's per-row result processing costs more than the query
    query = message_query(platform, wanted)
    return cast(list[tuple[str, Any, Any]], conn.execute(query).cursor.fetchall())


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


def _person_days(raw: list[tuple[str, Any, Any]], zone: ZoneInfo) -> pd.DataFrame:
    """One row per message: person_key, local day (midnight, naive), posts and replies (0/1)."""
    if not raw:
        return pd.DataFrame({"person_key": [], "day": pd.DatetimeIndex([]), "posts": [],
                             "replies": []})
    keys, created, starter = zip(*raw, strict=True)
    stamps = pd.DatetimeIndex(pd.to_datetime(list(created)))
    day = stamps.tz_localize("UTC").tz_convert(str(zone)).tz_localize(None).normalize()
    started = np.asarray(starter, dtype=bool)
    return pd.DataFrame({
        "person_key": keys, "day": day,
        "posts": started.astype(np.int64), "replies": (~started).astype(np.int64),
    })


def _dates(days: pd.Series) -> list[dt.date]:
    """Python dates of midnight timestamps, converted once per distinct day."""
    codes, distinct = pd.factorize(days)
    return cast(list[dt.date], np.array([d.date() for d in distinct], dtype=object)[codes].tolist())


def _span(days: list[dt.date]) -> set[dt.date]:
    first, last = days[0], days[-1]
    return {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}
