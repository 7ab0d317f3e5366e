"""The executive summary of one month, built once for the page and the offline report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from dashboards import _figures as fig
from dashboards._summary import (
    is_missing,
    month_bounds,
    month_label,
    points,
    share_sentence,
    shift_month,
    typical_weekday_share,
)
from errors import MetricError
from metrics import catalog, read
from settings import Settings

TOP = 3


@dataclass
class Kpi:
    """A headline figure of the month with the previous month and the same month a year ago."""

    label: str
    value: float | None
    previous: float | None
    year_ago: float | None
    kind: str  # share | count | hours
    definition: str

    def show(self, value: float | None = None) -> str:
        """The value (or another one) formatted for reading."""
        value = self.value if value is None else value
        if is_missing(value):
            return "–"
        assert value is not None
        if self.kind == "share":
            return f"{value:.0%}"
        if self.kind == "hours":
            return f"{value:,.1f} h"
        return f"{value:,.0f}"

    def delta(self, other: float | None) -> str:
        """The change from `other` to this month's value."""
        if is_missing(other) or is_missing(self.value):
            return "no comparison"
        assert other is not None and self.value is not None
        if self.kind == "share":
            return points(self.value - other)
        change = self.value - other
        if self.kind == "hours":
            return "unchanged" if round(change, 1) == 0 else f"{change:+,.1f} h"
        return "unchanged" if round(change) == 0 else f"{change:+,.0f}"


@dataclass
class MonthlySummary:
    """Everything the executive page and report show for one month."""

    month: str
    label: str
    kpis: list[Kpi]
    listening: list[Kpi]
    rising: pd.DataFrame
    falling: pd.DataFrame
    sentences: list[str]
    daily: pd.DataFrame
    monthly: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)

    def kpi_frame(self) -> pd.DataFrame:
        """The headline figures as a table (the CSV download and the report's appendix)."""
        return pd.DataFrame(
            [(k.label, k.value, k.previous, k.year_ago) for k in [*self.kpis, *self.listening]],
            columns=["figure", self.month, "previous_month", "same_month_last_year"],
        )


def available_months(engine: Engine, settings: Settings) -> list[str]:
    """Months with any data, newest first."""
    span = read.data_span(engine, settings)
    if span is None:
        return []
    months, month = [], span[0].strftime("%Y-%m")
    while month <= span[1].strftime("%Y-%m"):
        months.append(month)
        month = shift_month(month, 1)
    return months[::-1]


def build_summary(engine: Engine, settings: Settings, month: str) -> MonthlySummary:
    """Read the month's figures (always suppressed) and phrase them."""
    span = read.data_span(engine, settings)
    first, last = month_bounds(month)
    if span is None or last < span[0] or first > span[1]:
        covered = f"{span[0]} to {span[1]}" if span else "nothing yet"
        raise MetricError(f"no data for {month}; the store covers {covered}")
    lo = max(span[0], month_bounds(shift_month(month, -12))[0])
    hi = min(span[1], last)
    daily = read.read_engagement(engine, settings, "all", lo, hi, "day")
    monthly = read.read_engagement(engine, settings, "all", lo, hi, "month")
    shares = {m: typical_weekday_share(daily, m) for m in
              (month, shift_month(month, -1), shift_month(month, -12))}
    row = _month_rows(monthly, month)
    definition = {name: catalog.get(name).definition for name in
                  ("engagement", "wau", "mau", "stickiness", "listening")}
    kpis = [
        Kpi("Engaged on a typical weekday", shares[month], shares[shift_month(month, -1)],
            shares[shift_month(month, -12)], "share",
            "Mean of the daily engaged share over the month's weekdays. "
            + definition["engagement"]),
        Kpi("Members (daily average)", *row("members"), "count", definition["engagement"]),
        Kpi("WAU at month end", *row("wau"), "count", definition["wau"]),
        Kpi("MAU at month end", *row("mau"), "count", definition["mau"]),
        Kpi("Stickiness", *row("stickiness"), "share", definition["stickiness"]),
        Kpi("Adoption (members / workforce)", *row("adoption"), "share",
            "Members divided by the people employed according to the HR roster (daily "
            "averages over the month)."),
    ]
    listening = _listening(engine, settings, month, definition["listening"])
    rising, falling = _movers(engine, settings, month, span)
    summary = MonthlySummary(
        month=month, label=month_label(month), kpis=kpis, listening=listening, rising=rising,
        falling=falling, sentences=[], daily=_inside(daily, first, last), monthly=monthly,
    )
    summary.sentences = _sentences(summary)
    target = settings.metrics.target_engaged_share
    summary.figures = {
        "daily": fig.share_trend_figure(summary.daily, target),
        "monthly": fig.columns_figure(
            monthly.assign(month=pd.to_datetime(monthly["period"]).dt.strftime("%Y-%m")),
            "month", "engaged_share", target),
    }
    return summary


