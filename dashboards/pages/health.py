"""Data health (admins): freshness per source, failed runs, missing days, concealed names, size."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, html, no_update

from dashboards._components import error_alert, page_header
from dashboards._context import Context, context
from dashboards._panels import failure_message
from dashboards.pages import Page
from metrics import health

PAGE = Page(
    name="health", path="/health", title="Data health", role="admin", order=7,
    audience="Administrators",
)
SECTIONS = ("sources", "problems", "missing", "concealed", "size")


def layout(**_query: Any) -> html.Div:
    """Placeholders for the health tables; data arrives through one callback."""
    return html.Div(
        [
            page_header(PAGE, "Is the data complete and current? What failed, and why?"),
            dbc.Button("Check again", id="health-refresh", size="sm", color="secondary",
                       outline=True, className="mb-3"),
            html.Div(id="health-concealed"),
            _section("Sources", "health-sources",
                     "Last day of data and last successful run per source; a failed run leaves "
                     "its cursor where it was, so the next run retries the same window."),
            _section("Recent problems", "health-problems",
                     "The newest runs that failed or skipped rows, with their one-line reason."),
            _section("Days missing", "health-missing",
                     "Days in the latest 60 days of each activity source with no rows at all. "
                     "Graph reports keep only 28 days: a day missing for longer is lost."),
            _section("Store size", "health-size",
                     "Rows per table (estimated from database statistics) and the store size."),
        ]
    )


def _section(title: str, component_id: str, definition: str) -> dbc.Card:
    return dbc.Card(
        [dbc.CardHeader(title, className="fw-semibold"),
         dbc.CardBody([html.Div(id=component_id),
                       html.P(definition, className="small text-secondary mb-0 definition")])],
        className="mb-4 shadow-sm",
    )


def table(frame: pd.DataFrame, empty: str) -> Any:
    """A compact striped table, or a line saying there is nothing to show."""
    if frame.empty:
        return html.P(empty, className="text-success mb-2")
    shown = frame.astype(object).where(frame.notna(), "")
    return dbc.Table.from_dataframe(shown, striped=True, bordered=False, hover=True, size="sm",
                                    responsive=True)


def concealed_warning(counts: dict[str, int]) -> Any:
    """The concealed-names warning, when Graph reports hid user names."""
    if not counts["concealed"]:
        return None
    return dbc.Alert(
        [html.Strong("Concealed user names. "),
         f"{counts['concealed']:,} of {counts['people']:,} people come from Microsoft 365 reports "
         "with concealed names, so they cannot be joined to HR attributes (they count as "
         "Unknown). Turn off “Display concealed user, group, and site names in all reports” in "
         "the Microsoft 365 admin center (Settings › Org settings › Reports)."],
        color="warning",
    )


def view(ctx: Context, today: dt.date) -> list[Any]:
    """Every health section for the store behind `ctx`."""
    sizes, total = health.compute_store_size(ctx.engine)
    size_note = html.P(f"Store size: {total / 1e6:,.1f} MB" if total else "Store size: unknown",
                       className="mb-2")
    return [
        table(health.compute_source_status(ctx.engine, today), "No ingest has run yet."),
        table(health.compute_recent_problems(ctx.engine), "No failed runs and no skipped rows."),
        table(health.compute_missing_days(ctx.engine), "No missing days."),
        concealed_warning(health.compute_concealed(ctx.engine)),
        html.Div([size_note, table(sizes, "The store is empty.")]),
    ]


def update(clicks: Any) -> list[Any]:
    """Callback: every section, at most a minute old unless “Check again” is pressed."""
    ctx = context()
    minute = int(time.time() // 60)
    try:
        return [None, *ctx.memo(("health", clicks, minute), lambda: view(ctx, dt.date.today()))]
    except Exception as exc:  # noqa: BLE001 - the edge
        return [error_alert(failure_message(exc))] + [no_update] * len(SECTIONS)


def register(app: Dash) -> None:
    """Wire the health callback."""
    app.callback(
        [Output("health-alert", "children")]
        + [Output(f"health-{section}", "children") for section in SECTIONS],
        Input("health-refresh", "n_clicks"),
    )(update)
