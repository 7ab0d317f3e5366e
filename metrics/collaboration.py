"""Collaboration: replies that cross departments or regions, and who replies to whom."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from metrics.catalog import Metric, declare
from metrics.periods import (
    UNKNOWN,
    as_days,
    bounds,
    check_by,
    check_grain,
    empty,
    finish,
    grouped_counts,
    labelled,
    numbers,
    period_of,
)

_RULES = (
    "A reply is any message that is not a thread starter, in a thread whose starter message is "
    "stored; replies to one's own thread and replies by or to unidentified senders are left out. "
    "Departments and regions are taken on the reply's day (roster snapshot in effect; department "
    "falls back to the Yammer profile, else Unknown)."
)

CROSS_DEPARTMENT = declare(
    Metric(
        name="cross_department_replies",
        label="Replies across departments",
        definition=(
            "Share of replies whose author and thread starter are in different departments on "
            "the reply's day, among replies where both departments are known. Grouped by the "
            f"replier's group; people = distinct repliers. {_RULES}"
        ),
        grains=("week", "month"),
        unit="share",
    )
)
CROSS_REGION = declare(
    Metric(
        name="cross_region_replies",
        label="Replies across regions",
        definition=(
            "Share of replies whose author and thread starter are in different regions on the "
            "reply's day, among replies where both regions are known. Grouped by the replier's "
            f"group; people = distinct repliers. {_RULES}"
        ),
        grains=("week", "month"),
        unit="share",
    )
)
REPLY_MATRIX = declare(
    Metric(
        name="reply_matrix",
        label="Who replies to whom",
        definition=(
            "Replies per period from the replier's group (row) to the thread starter's group "
            "(column) of the chosen attribute (department by default). people = distinct "
            f"repliers in the cell; cells with fewer than k are withheld entirely. {_RULES}"
        ),
        grains=("week", "month"),
        unit="count",
    )
)

CROSS_COLUMNS = ["period", "group", "people", "replies", "known", "cross", "cross_share"]
MATRIX_COLUMNS = ["period", "group", "target", "people", "replies"]
_CROSS_PRIVACY = {
    "partition": ("period",),
    "size": "people",
    "values": ("replies", "known", "cross", "cross_share"),
}
PRIVACY = {
    "cross_department_replies": _CROSS_PRIVACY,
    "cross_region_replies": _CROSS_PRIVACY,
    "reply_matrix": {
        "cells": True,
        "size": "people",
        "values": ("replies",),
        # rows and columns: a lone hidden cell could be derived from a group's reply total
        "lines": (("period", "group"), ("period", "target")),
    },
}


def reply_pairs(facts: Any, lo: dt.date, hi: dt.date) -> pd.DataFrame:
    """Replies in [lo, hi] to someone else's thread: pid (replier), starter, day (kept in the
    facts' cache: every breakdown and grain of a refresh asks for the same)."""
    return facts.cached(("reply_pairs", lo, hi), lambda: _reply_pairs(facts, lo, hi))


def _reply_pairs(facts: Any, lo: dt.date, hi: dt.date) -> pd.DataFrame:
    messages = facts.messages
    starter_mask = messages["is_starter"].to_numpy(dtype=bool)
    starters = messages.loc[starter_mask].sort_values("created_at", kind="mergesort")
    starters = starters.drop_duplicates("thread_id")[["thread_id", "pid"]]
    replies = messages.loc[~starter_mask, ["thread_id", "pid", "day"]]
    days = as_days(replies["day"])
    replies = replies.loc[(days >= np.datetime64(lo, "D")) & (days <= np.datetime64(hi, "D"))]
    pairs = replies.merge(starters, on="thread_id", suffixes=("", "_starter"))
    replier, starter = pairs["pid"].to_numpy(), pairs["pid_starter"].to_numpy()
    keep = (replier >= 0) & (starter >= 0) & (replier != starter)
    return pd.DataFrame(
        {"pid": replier[keep], "starter": starter[keep], "day": as_days(pairs["day"])[keep]}
    )


def _compute_cross(
    facts: Any, attribute: str, by: str, start: dt.date | None, end: dt.date | None, grain: str
) -> pd.DataFrame:
    check_grain(grain)
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(CROSS_COLUMNS)
    pairs = reply_pairs(facts, lo, hi)
    days, pids = pairs["day"].to_numpy(), pairs["pid"].to_numpy()
    known, cross = _crossing(facts, attribute, pids, pairs["starter"].to_numpy(), days)
    codes, labels = facts.group_codes(by, pids, days)
    (period, group), people, sums = grouped_counts(
        [numbers(period_of(days, grain)), codes], pids,
        {"replies": np.ones(len(pids)), "known": known, "cross": cross})
    out = labelled(pd.DataFrame({"period": period, "group": group, "people": people, **sums}),
                   labels, ["group"])
    out["cross_share"] = out["cross"] / out["known"].replace(0, np.nan)
    return finish(out[CROSS_COLUMNS], ["period", "group"])


def compute_cross_department_replies(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "week",
) -> pd.DataFrame:
    """Share of replies across departments per period and replier group."""
    return _compute_cross(facts, "department", by, start, end, grain)


def compute_cross_region_replies(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "week",
) -> pd.DataFrame:
    """Share of replies across regions per period and replier group."""
    return _compute_cross(facts, "region", by, start, end, grain)


def compute_reply_matrix(
    facts: Any, by: str = "department", start: dt.date | None = None,
    end: dt.date | None = None, grain: str = "month",
) -> pd.DataFrame:
    """Replies from each group (`group`) to each group (`target`) of `by`, and distinct repliers."""
    check_grain(grain)
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(MATRIX_COLUMNS)
    pairs = reply_pairs(facts, lo, hi)
    days, pids = pairs["day"].to_numpy(), pairs["pid"].to_numpy()
    codes, labels = facts.group_codes(by, pids, days)
    targets = facts.group_codes(by, pairs["starter"].to_numpy(), days)[0]
    (period, group, target), people, sums = grouped_counts(
        [numbers(period_of(days, grain)), codes, targets], pids, {"replies": np.ones(len(pids))})
    out = labelled(pd.DataFrame({"period": period, "group": group, "target": target,
                                 "people": people, **sums}), labels, ["group", "target"])
    return finish(out[MATRIX_COLUMNS], ["period", "group", "target"])


def _crossing(
    facts: Any, attribute: str, pids: np.ndarray, starters: np.ndarray, days: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(known, cross) per reply: both sides' `attribute` known, and different."""
    if attribute not in facts.attributes():  # not in the roster: Unknown for everyone
        return np.zeros(len(pids), dtype=bool), np.zeros(len(pids), dtype=bool)
    mine, labels = facts.group_codes(attribute, pids, days)
    theirs = facts.group_codes(attribute, starters, days)[0]
    unknown = np.asarray(labels, dtype=object) == UNKNOWN
    known = ~unknown[mine] & ~unknown[theirs]
    return known, known & (mine != theirs)


SUB = {"reply_matrix": "target"}  # the row key beside period and group, for materialisation
COMPUTE = {
    "cross_department_replies": compute_cross_department_replies,
    "cross_region_replies": compute_cross_region_replies,
    "reply_matrix": compute_reply_matrix,
}
