"""Plain sentences and month arithmetic shared by the overview, the executive page and report."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First and last day of a 'YYYY-MM' month."""
    first = dt.date.fromisoformat(f"{month}-01")
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, following - dt.timedelta(days=1)


def shift_month(month: str, months: int) -> str:
    """The month `months` before (negative) or after (positive) `month`."""
    first = dt.date.fromisoformat(f"{month}-01")
    index = first.year * 12 + first.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_label(month: str) -> str:
    """'2024-10' → 'October 2024'."""
    return dt.date.fromisoformat(f"{month}-01").strftime("%B %Y")


def reported_month(last_day: dt.date) -> str:
    """The latest month that is complete on `last_day` (the current one when it ends that day)."""
    _, end = month_bounds(last_day.strftime("%Y-%m"))
    if last_day == end:
        return last_day.strftime("%Y-%m")
    return shift_month(last_day.strftime("%Y-%m"), -1)


def typical_weekday_share(daily: pd.DataFrame, month: str) -> float | None:
    """Mean daily engaged share over the month's weekdays (withheld days are left out)."""
    if daily.empty:
        return None
    first, last = month_bounds(month)
    days = pd.to_datetime(daily["day"])
    inside = (days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last)) & (days.dt.weekday < 5)
    shares = daily.loc[inside, "engaged_share"].dropna()
    return float(shares.mean()) if len(shares) else None


def is_missing(value: float | None) -> bool:
    """True for None and NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def points(change: float) -> str:
    """A change of share as 'up 4 points' / 'down 1.5 points' / 'unchanged'."""
    value = round(change * 100, 1)
    if value == 0:
        return "unchanged"
    number = f"{abs(value):.1f}".removesuffix(".0")
    unit = "point" if number == "1" else "points"
    return f"{'up' if value > 0 else 'down'} {number} {unit}"


def share_sentence(share: float | None, month: str, previous: float | None,
                   year_ago: float | None = None) -> str:
    """'52% of members engaged on a typical weekday in October 2024, up 4 points on September.'"""
    if is_missing(share):
        return f"Not enough data to describe {month_label(month)}."
    assert share is not None
    text = f"{share:.0%} of members engaged on a typical weekday in {month_label(month)}"
    comparisons = []
    if not is_missing(previous):
        assert previous is not None
        before = month_label(shift_month(month, -1)).split()[0]
        comparisons.append(f"{points(share - previous)} on {before}")
    if not is_missing(year_ago):
        assert year_ago is not None
        comparisons.append(f"{points(share - year_ago)} on a year earlier")
    if comparisons:
        text += ", " + " and ".join(comparisons)
    return text + "."
