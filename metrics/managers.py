"""Manager participation: do managers join conversations rather than lead them?"""

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
    last_days,
    member_codes,
    numbers,
    period_of,
    period_start,
)

ROLES = ("manager", "other")
COLUMNS = [
    "period", "group", "role", "members", "authors", "threads", "replies", "thread_share",
    "reply_share", "replies_per_thread",
]

MANAGERS = declare(
    Metric(
        name="manager_participation",
        label="Manager participation: threads and replies by managers vs others",
        definition=(
            "Managers are people whom someone else's HR roster row names as their manager "
            "(is_manager = true in the roster snapshot in effect). For each period, group and "
            "role (manager / other): threads started and replies written (a message counts for "
            "the role and group its author had on the message's day), the role's share of the "
            "group's threads and of its replies, and replies per thread started. Members = "
            "members of the role in the group during the period (role and group as of the "
            "period's last day); a group's roles are suppressed together when either has fewer "
            "than k members."
        ),
        grains=("week", "month"),
        unit="share",
    )
)

PRIVACY = {
    "manager_participation": {
        "partition": ("period", "group"),
        "group": "role",
        "size": "members",
        "values": (
            "authors", "threads", "replies", "thread_share", "reply_share", "replies_per_thread",
        ),
    }
}


def role_of(facts: Any, pids: np.ndarray, days: np.ndarray) -> np.ndarray:
    """'manager' or 'other' for each person-day, from the roster's is_manager attribute."""
    return np.where(is_manager(facts, pids, days), ROLES[0], ROLES[1]).astype(object)


def is_manager(facts: Any, pids: np.ndarray, days: np.ndarray) -> np.ndarray:
    """True where the roster in effect that day says is_manager (unknown people: False)."""
    pids = np.asarray(pids, dtype=np.int64)
    out = np.zeros(len(pids), dtype=bool)
    known = pids >= 0
    if "is_manager" in facts.attributes() and known.any():
        codes, labels = facts.group_codes("is_manager", pids[known], numbers(days)[known])
        out[known] = (np.asarray(labels, dtype=object) == "true")[codes]
    return out


def compute_manager_participation(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "week",
) -> pd.DataFrame:
    """Threads, replies, shares and replies per thread of managers vs others per period/group."""
    check_grain(grain)
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(COLUMNS)
    messages = facts.messages
    days = as_days(messages["day"])
    keep = (days >= np.datetime64(lo, "D")) & (days <= np.datetime64(hi, "D"))
    keep &= messages["pid"].to_numpy() >= 0
    messages, days = messages.loc[keep], days[keep]
    pids = messages["pid"].to_numpy()
    starter = messages["is_starter"].to_numpy(dtype=bool)
    written = pd.DataFrame(
        {
            "period": period_of(days, grain).astype("datetime64[ns]"),
            "group": groups_of(facts, by, pids, days),
            "role": role_of(facts, pids, days),
            "pid": pids,
            "threads": starter.astype("int64"),
            "replies": (~starter).astype("int64"),
        }
    )
    keys = ["period", "group", "role"]
    counts = written.groupby(keys).agg(
        authors=("pid", "nunique"), threads=("threads", "sum"), replies=("replies", "sum")
    )
    members = member_codes(facts, by, lo, hi, grain)
    ends = last_days(period_start(members.index, grain), grain, hi)
    heads = members.counts(extra=is_manager(facts, members.pid, ends))
    heads["role"] = np.where(heads.pop("extra"), ROLES[0], ROLES[1]).astype(object)
    heads = heads.set_index(keys)["count"].rename("members")
    out = pd.concat([heads, counts], axis=1)
    groups = out.reset_index()[["period", "group"]].drop_duplicates()
    full = groups.merge(pd.DataFrame({"role": ROLES}), how="cross")
    out = full.merge(out.reset_index(), on=keys, how="left")
    counted = ["members", "authors", "threads", "replies"]
    out[counted] = out[counted].fillna(0).astype("int64")
    totals = out.groupby(["period", "group"])[["threads", "replies"]].transform("sum")
    out["thread_share"] = out["threads"] / totals["threads"].replace(0, np.nan)
    out["reply_share"] = out["replies"] / totals["replies"].replace(0, np.nan)
    out["replies_per_thread"] = out["replies"] / out["threads"].replace(0, np.nan)
    return finish(out[COLUMNS], keys)


SUB = {"manager_participation": "role"}  # the row key beside period and group
COMPUTE = {"manager_participation": compute_manager_participation}
