"""Regions (HR): engaged share by region over time and by country, on an offline map."""

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
from dashboards._filters import parse_day, resolve_range, url_store, url_sync
from dashboards._panels import Panel, View, register_view
from dashboards.pages import Page
from metrics import catalog, read

PAGE = Page(
    name="regions", path="/regions", title="Regions", role="hr", order=3,
    audience="HR partners",
)
CHARTS = ("regions-trend", "regions-map", "regions-countries", "regions-heatmap")
INPUTS = (("regions-region", "value"), ("regions-dates", "start_date"),
          ("regions-dates", "end_date"))
EXTRAS = (("regions-region", "options"),)
PERIOD = ["period", "group", "members", "min_members", "engaged", "engaged_share", "adoption",
          "suppressed"]


def layout(region: str | None = None, start: str | None = None, end: str | None = None,
           **_query: Any) -> html.Div:
    """Filters from the query string; data arrives through the callback."""
    engagement = catalog.get("engagement").definition
    country = ("Countries are drawn at their approximate centre; bubble size = members, colour "
               "= engaged share over the range's latest month. ")
    return html.Div(
        [
            page_header(PAGE, "Where is the network alive, and where is it quiet?"),
            url_store(PAGE.name),
            filter_row([
                select("regions-region", [region] if region else [], region,
                       "Countries of region", clearable=True),
                date_range("regions-dates", parse_day(start) and start, parse_day(end) and end),
            ]),
            chart_card("regions-trend", "Engaged share by region, weekly", engagement),
            dbc.Row([
                dbc.Col(chart_card("regions-map", "Countries", country + engagement, 380), lg=7),
                dbc.Col(chart_card("regions-countries", "Engaged share by country (latest month)",
                                   engagement, 380), lg=5),
            ]),
            chart_card("regions-heatmap", "Engaged share by country and week", engagement, 420),
        ]
    )


def build(ctx: Context, region: Any, start: Any, end: Any) -> View:
    """Region trend lines, the country map, bars and heatmap for a date range."""
    span = resolve_range(ctx, start, end)
    known = ctx.read(read.dimensions)
    if span is None or "region" not in known:
        why = "No data yet" if span is None else "No region in the HR data"
        return View({c: Panel(fig.empty_figure(why), pd.DataFrame()) for c in CHARTS}, ([],))
    lo, hi = span
    k = ctx.k
    weekly = ctx.read(read.read_engagement, "region", lo, hi, "week")
    options = [{"label": g, "value": g} for g in sorted(weekly["group"].astype(str).unique())]
    panels = {
        "regions-trend": Panel(
            fig.group_lines_figure(weekly, "period", "engaged_share"), weekly[PERIOD],
            hidden_note(weekly, k)),
    }
    if "country" in known:
        filters = {"region": region} if region else None
        countries = ctx.read(read.read_engagement, "country", lo, hi, "week",
                                         filters)
        month = max(lo, hi.replace(day=1))  # only the latest month is shown
        monthly = ctx.read(read.read_engagement, "country", month, hi, "month", filters)
        latest = monthly[monthly["period"] == monthly["period"].max()] if len(monthly) else monthly
        panels["regions-map"] = Panel(fig.country_map_figure(latest), latest[PERIOD],
                                      hidden_note(latest, k))
        panels["regions-countries"] = Panel(
            fig.bar_figure(latest, "group", "engaged_share"), latest[PERIOD],
            hidden_note(latest, k))
        panels["regions-heatmap"] = Panel(
            fig.heatmap_figure(countries, "period", "group", "engaged_share"),
            countries[PERIOD], hidden_note(countries, k))
    else:
        empty = Panel(fig.empty_figure("No country in the HR data"), pd.DataFrame())
        panels.update({c: empty for c in CHARTS[1:]})
    return View(panels, (options,))


def register(app: Dash) -> None:
    """Wire the page's callbacks and URL sync."""
    register_view(app, PAGE.name, CHARTS, INPUTS, build, EXTRAS)
    url_sync(app, PAGE.name, {"region": INPUTS[0], "start": INPUTS[1], "end": INPUTS[2]})
