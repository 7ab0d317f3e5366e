"""The one place that knows dialect upsert syntax; batches are deduplicated first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

CHUNK = 5000


def dedupe(rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Keep the last row for each key, in first-seen order."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        latest[tuple(row[k] for k in keys)] = row
    return list(latest.values())


def upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[dict[str, Any]],
    keys: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
) -> int:
    """Insert rows, updating `update` columns (default: all non-key) on key conflicts.

    `update=()` inserts only new keys and leaves existing rows alone. Returns rows sent.
    """
    keys = list(keys or [c.name for c in table.primary_key.columns])
    batch = dedupe(rows, keys)
    if not batch:
        return 0
    columns = list(batch[0].keys())
    if update is None:
        update = [c for c in columns if c not in keys]
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    for start in range(0, len(batch), CHUNK):
        conn.execute(stmt, batch[start:start + CHUNK])
    return len(batch)
