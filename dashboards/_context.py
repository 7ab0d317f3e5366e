"""What a callback needs from the running app: the settings, the engine and the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass

import flask
from sqlalchemy import Engine

from dashboards.auth import User
from settings import Settings

EXTENSION = "uptake"
LOCAL_ADMIN = User("local", "admin")


@dataclass(frozen=True)
class Context:
    """The settings and engine of one Dash app."""

    settings: Settings
    engine: Engine

    @property
    def k(self) -> int:
        """The minimum group size."""
        return self.settings.privacy.min_group_size


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
