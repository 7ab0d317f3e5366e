"""Adoption funnel, retention of join cohorts, and the weekly lifecycle of engaged members."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from metrics.calendar import day_number
from metrics.catalog import Metric, declare
from metrics.engagement import ROWS_CHUNK, day_counts, interval_counts, workforce
from metrics.periods import (
    bounds,
    check_by,
    check_grain,
    count_by,
    counted_by_period,
    empty,
    finish,
    groups_of,
    last_days,
    member_codes,
    member_days,
    members_by_period,
    period_index,
    period_of,
    period_start,
    unique_pairs,
)

_PEOPLE = (
    "A person counts in a period when the condition holds on at least one day of it, in the "
    "group they belong to on the period's last day (the day range's end for a partial period)."
)

FUNNEL = declare(
    Metric(
        name="funnel",
        label="Adoption funnel",
        definition=(
            "Per period and group: workforce (people employed per the HR roster on some day of "
            "the period) → members → members engaged at least once in the period (a post, "
            "reply or reaction on a day they were a member) → engaged on a typical day (the "
            "mean, over the period's weekdays, of the group's daily engaged share, with groups "
            "taken day by day; days with no members are skipped). Adoption = members / "
            f"workforce. {_PEOPLE}"
        ),
        grains=("month", "week"),
        unit="share",
    )
)
RETENTION = declare(
    Metric(
        name="retention",
        label="Retention of members by the month they joined",
        definition=(
            "Members are grouped into cohorts by the period of their first day as a member and "
            "by their group on that day. For the joining period (offset 0) and each later one, "
            "retention = cohort members engaged at least once in that period (on a day they "
            "were a member) / cohort size."
        ),
        grains=("month", "week"),
        unit="share",
    )
)
LIFECYCLE = declare(
    Metric(
        name="lifecycle",
        label="New, returning, resurrected and dormant members",
        definition=(
            "An engaged period is one in which the person engaged (post, reply or reaction) on "
            "at least one day they were a member. New: the first engaged period in the loaded "
            "history. Returning: engaged this period and the previous one. Resurrected: "
            "engaged this period, not the previous one, but earlier. Dormant: engaged the "
            "previous period but not this one. Members = members on some day of the period. "
            f"{_PEOPLE}"
        ),
        grains=("week", "month"),
        unit="count",
    )
)

PRIVACY = {
    "funnel": {
        "partition": ("period",),
        "size": "members",
        "values": ("engaged", "engaged_share", "typical_engaged_share"),
    },
    "retention": {
        "partition": ("period", "offset"),
        "size": "members",
        "values": ("engaged", "retention"),
    },
    "lifecycle": {
        "partition": ("period",),
        "size": "members",
        "values": ("engaged", "new", "returning", "resurrected", "dormant"),
    },
}

_STATES = ("new", "returning", "resurrected", "dormant")
FUNNEL_COLUMNS = [
    "period", "group", "workforce", "members", "engaged", "engaged_share",
    "typical_engaged_share", "adoption",
]
RETENTION_COLUMNS = ["period", "offset", "group", "members", "engaged", "retention"]
LIFECYCLE_COLUMNS = ["period", "group", "members", "engaged", *_STATES]


def engaged_periods(act: pd.DataFrame, grain: str) -> pd.DataFrame:
    """Distinct (period index, pid) with an engaged member day in `act`, by pid then period."""
    engaged = act["engaged"].to_numpy()
    return _engaged_periods(act["pid"].to_numpy()[engaged], act["day"].to_numpy()[engaged], grain)


def _engaged_periods(pids: np.ndarray, days: np.ndarray, grain: str) -> pd.DataFrame:
    # a chunk at a time (rows come by person, so chunks' pairs barely overlap), then once more
    # over what the chunks kept: far fewer pairs than rows
    parts = [unique_pairs(period_index(days[at:at + ROWS_CHUNK], grain), pids[at:at + ROWS_CHUNK])
             for at in range(0, len(pids), ROWS_CHUNK)] or [unique_pairs(days, pids)]
    index, pid = parts[0] if len(parts) == 1 else unique_pairs(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return pd.DataFrame({"index": index, "pid": pid})


def engaged_member_days(facts: Any, lo: dt.date, hi: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """(pid, day number) of engaged member days in [lo, hi], in the facts' order; kept in the
    facts' cache, as every breakdown of a refresh asks for the same. (Not member_activity:
    checking membership of engaged rows in range only is far cheaper than of all activity.)"""
    def produce() -> tuple[np.ndarray, np.ndarray]:
        activity = facts.activity
        columns = [activity[c].to_numpy() for c in ("pid", "posts", "replies", "reactions")]
        pids, days = [], []
        for at in range(0, len(activity), ROWS_CHUNK):  # int64 temporaries of a chunk only
            part = slice(at, at + ROWS_CHUNK)
            d = np.asarray(facts.activity_days(part), dtype=np.int64)
            keep = (d >= day_number(lo)) & (d <= day_number(hi)) & (
                (columns[1][part] > 0) | (columns[2][part] > 0) | (columns[3][part] > 0))
            p, d = columns[0][part][keep], d[keep]
            member = np.asarray(facts.member_mask(p, d), dtype=bool)
            pids.append(p[member])
            days.append(d[member])
        if not pids:
            return columns[0][:0], np.zeros(0, dtype=np.int64)
        return np.concatenate(pids), np.concatenate(days)

    return facts.cached(("engaged_member_days", lo, hi), produce)


def typical_day_share(
    facts: Any, engaged: tuple[np.ndarray, np.ndarray], by: str, lo: dt.date, hi: dt.date,
    grain: str,
) -> pd.DataFrame:
    """(period, group, typical_engaged_share): mean weekday engaged share, groups day by day."""
    first, last = day_number(lo), day_number(hi)
    membership = facts.membership
    intervals = (membership.pids, membership.starts, membership.ends)
    members = interval_counts(facts, by, None, intervals, first, last).astype(float)
    pids, days = engaged
    share = day_counts(facts, by, pids, days, first, last) / np.where(members > 0, members, np.nan)
    _, labels = facts.attribution.codes(by)
    days = (first + np.arange(share.shape[1])).astype("datetime64[D]")
    weekday = (days.astype("int64") + 3) % 7 < 5
    periods = period_of(days[weekday], grain).astype("datetime64[ns]")
    wide = pd.DataFrame(share[:, weekday].T, columns=pd.Index(labels, name="group"))
    means = wide.groupby(periods).mean()
    means.index.name = "period"
    return means.stack().rename("typical_engaged_share").reset_index()


def compute_funnel(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "month",
) -> pd.DataFrame:
    """Workforce → members → engaged in the period → engaged on a typical day, per group."""
    check_grain(grain)
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(FUNNEL_COLUMNS)
    keys = ["period", "group"]
    members = member_codes(facts, by, lo, hi, grain)
    pids, days = engaged_member_days(facts, lo, hi)
    def produce() -> np.ndarray:  # which member-periods engaged: the same for every breakdown
        engaged = _engaged_periods(pids, days, grain)
        return _among(members.pid, members.index, engaged["pid"].to_numpy(),
                      engaged["index"].to_numpy())

    reached = facts.cached(("reached", lo, hi, grain), produce)
    out = pd.concat(
        [
            _counted(counted_by_period(facts, by, workforce(facts), lo, hi, grain), "workforce"),
            _counted(members.counts(), "members"),
            _counted(members.counts(reached), "engaged"),
        ],
        axis=1,
    ).fillna(0).astype("int64").reset_index()
    typical = typical_day_share(facts, (pids, days), by, lo, hi, grain)
    out = out.merge(typical, on=keys, how="left")
    out["engaged_share"] = out["engaged"] / out["members"].where(out["members"] > 0)
    out["adoption"] = out["members"] / out["workforce"].where(out["workforce"] > 0)
    return finish(out[FUNNEL_COLUMNS], keys)


def _among(
    pids: np.ndarray, index: np.ndarray, their_pids: np.ndarray, their_index: np.ndarray
) -> np.ndarray:
    """Whether each (pid, period index) pair is one of theirs: a flag per pair of the range
    (people × the periods between), set for theirs and read for these; no hash or sort."""
    pids, index = np.asarray(pids, dtype=np.int64), np.asarray(index, dtype=np.int64)
    their_pids = np.asarray(their_pids, dtype=np.int64)
    their_index = np.asarray(their_index, dtype=np.int64)
    if not len(pids) or not len(their_pids):
        return np.zeros(len(pids), dtype=bool)
    low = min(index.min(), their_index.min())
    width = int(max(index.max(), their_index.max()) - low + 1)
    people = int(max(pids.max(), their_pids.max()) + 1)
    seen = np.zeros(people * width, dtype=bool)
    seen[their_pids * width + (their_index - low)] = True
    return seen[pids * width + (index - low)]


def _counted(counts: pd.DataFrame, name: str) -> pd.Series:
    return counts.set_index(["period", "group"])["count"].rename(name)


def compute_retention(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "month",
) -> pd.DataFrame:
    """Cohort size and engaged members per later period, for cohorts joining in [start, end]."""
    check_grain(grain)
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(RETENTION_COLUMNS)
    membership = facts.membership
    pids = np.asarray(membership.pids, dtype=np.int64)
    first = np.ones(len(pids), dtype=bool)
    first[1:] = pids[1:] != pids[:-1]  # intervals are sorted by (pid, start)
    joined = np.asarray(membership.starts, dtype=np.int64)[first]
    pids = pids[first]
    inside = (joined >= day_number(lo)) & (joined <= day_number(hi))
    pids, joined = pids[inside], joined[inside].astype("datetime64[D]")
    cohorts = pd.DataFrame(
        {
            "cohort": period_index(joined, grain),
            "pid": pids,
            "group": groups_of(facts, by, pids, joined),
        }
    )
    sizes = cohorts.groupby(["cohort", "group"]).size().rename("members").reset_index()
    last = int(period_index(np.array([hi], dtype="datetime64[D]"), grain)[0])
    spans = (last - sizes["cohort"].to_numpy() + 1).clip(min=0)
    grid = sizes.loc[sizes.index.repeat(spans)].reset_index(drop=True)
    grid["offset"] = np.arange(len(grid)) - np.repeat(np.cumsum(spans) - spans, spans)
    engaged = engaged_periods(member_days(facts, lo, hi), grain).merge(cohorts, on="pid")
    engaged["offset"] = engaged["index"] - engaged["cohort"]
    counts = engaged.groupby(["cohort", "group", "offset"]).size().rename("engaged")
    out = grid.merge(counts.reset_index(), on=["cohort", "group", "offset"], how="left")
    out["engaged"] = out["engaged"].fillna(0).astype("int64")
    out["retention"] = out["engaged"] / out["members"]
    out["period"] = period_start(out["cohort"].to_numpy(), grain).astype("datetime64[ns]")
    return finish(out[RETENTION_COLUMNS], ["period", "offset", "group"])


def compute_lifecycle(
    facts: Any, by: str = "all", start: dt.date | None = None, end: dt.date | None = None,
    grain: str = "week",
) -> pd.DataFrame:
    """New, returning, resurrected and dormant people per period and group, with members."""
    check_grain(grain)
    check_by(facts, by)
    lo, hi = bounds(facts, start, end)
    if lo > hi:
        return empty(LIFECYCLE_COLUMNS)
    history = engaged_periods(member_days(facts, min(facts.start, lo), hi), grain)
    index, pid = history["index"].to_numpy(), history["pid"].to_numpy()
    same = np.zeros(len(pid), dtype=bool)  # the row before is the same person's
    same[1:] = pid[1:] == pid[:-1]
    prev = np.full(len(pid), -2, dtype=np.int64)
    prev[1:] = index[:-1]
    state = np.select([~same, prev == index - 1], ["new", "returning"], "resurrected")
    following = np.full(len(pid), -2, dtype=np.int64)
    following[:-1] = np.where(same[1:], index[1:], -2)
    lapsed = following != index + 1
    events = pd.DataFrame(
        {
            "index": np.r_[index, index[lapsed] + 1],
            "pid": np.r_[pid, pid[lapsed]],
            "state": np.r_[state, np.full(int(lapsed.sum()), "dormant", dtype=object)],
        }
    )
    wanted = period_index(np.array([lo, hi], dtype="datetime64[D]"), grain)
    events = events.loc[events["index"].between(wanted[0], wanted[1])]
    periods = period_start(events["index"].to_numpy(), grain)
    events = events.assign(
        period=periods.astype("datetime64[ns]"),
        group=groups_of(facts, by, events["pid"].to_numpy(), last_days(periods, grain, hi)),
    )
    keys = ["period", "group"]
    table = count_by(events, keys, "state", _STATES)
    members = members_by_period(facts, by, lo, hi, grain).groupby(keys).size().rename("members")
    out = pd.concat([members, table], axis=1).fillna(0).astype("int64").reset_index()
    out["engaged"] = out["new"] + out["returning"] + out["resurrected"]
    return finish(out[LIFECYCLE_COLUMNS], keys)


SUB = {"retention": "offset"}  # the row key beside period and group, for materialisation
COMPUTE = {
    "funnel": compute_funnel,
    "retention": compute_retention,
    "lifecycle": compute_lifecycle,
}
