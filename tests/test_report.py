"""The monthly executive report: hand-computed figures, self-contained HTML, PDF via Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dashboards._monthly import build_summary
from dashboards.report import find_chromium, write_monthly_report
from errors import MetricError, UptakeError
from metrics.refresh import refresh
from settings import Settings
from tests import engagement_org as org
from tests.conftest import BACKENDS, IN_CI

# engagement_org: data from 2025-01-10 (accounts join) to 2025-03-31; 13 members and nobody
# engaged every day until 2025-03-28 (Fri) … 2025-03-31 (Mon): members 13, 13, 15, 14 and
# engaged 3, 3, 4, 2. March has 21 weekdays; only the 28th (3/13) and 31st (2/14) engaged.
WEEKDAY_SHARE = (3 / 13 + 2 / 14) / 21  # 0.0178 → "2%"; February: 0
MEMBERS = (29 * 13 + 15 + 14) / 31  # 13.097 → "13"; February: 13
DAILY_SHARES = [0.0] * 27 + [3 / 13, 3 / 13, 4 / 15, 2 / 14]
SENTENCE = "2% of members engaged on a typical weekday in March 2025, up 1.8 points on February."


@pytest.fixture
def store(engine: Engine, settings: Settings, tmp_path: Path) -> Engine:
    settings.timezone = org.ZONE
    org.build(engine, settings, tmp_path / "org")
    refresh(engine, settings)
    return engine


@BACKENDS
def test_summary_holds_the_hand_computed_figures(store: Engine, settings: Settings) -> None:
    summary = build_summary(store, settings, "2025-03")
    share, members = summary.kpis[0], summary.kpis[1]
    assert share.value == pytest.approx(WEEKDAY_SHARE)
    assert share.previous == 0.0 and share.year_ago is None
    assert members.value == pytest.approx(MEMBERS) and members.previous == pytest.approx(13)
    assert summary.sentences[0] == SENTENCE
    assert summary.sentences[1] == (
        "On an average day there were 13 members (unchanged on the month before)."
    )
    assert list(summary.daily["engaged_share"]) == pytest.approx(DAILY_SHARES)
    # March as ratios of sums: Ops 6 engaged / 194 member-days, Sales 6 / 212; February 0.
    assert summary.rising["group"].tolist() == ["Ops", "Sales"]
    assert summary.rising["engaged_share"].tolist() == pytest.approx([6 / 194, 6 / 212])
    assert summary.rising["change"].tolist() == pytest.approx([6 / 194, 6 / 212])
    assert summary.falling.empty
    assert summary.sentences[2] == "Ops rose most: 3%, up 3.1 points."


@BACKENDS
def test_html_report_is_self_contained(store: Engine, settings: Settings, tmp_path: Path) -> None:
    path = write_monthly_report(store, settings, "2025-03", str(tmp_path / "march.html"))
    text = path.read_text(encoding="utf-8")
    assert "Executive summary — March 2025" in text
    assert SENTENCE in text
    assert re.search(r'<(script|link|img)[^>]+(src|href)="?https?:', text) is None
    assert text.count('class="plotly-graph-div"') == 2
    assert "Plotly.newPlot" in text and len(text) > 1_000_000  # plotly.js inlined


def test_report_needs_a_known_suffix_and_month(engine: Engine, settings: Settings,
                                               tmp_path: Path) -> None:
    with pytest.raises(UptakeError, match=r"\.html or \.pdf"):
        write_monthly_report(engine, settings, "2025-03", str(tmp_path / "march.docx"))
    with pytest.raises(MetricError, match="no data for 2025-03"):
        write_monthly_report(engine, settings, "2025-03", str(tmp_path / "march.html"))


def _chromium_or_skip() -> str:
    chromium = find_chromium()
    if chromium is None:
        if IN_CI:
            pytest.fail("CI needs Chromium for the report tests")
        pytest.skip("Chromium is not installed: the offline-open and PDF tests need it")
    return chromium


def test_html_report_opens_offline_with_the_months_figures(
    store: Engine, settings: Settings, tmp_path: Path
) -> None:
    chromium = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    path = write_monthly_report(store, settings, "2025-03", str(tmp_path / "march.html"))
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.route("**/*", lambda route: (requested.append(route.request.url), route.abort())
                   if not route.request.url.startswith("file:") else route.continue_())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("#chart-daily .main-svg")
        daily = page.evaluate(
            "() => Array.from(document.getElementById('chart-daily')._fullData[0].y)"
        )
        text = page.inner_text("body")
        browser.close()
    assert requested == [] and errors == []
    assert daily == pytest.approx(DAILY_SHARES)
    assert "Members (daily average)\n13\n" in text


def test_pdf_report(store: Engine, settings: Settings, tmp_path: Path) -> None:
    _chromium_or_skip()
    path = write_monthly_report(store, settings, "2025-03", str(tmp_path / "out" / "march.pdf"))
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000


def test_report_command(store: Engine, settings: Settings, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    from app import main

    config = tmp_path / "report.yaml"
    config.write_text(f"database: {{url: '{settings.database.url}'}}\ntimezone: {org.ZONE}\n")
    out = tmp_path / "cli.html"
    assert main(["--config", str(config), "report", "monthly", "--month", "2025-03",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert "March 2025" in out.read_text(encoding="utf-8")
    assert main(["--config", str(config), "report", "monthly", "--month", "2019-01",
                 "--out", str(out)]) == 2
    assert "no data for 2019-01" in capsys.readouterr().err
