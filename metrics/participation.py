"""Participation profile (the 90-9-1 shape) and behavioural personas, counted per group."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from metrics.calendar import day_number
from metrics.catalog import Metric, declare
from metrics.facts import KINDS
from metrics.periods import (
    as_days,
    bounds,
    check_by,
    check_grain,
    count_by,
    empty,
    finish,
    member_days,
    members_by_period,
    numbers,
    period_index,
    period_of,
    sum_by_key,
)

RESPONDER_RATIO = 2  # replies ≥ 2 × threads started
RESPONDER_MIN_REPLIES = 2
BROADCASTER_MIN_POSTS = 3
CATALYST_MIN_REPLIERS = 3  # distinct other people replying to one thread
ENGAGER_MIN_DAYS = 8  # days with a reaction or a reply

_MEMBERS = (
    "Members = people who were members on at least one day of the period, in their group as of "
    "the period's last day; activity counts only on days the person was a member, with each "
    "kind taken as the maximum over sources per person-day. Thread starts come from the stored "
    "messages (Yammer export); the Graph report's Posted Count mixes threads and replies, so "
    "messages posted beyond the stored thread starts count as replies."
)

PROFILE = declare(
    Metric(
        name="participation_profile",
        label="Participation profile (90-9-1)",
        definition=(
            "Each member lands in exactly one tier for the period: starters started at least "
            "one thread; repliers replied but started none; reactors only reacted; readers only "
            "read (active, never engaged); inactive did nothing. Shares are of the group's "
            f"members. {_MEMBERS}"
        ),
        grains=("month", "week"),
        unit="share",
    )
)
PERSONAS = declare(
    Metric(
        name="personas",
        label="Behavioural personas",
        definition=(
            "How many members of the group fit each persona in the month (a member may fit "
            "several; never listed individually). Observer: read but never posted, replied or "
            f"reacted. Responder: at least {RESPONDER_MIN_REPLIES} replies and replies ≥ "
            f"{RESPONDER_RATIO}× threads started. Broadcaster: at least {BROADCASTER_MIN_POSTS} "
            "threads started, fewer replies than threads, and fewer replies from others to the "
            "threads they started in the month than threads started (needs message data). "
            "Catalyst: started a thread in the month that drew replies from at least "
            f"{CATALYST_MIN_REPLIERS} distinct other people (up to the end of the data). "
            f"Engager: reacted or replied on at least {ENGAGER_MIN_DAYS} days of the month. "
            f"{_MEMBERS}"
        ),
        grains=("month",),
        unit="count",
    )
)

_TIERS = ("starters", "repliers", "reactors", "readers", "inactive")
_PERSONAS = ("observers", "responders", "broadcasters", "catalysts", "engagers")
PROFILE_COLUMNS = [
    "period", "group", "members", *_TIERS, *(f"{tier}_share" for tier in _TIERS)
]
PERSONA_COLUMNS = ["period", "group", "members", *_PERSONAS]
PRIVACY = {
    "participation_profile": {
        "partition": ("period",),
        "size": "members",
        "values": (*_TIERS, *(f"{tier}_share" for tier in _TIERS)),
    },
    "personas": {"partition": ("period",), "size": "members", "values": _PERSONAS},
}


def member_periods(
    facts: Any, by: str, lo: dt.date, hi: dt.date, grain: str
) -> pd.DataFrame:
    """Per (period, pid) member: group, then thread starts, replies, reactions, reads and
    engager days summed over the period's member days."""
    first, width = day_number(lo), day_number(hi) - day_number(lo) + 1
    act = member_days(facts, lo, hi)
    pids, days = act["pid"].to_numpy().astype(np.int64), act["day"].to_numpy()
    keys = pids * width + (days - first)
    columns = [act[k].to_numpy().astype(np.int64) for k in KINDS]
    if (np.diff(keys) < 0).any():  # facts promise (pid, day) order; do not rely on it
        order = np.argsort(keys, kind="stable")
        keys, pids, days = keys[order], pids[order], days[order]
        columns = [c[order] for c in columns]
    message_keys, (starts, answers) = message_days(facts, lo, hi, width)
    at = np.searchsorted(keys, message_keys)
    found = at < len(keys)
    found[found] = keys[at[found]] == message_keys[found]
    ours = [np.zeros(len(keys), dtype=np.int64) for _ in range(2)]
    ours[0][at[found]], ours[1][at[found]] = starts[found], answers[found]
    if not found.all():  # messages on days without an activity row
        extra = ~found
        keys = np.r_[keys, message_keys[extra]]
        pids, days = keys // width, keys % width + first
        columns = [np.r_[c, np.zeros(int(extra.sum()), dtype=np.int64)] for c in columns]
        ours = [np.r_[ours[0], starts[extra]], np.r_[ours[1], answers[extra]]]
    posts, replies, reactions, reads = columns
    # Posted messages per day: the Graph count (threads and replies together) or the stored
    # messages, whichever saw more; whatever is not a stored thread start is a reply.
    replies = np.maximum(np.maximum(posts, ours[0] + ours[1]) - ours[0], replies)
    engager = reactions + replies > 0
    base = int(period_index(np.array([first]), grain)[0])
    periods = int(period_index(np.array([first + width - 1]), grain)[0]) - base + 1
    unique, sums = sum_by_key(
        pids * periods + (period_index(days, grain) - base),
        [ours[0], replies, reactions, reads, engager],
    )
    members = members_by_period(facts, by, lo, hi, grain)
    wanted = members["pid"].to_numpy() * periods + (
        period_index(members["period"].to_numpy(), grain) - base
    )
    at = np.searchsorted(unique, wanted)
    hit = at < len(unique)
    hit[hit] = unique[at[hit]] == wanted[hit]
    for column, total in zip(
        ["starts", "replies", "reactions", "reads", "engager_days"], sums, strict=True
    ):
        values = np.zeros(len(members), dtype=np.int64)
        values[hit] = total[at[hit]]
        members[column] = values
    return members


