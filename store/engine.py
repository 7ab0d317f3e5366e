"""Create engines for SQLite (WAL, foreign keys, immediate write locks) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_S = 600
SQLITE_PAGE_SIZE = 16384


def make_engine(url: str, echo: bool = False) -> Engine:
    """Return an engine for `url`; SQLite files and their folder are created on demand."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        # only a new, empty file takes it (before WAL fixes it): 16 KiB pages made inserting
        # messages ~17 % cheaper than 4 KiB; an existing store keeps its own page size
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB: random-key index inserts stay in RAM
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock up front: a deferred transaction that read first can fail
        # with SQLITE_BUSY when it tries to write; an immediate one waits its turn instead.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_sqlite(engine: Engine | Connection) -> bool:
    """True when the engine or connection talks to SQLite."""
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine, foreign_keys: bool = True) -> Iterator[Connection]:
    """A transaction that writes: commits on success, rolls back everything on any error.

    `foreign_keys=False` turns SQLite's foreign-key checks off for this transaction only: for
    a caller that checks the keys it writes itself (see `ingest.runner.Writer`)."""
    with engine.execution_options(sqlite_begin="IMMEDIATE").connect() as conn:
        # SQLite ignores this pragma inside a transaction: it is set before BEGIN, on the
        # driver's connection, and set back before the connection returns to the pool
        unchecked = not foreign_keys and is_sqlite(conn)
        driver: Any = conn.connection.driver_connection
        if unchecked:
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
        finally:
            if unchecked:
                try:
                    driver.execute("PRAGMA foreign_keys=ON")
                except Exception:  # noqa: BLE001 - never back to the pool unchecked: discarded
                    conn.invalidate()
