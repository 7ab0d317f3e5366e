"""The thin callbacks every page shares: filters in, figures and notes out, CSV downloads."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dash import Dash, Input, Output, State, ctx, dcc, no_update

from dashboards._components import error_alert, to_csv
from dashboards._context import Context, context
from dashboards._figures import empty_figure
from errors import UptakeError

log = logging.getLogger(__name__)
FAILED = "This view could not be loaded; the error was logged for the administrator."


@dataclass
class Panel:
    """One chart: its figure, the data behind it (the CSV download) and a suppression note."""

    figure: Any
    frame: pd.DataFrame
    note: Any = None


@dataclass
class View:
    """Everything one page shows for one set of filter values."""

    panels: dict[str, Panel]
    extras: Sequence[Any] = field(default_factory=tuple)


Build = Callable[..., View]


def failure_message(exc: Exception) -> str:
    """One line for the page: the typed error's own words, else a generic line (logged)."""
    if isinstance(exc, UptakeError):
        return str(exc)
    log.exception("dashboard callback failed")
    return FAILED


def view_key(build: Build, values: Sequence[Any]) -> tuple[Any, ...]:
    """The cache key of one page view (lists from multi-selects become tuples)."""
    frozen = tuple(tuple(v) if isinstance(v, list) else v for v in values)
    return ("view", build.__module__, build.__qualname__, frozen)


def render(build: Build, charts: Sequence[str], n_extras: int, *values: Any) -> list[Any]:
    """Call `build` and lay its view out as the page callback's outputs."""
    ctx = context()
    try:
        view = ctx.memo(view_key(build, values), lambda: build(ctx, *values))
    except Exception as exc:  # noqa: BLE001 - the edge: an alert, never a traceback
        return [error_alert(failure_message(exc))] + [no_update] * (2 * len(charts) + n_extras)
    out: list[Any] = [None]
    for chart in charts:
        panel = view.panels.get(chart)
        out += [panel.figure, panel.note] if panel else [empty_figure("No data"), None]
    extras = list(view.extras)
    if len(extras) != n_extras:
        raise ValueError(f"view returned {len(extras)} extras, the page declares {n_extras}")
    return out + extras


def csv_download(build: Build, chart: str, context_: Context, *values: Any) -> dict[str, Any]:
    """The dcc.Download payload of one chart's data for the given filter values."""
    view = context_.memo(view_key(build, values), lambda: build(context_, *values))
    frame = view.panels[chart].frame
    stamp = dt.date.today().isoformat()
    return dcc.send_string(to_csv(frame), f"uptake-{chart}-{stamp}.csv", type="text/csv")


def register_view(
    app: Dash,
    page: str,
    charts: Sequence[str],
    inputs: Sequence[tuple[str, str]],
    build: Build,
    extras: Sequence[tuple[str, str]] = (),
) -> None:
    """Wire a page: one callback renders every chart, one serves each chart's CSV."""
    outputs = [Output(f"{page}-alert", "children")]
    for chart in charts:
        outputs += [Output(f"{chart}-graph", "figure"), Output(f"{chart}-note", "children")]
    outputs += [Output(component, prop) for component, prop in extras]

    def update(*values: Any) -> list[Any]:
        return render(build, charts, len(extras), *values)

    app.callback(outputs, [Input(component, prop) for component, prop in inputs])(update)

    def download(*args: Any) -> list[Any]:
        values = args[len(charts):]
        chart = str(ctx.triggered_id or "").removesuffix("-csv")
        if chart not in charts:
            return [no_update] * (len(charts) + 1)
        try:
            payload = csv_download(build, chart, context(), *values)
        except Exception as exc:  # noqa: BLE001 - the edge: an alert, never a traceback
            return [error_alert(failure_message(exc))] + [no_update] * len(charts)
        return [no_update] + [payload if c == chart else no_update for c in charts]

    app.callback(
        [Output(f"{page}-alert", "children", allow_duplicate=True)]
        + [Output(f"{chart}-download", "data") for chart in charts],
        [Input(f"{chart}-csv", "n_clicks") for chart in charts],
        [State(component, prop) for component, prop in inputs],
        prevent_initial_call=True,
    )(download)
