"""Create or upgrade the store with Alembic, and refuse to read a store that is not current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from errors import StoreError
from store.engine import write_transaction

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations folder."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def head_revision() -> str:
    """The newest migration."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The store's migration, or None when it was never initialised."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StoreError(f"store unreachable: {exc.orig}") from None


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Upgrade the store to the newest migration; returns (before, after)."""
    before = current_revision(engine)
    config = alembic_config()
    with write_transaction(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return before, head_revision()


def require_current(engine: Engine) -> None:
    """Raise StoreError unless the store exists and is on the newest migration."""
    current = current_revision(engine)
    if current is None:
        where = engine.url.render_as_string()
        raise StoreError(f"store at {where} is not initialised: run `uptake init`")
    head = head_revision()
    if current != head:
        raise StoreError(
            f"store is on migration {current}, this version needs {head}: run `uptake init`"
        )
