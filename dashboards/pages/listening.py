"""Listening (comms leads): do posts get answered, how fast, and do managers take part?"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, html

from dashboards import _figures as fig
from dashboards._components import (
    chart_card,
    date_range,
    filter_row,
    hidden_note,
    page_header,
    select,
)
from dashboards._context import Context
from dashboards._filters import parse_day, query_value, resolve_range, url_store, url_sync
from dashboards._panels import Panel, View, register_view
from dashboards.pages import Page
from metrics import catalog, read

PAGE = Page(
    name="listening", path="/listening", title="Listening", role="comms", order=4,
    audience="Comms leads",
)
CHARTS = ("listening-rate", "listening-time", "listening-groups", "listening-managers")
INPUTS = (("listening-grain", "value"), ("listening-by", "value"),
          ("listening-dates", "start_date"), ("listening-dates", "end_date"))
EXTRAS = (("listening-by", "options"),)
GRAINS = ("week", "month")


def layout(grain: str | None = None, by: str | None = None, start: str | None = None,
           end: str | None = None, **_query: Any) -> html.Div:
    """Filters from the query string; data arrives through the callback."""
    grain = query_value({"grain": grain}, "grain", GRAINS, "week")
    by = by or "department"
    listening = catalog.get("listening").definition
    return html.Div(
        [
            page_header(PAGE, "When people post, does anyone answer?"),
            url_store(PAGE.name),
            filter_row([
                select("listening-grain", GRAINS, grain, "Per"),
                select("listening-by", [by], by, "Compare groups by"),
                date_range("listening-dates", parse_day(start) and start, parse_day(end) and end),
            ]),
            dbc.Row([
                dbc.Col(chart_card("listening-rate", "Reply rate and unanswered threads",
                                   listening), lg=6),
                dbc.Col(chart_card("listening-time", "Hours to the first reply", listening),
                        lg=6),
            ]),
            dbc.Row([
                dbc.Col(chart_card("listening-groups", "Reply rate by group (whole range)",
                                   listening, 380), lg=6),
                dbc.Col(chart_card("listening-managers", "Manager participation",
                                   catalog.get("manager_participation").definition, 380), lg=6),
            ]),
        ]
    )


def build(ctx: Context, grain: Any, by: Any, start: Any, end: Any) -> View:
    """Reply rate, time to first reply, groups and managers for a range and grain."""
    grain = grain if grain in GRAINS else "week"
    by = by or "department"
    span = resolve_range(ctx, start, end)
    attributes = [d for d in ctx.read(read.dimensions) if d != "all"]
    options = [{"label": a, "value": a} for a in attributes]
    if span is None:
        empty = Panel(fig.empty_figure("No data yet"), pd.DataFrame())
        return View({c: empty for c in CHARTS}, (options,))
    lo, hi = span
    k = ctx.k
    overall = ctx.read(read.read_page_metric, "listening", "all", lo, hi, grain)
    panels = {
        "listening-rate": Panel(
            fig.lines_figure(overall, "period", {"reply_rate": "Reply rate",
                                                 "unanswered_share": "Unanswered share"},
                             percent=True),
            overall, hidden_note(overall, k)),
        "listening-time": Panel(
            fig.lines_figure(overall, "period", {"median_hours": "Median hours",
                                                 "p90_hours": "90th percentile hours"}),
            overall, hidden_note(overall, k)),
    }
    if by in attributes:
        whole = _whole_range(ctx, by, lo, hi)
        panels["listening-groups"] = Panel(fig.bar_figure(whole, "group", "reply_rate"), whole,
                                           hidden_note(whole, k))
    managers = ctx.read(read.read_page_metric, "manager_participation", "all", lo, hi,
                                grain)
    mine = managers[managers["role"] == "manager"] if "role" in managers.columns else managers
    panels["listening-managers"] = Panel(
        fig.lines_figure(mine, "period", {"thread_share": "Share of threads started by managers",
                                          "reply_share": "Share of replies written by managers"},
                         percent=True),
        managers, hidden_note(managers, k, group="role"))
    return View(panels, (options,))


def _whole_range(ctx: Context, by: str, lo: Any, hi: Any) -> pd.DataFrame:
    """Reply rate per group over the range: the months' answered and started threads summed."""
    monthly = ctx.read(read.read_page_metric, "listening", by, lo, hi, "month")
    if monthly.empty:
        return monthly
    hidden = monthly.groupby("group")["suppressed"].any()
    sums = monthly.groupby("group")[["threads", "answered"]].sum(min_count=1)
    out = sums.join(hidden).reset_index()
    out.loc[out["suppressed"], ["threads", "answered"]] = float("nan")
    out["reply_rate"] = out["answered"] / out["threads"]
    return out[["group", "threads", "answered", "reply_rate", "suppressed"]]


def register(app: Dash) -> None:
    """Wire the page's callbacks and URL sync."""
    register_view(app, PAGE.name, CHARTS, INPUTS, build, EXTRAS)
    url_sync(app, PAGE.name, {"grain": INPUTS[0], "by": INPUTS[1], "start": INPUTS[2],
                              "end": INPUTS[3]})
