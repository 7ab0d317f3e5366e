"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, and settings pointing at it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from settings import Settings, load_settings
from store.engine import make_engine, write_transaction
from store.migrate import alembic_config, upgrade

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("UPTAKE_TEST_POSTGRES_URL", "")
TEST_HASH_KEY = "test-hash-key"


def _postgres_problem() -> str | None:
    if not POSTGRES_URL:
        return "UPTAKE_TEST_POSTGRES_URL is not set"
    try:
        with create_engine(POSTGRES_URL).connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.__class__.__name__}"
    return None


_PG_PROBLEM = _postgres_problem()


def require_postgres() -> None:
    """Skip (outside CI) or fail (in CI) when the PostgreSQL test server is missing."""
    if _PG_PROBLEM:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL tests skipped: {_PG_PROBLEM}")


def _schema_url(schema: str) -> str:
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


BACKENDS = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings on the test database, UTC, k=5, a fixed hash key, files under tmp_path."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: '{database_url}'}}\n"
        "timezone: UTC\n"
        "privacy: {min_group_size: 5, hash_key_file: '" + str(tmp_path / "hash.key") + "'}\n"
        "sources: {yammer_export: {download_dir: '" + str(tmp_path / "exports") + "'}}\n"
    )
    return load_settings(config, environ={"UPTAKE_HASH_KEY": TEST_HASH_KEY})


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A store migrated to head."""
    eng = make_engine(settings.database.url)
    upgrade(eng)
    yield eng
    eng.dispose()


def migrate(engine: Engine, step: Callable[[Any, str], None], revision: str) -> None:
    """Run an Alembic command (`command.upgrade` or `command.downgrade`) to `revision`."""
    config = alembic_config()
    with write_transaction(engine) as conn:
        config.attributes["connection"] = conn
        step(config, revision)


@pytest.fixture
def london(engine: Engine, settings: Settings, tmp_path: Path) -> tuple[Engine, Settings]:
    """The hand-computed Europe/London organisation (tests/engagement_org.py), ingested."""
    from tests import engagement_org as org

    settings.timezone = org.ZONE
    org.build(engine, settings, tmp_path / "org")
    return engine, settings
