"""The pages' period metrics are stored at refresh exactly as computed, and read back suppressed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from demo.run import run_demo
from metrics.facts import load_facts
from metrics.materialise import PAGE_VIEWS, implementation, read_view, views
from metrics.read import read_metric
from metrics.refresh import read_state, refresh
from settings import Settings
from store.aggregates import AggResult
from tests.conftest import BACKENDS

END = dt.date(2026, 3, 31)


@pytest.fixture
def demo_store(settings: Settings, engine: Engine, tmp_path: Path) -> tuple[Engine, Settings]:
    run_demo(settings, members=150, days=70, seed=11, out=tmp_path / "demo", end=END,
             say=lambda _: None)
    refresh(engine, settings, full=True)
    return engine, settings


@BACKENDS
def test_every_page_view_is_stored_as_computed(demo_store: tuple[Engine, Settings]) -> None:
    engine, settings = demo_store
    facts = load_facts(engine, settings, with_messages=True)
    dimensions = read_state(engine).dimensions.split(",")
    wanted = list(views(dimensions))
    assert {name for name, _, _ in wanted} == {name for name, _, _ in PAGE_VIEWS}
    assert ("funnel", "region", "month") in wanted
    assert ("reply_matrix", "department", "week") in wanted
    for name, by, grain in wanted:
        computed = implementation(name)[0](facts, by, facts.start, facts.end, grain)
        with engine.connect() as conn:
            stored = read_view(conn, name, by, grain, facts.start, facts.end)
        assert len(computed) > 0, (name, by, grain)
        pd.testing.assert_frame_equal(stored, computed, check_dtype=False,
                                      obj=f"{name}/{by}/{grain}")


@BACKENDS
def test_pages_read_whole_periods_and_the_cli_exact_ranges(
    demo_store: tuple[Engine, Settings],
) -> None:
    engine, settings = demo_store
    mid_month = dt.date(2026, 3, 10)
    whole = read_metric(engine, settings, "funnel", "all", mid_month, END, "month",
                        whole_periods=True)
    exact = read_metric(engine, settings, "funnel", "all", mid_month, END, "month")
    assert whole["period"].tolist() == exact["period"].tolist() == [dt.date(2026, 3, 1)]
    # the whole month has more members on some day than its last three weeks
    assert whole["members"].iloc[0] >= exact["members"].iloc[0]
    assert whole["workforce"].iloc[0] > 0
    everything = read_metric(engine, settings, "funnel", "all", None, None, "month")
    assert everything["period"].min() == dt.date(2026, 1, 1)  # 70 days up to 31 March
    assert everything.equals(read_metric(engine, settings, "funnel", "all", None, None, "month",
                                         whole_periods=True))


@BACKENDS
def test_stored_rows_are_suppressed_when_read(demo_store: tuple[Engine, Settings]) -> None:
    engine, settings = demo_store
    settings.privacy.min_group_size = 40
    frame = read_metric(engine, settings, "funnel", "department", whole_periods=True)
    small = frame[frame["members"] < 40]
    assert len(small) > 0 and small["suppressed"].all()
    assert small["engaged"].isna().all() and small["engaged_share"].isna().all()


@BACKENDS
def test_refresh_replaces_the_stored_views(demo_store: tuple[Engine, Settings]) -> None:
    engine, settings = demo_store
    with engine.connect() as conn:
        before = conn.scalar(select(func.count()).select_from(AggResult))
    assert before > 0
    refresh(engine, settings, full=True)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(AggResult)) == before
