"""Overview (stub)."""

from __future__ import annotations

from typing import Any

from dash import Dash, html

from dashboards._components import page_header
from dashboards.pages import Page

PAGE = Page(
    name="overview", path="/", title="Overview", role="comms",
    order=1, audience="Comms leads",
)


def layout(**_query: Any) -> html.Div:
    """Stub."""
    return html.Div([page_header(PAGE, "Coming soon.")])


def register(app: Dash) -> None:
    """Stub."""