def message_days(
    facts: Any, lo: dt.date, hi: dt.date, width: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(keys pid × width + day offset, [thread starts, replies]) of stored messages on member
    days of [lo, hi], sorted by key."""
    messages = facts.messages
    days = numbers(messages["day"])
    pids = messages["pid"].to_numpy().astype(np.int64)
    keep = (days >= day_number(lo)) & (days <= day_number(hi)) & (pids >= 0)
    if keep.any():
        keep[keep] = facts.member_mask(pids[keep], days[keep])
    starter = messages["is_starter"].to_numpy(dtype=bool)[keep]
    keys = pids[keep] * width + (days[keep] - day_number(lo))
    return sum_by_key(keys, [starter, ~starter])


def compute_participation_profile(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "month",
) -> pd.DataFrame:
    """Members per participation tier (counts and shares) per period and group."""
    check_grain(grain)
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(PROFILE_COLUMNS)
    people = member_periods(facts, by, lo, hi, grain)
    starts, replies = people["starts"].to_numpy(), people["replies"].to_numpy()
    reactions, reads = people["reactions"].to_numpy(), people["reads"].to_numpy()
    tiers = np.select(
        [starts > 0, replies > 0, reactions > 0, reads > 0], list(_TIERS[:4]), _TIERS[4]
    )
    people["tier"] = tiers
    table = count_by(people, ["period", "group"], "tier", _TIERS)
    table.insert(0, "members", table.sum(axis=1))
    for tier in _TIERS:
        table[f"{tier}_share"] = table[tier] / table["members"]
    return finish(table.reset_index()[PROFILE_COLUMNS], ["period", "group"])


def _thread_reach(facts: Any, lo: dt.date, hi: dt.date, grain: str) -> pd.DataFrame:
    """Per (period, pid): threads started in [lo, hi], replies from others, best thread reach."""
    messages = facts.messages
    starter_mask = messages["is_starter"].to_numpy(dtype=bool)
    threads = messages.loc[starter_mask].sort_values("created_at", kind="mergesort")
    threads = threads.drop_duplicates("thread_id")
    days = as_days(threads["day"])
    keep = (days >= np.datetime64(lo, "D")) & (days <= np.datetime64(hi, "D"))
    keep &= threads["pid"].to_numpy() >= 0
    threads = threads.loc[keep, ["thread_id", "pid"]].assign(
        period=period_of(days[keep], grain).astype("datetime64[ns]")
    )
    replies = messages.loc[~starter_mask, ["thread_id", "pid"]]
    joined = replies.merge(threads, on="thread_id", suffixes=("", "_starter"))
    joined = joined.loc[joined["pid"].to_numpy() != joined["pid_starter"].to_numpy()]
    # Each unidentified reply counts as its own person: give it a distinct negative id.
    who = joined["pid"].to_numpy().astype(np.int64)
    unknown = who < 0
    who[unknown] = -1 - np.arange(int(unknown.sum()))
    joined = joined.assign(who=who)
    per_thread = joined.groupby("thread_id").agg(
        received=("pid", "size"), repliers=("who", "nunique")
    )
    threads = threads.merge(per_thread.reset_index(), on="thread_id", how="left").fillna(
        {"received": 0, "repliers": 0}
    )
    return threads.groupby(["period", "pid"]).agg(
        threads=("thread_id", "size"), received=("received", "sum"), reach=("repliers", "max")
    ).reset_index()


def compute_personas(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "month",
) -> pd.DataFrame:
    """Members fitting each persona per period and group (counts only)."""
    check_grain(grain, ("month",))
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(PERSONA_COLUMNS)
    people = member_periods(facts, by, lo, hi, grain)
    reach = _thread_reach(facts, lo, hi, grain)
    people = people.merge(reach, on=["period", "pid"], how="left")
    people[["threads", "received", "reach"]] = people[["threads", "received", "reach"]].fillna(0)
    starts, replies = people["starts"].to_numpy(), people["replies"].to_numpy()
    engaged = starts + replies + people["reactions"].to_numpy() > 0
    people["observers"] = ~engaged & (people["reads"].to_numpy() > 0)
    people["responders"] = (replies >= RESPONDER_MIN_REPLIES) & (
        replies >= RESPONDER_RATIO * starts
    )
    people["broadcasters"] = (
        (starts >= BROADCASTER_MIN_POSTS)
        & (replies < starts)
        & (people["received"].to_numpy() < people["threads"].to_numpy())
    )
    people["catalysts"] = people["reach"].to_numpy() >= CATALYST_MIN_REPLIERS
    people["engagers"] = people["engager_days"].to_numpy() >= ENGAGER_MIN_DAYS
    grouped = people.groupby(["period", "group"])
    out = grouped[list(_PERSONAS)].sum().astype("int64")
    out.insert(0, "members", grouped.size())
    return finish(out.reset_index()[PERSONA_COLUMNS], ["period", "group"])


COMPUTE = {
    "participation_profile": compute_participation_profile,
    "personas": compute_personas,
}
