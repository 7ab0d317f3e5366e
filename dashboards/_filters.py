"""Page filters: parsed from the query string or the controls, and mirrored back into the URL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from dash import Dash, Input, Output, dcc

DEFAULT_DAYS = 90

_SYNC = """
function() {
    const names = %s;
    const params = new URLSearchParams(window.location.search);
    for (let i = 0; i < names.length; i++) {
        let value = arguments[i];
        if (Array.isArray(value)) { value = value.join(","); }
        if (value === null || value === undefined || value === "") { params.delete(names[i]); }
        else { params.set(names[i], String(value).slice(0, 200)); }
    }
    const query = params.toString();
    const url = window.location.pathname + (query ? "?" + query : "");
    if (url !== window.location.pathname + window.location.search) {
        window.history.replaceState(window.history.state, "", url);
    }
    return query;
}
"""


def parse_day(value: Any) -> dt.date | None:
    """A date from a picker or query value ('YYYY-MM-DD', possibly with a time), or None."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def parse_month(value: Any) -> str | None:
    """A 'YYYY-MM' month, or None when the value is not one."""
    if not value:
        return None
    text = str(value)[:7]
    try:
        dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        return None
    return text


def date_range(start: Any, end: Any, last_day: dt.date | None) -> tuple[dt.date, dt.date] | None:
    """The requested range; a missing end is the latest data day, a missing start 90 days before."""
    hi = parse_day(end) or last_day
    if hi is None:
        return None
    lo = parse_day(start) or hi - dt.timedelta(days=DEFAULT_DAYS - 1)
    if lo > hi:
        lo, hi = hi, lo
    return lo, hi


def query_value(
    query: Mapping[str, Any], name: str, allowed: Any = None, default: Any = None
) -> Any:
    """A query-string value, kept only when it is one of `allowed` (when given)."""
    value = query.get(name)
    if value in (None, ""):
        return default
    if allowed is not None and value not in allowed:
        return default
    return value


def url_store(page: str) -> dcc.Store:
    """The placeholder the URL-sync callback writes to (put it in the page layout)."""
    return dcc.Store(id=f"{page}-url")


def url_sync(app: Dash, page: str, params: Mapping[str, tuple[str, str]]) -> None:
    """Mirror filter controls into the query string (a shareable link) without reloading."""
    app.clientside_callback(
        _SYNC % json.dumps(list(params)),
        Output(f"{page}-url", "data"),
        [Input(component, prop) for component, prop in params.values()],
    )


def resolve_range(ctx: Any, start: Any, end: Any) -> tuple[dt.date, dt.date] | None:
    """The page's date range, clipped to the data; None when the store has no data yet."""
    from metrics.read import data_span

    span = ctx.read(data_span)
    if span is None:
        return None
    chosen = date_range(start, end, span[1])
    assert chosen is not None
    lo, hi = max(chosen[0], span[0]), min(chosen[1], span[1])
    if lo > hi:  # a shared link to a range outside the data: show the latest days instead
        lo, hi = max(span[0], span[1] - dt.timedelta(days=DEFAULT_DAYS - 1)), span[1]
    return lo, hi
