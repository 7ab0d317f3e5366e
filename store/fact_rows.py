"""How many rows daily_activity holds, and where they lie, estimated without counting them all."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import Connection, func, select

from store.dates import as_date
from store.models import DailyActivity

SAMPLE_DAYS = 7

# On SQLite the table has no rowid whose maximum would give the count at once, and counting
# tens of millions of rows takes about a second: a few days are counted instead, each one
# range of the (day, source, person_key) key.


def day_span(conn: Connection) -> tuple[dt.date, dt.date] | None:
    """The first and last day of daily_activity (None when it is empty)."""
    lo = as_date(conn.scalar(select(func.min(DailyActivity.day))))
    hi = as_date(conn.scalar(select(func.max(DailyActivity.day))))
    return None if lo is None or hi is None else (lo, hi)


def sampled_days(conn: Connection, lo: dt.date, hi: dt.date) -> list[tuple[dt.date, int]]:
    """Rows on up to SAMPLE_DAYS days spread evenly from `lo` to `hi` (both included)."""
    span = (hi - lo).days + 1
    steps = min(SAMPLE_DAYS, span)
    days = sorted({lo + dt.timedelta(days=round(i * (span - 1) / max(steps - 1, 1)))
                   for i in range(steps)})
    return [
        (day, int(conn.scalar(select(func.count()).where(DailyActivity.day == day)) or 0))
        for day in days
    ]


def estimated_fact_rows(conn: Connection) -> int:
    """Rows of daily_activity: the sampled days' mean times the span (exact for short spans)."""
    span = day_span(conn)
    return 0 if span is None else estimated_rows(conn, *span)


def estimated_rows(conn: Connection, lo: dt.date, hi: dt.date) -> int:
    """Rows of daily_activity from `lo` to `hi`: the sampled days' mean times the days."""
    samples = sampled_days(conn, lo, hi)
    return round(sum(n for _, n in samples) / len(samples) * ((hi - lo).days + 1))


def middle_day(conn: Connection, lo: dt.date, hi: dt.date) -> dt.date:
    """The day that splits the rows from `lo` to `hi` about in half: the rows on and before it
    and those after (sampled counts, interpolated between the samples)."""
    samples = sampled_days(conn, lo, hi)
    at = np.array([(d - lo).days for d, _ in samples], dtype=float)
    rows = np.interp(np.arange((hi - lo).days + 1), at, [n for _, n in samples])
    half = np.searchsorted(np.cumsum(rows), rows.sum() / 2)
    return lo + dt.timedelta(days=int(min(half, len(rows) - 1)))