def _inside(frame: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    days = pd.to_datetime(frame["day"])
    return frame[(days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last))]


def _month_rows(monthly: pd.DataFrame, month: str) -> Any:
    periods = pd.to_datetime(monthly["period"]).dt.strftime("%Y-%m") if len(monthly) else []
    indexed = monthly.assign(month=list(periods)).set_index("month") if len(monthly) else monthly

    def values(column: str) -> tuple[float | None, float | None, float | None]:
        out = []
        for m in (month, shift_month(month, -1), shift_month(month, -12)):
            value = indexed[column].get(m) if len(indexed) else None
            out.append(None if is_missing(value) else float(value))  # type: ignore[arg-type]
        return out[0], out[1], out[2]

    return values


def _listening(engine: Engine, settings: Settings, month: str, definition: str) -> list[Kpi]:
    first = month_bounds(shift_month(month, -12))[0]
    _, last = month_bounds(month)
    frame = read.read_page_metric(engine, settings, "listening", "all", first, last, "month")
    managers = read.read_page_metric(engine, settings, "manager_participation", "all", first, last,
                                "month")
    managers = managers[managers["role"] == "manager"] if "role" in managers.columns else managers
    listen = _month_rows(frame, month)
    lead = _month_rows(managers, month)
    return [
        Kpi("Reply rate (answered within 7 days)", *listen("reply_rate"), "share", definition),
        Kpi("Median hours to first reply", *listen("median_hours"), "hours", definition),
        Kpi("Threads started by managers", *lead("thread_share"), "share",
            catalog.get("manager_participation").definition),
        Kpi("Replies written by managers", *lead("reply_share"), "share",
            catalog.get("manager_participation").definition),
    ]


def _movers(engine: Engine, settings: Settings, month: str,
            span: tuple[dt.date, dt.date]) -> tuple[pd.DataFrame, pd.DataFrame]:
    columns = ["group", "engaged_share", "previous", "change"]
    empty = pd.DataFrame(columns=columns)
    if "department" not in read.dimensions(engine, settings):
        return empty, empty
    first = max(span[0], month_bounds(shift_month(month, -1))[0])
    last = min(span[1], month_bounds(month)[1])
    frame = read.read_engagement(engine, settings, "department", first, last, "month")
    if frame.empty:
        return empty, empty
    frame = frame.assign(month=pd.to_datetime(frame["period"]).dt.strftime("%Y-%m"))
    wide = frame.pivot_table(index="group", columns="month", values="engaged_share",
                             aggfunc="first")
    previous = shift_month(month, -1)
    if month not in wide.columns or previous not in wide.columns:
        return empty, empty
    out = pd.DataFrame({"engaged_share": wide[month], "previous": wide[previous]}).dropna()
    out["change"] = out["engaged_share"] - out["previous"]
    out = out.reset_index()[columns]
    rising = out[out["change"] > 0].sort_values(["change", "group"], ascending=[False, True])
    falling = out[out["change"] < 0].sort_values(["change", "group"])
    return rising.head(TOP).reset_index(drop=True), falling.head(TOP).reset_index(drop=True)


def _sentences(summary: MonthlySummary) -> list[str]:
    share = summary.kpis[0]
    out = [share_sentence(share.value, summary.month, share.previous, share.year_ago)]
    members = summary.kpis[1]
    if not is_missing(members.value):
        change = "" if is_missing(members.previous) else f" ({members.delta(members.previous)} " \
            "on the month before)"
        out.append(f"On an average day there were {members.show()} members{change}.")
    if len(summary.rising):
        top = summary.rising.iloc[0]
        out.append(f"{top['group']} rose most: {top['engaged_share']:.0%}, "
                   f"{points(top['change'])}.")
    if len(summary.falling):
        low = summary.falling.iloc[0]
        out.append(f"{low['group']} fell most: {low['engaged_share']:.0%}, "
                   f"{points(low['change'])}.")
    rate, hours = summary.listening[0], summary.listening[1]
    if not is_missing(rate.value):
        text = f"{rate.show()} of threads got a reply from someone else within 7 days"
        if not is_missing(hours.value):
            text += f"; the typical first reply came after {hours.show()}"
        out.append(text + ".")
    return out
