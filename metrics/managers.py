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
    counted_by_period,
    empty,
    finish,
    grouped_counts,
    labelled,
    numbers,
    period_of,
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


def is_manager(facts: Any, pids: np.ndarray, days: np.ndarray) -> np.ndarray:
    """True where the roster in effect that day says is_manager (unknown people: False)."""
    pids = np.asarray(pids, dtype=np.int64)
    out = np.zeros(len(pids), dtype=bool)
    known = pids >= 0
    if "is_manager" in facts.attributes() and known.any():
        snaps = facts.attribution.snapshot_index(numbers(days)[known])
        out[known] = _manager_matrix(facts)[snaps, pids[known]]
    return out


def _manager_matrix(facts: Any) -> np.ndarray:
    """is_manager per [snapshot, pid] (all False when no roster says who manages)."""
    if "is_manager" not in facts.attributes():
        return np.zeros(facts.attribution.codes("all")[0].shape, dtype=bool)
    matrix, labels = facts.attribution.codes("is_manager")
    return (np.asarray(labels, dtype=object) == "true")[matrix]


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
    keys = ["period", "group", "role"]
    counts = _written(facts, by, messages["pid"].to_numpy(), days,
                      messages["is_starter"].to_numpy(dtype=bool), grain)
    membership = facts.membership
    heads = counted_by_period(facts, by, (membership.pids, membership.starts, membership.ends),
                              lo, hi, grain, _manager_matrix(facts))
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


def _written(
    facts: Any, by: str, pids: np.ndarray, days: np.ndarray, starter: np.ndarray, grain: str
) -> pd.DataFrame:
    """Authors, threads and replies per (period, group, role) of the messages (known senders),
    grouped on codes."""
    codes, labels = facts.group_codes(by, pids, days)
    (period, group, role), authors, sums = grouped_counts(
        [numbers(period_of(days, grain)), codes, is_manager(facts, pids, days)], pids,
        {"threads": starter, "replies": ~starter})
    counts = pd.DataFrame({"period": period, "group": group, "role": role.astype(bool),
                           "authors": authors, **sums})
    counts = labelled(counts, labels, ["group"])
    counts["role"] = np.where(counts["role"], ROLES[0], ROLES[1]).astype(object)
    return counts.astype({"threads": "int64", "replies": "int64"}).set_index(
        ["period", "group", "role"])


SUB = {"manager_participation": "role"}  # the row key beside period and group
COMPUTE = {"manager_participation": compute_manager_participation}
