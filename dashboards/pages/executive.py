"""Executive summary: one printable page per month — KPIs with deltas, movers, listening."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, html

from dashboards import _figures as fig
from dashboards._components import chart_card, filter_row, page_header, select
from dashboards._context import Context
from dashboards._filters import parse_month, url_store, url_sync
from dashboards._monthly import Kpi, MonthlySummary, available_months, build_summary
from dashboards._panels import Panel, View, register_view
from dashboards._summary import reported_month
from dashboards.pages import Page
from metrics import catalog, read

PAGE = Page(
    name="executive", path="/executive", title="Executive summary", role="executive", order=6,
    audience="Executives",
)
CHARTS = ("executive-daily", "executive-months")
INPUTS = (("executive-month", "value"),)
EXTRAS = (("executive-body", "children"), ("executive-month", "options"),
          ("executive-month-label", "children"), ("executive-month", "value"))


def layout(month: str | None = None, **_query: Any) -> html.Div:
    """The month picker and placeholders; the summary arrives through the callback."""
    month = parse_month(month)
    return html.Div(
        [
            page_header(PAGE, "The month in one page: print it or save it as PDF."),
            url_store(PAGE.name),
            html.Div(
                filter_row([
                    select("executive-month", [month] if month else [], month, "Month"),
                    html.Div(dbc.Button("Print", id="executive-print", color="secondary",
                                        outline=True, className="mt-4"), className="filter"),
                ]),
                className="d-print-none",
            ),
            html.H3(id="executive-month-label", className="mb-3"),
            html.Div(id="executive-body"),
            dbc.Row([
                dbc.Col(chart_card("executive-daily", "Daily engaged share this month",
                                   catalog.get("engagement").definition, 280), md=6),
                dbc.Col(chart_card("executive-months", "Engaged share by month",
                                   catalog.get("engagement").definition, 280), md=6),
            ]),
            html.Div(id="executive-printed", hidden=True),
        ],
        className="executive",
    )


def build(ctx: Context, month: Any) -> View:
    """The summary of the chosen month (default: the latest complete one)."""
    months = ctx.read(available_months)
    options = [{"label": m, "value": m} for m in months]
    if not months:
        empty = Panel(fig.empty_figure("No data yet"), pd.DataFrame())
        return View({c: empty for c in CHARTS}, (html.P("No data yet."), options, "", None))
    span = ctx.read(read.data_span)
    assert span is not None
    month = parse_month(month) or reported_month(span[1])
    if month not in months:
        month = months[0]
    summary = ctx.read(build_summary, month)
    panels = {
        "executive-daily": Panel(summary.figures["daily"], summary.daily),
        "executive-months": Panel(summary.figures["monthly"], summary.monthly),
    }
    return View(panels, (body(summary, ctx.k), options, summary.label, month))


def body(summary: MonthlySummary, k: int) -> html.Div:
    """Sentences, KPI cards, movers and listening for one month."""
    return html.Div(
        [
            dbc.Alert(html.Ul([html.Li(s) for s in summary.sentences], className="mb-0"),
                      color="primary", className="sentences"),
            dbc.Row([dbc.Col(_kpi(kpi), xs=12, sm=6, lg=4) for kpi in summary.kpis],
                    className="g-3 mb-4"),
            dbc.Row([
                dbc.Col(_movers("Rising departments", summary.rising, k), md=6),
                dbc.Col(_movers("Falling departments", summary.falling, k), md=6),
            ], className="g-3 mb-4"),
            html.H5("Listening"),
            dbc.Row([dbc.Col(_kpi(kpi), xs=12, sm=6, lg=3) for kpi in summary.listening],
                    className="g-3 mb-4"),
        ]
    )


def _kpi(kpi: Kpi) -> dbc.Card:
    return dbc.Card(
        dbc.CardBody([
            html.Div(kpi.label, className="small text-secondary"),
            html.Div(kpi.show(), className="fs-3 fw-semibold kpi-value"),
            html.Div(f"{kpi.delta(kpi.previous)} on the previous month", className="small"),
            html.Div(f"{kpi.delta(kpi.year_ago)} on a year earlier", className="small"),
            html.Details([html.Summary("Definition", className="small text-secondary"),
                          html.P(kpi.definition, className="small text-secondary definition")]),
        ]),
        className="h-100 shadow-sm",
    )


def _movers(title: str, frame: pd.DataFrame, k: int) -> dbc.Card:
    if frame.empty:
        content: Any = html.P(f"None (departments under {k} people are hidden).",
                              className="text-secondary mb-0")
    else:
        content = html.Ol([
            html.Li(f"{row.group}: {row.engaged_share:.0%} ({row.change * 100:+.1f} points)")
            for row in frame.itertuples(index=False)
        ], className="mb-0")
    return dbc.Card([dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(content)],
                    className="h-100 shadow-sm")


def register(app: Dash) -> None:
    """Wire the page's callbacks, URL sync and the print button."""
    register_view(app, PAGE.name, CHARTS, INPUTS, build, EXTRAS)
    url_sync(app, PAGE.name, {"month": INPUTS[0]})
    app.clientside_callback(
        "function(n) { if (n) { window.print(); } return ''; }",
        Output("executive-printed", "children"),
        Input("executive-print", "n_clicks"),
        prevent_initial_call=True,
    )
