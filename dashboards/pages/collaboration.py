"""Collaboration (comms leads): do conversations cross department lines, and between whom?"""

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
    name="collaboration", path="/collaboration", title="Collaboration", role="comms", order=5,
    audience="Comms leads",
)
CHARTS = ("collaboration-share", "collaboration-regions", "collaboration-matrix")
INPUTS = (("collaboration-grain", "value"), ("collaboration-dates", "start_date"),
          ("collaboration-dates", "end_date"))
GRAINS = ("week", "month")


def layout(grain: str | None = None, start: str | None = None, end: str | None = None,
           **_query: Any) -> html.Div:
    """Filters from the query string; data arrives through the callback."""
    grain = query_value({"grain": grain}, "grain", GRAINS, "week")
    return html.Div(
        [
            page_header(PAGE, "Does the network connect departments, or mirror the org chart?"),
            url_store(PAGE.name),
            filter_row([
                select("collaboration-grain", GRAINS, grain, "Per"),
                date_range("collaboration-dates", parse_day(start) and start,
                           parse_day(end) and end),
            ]),
            dbc.Row([
                dbc.Col(chart_card("collaboration-share", "Replies across departments",
                                   catalog.get("cross_department_replies").definition), lg=6),
                dbc.Col(chart_card("collaboration-regions", "Replies across regions",
                                   catalog.get("cross_region_replies").definition), lg=6),
            ]),
            chart_card("collaboration-matrix", "Who replies to whom (latest month in range)",
                       catalog.get("reply_matrix").definition, height=520),
        ]
    )


def build(ctx: Context, grain: Any, start: Any, end: Any) -> View:
    """Cross-department and cross-region shares, and the department × department matrix."""
    grain = grain if grain in GRAINS else "week"
    span = resolve_range(ctx, start, end)
    if span is None:
        empty = Panel(fig.empty_figure("No data yet"), pd.DataFrame())
        return View({c: empty for c in CHARTS})
    lo, hi = span
    k = ctx.k
    panels = {}
    for chart, metric in (("collaboration-share", "cross_department_replies"),
                          ("collaboration-regions", "cross_region_replies")):
        frame = ctx.read(read.read_page_metric, metric, "all", lo, hi, grain)
        panels[chart] = Panel(
            fig.lines_figure(frame, "period", {"cross_share": "Cross-group share of replies"},
                             percent=True),
            frame, hidden_note(frame, k))
    matrix = ctx.read(read.read_page_metric, "reply_matrix", "department", lo, hi,
                              "month")
    if len(matrix):
        matrix = matrix[matrix["period"] == matrix["period"].max()]
    note = None
    if len(matrix) and matrix["suppressed"].any():
        note = html.Span([html.Strong(f"hidden: fewer than {k} people"),
                          f" — {int(matrix['suppressed'].sum())} cells with fewer than {k} "
                          "distinct repliers are withheld"], className="hidden-note")
    panels["collaboration-matrix"] = Panel(
        fig.heatmap_figure(matrix.rename(columns={"group": "from", "target": "to"}), "to", "from",
                           "replies", percent=False),
        matrix, note)
    return View(panels)


def register(app: Dash) -> None:
    """Wire the page's callbacks and URL sync."""
    register_view(app, PAGE.name, CHARTS, INPUTS, build)
    url_sync(app, PAGE.name, {"grain": INPUTS[0], "start": INPUTS[1], "end": INPUTS[2]})
