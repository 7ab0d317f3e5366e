"""Page callbacks called as functions on a hand-computed store, asserting on the figures' data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash import no_update
from sqlalchemy import Engine

from dashboards._components import to_csv
from dashboards._context import context
from dashboards.pages import collaboration, departments, executive, listening, overview, regions
from dashboards.server import create_dash_app
from errors import MetricError
from metrics import read
from metrics.refresh import refresh
from settings import Settings
from tests import engagement_org as org
from tests.conftest import BACKENDS
from tests.dash_client import call

START, END = "2025-03-28", "2025-03-31"
# engagement_org (docstring table): whole store, 2025-03-28 … 2025-03-31.
ALL_MEMBERS = [13, 13, 15, 14]
ALL_ENGAGED = [3, 3, 4, 2]
ALL_ACTIVE = [3, 3, 5, 3]
ALL_SHARE = [3 / 13, 3 / 13, 4 / 15, 2 / 14]
# Weeks from Monday: 2025-03-24 holds the 28th–30th of the range, 2025-03-31 the 31st.
# Weekly share = summed daily engaged / summed daily members.
WEEKLY = {"Ops": [(0 + 1 + 3) / (6 + 7 + 10), 2 / 9], "Sales": [(3 + 2 + 1) / (7 + 6 + 5), 0 / 5]}


@pytest.fixture
def app(engine: Engine, settings: Settings, tmp_path: Path) -> Any:
    settings.timezone = org.ZONE
    org.build(engine, settings, tmp_path / "org")
    refresh(engine, settings)
    return create_dash_app(settings, engine)


@pytest.fixture
def ctx(app: Any) -> Iterator[Any]:
    with app.server.test_request_context():
        yield context()


def trace(figure: Any, name: str) -> list[Any]:
    """The y values of the trace called `name`."""
    for item in figure.data:
        if item.name == name:
            return list(item.y)
    raise AssertionError(f"no trace {name!r} in {[t.name for t in figure.data]}")


@BACKENDS
def test_overview_figures_hold_the_hand_computed_series(ctx: Any) -> None:
    view = overview.build(ctx, START, END, None)
    share = view.panels["overview-share"].figure
    assert [str(d)[:10] for d in share.data[0].x] == [
        "2025-03-28", "2025-03-29", "2025-03-30", "2025-03-31"]
    assert trace(share, "Daily") == pytest.approx(ALL_SHARE)
    members = view.panels["overview-members"].figure
    assert trace(members, "Members") == ALL_MEMBERS
    assert trace(members, "Engaged") == ALL_ENGAGED
    assert trace(members, "Active") == ALL_ACTIVE
    assert share.layout.shapes[0].y0 == 0.5  # the target line from settings
    sentence, _regions, share_kpi, _delta, members_kpi = view.extras[:5]
    assert sentence == ("2% of members engaged on a typical weekday in March 2025, up 1.8 "
                        "points on February.")
    assert members_kpi == "14"  # members on the range's last day
    assert share_kpi == "–" or share_kpi == "hidden"  # fewer than 7 days: no 7-day average


@BACKENDS
def test_region_filter_keeps_people_of_that_region(ctx: Any) -> None:
    view = overview.build(ctx, START, END, "EMEA")  # everyone in the roster is in EMEA
    assert trace(view.panels["overview-members"].figure, "Members") == ALL_MEMBERS
    assert view.extras[1] == [{"label": "EMEA", "value": "EMEA"}]
    assert view.panels["overview-share"].note == "Region: EMEA"


@BACKENDS
def test_departments_heatmap_and_table(ctx: Any) -> None:
    view = departments.build(ctx, "department", None, START, END)
    heat = view.panels["departments-heatmap"].figure.data[0]
    assert list(heat.y) == ["Sales", "Ops"]
    assert [str(x)[:10] for x in heat.x] == ["2025-03-24", "2025-03-31"]
    assert list(heat.z[0]) == pytest.approx(WEEKLY["Sales"])
    assert list(heat.z[1]) == pytest.approx(WEEKLY["Ops"])
    assert view.panels["departments-heatmap"].note is None
    table = {row["group"]: row for row in view.extras[0]}
    assert table["Ops"]["engaged_share"] == pytest.approx((0 + 1 + 3 + 2) / (6 + 7 + 10 + 9))
    assert table["Sales"]["engaged_share"] == pytest.approx((3 + 2 + 1 + 0) / (7 + 6 + 5 + 5))
    assert table["Sales"]["change"] == pytest.approx(-100 / 3)
    assert table["Ops"]["members"] == 9 and table["Sales"]["members"] == 5
    assert {o["value"] for o in view.extras[1]} >= {"department", "region", "country"}


@BACKENDS
def test_a_small_group_is_shown_as_hidden(ctx: Any) -> None:
    ctx.settings.privacy.min_group_size = 6  # Sales has 5 members on the 30th and 31st
    view = departments.build(ctx, "department", None, START, END)
    heat = view.panels["departments-heatmap"].figure.data[0]
    # Sales (5 < 6) is withheld in both weeks, and Ops with it (the complementary rule).
    assert [list(row) for row in heat.text] == [["hidden", "hidden"], ["hidden", "hidden"]]
    note = view.panels["departments-heatmap"].note
    assert note.children[0].children == "hidden: fewer than 6 people"
    assert note.children[1] == " — Ops, Sales"
    frame = view.panels["departments-heatmap"].frame
    assert frame["engaged_share"].isna().all() and frame["members"].notna().all()
    table = {row["group"]: row for row in view.extras[0]}
    assert table["Sales"]["status"] == "hidden: fewer than 6 people"
    assert table["Sales"]["engaged_share"] is None and table["Sales"]["trend"] == ""


@BACKENDS
def test_regions_and_the_offline_map(ctx: Any) -> None:
    view = regions.build(ctx, None, START, END)
    assert view.extras[0] == [{"label": "EMEA", "value": "EMEA"}]
    country_map = view.panels["regions-map"].figure.data[0]
    assert list(country_map.x) == [-3.4] and list(country_map.y) == [55.4]  # GB → UK centre
    trend = view.panels["regions-trend"].figure
    assert trace(trend, "EMEA") == pytest.approx(
        [(3 + 3 + 4) / (13 + 13 + 15), 2 / 14])


@BACKENDS
def test_listening_and_collaboration_plot_what_metrics_return(ctx: Any) -> None:
    view = listening.build(ctx, "week", "department", START, END)
    frame = view.panels["listening-rate"].frame
    assert trace(view.panels["listening-rate"].figure, "Reply rate") == pytest.approx(
        frame["reply_rate"].tolist(), nan_ok=True)
    assert len(frame) > 0
    collab = collaboration.build(ctx, "week", START, END)
    matrix = collab.panels["collaboration-matrix"]
    assert set(matrix.frame.columns) >= {"group", "target", "replies", "people", "suppressed"}
    hidden_cells = int(matrix.frame["suppressed"].sum())
    labels = [cell for row in matrix.figure.data[0].text for cell in row] if len(
        matrix.frame) else []
    assert labels.count("hidden") == hidden_cells


@BACKENDS
def test_executive_page_defaults_to_the_latest_complete_month(ctx: Any) -> None:
    view = executive.build(ctx, None)
    body, options, label, month = view.extras
    assert (label, month) == ("March 2025", "2025-03")
    assert [o["value"] for o in options] == ["2025-03", "2025-02", "2025-01"]
    assert trace(view.panels["executive-daily"].figure, "Daily")[-4:] == pytest.approx(ALL_SHARE)


def test_errors_become_an_alert(ctx: Any, monkeypatch: pytest.MonkeyPatch,
                                caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise MetricError("unknown attribute 'shoe_size'; known: all, department")

    monkeypatch.setattr(read, "read_engagement", refuse)
    out = overview.update(START, END, None)
    assert out[0].children == "unknown attribute 'shoe_size'; known: all, department"
    assert out[0].color == "danger"
    assert all(value is no_update for value in out[1:])

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(read, "read_engagement", crash)
    with caplog.at_level(logging.ERROR):
        out = overview.update(START, END, None)
    assert out[0].children == "This view could not be loaded; the error was logged for the " \
        "administrator."
    assert "ZeroDivisionError" in caplog.text


def test_layouts_are_data_free_and_take_the_query_string(ctx: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read, "read_engagement", lambda *a, **k: pytest.fail("layout read data"))
    page = departments.layout(by="region", region="EMEA", start="2025-03-01", end="nonsense")
    dropdowns = {c.id: c for c in _walk(page) if getattr(c, "id", None)}
    assert dropdowns["departments-by"].value == "region"
    assert dropdowns["departments-region"].value == "EMEA"
    assert dropdowns["departments-dates"].start_date == "2025-03-01"
    assert dropdowns["departments-dates"].end_date is None
    months = {c.id: c for c in _walk(executive.layout(month="2025-13")) if getattr(c, "id", None)}
    assert months["executive-month"].value is None
    months = {c.id: c for c in _walk(executive.layout(month="2025-02")) if getattr(c, "id", None)}
    assert months["executive-month"].value == "2025-02"


def _walk(component: Any) -> Iterator[Any]:
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            yield from _walk(child)


def test_csv_download_through_the_server(app: Any) -> None:
    client = app.server.test_client()
    response = call(client, "overview-share-download.data",
                    {"overview-dates.start_date": START, "overview-dates.end_date": END},
                    trigger="overview-share-csv.n_clicks")
    assert response.status_code == 200
    payload = response.get_json()["response"]["overview-share-download"]["data"]
    assert payload["filename"] == f"uptake-overview-share-{dt.date.today().isoformat()}.csv"
    rows = list(csv.DictReader(io.StringIO(payload["content"])))
    assert [r["day"] for r in rows] == ["2025-03-28", "2025-03-29", "2025-03-30", "2025-03-31"]
    assert [int(r["members"]) for r in rows] == ALL_MEMBERS
    assert [float(r["engaged_share"]) for r in rows] == pytest.approx(ALL_SHARE)


def test_csv_cells_are_escaped_against_formulas() -> None:
    import pandas as pd

    frame = pd.DataFrame({
        "group": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "\tTab", "\rCR", "Sales"],
        "members": [1, 2, -3, 4, 5, 6, 7],
    })
    lines = to_csv(frame).splitlines()
    assert lines[0] == "group,members"
    assert lines[1] == "\"'=HYPERLINK(\"\"http://x\"\")\",1"
    assert lines[2:5] == ["'+1,2", "'-2,-3", "'@SUM(A1),4"]
    assert lines[-1] == "Sales,7"
    assert "'\tTab,5" in to_csv(frame) and "'\rCR" in to_csv(frame)
