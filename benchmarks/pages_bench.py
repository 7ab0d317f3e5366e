"""Pages benchmark: each page's callbacks through the server (Flask test client) and first load.

`run(scale, workdir)` reuses the demo store the ingest benchmark leaves in `workdir` (building
it when missing), refreshes the metrics, then times every page callback as the browser calls it
(`POST /_dash-update-component`, default filters) — uncached (the page's result cache cleared
before each call) and cached (a repeated view until the next refresh) — and a first page load
on a fresh app (the HTML, layout, dependencies, router, freshness banner and the page's
callback, in the browser's order).
Targets (issue 4): p95 under 150 ms per callback, first load under 1 s.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

REPEAT = 15
COLD_REPEAT = 20  # p95 of 20 samples: one stray pause does not decide it
WARMUP = 2
CALLBACK_TARGET_MS = 150.0
FIRST_LOAD_TARGET_MS = 1000.0


def run(scale: int, workdir: Path) -> list[dict[str, Any]]:
    """Time every page at `scale` members; one row per page."""
    from benchmarks import ingest_bench
    from dashboards.pages import page_modules
    from dashboards.server import create_dash_app
    from metrics.refresh import refresh
    from settings import load_settings
    from store.engine import make_engine

    workdir = Path(workdir)
    if not (workdir / ingest_bench.STORE).exists():
        ingest_bench.run(scale, workdir)
    settings = load_settings(ingest_bench.config_path(workdir),
                             environ={"UPTAKE_HASH_KEY": ingest_bench.HASH_KEY})
    engine = make_engine(settings.database.url)
    refresh(engine, settings)
    rows = []
    for module in page_modules():
        page = module.PAGE
        app = create_dash_app(settings, engine)  # a fresh app: the first load is cold
        client = app.server.test_client()
        first = _first_load(client, page.path, page.name)
        warm = [_page_callback(client, page.name) for _ in range(WARMUP + REPEAT)][WARMUP:]
        cache = app.server.extensions["uptake"]._cache
        cold = []
        for _ in range(COLD_REPEAT):
            cache.clear()
            cold.append(_page_callback(client, page.name))
        p50, p95 = _quantiles(cold)
        warm50, warm95 = _quantiles(warm)
        rows.append({
            "bench": "pages", "scale": scale, "page": page.name,
            "callback_p50_ms": p50, "callback_p95_ms": p95,
            "cached_p50_ms": warm50, "cached_p95_ms": warm95,
            "first_load_ms": first,
            "ok": (p95 is None or p95 < CALLBACK_TARGET_MS) and first < FIRST_LOAD_TARGET_MS,
        })
    engine.dispose()
    return rows


def _quantiles(samples: list[float | None]) -> tuple[float | None, float | None]:
    values = sorted(s for s in samples if s is not None)
    if not values:
        return None, None
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return statistics.median(values), p95


def _post(client: Any, component: str, values: dict[str, Any] | None = None) -> float | None:
    from tests.dash_client import callback_body, find

    deps = client.get("/_dash-dependencies").get_json()
    try:
        dep = find(deps, component)
    except AssertionError:
        return None
    body = callback_body(dep, values)
    started = time.perf_counter()
    response = client.post("/_dash-update-component", json=body)
    took = (time.perf_counter() - started) * 1000
    if response.status_code not in (200, 204):
        raise RuntimeError(f"{component}: HTTP {response.status_code}")
    return took


def _page_callback(client: Any, name: str) -> float | None:
    """The page's main callback (the one that writes its alert), default filters."""
    return _post(client, f"{name}-alert.children")


def _first_load(client: Any, path: str, name: str) -> float:
    started = time.perf_counter()
    for url in (path, "/_dash-layout", "/_dash-dependencies"):
        if client.get(url).status_code != 200:
            raise RuntimeError(f"GET {url} failed")
    _post(client, "_pages_content.children",
          {"_pages_location.pathname": path, "_pages_location.search": ""})
    _post(client, "app-freshness.children", {"_pages_location.pathname": path})
    _page_callback(client, name)
    return (time.perf_counter() - started) * 1000
