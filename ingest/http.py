"""One HTTP session factory: timeouts, capped retries with backoff, typed errors, no token leaks."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from errors import FatalSourceError, RetriableSourceError

log = logging.getLogger(__name__)

USER_AGENT = "uptake/0.1 (+https://github.com/uptake-analytics/uptake)"
RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))
CHUNK_BYTES = 1 << 20

# Replaced by tests so that no test ever waits.
_sleep: Callable[[float], None] = time.sleep


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_session(settings: Any) -> requests.Session:
    """A session with our User-Agent; never holds a token (tokens go on each request)."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def where(url: str) -> str:
    """The URL without its query: pre-authenticated download URLs carry secrets there."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def fetch(
    session: requests.Session,
    method: str,
    url: str,
    *,
    settings: Any,
    token: str | None = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    stream: bool = False,
    allow_redirects: bool = True,
    permission_hint: str = "",
    data: Mapping[str, Any] | None = None,
) -> requests.Response:
    """Send one request with retries; returns a 2xx/3xx response or raises a typed error.

    429, 5xx, connection errors and timeouts are retried `max_retries` times, waiting
    `backoff_s` doubling (or the server's Retry-After), each wait capped at `max_wait_s`.
    401/403 raise FatalSourceError naming `permission_hint`; other 4xx are fatal too.
    """
    http = settings.http
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    target = f"{method} {where(url)}"
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            response = session.request(
                method,
                url,
                params=params,
                data=data,
                headers=sent,
                stream=stream,
                allow_redirects=allow_redirects,
                timeout=http.timeout_s,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = _describe(exc, http.timeout_s)
        else:
            status = response.status_code
            if status < 400:
                return response
            response.close()
            if status in (401, 403):
                raise FatalSourceError(_refused(target, status, permission_hint))
            if status not in RETRY_STATUS:
                raise FatalSourceError(f"{target}: HTTP {status} {response.reason or ''}".rstrip())
            last = f"HTTP {status}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if attempt >= http.max_retries:
            raise RetriableSourceError(
                f"{target}: {last} after {attempt + 1} attempts; will retry at the next run"
            )
        wait = http.backoff_s * (2**attempt) if retry_after is None else retry_after
        wait = min(max(wait, 0.0), http.max_wait_s)
        log.warning(
            "%s: %s; retry %d/%d in %.1fs", target, last, attempt + 1, http.max_retries, wait
        )
        _sleep(wait)
        attempt += 1


def download(
    session: requests.Session,
    url: str,
    dest: Path,
    *,
    settings: Any,
    token: str | None = None,
    params: Mapping[str, Any] | None = None,
    permission_hint: str = "",
) -> Path:
    """Stream a response body to `dest` via a `.part` file; a truncated body is retriable."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    response = fetch(
        session,
        "GET",
        url,
        settings=settings,
        token=token,
        params=params,
        stream=True,
        permission_hint=permission_hint,
    )
    expected = _content_length(response)
    received = 0
    try:
        with response, open(part, "wb") as out:
            for chunk in response.iter_content(CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
    except (requests.RequestException, OSError) as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, requests.RequestException):
            raise
        of = f" of {expected:,}" if expected is not None else ""
        raise RetriableSourceError(
            f"GET {where(url)}: download interrupted after {received:,}{of} bytes "
            f"({exc.__class__.__name__}); will retry at the next run"
        ) from None
    if expected is not None and received != expected:
        part.unlink(missing_ok=True)
        raise RetriableSourceError(
            f"GET {where(url)}: truncated download ({received:,} of {expected:,} bytes); "
            "will retry at the next run"
        )
    part.replace(dest)
    return dest


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP-date); None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - _now()).total_seconds(), 0.0)


def _content_length(response: requests.Response) -> int | None:
    """The promised body size, when it describes the bytes we will count (no content coding)."""
    if response.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
        return None
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _refused(target: str, status: int, permission_hint: str) -> str:
    need = f"; it needs {permission_hint}" if permission_hint else ""
    return f"{target}: HTTP {status} — the credentials were refused{need}"


def _describe(exc: Exception, timeout_s: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timed out after {timeout_s:g}s"
    return f"connection failed ({exc.__class__.__name__})"
