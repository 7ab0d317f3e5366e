"""yammer-export from the export API (a fake server via `responses`): windows, cursor, failures."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlalchemy import select

import ingest.http
from errors import FatalSourceError, IngestError, RetriableSourceError, UptakeError
from ingest.runner import read_cursor, run_source
from ingest.yammer_export import YammerExportSource
from settings import Settings, load_settings
from store.identity import Identity
from store.models import DailyActivity, IngestRun, Message
from tests.conftest import BACKENDS, TEST_HASH_KEY
from tests.yammer_fixtures import export_zip, message, user

URL = "https://www.yammer.com/api/v1/export"
TOKEN = "tok-Secret-123"
ANA, BOB = "1111111111111111", "2000000000000002"
ID = Identity(TEST_HASH_KEY.encode())


@pytest.fixture
def api_settings(settings: Settings, tmp_path: Path, monkeypatch) -> Settings:
    """The test settings plus an export token; retries never sleep."""
    monkeypatch.setattr(ingest.http, "_sleep", lambda s: None)
    loaded = load_settings(
        tmp_path / "config.yaml",
        environ={"UPTAKE_HASH_KEY": TEST_HASH_KEY, "UPTAKE_YAMMER_TOKEN": TOKEN},
    )
    loaded.http.max_retries = 1
    return loaded


def day_export(tmp_path: Path, day: dt.date) -> bytes:
    """One day's export: Ana starts a thread at noon, Bob replies; yesterday's reply re-sent."""
    noon = dt.datetime.combine(day, dt.time(12))
    tid = f"20003377495{day:%m%d}0"
    rows = [
        message(tid, tid, ANA, noon, email="ana@example.com"),
        message(f"20003377495{day:%m%d}1", tid, BOB, noon + dt.timedelta(hours=1),
                email="bob@example.com"),
    ]
    before = day - dt.timedelta(days=1)
    prev = f"20003377495{before:%m%d}"
    rows.append(message(f"{prev}1", f"{prev}0", BOB, dt.datetime.combine(before, dt.time(13)),
                        email="bob@example.com"))
    people = [user(ANA, "ana@example.com", joined=dt.datetime(2026, 2, 1))] if day.day == 1 else []
    path = export_zip(tmp_path / f"served-{day}.zip", users=people, messages=rows)
    return path.read_bytes()


Reply = Callable[[dt.date, bytes], tuple[int, dict[str, str], bytes]]


def ok(day: dt.date, body: bytes) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/zip"}, body


def serve(rsps: responses.RequestsMock, tmp_path: Path, reply: Reply = ok) -> list[dict]:
    """Register the fake export endpoint; returns the list of requests it saw."""
    calls: list[dict] = []

    def callback(request):  # type: ignore[no-untyped-def]
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        calls.append({**query, "auth": request.headers.get("Authorization")})
        day = dt.date.fromisoformat(query["since"][:10])
        return reply(day, day_export(tmp_path, day))

    rsps.add_callback(responses.GET, URL, callback=callback)
    return calls


def activity(engine) -> dict[tuple[str, str], tuple[int, int]]:
    names = {ID.person_key("ana@example.com"): "ana", ID.person_key("bob@example.com"): "bob"}
    with engine.connect() as conn:
        rows = conn.execute(select(DailyActivity.person_key, DailyActivity.day,
                                   DailyActivity.posts, DailyActivity.replies)).all()
    return {(names[p], d.isoformat()): (a, b) for p, d, a, b in rows}


def runs(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(IngestRun.__table__).order_by(IngestRun.id)).all()


@BACKENDS
def test_daily_windows_advance_the_cursor(engine, api_settings, tmp_path):
    source = YammerExportSource(api_settings, since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 3))
    with responses.RequestsMock() as rsps:
        calls = serve(rsps, tmp_path)
        results = run_source(engine, api_settings, source)
    assert [r.status for r in results] == ["success"] * 3
    assert calls == [
        {"since": f"2026-03-0{d}T00:00:00+00:00", "until": f"2026-03-0{d + 1}T00:00:00+00:00",
         "include": "csv", "auth": f"Bearer {TOKEN}"}
        for d in (1, 2, 3)
    ]
    assert read_cursor(engine, "yammer-export") == "2026-03-04"
    assert [(r.target, r.window_start) for r in runs(engine)] == [
        (f"api 2026-03-0{d}", f"2026-03-0{d}T00:00:00+00:00") for d in (1, 2, 3)
    ]
    # each day re-delivers yesterday's reply: upserted, never counted twice
    assert activity(engine) == {
        ("ana", "2026-03-01"): (1, 0), ("ana", "2026-03-02"): (1, 0), ("ana", "2026-03-03"): (1, 0),
        ("bob", "2026-02-28"): (0, 1), ("bob", "2026-03-01"): (0, 1), ("bob", "2026-03-02"): (0, 1),
        ("bob", "2026-03-03"): (0, 1),
    }
    assert list(Path(api_settings.sources.yammer_export.download_dir).iterdir()) == []

    # the next run starts at the cursor, whatever --since says
    later = YammerExportSource(api_settings, since=dt.date(2026, 1, 1), until=dt.date(2026, 3, 4))
    with responses.RequestsMock() as rsps:
        calls = serve(rsps, tmp_path)
        run_source(engine, api_settings, later)
    assert [c["since"] for c in calls] == ["2026-03-04T00:00:00+00:00"]
    assert read_cursor(engine, "yammer-export") == "2026-03-05"


def short_read(day: dt.date, body: bytes) -> tuple[int, dict[str, str], bytes]:
    if day.day == 2:  # the connection drops: fewer bytes than Content-Length promised
        return 200, {"Content-Type": "application/zip", "Content-Length": str(len(body))}, \
            body[: len(body) // 2]
    return ok(day, body)


def cut_zip(day: dt.date, body: bytes) -> tuple[int, dict[str, str], bytes]:
    if day.day == 2:  # the server itself sent a cut archive (consistent length)
        return ok(day, body[: len(body) - 200])
    return ok(day, body)


@BACKENDS
@pytest.mark.parametrize(("reply", "error"), [(short_read, RetriableSourceError),
                                              (cut_zip, UptakeError)])
def test_truncated_body_fails_the_run_and_leaves_the_cursor(
    engine, api_settings, tmp_path, reply, error
):
    source = YammerExportSource(api_settings, since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 3))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        calls = serve(rsps, tmp_path, reply)
        with pytest.raises(IngestError, match="api 2026-03-02") as caught:
            run_source(engine, api_settings, source)
    assert isinstance(caught.value.__cause__, error)
    assert len(calls) == 2  # stopped at the failed day
    assert read_cursor(engine, "yammer-export") == "2026-03-02"
    assert [r.status for r in runs(engine)] == ["success", "failed"]
    with engine.connect() as conn:
        days = {t.date() for t in conn.scalars(select(Message.created_at))}
    assert days == {dt.date(2026, 2, 28), dt.date(2026, 3, 1)}  # nothing of 2 March
    assert not any(p.suffix == ".part" for p in tmp_path.rglob("*"))


@BACKENDS
def test_401_is_fatal_and_names_the_permission(engine, api_settings, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    source = YammerExportSource(api_settings, since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 3))
    with responses.RequestsMock() as rsps:
        calls = serve(rsps, tmp_path, lambda day, body: (401, {}, b'{"error":"unauthorized"}'))
        with pytest.raises(IngestError, match="verified admin's token") as caught:
            run_source(engine, api_settings, source)
    assert isinstance(caught.value.__cause__, FatalSourceError)
    assert "401" in str(caught.value)
    assert len(calls) == 1  # never retried
    assert read_cursor(engine, "yammer-export") is None
    [run] = runs(engine)
    assert run.status == "failed" and "verified admin" in run.error
    assert TOKEN not in caplog.text and TOKEN not in run.error


@BACKENDS
def test_missing_token_names_the_environment_variable(engine, settings):
    source = YammerExportSource(settings, since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 1))
    with responses.RequestsMock() as rsps:  # no endpoint registered: any request would fail
        with pytest.raises(IngestError, match="UPTAKE_YAMMER_TOKEN") as caught:
            run_source(engine, settings, source)
        assert len(rsps.calls) == 0
    assert isinstance(caught.value.__cause__, FatalSourceError)
    assert runs(engine)[0].status == "failed"


def test_windows_from_cursor_since_or_configured_start(settings):
    until = dt.date(2026, 3, 3)
    source = YammerExportSource(settings, until=until)
    with pytest.raises(UptakeError, match="--since"):
        source.windows(None)
    settings.sources.yammer_export.start = "2026-03-02"
    assert [w.target for w in source.windows(None)] == ["api 2026-03-02", "api 2026-03-03"]
    assert [w.target for w in source.windows("2026-03-03")] == ["api 2026-03-03"]
    assert source.windows("2026-03-04") == []
    since = YammerExportSource(settings, since=dt.date(2026, 3, 1), until=until)
    assert len(since.windows(None)) == 3
    [window] = YammerExportSource(settings, since=dt.date(2026, 3, 3)).windows("2026-03-03")[:1]
    assert (window.start, window.end) == ("2026-03-03T00:00:00+00:00", "2026-03-04T00:00:00+00:00")
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    assert YammerExportSource(settings).windows(yesterday.isoformat())[-1].payload == yesterday
