"""Recent counted messages, kept in the store for the next incremental refresh.

Like the recent person-days (metrics/activity_cache.py): an incremental refresh reads messages
of up to 38 days before its first changed day, which have not changed since the last refresh
(every message stored or replaced queues its days; a retention purge or a forget drops what is
kept here), so only the changed days are read from the store.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from metrics.calendar import day_number
from store import cache

NAME = cache.MESSAGES


def covering(conn: Connection, zone: str, first: dt.date, last: dt.date) -> str | None:
    """The fingerprint of the kept messages when they are of local days of `zone` and cover
    [first, last], else None."""
    kept = cache.fingerprint(conn, NAME)
    if kept is None:
        return None
    kept_zone, lo, hi = kept.rsplit("|", 2)
    covers = dt.date.fromisoformat(lo) <= first and last <= dt.date.fromisoformat(hi)
    return kept if kept_zone == zone and covers else None


def rows(conn: Connection, index: pd.Index, fingerprint: str, first: dt.date,
         last: dt.date) -> pd.DataFrame | None:
    """The kept messages of local days [first, last] as thread_id, pid (position in `index`;
    -1: no person or not there), created_at, day (number) and is_starter; None when what is
    kept is no longer `fingerprint`."""
    kept = cache.load(conn, NAME, fingerprint)
    if kept is None:
        return None
    arrays, labels = kept
    who = arrays["who"]
    to_pid = index.get_indexer(np.array(labels["keys"], dtype=object))
    pid = np.where(who >= 0, to_pid[np.maximum(who, 0)] if len(to_pid) else -1, -1)
    day = arrays["day"]
    keep = (day >= day_number(first)) & (day <= day_number(last))
    return pd.DataFrame({
        "thread_id": arrays["thread"][keep],
        "pid": pid[keep].astype(np.int32),
        "created_at": arrays["created"][keep].astype("datetime64[ns]"),
        "day": day[keep].astype(np.int64),
        "is_starter": arrays["starter"][keep],
    })


def save(conn: Connection, zone: str, keys: np.ndarray, messages: pd.DataFrame,
         first: dt.date, last: dt.date) -> None:
    """Keep the messages (pid into `keys`) of local days [first, last]; when thread ids are
    not all numbers, keep nothing (a later refresh reads those days)."""
    cache.forget(conn, NAME)
    if messages["thread_id"].dtype.kind != "i":
        return
    days = messages["day"].to_numpy().astype("datetime64[D]").view(np.int64)
    keep = (days >= day_number(first)) & (days <= day_number(last))
    cache.save(conn, NAME, f"{zone}|{first}|{last}", {
        "thread": messages["thread_id"].to_numpy(np.int64)[keep],
        "who": messages["pid"].to_numpy(np.int32)[keep],
        "created": messages["created_at"].to_numpy().astype("datetime64[us]")[keep],
        "day": days[keep].astype(np.int32),
        "starter": messages["is_starter"].to_numpy(bool)[keep],
    }, {"keys": np.asarray(keys, dtype=object).tolist()})
