"""Regions (stub)."""

from __future__ import annotations

from typing import Any

from dash import Dash, html

from dashboards._components import page_header
from dashboards.pages import Page

PAGE = Page(
    name="regions", path="/regions", title="Regions", role="hr",
    order=3, audience="HR partners",
)


def layout(**_query: Any) -> html.Div:
    """Stub."""
    return html.Div([page_header(PAGE, "Coming soon.")])


def register(app: Dash) -> None:
    """Stub."""
