"""Arrays a refresh decoded, kept in the store by name until the state they came from changes.

Each entry holds integer arrays (an .npz) and labels (JSON: person keys, names, values) under a
fingerprint of what it was computed from; it is returned only for that same fingerprint.
Entries are derived from people's rows: `uptake forget` deletes them all.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from sqlalchemy import Connection, delete, insert, select

from store.aggregates import RefreshCache


def load(conn: Connection, name: str, fingerprint: str) -> tuple[Any, dict[str, Any]] | None:
    """The arrays (an npz mapping) and labels kept as `name` for `fingerprint`, or None."""
    row = conn.execute(
        select(RefreshCache.fingerprint, RefreshCache.arrays, RefreshCache.labels)
        .where(RefreshCache.name == name)
    ).first()
    if row is None or row.fingerprint != fingerprint:
        return None
    return np.load(io.BytesIO(row.arrays), allow_pickle=False), json.loads(row.labels)


def fingerprint(conn: Connection, name: str) -> str | None:
    """The fingerprint `name` is kept for (None: nothing kept), without reading it."""
    return conn.scalar(select(RefreshCache.fingerprint).where(RefreshCache.name == name))


def save(
    conn: Connection, name: str, fingerprint: str, arrays: dict[str, Any],
    labels: dict[str, Any],
) -> None:
    """Keep `arrays` and `labels` as `name` for `fingerprint`, replacing what was kept."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    conn.execute(delete(RefreshCache).where(RefreshCache.name == name))
    conn.execute(insert(RefreshCache).values(
        name=name, fingerprint=fingerprint, arrays=buffer.getvalue(), labels=json.dumps(labels)))


def forget_all(conn: Connection) -> None:
    """Drop every kept entry (they hold people's rows)."""
    conn.execute(delete(RefreshCache))
