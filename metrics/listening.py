"""Listening: do threads get answered, and how fast — by week or month of the thread start."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from metrics.catalog import Metric, declare
from metrics.periods import (
    as_days,
    bounds,
    check_by,
    check_grain,
    empty,
    finish,
    groups_of,
    period_of,
)

ANSWER_WINDOW = pd.Timedelta(days=7)
COLUMNS = [
    "period", "group", "people", "threads", "answered", "replied", "reply_rate",
    "unanswered_share", "median_hours", "p90_hours",
]

LISTENING = declare(
    Metric(
        name="listening",
        label="Listening: reply rate and time to first reply",
        definition=(
            "Threads started in the period, grouped by the thread starter's group on the start "
            "day. A thread is answered when someone other than its starter replies within 7 days "
            "(7×24 hours from the start, inclusive). Reply rate = answered / threads started; "
            "unanswered share = threads with no reply by another person within 7 days / threads "
            "started (threads started less than 7 days before the data ends may still be "
            "answered). Time to first reply = hours from the thread start to the first reply by "
            "another person; median and 90th percentile (linear interpolation) over threads that "
            "got such a reply, however late. Replies by senders we cannot identify count as "
            "another person's; threads whose starter message is missing or whose starter is "
            "unknown are ignored. Suppressed when fewer than k distinct people started the "
            "group's threads."
        ),
        grains=("week", "month"),
        unit="share",
    )
)

PRIVACY = {
    "listening": {
        "partition": ("period",),
        "size": "people",
        "values": (
            "threads", "answered", "replied", "reply_rate", "unanswered_share",
            "median_hours", "p90_hours",
        ),
    }
}


def thread_starts(messages: pd.DataFrame) -> pd.DataFrame:
    """One row per thread with a known starter: thread_id, pid, start, day, first_reply_hours."""
    starters = messages.loc[messages["is_starter"].to_numpy(dtype=bool)]
    starters = starters.sort_values("created_at", kind="mergesort").drop_duplicates("thread_id")
    starters = starters.loc[starters["pid"].to_numpy() >= 0]
    threads = pd.DataFrame(
        {
            "thread_id": starters["thread_id"].to_numpy(),
            "pid": starters["pid"].to_numpy(),
            "start": pd.to_datetime(starters["created_at"]).to_numpy(),
            "day": as_days(starters["day"]),
        }
    )
    replies = messages.loc[~messages["is_starter"].to_numpy(dtype=bool), ["thread_id", "pid"]]
    replies = replies.assign(at=pd.to_datetime(messages["created_at"]))
    joined = replies.merge(
        threads[["thread_id", "pid", "start"]], on="thread_id", suffixes=("", "_starter")
    )
    by_other = (joined["pid"].to_numpy() != joined["pid_starter"].to_numpy()) | (
        joined["pid"].to_numpy() < 0
    )
    later = joined["at"].to_numpy() >= joined["start"].to_numpy()
    first = joined.loc[by_other & later].groupby("thread_id", sort=False)["at"].min()
    reply_at = np.full(len(threads), np.datetime64("NaT"), dtype="datetime64[ns]")
    at = first.index.get_indexer(threads["thread_id"])
    reply_at[at >= 0] = first.to_numpy(dtype="datetime64[ns]")[at[at >= 0]]
    delay = reply_at - threads["start"].to_numpy(dtype="datetime64[ns]")
    threads["first_reply_hours"] = delay / np.timedelta64(1, "h")
    return threads


def compute_listening(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "week",
) -> pd.DataFrame:
    """Reply rate, unanswered share and time-to-first-reply quantiles per period and group."""
    check_grain(grain)
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(COLUMNS)
    threads = facts.cached("thread_starts", lambda: thread_starts(facts.messages))
    days = threads["day"].to_numpy()
    threads = threads.loc[(days >= np.datetime64(lo, "D")) & (days <= np.datetime64(hi, "D"))]
    days = threads["day"].to_numpy()
    hours = threads["first_reply_hours"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "period": period_of(days, grain).astype("datetime64[ns]"),
            "group": groups_of(facts, by, threads["pid"].to_numpy(), days),
            "pid": threads["pid"].to_numpy(),
            "answered": hours <= ANSWER_WINDOW / pd.Timedelta(hours=1),
            "replied": ~np.isnan(hours),
            "hours": hours,
        }
    )
    grouped = frame.groupby(["period", "group"], sort=True)
    out = grouped.agg(
        people=("pid", "nunique"),
        threads=("pid", "size"),
        answered=("answered", "sum"),
        replied=("replied", "sum"),
        median_hours=("hours", "median"),
    ).reset_index()
    out["p90_hours"] = grouped["hours"].quantile(0.9).to_numpy()
    out["reply_rate"] = out["answered"] / out["threads"]
    out["unanswered_share"] = 1.0 - out["reply_rate"]
    return finish(out[COLUMNS], ["period", "group"])


COMPUTE = {"listening": compute_listening}
