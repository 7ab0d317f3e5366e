"""About this data: what is measured and what is not, written for employees (the trust page)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, html

from dashboards._context import context
from dashboards.pages import Page

PAGE = Page(
    name="about", path="/about", title="About this data", role="executive", order=8,
    audience="Everyone",
)


def layout(**_query: Any) -> html.Div:
    """The trust page: plain words, no data."""
    k = context().k
    measured = [
        "How many people take part on the network each day: posting, replying, reacting or "
        "reading — counted per person per day, never per click.",
        "Those daily counts added up for groups such as departments, regions and countries, "
        "using the HR attributes in effect on each day.",
        "Whether conversations get answered, how quickly, and whether replies cross department "
        "lines — again only for groups.",
    ]
    not_measured = [
        "No message text. Message bodies, attachments and titles are dropped while the export is "
        "read and are never stored, logged or cached.",
        "No ranking of individuals. No page lists, scores or compares named people, and there is "
        "no view of what one person did.",
        f"No small groups. Any group with fewer than {k} people on a day is shown as “hidden: "
        f"fewer than {k} people”; when one group is hidden, the next smallest is hidden too, so "
        "the hidden one cannot be worked out from the total. This holds for every chart, "
        "download and report.",
        "No names or email addresses in the store by default: people are kept as keyed hashes "
        "that cannot be reversed without a secret key held by the administrators.",
    ]
    return html.Div(
        [
            html.H2(PAGE.title),
            html.P(
                "Uptake shows whether our enterprise social network is being adopted — by "
                "departments and regions, not by individuals. This page says exactly what it "
                "counts.",
                className="lead",
            ),
            dbc.Row(
                [
                    dbc.Col(_card("What is measured", measured, "success"), md=6),
                    dbc.Col(_card("What is not measured", not_measured, "secondary"), md=6),
                ],
                className="g-4 mb-4",
            ),
            html.H4("Definitions"),
            html.Dl(
                [
                    html.Dt("Member"),
                    html.Dd("Someone whose account has joined and is not suspended or deleted "
                            "on that day."),
                    html.Dt("Engaged"),
                    html.Dd("A member who posted, replied or reacted that day. Reading alone "
                            "makes a member active, not engaged."),
                    html.Dt("Engaged share"),
                    html.Dd("Engaged members divided by members, per day."),
                    html.Dt("Your rights"),
                    html.Dd("You can ask the administrators to erase your data everywhere "
                            "(`uptake forget`); the erasure is recorded without your email."),
                ]
            ),
        ],
        id="about-page",
    )


def _card(title: str, items: list[str], color: str) -> dbc.Card:
    return dbc.Card(
        [dbc.CardHeader(title, className=f"text-{color} fw-semibold"),
         dbc.CardBody(html.Ul([html.Li(item) for item in items], className="mb-0"))],
        className="h-100 shadow-sm",
    )


def register(app: Dash) -> None:
    """The about page has no callbacks."""
