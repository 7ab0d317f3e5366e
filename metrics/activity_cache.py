"""Recent engaging person-days, kept in the store for the next incremental refresh.

An incremental refresh reads person-days from up to 38 days before its first changed day (27
for the rolling windows, or the start of the month a changed view covers), of which the days
before the changed one only for what engages: rolling windows and the funnel. Those days have
not changed since the last refresh (every change of facts queues its days), which kept their
engaging rows here, so only the changed days are read from the store.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from metrics.calendar import day_number
from metrics.person_days import ENGAGING, KINDS, any_count
from store import cache

NAME = "activity"
KEEP_DAYS = 40  # the last days kept: the next refresh reaches back at most 38 from its first
Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # pid, day number, int16 counts (n × 4)


def covering(conn: Connection, zone: str, first: dt.date, last: dt.date) -> str | None:
    """The fingerprint of the kept days when they are local days of `zone` and cover
    [first, last], else None."""
    kept = cache.fingerprint(conn, NAME)
    if kept is None:
        return None
    kept_zone, lo, hi = kept.rsplit("|", 2)
    covers = dt.date.fromisoformat(lo) <= first and last <= dt.date.fromisoformat(hi)
    return kept if kept_zone == zone and covers else None


def rows(conn: Connection, index: pd.Index, fingerprint: str, first: dt.date,
         last: dt.date) -> Rows | None:
    """The kept engaging rows of days [first, last], people as positions in `index` (others
    left out); None when what is kept is no longer `fingerprint`."""
    kept = cache.load(conn, NAME, fingerprint)
    if kept is None:
        return None
    arrays, labels = kept
    pid = index.get_indexer(np.array(labels["keys"], dtype=object))[arrays["who"]]
    day = arrays["day"]
    keep = (pid >= 0) & (day >= day_number(first)) & (day <= day_number(last))
    return pid[keep].astype(np.int32), day[keep], arrays["counts"][keep]


def save(conn: Connection, zone: str, keys: np.ndarray, activity: pd.DataFrame,
         first: dt.date, last: dt.date) -> None:
    """Keep the engaging rows of `activity` (pid into `keys`, day, counts) on days
    [first, last], local days of `zone`."""
    days = activity["day"].to_numpy().astype("datetime64[D]").view(np.int64)
    counts = activity[list(KINDS)].to_numpy(dtype=np.int16)
    engaging = any_count(counts, len(ENGAGING))
    keep = engaging & (days >= day_number(first)) & (days <= day_number(last))
    cache.save(conn, NAME, f"{zone}|{first}|{last}", {
        "who": activity["pid"].to_numpy(np.int32)[keep],
        "day": days[keep].astype(np.int32),
        "counts": counts[keep],
    }, {"keys": np.asarray(keys, dtype=object).tolist()})
