"""Materialised metric tables the pages read: unsuppressed counts, suppressed when read."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import KEY, Base

LABEL = String(200)


class AggEngagement(Base):
    """Daily engagement per dimension and group (`sub`: the inner group of a cross `a@b`)."""

    __tablename__ = "agg_engagement"
    dimension: Mapped[str] = mapped_column(String(140), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    grp: Mapped[str] = mapped_column(LABEL, primary_key=True)
    sub: Mapped[str] = mapped_column(LABEL, primary_key=True, default="")
    members: Mapped[int] = mapped_column(Integer)
    engaged: Mapped[int] = mapped_column(Integer)
    active: Mapped[int] = mapped_column(Integer)
    workforce: Mapped[int] = mapped_column(Integer)
    wau: Mapped[int] = mapped_column(Integer)
    mau: Mapped[int] = mapped_column(Integer)
    engaged_7: Mapped[int] = mapped_column(Integer)  # sum of daily engaged over 7 days
    engaged_28: Mapped[int] = mapped_column(Integer)  # likewise over 28 days
    posts: Mapped[int] = mapped_column(Integer)  # members' activity counts (MAX over sources)
    replies: Mapped[int] = mapped_column(Integer)
    reactions: Mapped[int] = mapped_column(Integer)
    reads: Mapped[int] = mapped_column(Integer)


class AggResult(Base):
    """Any other metric's rows per period and group, its figures as a JSON payload."""

    __tablename__ = "agg_results"
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(140), primary_key=True)
    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    period: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    grp: Mapped[str] = mapped_column(LABEL, primary_key=True)
    sub: Mapped[str] = mapped_column(LABEL, primary_key=True, default="")
    size: Mapped[int] = mapped_column(Integer)  # people behind the row: the suppression size
    payload: Mapped[str] = mapped_column(Text)


class AggFirstActivity(Base):
    """First local day with any activity per person (membership of activity-only people)."""

    __tablename__ = "agg_first_activity"
    person_key: Mapped[str] = mapped_column(
        KEY, ForeignKey("people.person_key", ondelete="CASCADE"), primary_key=True
    )
    first_day: Mapped[dt.date] = mapped_column(Date)


class RefreshState(Base):
    """The refresh watermark (one row): when, in which time zone, over which days and roster."""

    __tablename__ = "refresh_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refreshed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    full_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    timezone: Mapped[str] = mapped_column(String(64))
    roster: Mapped[str] = mapped_column(String(200))  # snapshot fingerprint
    dimensions: Mapped[str] = mapped_column(Text)  # comma-separated, as materialised
    first_day: Mapped[dt.date | None] = mapped_column(Date)
    last_day: Mapped[dt.date | None] = mapped_column(Date)


class RefreshCache(Base):
    """Arrays a refresh decoded, kept by name for the next one (store/cache.py): each valid
    only for the state its fingerprint names."""

    __tablename__ = "refresh_cache"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    arrays: Mapped[bytes] = mapped_column(LargeBinary)  # numpy .npz: the integer columns
    labels: Mapped[str] = mapped_column(Text)  # JSON: person keys and other labels
