"""Departments (stub)."""

from __future__ import annotations

from typing import Any

from dash import Dash, html

from dashboards._components import page_header
from dashboards.pages import Page

PAGE = Page(
    name="departments", path="/departments", title="Departments", role="hr",
    order=2, audience="HR partners",
)


def layout(**_query: Any) -> html.Div:
    """Stub."""
    return html.Div([page_header(PAGE, "Coming soon.")])


def register(app: Dash) -> None:
    """Stub."""
