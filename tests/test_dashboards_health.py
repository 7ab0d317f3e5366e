"""Data health: freshness, failed runs, missing days, concealed names and store size."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dashboards._components import freshness_banner
from dashboards.pages import health as page
from errors import IngestError
from ingest.hr_roster import RosterSource
from ingest.runner import run_source
from metrics import health
from settings import Settings
from tests import engagement_org as org
from tests.conftest import BACKENDS

TODAY = dt.date(2025, 4, 2)


@pytest.fixture
def store(engine: Engine, settings: Settings, tmp_path: Path) -> Engine:
    settings.timezone = org.ZONE
    org.build(engine, settings, tmp_path / "org")
    broken = tmp_path / "broken.csv"
    broken.write_text("name,team\nx,y\n")  # no email column: the run fails and is recorded
    with pytest.raises(IngestError):
        run_source(engine, settings, RosterSource(settings, broken, as_of="2025-04-01"))
    return engine


@BACKENDS
def test_freshness_per_source(store: Engine) -> None:
    fresh = health.compute_freshness(store).set_index("source")
    assert fresh.loc["graph-yammer-activity", "last_day"] == dt.date(2025, 3, 31)
    assert fresh.loc["yammer-export", "last_day"] == dt.date(2025, 3, 31)
    assert fresh.loc["hr-roster", "last_day"] == dt.date(2025, 3, 30)
    assert fresh["last_success_at"].notna().all()


@BACKENDS
def test_source_status_counts_failures(store: Engine) -> None:
    status = health.compute_source_status(store, TODAY).set_index("source")
    assert status.loc["hr-roster", "last_status"] == "failed"
    assert status.loc["hr-roster", "failed_runs_30d"] == 1
    assert status.loc["graph-yammer-activity", "days_behind"] == 2
    assert status.loc["yammer-export", "last_status"] == "success"
    later = health.compute_source_status(store, dt.date.today() + dt.timedelta(days=31))
    assert later.set_index("source").loc["hr-roster", "failed_runs_30d"] == 0  # aged out


@BACKENDS
def test_recent_problems_name_the_reason(store: Engine) -> None:
    problems = health.compute_recent_problems(store)
    failed = problems[problems["status"] == "failed"]
    assert failed["source"].tolist() == ["hr-roster"]
    assert "email" in failed["error"].iloc[0]


@BACKENDS
def test_missing_days(store: Engine) -> None:
    missing = health.compute_missing_days(store)
    graph = missing[missing["source"] == "graph-yammer-activity"]["day"].tolist()
    assert graph == [dt.date(2025, 3, 29)]  # reports exist for the 28th, 30th and 31st


@BACKENDS
def test_concealed_names_and_store_size(store: Engine) -> None:
    counts = health.compute_concealed(store)
    assert counts["concealed"] == 0 and counts["people"] > 0
    assert page.concealed_warning(counts) is None
    warning = page.concealed_warning({"people": 10, "concealed": 4})
    assert "4 of 10 people" in warning.children[1]
    sizes, total = health.compute_store_size(store)
    assert {"people", "daily_activity", "ingest_runs"} <= set(sizes["table"])
    if store.dialect.name == "sqlite":
        rows = sizes.set_index("table")["rows"]
        assert rows["ingest_runs"] >= 4 and rows["roster_snapshots"] == 2
    assert total is not None and total > 0


def test_freshness_banner_turns_amber_when_activity_is_late() -> None:
    import pandas as pd

    frame = pd.DataFrame({"source": ["graph-yammer-activity", "hr-roster"],
                          "last_day": [dt.date(2025, 3, 31), dt.date(2025, 1, 1)]})
    assert freshness_banner(frame, dt.date(2025, 4, 2)).color == "light"  # roster is monthly
    assert freshness_banner(frame, dt.date(2025, 4, 9)).color == "warning"
    empty = freshness_banner(frame.iloc[0:0], dt.date(2025, 4, 2))
    assert "No data has been ingested yet" in empty.children
