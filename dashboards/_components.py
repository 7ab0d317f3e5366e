"""Reusable page pieces: chart cards with definitions and downloads, alerts, notes, banners."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from dashboards.pages import Page

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
STALE_AFTER_DAYS = 3
DAILY_SOURCES = ("yammer-export", "graph-yammer-activity")


def escape_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(frame: pd.DataFrame) -> str:
    """CSV text of a chart's data, every text cell (and header) escaped against formulas."""
    out = frame.copy()
    out.columns = [escape_cell(str(column)) for column in out.columns]
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(escape_cell)
    return out.to_csv(index=False, lineterminator="\n")


def page_header(page: Page, intro: str) -> html.Div:
    """The page title, who it is for, and one line on what it answers."""
    return html.Div(
        [
            html.H2(page.title, className="mb-1"),
            html.P([html.Span(page.audience, className="badge text-bg-light me-2"), intro],
                   className="text-secondary"),
            html.Div(id=f"{page.name}-alert"),
        ],
        className="mb-3",
    )


def chart_card(chart_id: str, title: str, definition: str, height: int = 320) -> dbc.Card:
    """A chart with its definition, its suppression note and a CSV download of its data."""
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Span(title, className="fw-semibold"),
                        dbc.Button(
                            "CSV", id=f"{chart_id}-csv", size="sm", color="secondary",
                            outline=True, title=f"Download the data of “{title}” as CSV",
                        ),
                    ],
                    className="d-flex justify-content-between align-items-center",
                )
            ),
            dbc.CardBody(
                [
                    dcc.Loading(
                        dcc.Graph(
                            id=f"{chart_id}-graph", config={"displaylogo": False},
                            style={"height": f"{height}px"},
                        ),
                        delay_show=300,
                    ),
                    html.Div(id=f"{chart_id}-note", className="small text-warning-emphasis"),
                    html.P(definition, className="small text-secondary mb-0 mt-2 definition"),
                    dcc.Download(id=f"{chart_id}-download"),
                ]
            ),
        ],
        className="mb-4 shadow-sm",
    )


def kpi_card(kpi_id: str, label: str, definition: str) -> dbc.Card:
    """A headline number whose value and delta arrive through a callback."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(label, className="small text-secondary"),
                html.Div("…", id=f"{kpi_id}-value", className="fs-3 fw-semibold kpi-value"),
                html.Div(id=f"{kpi_id}-delta", className="small"),
                html.Details(
                    [html.Summary("Definition", className="small text-secondary"),
                     html.P(definition, className="small text-secondary mb-0 definition")],
                    className="mt-1",
                ),
            ]
        ),
        className="h-100 shadow-sm",
    )


def error_alert(message: str) -> dbc.Alert:
    """A one-line alert in place of a traceback."""
    return dbc.Alert(message, color="danger", className="mb-3", dismissable=True)


def hidden_note(
    frame: pd.DataFrame, k: int, group: str = "group", flag: str = "suppressed"
) -> html.Span | None:
    """“hidden: fewer than k people” naming the groups withheld (and on how many periods)."""
    if frame.empty or flag not in frame.columns or group not in frame.columns:
        return None
    hidden = frame.loc[frame[flag].fillna(False).astype(bool)]
    if hidden.empty:
        return None
    rows = frame.groupby(group, sort=True).size()
    counts = hidden.groupby(group, sort=True).size()
    parts = []
    for name, count in counts.items():
        total = int(rows.get(name, count))
        parts.append(str(name) if count == total else f"{name} ({count} of {total} periods)")
    return html.Span(
        [html.Strong(f"hidden: fewer than {k} people"), " — " + ", ".join(parts)],
        className="hidden-note",
    )


def freshness_banner(freshness: pd.DataFrame, today: dt.date,
                     refreshed_at: dt.datetime | None = None, pending: int = 0) -> dbc.Alert:
    """How fresh the data is, per source; amber when a source is older than a few days."""
    if freshness.empty:
        return dbc.Alert(
            "No data has been ingested yet: run `uptake demo` or `uptake ingest …`.",
            color="warning", className="py-2 mb-3",
        )
    parts: list[Any] = []
    stale = False
    for row in freshness.itertuples(index=False):
        last = getattr(row, "last_day", None)
        label = f"{row.source}: data to {last.isoformat()}" if last else f"{row.source}: no data"
        late = last is None or (today - last).days > STALE_AFTER_DAYS
        if row.source in DAILY_SOURCES and late:
            stale = True
        parts.append(html.Span(label, className="me-3"))
    if refreshed_at is not None:
        parts.append(html.Span(f"metrics refreshed {refreshed_at:%Y-%m-%d %H:%M} UTC",
                               className="me-3"))
    if pending:
        parts.append(html.Span(f"{pending} ingest change(s) wait for the next refresh",
                               className="me-3"))
    return dbc.Alert(
        [html.Strong("Data freshness ", className="me-2"), *parts],
        color="warning" if stale else "light", className="py-2 mb-3 small freshness",
    )


def select(component_id: str, options: Iterable[str], value: str | None, label: str,
           clearable: bool = False) -> html.Div:
    """A labelled dropdown."""
    return html.Div(
        [
            dbc.Label(label, html_for=component_id, className="small mb-0"),
            dcc.Dropdown(
                id=component_id, options=[{"label": o, "value": o} for o in options],
                value=value, clearable=clearable,
            ),
        ],
        className="filter",
    )


def date_range(component_id: str, start: str | None, end: str | None) -> html.Div:
    """A labelled date range picker (empty means: the latest 90 days of data)."""
    return html.Div(
        [
            dbc.Label("Dates", html_for=component_id, className="small mb-0 d-block"),
            dcc.DatePickerRange(
                id=component_id, start_date=start, end_date=end, display_format="YYYY-MM-DD",
                clearable=True, minimum_nights=0, first_day_of_week=1,
            ),
        ],
        className="filter",
    )


def filter_row(children: Sequence[Any]) -> dbc.Row:
    """Filters laid out in one responsive row."""
    return dbc.Row(
        [dbc.Col(child, xs=12, md=True) for child in children], className="g-3 mb-3 filters"
    )
