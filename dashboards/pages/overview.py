"""Overview (comms leads): the daily engaged share against target, members, WAU/MAU, activity."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, html

from dashboards import _figures as fig
from dashboards._components import chart_card, date_range, filter_row, kpi_card, page_header, select
from dashboards._context import Context
from dashboards._filters import parse_day, resolve_range, url_store, url_sync
from dashboards._panels import Panel, View, register_view
from dashboards._summary import (
    month_bounds,
    reported_month,
    share_sentence,
    shift_month,
    typical_weekday_share,
)
from dashboards.pages import Page
from metrics import catalog, read

PAGE = Page(
    name="overview", path="/", title="Overview", role="comms", order=1, audience="Comms leads",
)
CHARTS = ("overview-share", "overview-members", "overview-wau", "overview-stickiness",
          "overview-mix")
KPIS = ("overview-kpi-share", "overview-kpi-members", "overview-kpi-wau", "overview-kpi-mau",
        "overview-kpi-stickiness")
INPUTS = (("overview-dates", "start_date"), ("overview-dates", "end_date"),
          ("overview-region", "value"))
EXTRAS = (("overview-sentence", "children"), ("overview-region", "options"),
          *[(f"{kpi}-{part}", "children") for kpi in KPIS for part in ("value", "delta")])
MIX_DEFINITION = (
    "Posts (thread starters), replies, reactions (likes) and reads by members, summed over each "
    "week; when two sources saw the same person-day, the larger count of each kind is used, "
    "never their sum. Weeks cut by the date range hold only the days inside it."
)
KINDS = {"posts": "Posts", "replies": "Replies", "reactions": "Reactions", "reads": "Reads"}


def _definition(name: str) -> str:
    return catalog.get(name).definition


def layout(start: str | None = None, end: str | None = None, region: str | None = None,
           **_query: Any) -> html.Div:
    """Filters from the query string; every number arrives through the callback."""
    return html.Div(
        [
            page_header(PAGE, "Is the network being used, and is it getting better?"),
            url_store(PAGE.name),
            filter_row([
                date_range("overview-dates", parse_day(start) and start, parse_day(end) and end),
                select("overview-region", [region] if region else [], region, "Region",
                       clearable=True),
            ]),
            dbc.Alert(id="overview-sentence", color="primary", className="fs-5 sentence"),
            dbc.Row(
                [dbc.Col(kpi_card(kpi, label, _definition(metric)), xs=12, sm=6, lg=True)
                 for kpi, label, metric in zip(
                     KPIS,
                     ("Engaged share (7-day average)", "Members", "WAU", "MAU", "Stickiness"),
                     ("engagement", "engagement", "wau", "mau", "stickiness"), strict=True)],
                className="g-3 mb-4",
            ),
            chart_card("overview-share", "Daily engaged share", _definition("engagement")),
            dbc.Row([
                dbc.Col(chart_card("overview-members", "Members, active and engaged people",
                                   _definition("engagement")), lg=6),
                dbc.Col(chart_card("overview-wau", "Weekly and monthly engaged people",
                                   f"{_definition('wau')} {_definition('mau')}"), lg=6),
                dbc.Col(chart_card("overview-stickiness", "Stickiness",
                                   _definition("stickiness")), lg=6),
                dbc.Col(chart_card("overview-mix", "Activity mix by week",
                                   MIX_DEFINITION), lg=6),
            ]),
        ]
    )


def build(ctx: Context, start: Any, end: Any, region: Any) -> View:
    """Everything the overview shows for a date range and an optional region."""
    span = resolve_range(ctx, start, end)
    if span is None:
        empty = fig.empty_figure("No data yet: run `uptake demo` or ingest an export")
        blank = {c: Panel(empty, pd.DataFrame()) for c in CHARTS}
        return View(blank, ("No data yet.", [], *["–", None] * len(KPIS)))
    lo, hi = span
    daily = _one_group(read.read_engagement, ctx, lo, hi, "day", region)
    target = ctx.settings.metrics.target_engaged_share
    panels = {
        "overview-share": Panel(
            fig.share_trend_figure(daily, target),
            daily[["day", "members", "engaged", "engaged_share", "target", "suppressed"]],
        ),
        "overview-members": Panel(
            fig.lines_figure(daily, "day", {"members": "Members", "active": "Active",
                                            "engaged": "Engaged"}),
            daily[["day", "members", "active", "engaged", "suppressed"]],
        ),
        "overview-wau": Panel(
            fig.lines_figure(daily, "day", {"wau": "WAU", "mau": "MAU"}),
            daily[["day", "members", "wau", "mau", "suppressed"]],
        ),
        "overview-stickiness": Panel(
            fig.lines_figure(daily, "day", {"stickiness": "Stickiness"}, percent=True),
            daily[["day", "mau", "stickiness", "suppressed"]],
        ),
        "overview-mix": _mix_panel(ctx, lo, hi, region),
    }
    note = "Region: " + region if region else None
    for panel in panels.values():
        panel.note = note
    regions = _regions(ctx, lo, hi)
    return View(panels, (_sentence(ctx, hi, region), regions, *_kpis(daily)))


def _one_group(reader: Any, ctx: Context, lo: dt.date, hi: dt.date, grain: str,
               region: str | None) -> pd.DataFrame:
    """The whole organisation, or one region (its row of the suppressed region breakdown)."""
    if not region:
        return ctx.read(reader, "all", lo, hi, grain)
    frame = ctx.read(reader, "region", lo, hi, grain)
    return frame[frame["group"] == region].reset_index(drop=True)


def _mix_panel(ctx: Context, lo: dt.date, hi: dt.date, region: str | None) -> Panel:
    mix = _one_group(read.read_activity_mix, ctx, lo, hi, "week", region)
    return Panel(fig.mix_figure(mix, "period", KINDS), mix)


def _regions(ctx: Context, lo: dt.date, hi: dt.date) -> list[dict[str, str]]:
    if "region" not in ctx.read(read.dimensions):
        return []
    frame = ctx.read(read.read_engagement, "region", hi, hi, "day")
    return [{"label": g, "value": g} for g in sorted(frame["group"].astype(str).unique())]


def _sentence(ctx: Context, hi: dt.date, region: str | None) -> str:
    month = reported_month(hi)
    first, _ = month_bounds(shift_month(month, -1))
    _, last = month_bounds(month)
    span = ctx.read(read.data_span)
    if span is None or last < span[0]:
        return "Not enough data for a full month yet."
    daily = _one_group(read.read_engagement, ctx, max(first, span[0]), min(last, span[1]),
                       "day", region)
    return share_sentence(typical_weekday_share(daily, month), month,
                          typical_weekday_share(daily, shift_month(month, -1)))


def _kpis(daily: pd.DataFrame) -> list[Any]:
    """Value and change over 28 days of each headline figure, as of the range's last day."""
    if daily.empty:
        return ["–", None] * len(KPIS)
    frame = daily.sort_values("day").reset_index(drop=True)
    frame["share_7"] = frame["engaged_share"].rolling(7, min_periods=7).mean()
    now = frame.iloc[-1]
    then = frame.iloc[-29] if len(frame) > 28 else None
    specs = (("share_7", "share"), ("members", "int"), ("wau", "int"), ("mau", "int"),
             ("stickiness", "share"))
    out: list[Any] = []
    for column, kind in specs:
        value = now[column]
        out.append(_format(value, kind))
        if then is None or pd.isna(value) or pd.isna(then[column]):
            out.append("")
            continue
        change = value - then[column]
        text = (f"{change * 100:+.1f} points" if kind == "share" else f"{change:+,.0f}")
        color = "text-success" if change > 0 else "text-danger" if change < 0 else "text-muted"
        out.append(html.Span(f"{text} vs 28 days earlier", className=color))
    return out


def _format(value: Any, kind: str) -> str:
    if value is None or pd.isna(value):
        return "hidden"
    return f"{value:.0%}" if kind == "share" else f"{value:,.0f}"


def update(*values: Any) -> list[Any]:
    """The overview callback (callable as a plain function inside a request context)."""
    from dashboards._panels import render

    return render(build, CHARTS, len(EXTRAS), *values)


def register(app: Dash) -> None:
    """Wire the overview's callbacks and URL sync."""
    register_view(app, PAGE.name, CHARTS, INPUTS, build, EXTRAS)
    url_sync(app, PAGE.name, {"start": INPUTS[0], "end": INPUTS[1], "region": INPUTS[2]})
