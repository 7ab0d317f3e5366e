"""Trends: WAU/MAU (exact rolling distinct engaged), stickiness, averages, periods, changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from errors import MetricError
from metrics.calendar import day_number
from metrics.catalog import Metric, declare
from metrics.engagement import (
    engagement_grid,
    grid_frame,
    interval_counts,
    member_activity,
    with_shares,
)
from metrics.facts import KINDS, Facts
from metrics.periods import period_of

WEEK, MONTH = 7, 28
LOOKBACK = MONTH - 1  # days of facts before `start` that rolling windows need
STORED = ["members", "engaged", "active", "workforce", "wau", "mau", "engaged_7", "engaged_28",
          *KINDS]
GRAINS = ("day", "week", "month")


def rolling_people(facts: Facts, by: str, window: int, lo: int, hi: int) -> np.ndarray:
    """Distinct people engaged on ≥ 1 day of the `window` days ending on d, by group as of d.

    A person's engaged days are merged into runs whose windows overlap; each run covers
    [first day, last day + window) and is cut at roster snapshot boundaries, so the +1/−1 of
    each piece lands in the group the person belongs to on those days. Membership on d itself
    is not required: the person was a member on the day they engaged.
    """
    runs = engaged_runs(facts, window)
    if len(runs[0]) == 0:
        _, labels = facts.attribution.codes(by)
        return np.zeros((len(labels), hi - lo + 1), dtype=np.int64)
    return interval_counts(facts, by, None, runs, lo, hi)


def engaged_runs(facts: Facts, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pid, first day, last day + window) of each run of engaged member days whose windows
    overlap; the same for every breakdown, so kept in the facts' cache."""
    def produce() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pids, days, engaged, _ = member_activity(facts)
        pids, days = pids[engaged], days[engaged]  # sorted by (pid, day) like facts.activity
        if len(pids) == 0:
            return pids, days, days
        new_run = np.ones(len(pids), dtype=bool)
        new_run[1:] = (pids[1:] != pids[:-1]) | (days[1:] - days[:-1] >= window)
        first = np.flatnonzero(new_run)
        last = np.r_[first[1:], len(pids)] - 1
        return pids[first], days[first], days[last] + window

    return facts.cached(("engaged_runs", window), produce)


