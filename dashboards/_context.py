"""What a callback needs from the running app: the settings, the engine and the signed-in user."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flask
import pandas as pd
from sqlalchemy import Engine

from dashboards.auth import User
from settings import Settings

EXTENSION = "uptake"
LOCAL_ADMIN = User("local", "admin")
CACHE_ENTRIES = 256


@dataclass(frozen=True)
class Context:
    """The settings and engine of one Dash app, and a cache of metric reads."""

    settings: Settings
    engine: Engine
    _cache: OrderedDict[Any, Any] = field(default_factory=OrderedDict, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    @property
    def k(self) -> int:
        """The minimum group size."""
        return self.settings.privacy.min_group_size

    def read(self, function: Callable[..., Any], *args: Any) -> Any:
        """`function(engine, settings, *args)`, reused until the next metrics refresh."""
        key = (getattr(function, "__module__", ""), getattr(function, "__qualname__", ""), args)
        return self.memo(key, lambda: function(self.engine, self.settings, *args))

    def memo(self, key: Any, produce: Callable[[], Any]) -> Any:
        """A result of `produce()` kept until the next metrics refresh (a small LRU).

        Materialised metrics change only when `uptake refresh` runs, so results are keyed by
        the refresh watermark; a DataFrame is copied out so no caller can alter the cached one.
        """
        key = (key, self.watermark())
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is None:
            hit = produce()
            with self._lock:
                self._cache[key] = hit
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
        return hit.copy() if isinstance(hit, pd.DataFrame) else hit

    def watermark(self) -> Any:
        """When the metrics were last refreshed (checked once per request)."""
        if flask.has_request_context() and "uptake_watermark" in flask.g:
            return flask.g.uptake_watermark
        from metrics.read import ensure_fresh

        state = ensure_fresh(self.engine, self.settings)
        settings = (self.settings.privacy.min_group_size, self.settings.timezone,
                    self.settings.metrics.target_engaged_share)
        mark = (None if state is None else (state.refreshed_at, state.first_day, state.last_day),
                settings)
        if flask.has_request_context():
            flask.g.uptake_watermark = mark
        return mark


def install(server: flask.Flask, context: Context) -> None:
    """Attach `context` to a Flask server so its callbacks can find it."""
    server.extensions[EXTENSION] = context


def context() -> Context:
    """The context of the app serving the current request."""
    return flask.current_app.extensions[EXTENSION]


def current_user() -> User:
    """The user of the current request (the local admin outside a request, e.g. in the CLI)."""
    if flask.has_request_context():
        return flask.g.get("uptake_user", LOCAL_ADMIN)
    return LOCAL_ADMIN
