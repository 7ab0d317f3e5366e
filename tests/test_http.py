"""HTTP helper: timeouts, capped retries honouring Retry-After, typed errors, no token leaks."""

from __future__ import annotations

import datetime as dt
import email.utils
import http.server
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses

from errors import FatalSourceError, RetriableSourceError
from ingest import http as uhttp
from settings import load_settings

URL = "https://api.example.test/reports/x"
SECRET = "s3cr3t-TOKEN-value"


@pytest.fixture
def cfg(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text("http: {timeout_s: 7, max_retries: 3, backoff_s: 2, max_wait_s: 10}\n")
    return load_settings(config, environ={})


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(uhttp, "_sleep", slept.append)
    monkeypatch.setattr(uhttp, "_now", lambda: dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC))
    return slept


@responses.activate
def test_success_sends_bearer_and_timeout(cfg, waits):
    responses.get(URL, body="ok")
    session = uhttp.make_session(cfg)
    seen: dict[str, object] = {}
    original = session.request

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    session.request = spy  # type: ignore[method-assign]
    response = uhttp.fetch(session, "GET", URL, settings=cfg, token=SECRET)
    assert response.text == "ok"
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {SECRET}"
    assert seen["timeout"] == 7
    assert "Authorization" not in session.headers
    assert waits == []


@responses.activate
def test_429_retry_after_seconds_is_honoured_and_capped(cfg, waits):
    responses.get(URL, status=429, headers={"Retry-After": "3"})
    responses.get(URL, status=429, headers={"Retry-After": "120"})
    responses.get(URL, body="done")
    response = uhttp.fetch(uhttp.make_session(cfg), "GET", URL, settings=cfg)
    assert response.text == "done"
    assert waits == [3.0, 10.0]  # the second Retry-After is capped at max_wait_s


@responses.activate
def test_429_retry_after_http_date(cfg, waits):
    in_4s = email.utils.format_datetime(dt.datetime(2026, 3, 2, 12, 0, 4, tzinfo=dt.UTC), True)
    in_1h = email.utils.format_datetime(dt.datetime(2026, 3, 2, 13, 0, 0, tzinfo=dt.UTC), True)
    responses.get(URL, status=429, headers={"Retry-After": in_4s})
    responses.get(URL, status=503, headers={"Retry-After": in_1h})
    responses.get(URL, body="done")
    uhttp.fetch(uhttp.make_session(cfg), "GET", URL, settings=cfg)
    assert waits == [4.0, 10.0]


@responses.activate
def test_repeated_5xx_backs_off_doubling_then_retriable(cfg, waits):
    for _ in range(4):
        responses.get(URL, status=502)
    with pytest.raises(RetriableSourceError, match=r"HTTP 502 after 4 attempts") as info:
        uhttp.fetch(uhttp.make_session(cfg), "GET", URL, settings=cfg, token=SECRET)
    assert waits == [2.0, 4.0, 8.0]
    assert len(responses.calls) == 4
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_refused_is_fatal_and_names_permission(cfg, waits, status):
    responses.get(URL, status=status, body=f"token {SECRET} invalid")
    with pytest.raises(FatalSourceError) as info:
        uhttp.fetch(
            uhttp.make_session(cfg), "GET", URL, settings=cfg, token=SECRET,
            permission_hint="Reports.Read.All",
        )
    assert f"HTTP {status}" in str(info.value) and "Reports.Read.All" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert waits == [] and len(responses.calls) == 1


@responses.activate
def test_other_4xx_is_fatal_without_retry(cfg, waits):
    responses.get(URL, status=404)
    with pytest.raises(FatalSourceError, match="HTTP 404"):
        uhttp.fetch(uhttp.make_session(cfg), "GET", URL, settings=cfg)
    assert waits == []


@responses.activate
def test_timeout_retried_then_fails_clearly(cfg, waits, caplog):
    for _ in range(4):
        responses.get(URL, body=requests.Timeout("read timed out"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RetriableSourceError) as info:
        uhttp.fetch(uhttp.make_session(cfg), "GET", URL + "?sig=abc", settings=cfg, token=SECRET)
    assert str(info.value) == (
        f"GET {URL}: timed out after 7s after 4 attempts; will retry at the next run"
    )
    assert waits == [2.0, 4.0, 8.0]
    assert SECRET not in caplog.text and "sig=abc" not in caplog.text
    assert "timed out" in caplog.text


@responses.activate
def test_connection_error_then_success(cfg, waits):
    responses.get(URL, body=requests.ConnectionError("refused"))
    responses.get(URL, body="ok")
    assert uhttp.fetch(uhttp.make_session(cfg), "GET", URL, settings=cfg).text == "ok"
    assert waits == [2.0]


@responses.activate
def test_redirect_is_returned_when_not_followed(cfg, waits):
    responses.get(URL, status=302, headers={"Location": "https://dl.example.test/f.csv"})
    response = uhttp.fetch(
        uhttp.make_session(cfg), "GET", URL, settings=cfg, token=SECRET, allow_redirects=False
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://dl.example.test/f.csv"


def test_parse_retry_after(waits):
    assert uhttp.parse_retry_after(None) is None
    assert uhttp.parse_retry_after("  ") is None
    assert uhttp.parse_retry_after("17") == 17.0
    assert uhttp.parse_retry_after("Mon, 02 Mar 2026 12:00:30 GMT") == 30.0
    assert uhttp.parse_retry_after("Mon, 02 Mar 2026 11:00:00 GMT") == 0.0  # in the past
    assert uhttp.parse_retry_after("soon") is None


@responses.activate
def test_download_writes_file_and_removes_part(cfg, waits, tmp_path):
    body = b"a,b\n1,2\n" * 1000
    responses.get(URL, body=body)
    dest = uhttp.download(uhttp.make_session(cfg), URL, tmp_path / "out" / "x.zip", settings=cfg)
    assert dest.read_bytes() == body
    assert not (tmp_path / "out" / "x.zip.part").exists()


@responses.activate
def test_download_short_body_against_content_length_is_retriable(cfg, waits, tmp_path):
    responses.add(
        responses.Response(
            "GET", URL, body=b"12345", headers={"Content-Length": "10"},
            auto_calculate_content_length=False,
        )
    )
    dest = tmp_path / "x.zip"
    with pytest.raises(RetriableSourceError, match=r"x: (truncated download|download interrupted)"):
        uhttp.download(uhttp.make_session(cfg), URL, dest, settings=cfg)
    assert not dest.exists() and not (tmp_path / "x.zip.part").exists()


class _Truncating(http.server.BaseHTTPRequestHandler):
    """Promises 1,000 bytes, sends 100, then closes the connection."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"x" * 100)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def truncating_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Truncating)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/export.zip"
    server.shutdown()
    server.server_close()


def test_download_truncated_by_real_server(cfg, waits, tmp_path, truncating_server):
    dest = tmp_path / "export.zip"
    with pytest.raises(RetriableSourceError) as info:
        uhttp.download(uhttp.make_session(cfg), truncating_server, dest, settings=cfg, token=SECRET)
    message = str(info.value)
    assert message.startswith(f"GET {truncating_server}: ")
    assert "of 1,000 bytes" in message and SECRET not in message
    assert not dest.exists() and not (tmp_path / "export.zip.part").exists()