def compute_daily(facts: Facts, by: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Every stored daily figure per group: members … workforce, wau, mau, engaged_7/28 sums.

    `facts` should hold activity from LOOKBACK days before `start` for exact rolling figures.
    """
    if end < start:
        raise MetricError(f"end {end} is before start {start}")
    lo, hi = day_number(start), day_number(end)
    grid = engagement_grid(facts, by, lo - LOOKBACK, hi)
    engaged = grid.counts["engaged"]
    running = np.concatenate([np.zeros((engaged.shape[0], 1), np.int64), engaged.cumsum(axis=1)], 1)
    cut = slice(LOOKBACK, None)
    for name, width in (("engaged_7", WEEK), ("engaged_28", MONTH)):
        total = running[:, 1:] - running[:, np.maximum(np.arange(engaged.shape[1]) + 1 - width, 0)]
        grid.counts[name] = total
    for name in ("members", "engaged", "active", "workforce", "engaged_7", "engaged_28", *KINDS):
        grid.counts[name] = grid.counts[name][:, cut]
    grid.first = lo
    grid.counts["wau"] = rolling_people(facts, by, WEEK, lo, hi)
    grid.counts["mau"] = rolling_people(facts, by, MONTH, lo, hi)
    return grid_frame(grid, by, STORED)


def derive(frame: pd.DataFrame, target: float) -> pd.DataFrame:
    """Shares and ratios of stored daily rows: engaged_share, adoption, averages, stickiness."""
    frame = with_shares(frame)
    frame["active_share"] = frame["active"] / frame["members"]
    frame["engaged_7d_avg"] = frame["engaged_7"] / WEEK
    frame["engaged_28d_avg"] = frame["engaged_28"] / MONTH
    frame["stickiness"] = frame["engaged_28d_avg"] / frame["mau"].where(frame["mau"] > 0)
    frame["target"] = target
    frame["progress"] = frame["engaged_share"] / target
    return frame


def period_start(days: pd.Series, grain: str) -> pd.Series:
    """The first day of each day's week (Monday) or month; the day itself for grain 'day'."""
    days = pd.to_datetime(days)
    if grain == "day":
        return days
    if grain not in ("week", "month"):
        raise MetricError(f"unknown grain {grain!r}; known: {', '.join(GRAINS)}")
    starts = period_of(days.to_numpy(dtype="datetime64[D]"), grain)
    return pd.Series(starts.astype("datetime64[ns]"), index=days.index, name=days.name)


def to_periods(daily: pd.DataFrame, grain: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Weekly or monthly rows from stored daily rows of [start, end].

    Counts are daily averages over the period's days inside [start, end] (a day without a row
    counts 0 members); shares are ratios of sums; wau/mau/stickiness are those of the period's
    last day. `min_members` (fewest members on any of those days) is the suppression size.
    """
    keys = ["group", "sub"] if "sub" in daily.columns else ["group"]
    frame = daily.sort_values("day", kind="stable")
    frame = frame.assign(period=period_start(frame["day"], grain))
    calendar = period_start(pd.Series(pd.date_range(start, end, freq="D")), grain)
    days_in = calendar.value_counts().rename("days")
    out = frame.groupby(["period", *keys], sort=False).agg(
        members=("members", "sum"), engaged=("engaged", "sum"), active=("active", "sum"),
        workforce=("workforce", "sum"), present=("day", "size"),
        min_present=("members", "min"), wau=("wau", "last"), mau=("mau", "last"),
        last_engaged_28=("engaged_28", "last"),
    ).join(days_in, on="period")
    out["min_members"] = np.where(out["present"] < out["days"], 0, out["min_present"])
    out["engaged_share"] = out["engaged"] / out["members"]
    out["active_share"] = out["active"] / out["members"]
    out["adoption"] = out["members"] / out["workforce"].where(out["workforce"] > 0)
    for column in ("members", "engaged", "active", "workforce"):
        out[column] = out[column] / out["days"]
    out["stickiness"] = (out["last_engaged_28"] / MONTH) / out["mau"].where(out["mau"] > 0)
    out = out.drop(columns=["present", "min_present", "last_engaged_28"]).reset_index()
    return out.sort_values(["period", *keys], kind="mergesort").reset_index(drop=True)


def add_changes(frame: pd.DataFrame, grain: str, value: str = "engaged_share") -> pd.DataFrame:
    """`value` of the previous period and a year earlier, and the change to each (by group)."""
    keys = ["group", "sub"] if "sub" in frame.columns else ["group"]
    period = pd.to_datetime(frame["period"])
    steps = {
        "day": (pd.DateOffset(days=1), pd.DateOffset(days=364)),
        "week": (pd.DateOffset(weeks=1), pd.DateOffset(weeks=52)),
        "month": (pd.DateOffset(months=1), pd.DateOffset(months=12)),
    }[grain]
    hidden = frame["suppressed"] if "suppressed" in frame.columns else False
    source = frame.assign(period=period, _value=frame[value].where(~hidden))
    lookup = source.set_index(["period", *keys])["_value"]
    for name, step in (("prev", steps[0]), ("year", steps[1])):
        wanted = pd.MultiIndex.from_arrays([period - step, *[frame[k] for k in keys]])
        earlier = lookup.reindex(wanted).to_numpy()
        frame[f"{value}_{name}"] = earlier
        frame[f"change_{name}"] = frame[value].where(~hidden).to_numpy() - earlier
    return frame


def _declare() -> None:
    common: dict[str, Any] = {"dimensions": ("*",), "grains": GRAINS}
    declare(Metric(
        name="wau", label="Weekly engaged people (WAU)", unit="count",
        definition="Distinct people engaged (post, reply or reaction, as members) on at least "
        "one day of the 7 days ending on the day, each counted in their group as of that day "
        "(also when they have left since).", **common))
    declare(Metric(
        name="mau", label="Monthly engaged people (MAU)", unit="count",
        definition="Distinct people engaged (post, reply or reaction, as members) on at least "
        "one day of the 28 days ending on the day, each counted in their group as of that day "
        "(also when they have left since).", **common))
    declare(Metric(
        name="stickiness", label="Stickiness", unit="ratio",
        definition="Mean daily engaged people over the 28 days ending on the day, divided by "
        "MAU: how many of the month's engaged people engage on a typical day.", **common))
    declare(Metric(
        name="trends", label="Engagement trend", unit="share",
        definition="Daily engaged share with its 7-day average, WAU, MAU and stickiness, the "
        "change against the previous period and the same period a year earlier (52 weeks; "
        "12 months), and progress against the target share.", **common))


_declare()
