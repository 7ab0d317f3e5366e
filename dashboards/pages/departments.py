"""Departments (HR): engaged share by department — or any HR attribute — over time, adoption."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, dash_table, html
from dash.dash_table.Format import Format, Scheme

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
    name="departments", path="/departments", title="Departments", role="hr", order=2,
    audience="HR partners",
)
CHARTS = ("departments-heatmap", "departments-adoption", "departments-funnel")
INPUTS = (("departments-by", "value"), ("departments-region", "value"),
          ("departments-dates", "start_date"), ("departments-dates", "end_date"))
EXTRAS = (("departments-table", "data"), ("departments-by", "options"),
          ("departments-region", "options"))
STAGES = {"workforce": "Workforce", "members": "Members", "engaged": "Engaged at least once"}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
PERCENT = Format(precision=0, scheme=Scheme.percentage)


def layout(by: str | None = None, region: str | None = None, start: str | None = None,
           end: str | None = None, **_query: Any) -> html.Div:
    """Filters from the query string; data arrives through the callback."""
    by = by or "department"
    engagement = catalog.get("engagement").definition
    return html.Div(
        [
            page_header(PAGE, "Which groups have adopted the network, and which need help?"),
            url_store(PAGE.name),
            filter_row([
                select("departments-by", [by], by, "Break down by"),
                select("departments-region", [region] if region else [], region, "Region",
                       clearable=True),
                date_range("departments-dates", parse_day(start) and start,
                           parse_day(end) and end),
            ]),
            chart_card("departments-heatmap", "Engaged share by week", engagement, height=420),
            dbc.Card(
                [dbc.CardHeader("All groups", className="fw-semibold"),
                 dbc.CardBody([table(), html.P(
                     "Average engaged share over the range (ratio of summed daily engaged to "
                     "summed daily members), the change from the first to the last week, "
                     "members and adoption on the last day, and the weekly trend. " + engagement,
                     className="small text-secondary mt-2 mb-0 definition")])],
                className="mb-4 shadow-sm",
            ),
            dbc.Row([
                dbc.Col(chart_card("departments-adoption", "Adoption: members / workforce",
                                   "Members divided by the people employed on the range's last "
                                   "day according to the HR roster. " + engagement), lg=6),
                dbc.Col(chart_card("departments-funnel", "Adoption funnel (latest month)",
                                   catalog.get("funnel").definition), lg=6),
            ]),
        ]
    )


def table() -> dash_table.DataTable:
    """The sortable table of groups (its rows arrive through the callback)."""
    columns = [
        {"name": "Group", "id": "group"},
        {"name": "Members", "id": "members", "type": "numeric",
         "format": Format(group=",", precision=0, scheme=Scheme.fixed)},
        {"name": "Engaged share", "id": "engaged_share", "type": "numeric", "format": PERCENT},
        {"name": "Change (points)", "id": "change", "type": "numeric",
         "format": Format(precision=1, scheme=Scheme.fixed, sign="+")},
        {"name": "Adoption", "id": "adoption", "type": "numeric", "format": PERCENT},
        {"name": "Weekly trend", "id": "trend"},
        {"name": "", "id": "status"},
    ]
    return dash_table.DataTable(
        id="departments-table", columns=columns, data=[], sort_action="native",
        style_cell={"fontFamily": FONT, "padding": "4px 8px", "textAlign": "left"},
        style_cell_conditional=[{"if": {"column_id": "trend"},
                                 "fontFamily": "monospace", "letterSpacing": "1px"}],
        style_header={"fontWeight": "600"}, page_size=25,
    )


def build(ctx: Context, by: Any, region: Any, start: Any, end: Any) -> View:
    """Heatmap, table, adoption and funnel for one attribute, region and date range."""
    by = by or "department"
    span = resolve_range(ctx, start, end)
    attributes = [d for d in ctx.read(read.dimensions) if d != "all"]
    by_options = [{"label": a, "value": a} for a in attributes]
    if span is None or by not in attributes:
        why = "No data yet" if span is None else f"No HR attribute {by!r} in the data"
        empty = Panel(fig.empty_figure(why), pd.DataFrame())
        return View({c: empty for c in CHARTS}, ([], by_options, []))
    lo, hi = span
    filters = {"region": region} if region and by != "region" else None
    weekly = ctx.read(read.read_engagement, by, lo, hi, "week", filters)
    daily = ctx.read(read.read_engagement, by, lo, hi, "day", filters)
    last = daily[daily["day"] == hi]
    k = ctx.k
    heat_cols = ["period", "group", "members", "min_members", "engaged", "engaged_share",
                 "suppressed"]
    panels = {
        "departments-heatmap": Panel(
            fig.heatmap_figure(weekly, "period", "group", "engaged_share"),
            weekly[heat_cols], hidden_note(weekly, k)),
        "departments-adoption": Panel(
            fig.bar_figure(last, "group", "adoption", flag="__none__"),
            last[["day", "group", "members", "workforce", "adoption"]]),
        "departments-funnel": _funnel(ctx, by, lo, hi, filters),
    }
    regions = _regions(ctx, hi) if "region" in attributes else []
    return View(panels, (rows(weekly, daily, last, k), by_options, regions))


def _funnel(ctx: Context, by: str, lo: dt.date, hi: dt.date, filters: Any) -> Panel:
    if filters:
        return Panel(fig.empty_figure("The funnel is shown without a region filter"),
                     pd.DataFrame())
    frame = ctx.read(read.read_page_metric, "funnel", by, lo, hi, "month")
    if frame.empty:
        return Panel(fig.empty_figure("No data in this range"), frame)
    latest = frame[frame["period"] == frame["period"].max()]
    return Panel(fig.stage_bars_figure(latest, "group", STAGES), latest,
                 hidden_note(latest, ctx.k))


def _regions(ctx: Context, hi: dt.date) -> list[dict[str, str]]:
    frame = ctx.read(read.read_engagement, "region", hi, hi, "day")
    return [{"label": g, "value": g} for g in sorted(frame["group"].astype(str).unique())]


def rows(weekly: pd.DataFrame, daily: pd.DataFrame, last: pd.DataFrame,
         k: int) -> list[dict[str, Any]]:
    """One table row per group: average share, change, members, adoption, sparkline."""
    if weekly.empty:
        return []
    out = []
    latest = last.set_index("group")
    visible = daily.loc[~daily["suppressed"].astype(bool)]
    sums = visible.groupby("group")[["engaged", "members"]].sum()
    for name, part in weekly.sort_values("period").groupby("group", sort=True):
        shares = part["engaged_share"].tolist()
        total_members = sums["members"].get(name, 0)
        average = sums["engaged"].get(name, 0) / total_members if total_members else None
        known = [s for s in shares if pd.notna(s)]
        hidden_now = bool(part["suppressed"].iloc[-1])
        row = latest.loc[name] if name in latest.index else None
        out.append({
            "group": str(name),
            "members": float(row["members"]) if row is not None else None,
            "engaged_share": None if hidden_now or average is None else float(average),
            "change": (known[-1] - known[0]) * 100 if len(known) > 1 and not hidden_now
            else None,
            "adoption": float(row["adoption"]) if row is not None and pd.notna(row["adoption"])
            else None,
            "trend": "" if hidden_now else fig.sparkline(shares),
            "status": f"hidden: fewer than {k} people" if hidden_now else "",
        })
    return out


def register(app: Dash) -> None:
    """Wire the page's callbacks and URL sync."""
    register_view(app, PAGE.name, CHARTS, INPUTS, build, EXTRAS)
    url_sync(app, PAGE.name, {"by": INPUTS[0], "region": INPUTS[1], "start": INPUTS[2],
                              "end": INPUTS[3]})
