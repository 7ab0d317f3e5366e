"""Real-browser tests: headless Debian Chromium drives the running app over a small demo store."""

from __future__ import annotations

import base64
import csv
import io
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, TEST_HASH_KEY

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
README_SHOT = Path(__file__).parent.parent / "docs" / "overview.png"
USERS = {"ada": ("admin", "admin-pass-1"), "erin": ("executive", "exec-pass-2")}
PAGES = {
    "overview": "/",
    "departments": "/departments",
    "regions": "/regions",
    "listening": "/listening",
    "collaboration": "/collaboration",
    "executive": "/executive",
    "health": "/health",
    "about": "/about",
}
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _chromium_problem() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


def _require_chromium() -> None:
    problem = _chromium_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"CI needs the browser tests: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard over a 300-member × 60-day demo store, served on a free local port."""
    _require_chromium()
    from werkzeug.serving import make_server

    from dashboards import auth
    from dashboards.server import create_dash_app
    from demo.run import run_demo
    from metrics.refresh import refresh
    from settings import load_settings
    from store.engine import make_engine
    from store.migrate import upgrade

    root = tmp_path_factory.mktemp("browser")
    users = root / "users.txt"
    users.write_text(
        "\n".join(auth.user_line(name, role, pw) for name, (role, pw) in USERS.items()) + "\n"
    )
    config = root / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{root / 'store.db'}'}}\n"
        "privacy: {min_group_size: 5, hash_key_file: '" + str(root / "hash.key") + "'}\n"
        f"auth: {{mode: basic, users_file: '{users}'}}\n"
        f"demo: {{out: '{root / 'demo'}'}}\n"
    )
    settings = load_settings(config, environ={"UPTAKE_HASH_KEY": TEST_HASH_KEY})
    engine = make_engine(settings.database.url)
    upgrade(engine)
    run_demo(settings, members=300, days=60, seed=7, out=str(root / "demo"), ingest=True,
             if_empty=False)
    refresh(engine, settings)
    app = create_dash_app(settings, engine)
    port = _free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def _context(browser: Any, user: str, downloads: bool = False) -> Any:
    _, password = USERS[user]
    return browser.new_context(
        http_credentials={"username": user, "password": password},
        viewport={"width": 1400, "height": 1000},
        accept_downloads=downloads,
    )


def _open(context: Any, url: str) -> tuple[Any, list[str]]:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return page, errors


def _settle(page: Any, graph: str | None = None) -> None:
    page.wait_for_load_state("networkidle")
    if graph:
        page.wait_for_selector(f"#{graph} .main-svg", timeout=20_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-dash-is-loading=\"true\"]')", timeout=20_000
    )


def _trace(page: Any, graph: str, index: int = 0, key: str = "x") -> list[Any]:
    return page.evaluate(
        "([id, i, k]) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');"
        " return gd && gd._fullData[i] ? Array.from(gd._fullData[i][k] || []) : null; }",
        [graph, index, key],
    )


def _wait_for_label(page: Any, graph: str, label: str, present: bool) -> None:
    page.wait_for_function(
        "([id, label, present]) => {"
        " const gd = document.querySelector('#' + id + ' .js-plotly-plot');"
        " if (!gd || !gd._fullData || !gd._fullData[0] || !gd._fullData[0].y) return false;"
        " const y = Array.from(gd._fullData[0].y);"
        " return y.length > 0 && y.includes(label) === present; }",
        arg=[graph, label, present],
        timeout=20_000,
    )


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_loads_without_console_errors(live_app: str, browser: Any, name: str) -> None:
    context = _context(browser, "ada")
    page, errors = _open(context, live_app + PAGES[name])
    _settle(page)
    page.wait_for_timeout(500)
    alerts = page.locator(".alert-danger")
    assert alerts.count() == 0, alerts.all_inner_texts()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if name == "overview" and (not README_SHOT.exists() or os.environ.get("UPTAKE_SCREENSHOTS")):
        README_SHOT.parent.mkdir(exist_ok=True)  # the committed README image stays as it is
        page.screenshot(path=str(README_SHOT), full_page=False)
    assert errors == []
    context.close()


def test_a_filter_changes_a_chart_and_the_url(live_app: str, browser: Any) -> None:
    context = _context(browser, "ada")
    page, errors = _open(context, live_app + "/departments")
    _wait_for_label(page, "departments-heatmap-graph", "Claims", present=True)
    before = _trace(page, "departments-heatmap-graph", key="y")
    page.locator("#departments-by").click()
    page.get_by_role("option", name="region", exact=True).click()
    _wait_for_label(page, "departments-heatmap-graph", "Claims", present=False)
    after = _trace(page, "departments-heatmap-graph", key="y")
    assert "Claims" in before and "Claims" not in after
    assert "by=region" in page.url
    shared, _ = _open(context, page.url)  # the link reproduces the view
    _wait_for_label(shared, "departments-heatmap-graph", "Claims", present=False)
    assert _trace(shared, "departments-heatmap-graph", key="y") == after
    assert errors == []
    context.close()


def test_csv_download_has_the_chart_rows(live_app: str, browser: Any) -> None:
    context = _context(browser, "ada", downloads=True)
    page, errors = _open(context, live_app + "/")
    _settle(page, "overview-share-graph")
    days = _trace(page, "overview-share-graph", key="x")
    with page.expect_download() as info:
        page.locator("#overview-share-csv").click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert download.suggested_filename.startswith("uptake-overview-share-")
    assert len(rows) == len(days) > 0
    assert {"day", "members", "engaged", "engaged_share"} <= set(rows[0])
    assert [r["day"] for r in rows] == [str(d)[:10] for d in days]
    assert errors == []
    context.close()


def test_a_small_group_is_shown_as_hidden(live_app: str, browser: Any) -> None:
    context = _context(browser, "ada")
    page, errors = _open(context, live_app + "/departments")
    _wait_for_label(page, "departments-heatmap-graph", "Claims", present=True)
    note = page.locator("#departments-heatmap-note")
    note.wait_for()
    assert "hidden: fewer than 5 people" in note.inner_text()
    assert "Executive Office" in note.inner_text()
    labels = _trace(page, "departments-heatmap-graph", key="text")
    assert any("hidden" in row for row in labels)
    assert errors == []
    context.close()


def test_a_user_without_the_role_cannot_see_or_call(live_app: str, browser: Any) -> None:
    from tests.dash_client import callback_body, find

    context = _context(browser, "erin")
    page = context.new_page()
    assert page.goto(live_app + "/departments").status == 403
    assert page.goto(live_app + "/health").status == 403
    page.goto(live_app + "/")
    assert page.url.endswith("/executive")
    nav = page.locator(".navbar").inner_text()
    assert "Executive summary" in nav and "Departments" not in nav
    admin = base64.b64encode(b"ada:" + USERS["ada"][1].encode()).decode()
    deps = context.request.get(live_app + "/_dash-dependencies",
                               headers={"Authorization": f"Basic {admin}"}).json()
    body = callback_body(find(deps, "departments-heatmap-graph.figure"))
    refused = context.request.post(live_app + "/_dash-update-component", data=body)
    assert refused.status == 403
    allowed = context.request.post(
        live_app + "/_dash-update-component", data=body,
        headers={"Authorization": f"Basic {admin}"},
    )
    assert allowed.status == 200
    context.close()

