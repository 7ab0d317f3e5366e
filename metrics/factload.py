"""Bulk readers of person-day activity as integers: named SQL, no Python object per value.

Reading tens of millions of person-days through ORM rows costs minutes; here the database
turns each row into integers (person index, day number, packed counts) and we receive them as
numpy arrays: SQLite through its cursor, PostgreSQL through COPY.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

CAP = 32767  # counts above this per person-day and kind are capped (flags are unaffected)
BITS = 15
FETCH = 250_000

SQLITE_ACTIVITY = f"""
SELECT p.rowid,
       CAST(julianday(d.day) - 2440587.5 AS INTEGER),
       min(d.posts, {CAP}) + min(d.replies, {CAP}) * {1 << BITS}
         + min(d.reactions, {CAP}) * {1 << 2 * BITS} + min(d.reads, {CAP}) * {1 << 3 * BITS}
FROM daily_activity d JOIN people p ON p.person_key = d.person_key
{{where}}
"""

POSTGRES_ACTIVITY = f"""
COPY (
  SELECT p.pid, d.day - DATE '1970-01-01',
         LEAST(d.posts, {CAP})::bigint + LEAST(d.replies, {CAP})::bigint * {1 << BITS}
           + LEAST(d.reactions, {CAP})::bigint * {1 << 2 * BITS}
           + LEAST(d.reads, {CAP})::bigint * {1 << 3 * BITS}
  FROM daily_activity d
  JOIN (SELECT person_key, row_number() OVER (ORDER BY person_key) - 1 AS pid FROM people) p
    ON p.person_key = d.person_key
  {{where}}
) TO STDOUT
"""


def fetch_activity(
    conn: Connection, index: pd.Index, start: dt.date, end: dt.date
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pid, day number, counts[n, 4]) of every daily_activity row in [start, end].

    """
    lo, hi = conn.exec_driver_sql("SELECT min(day), max(day) FROM daily_activity").one()
    covered = lo is None or (str(lo)[:10] >= start.isoformat() and str(hi)[:10] <= end.isoformat())
    if conn.dialect.name == "postgresql":
        parts = _postgres(conn, index, start, end, covered)
    else:
        parts = _sqlite(conn, index, start, end, covered)
    pids, days, counts = [], [], []
    for table in parts:  # narrow each chunk at once: 24 bytes a row instead of 56
        pids.append(table[:, 0].astype(np.int32))
        days.append(table[:, 1].astype(np.int32))
        packed = table[:, 2]
        counts.append(np.stack([(packed >> (BITS * i)) & CAP for i in range(4)], axis=1)
                      .astype(np.int32))
    if not pids:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, np.zeros((0, 4), dtype=np.int32)
    return np.concatenate(pids), np.concatenate(days), np.concatenate(counts)


def _sqlite(
    conn: Connection, index: pd.Index, start: dt.date, end: dt.date, covered: bool
) -> Iterator[np.ndarray]:
    raw = conn.connection.driver_connection
    assert raw is not None
    people = raw.execute("SELECT rowid, person_key FROM people").fetchall()
    rowids = np.array([r[0] for r in people], dtype=np.int64)
    to_pid = np.full(int(rowids.max(initial=0)) + 1, -1, dtype=np.int64)
    to_pid[rowids] = index.get_indexer([r[1] for r in people])
    # A range covering every day reads the table in storage order, not through the day index.
    where, args = ("", ()) if covered else (
        "WHERE d.day >= ? AND d.day <= ?", (start.isoformat(), end.isoformat())
    )
    cursor = raw.execute(SQLITE_ACTIVITY.format(where=where), args)
    while rows := cursor.fetchmany(FETCH):
        table = np.array(rows, dtype=np.int64)
        table[:, 0] = to_pid[table[:, 0]]
        yield table[table[:, 0] >= 0]
    cursor.close()


def _postgres(
    conn: Connection, index: pd.Index, start: dt.date, end: dt.date, covered: bool
) -> Iterator[np.ndarray]:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:  # the row numbers COPY will use, mapped onto `index`
        cursor.execute("SELECT person_key FROM people ORDER BY person_key")
        to_pid = index.get_indexer([r[0] for r in cursor.fetchall()]).astype(np.int64)
    where = "" if covered else (
        f"WHERE d.day >= DATE '{start.isoformat()}' AND d.day <= DATE '{end.isoformat()}'"
    )
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(POSTGRES_ACTIVITY.format(where=where)) as copy:
        for block in copy:
            buffer.write(block)
            if buffer.tell() > 32 << 20:
                yield from _remap(_parse(buffer), to_pid)
    yield from _remap(_parse(buffer), to_pid)


def _remap(tables: Iterator[np.ndarray], to_pid: np.ndarray) -> Iterator[np.ndarray]:
    for table in tables:
        inside = table[:, 0] < len(to_pid)
        table = table[inside]
        table[:, 0] = to_pid[table[:, 0]]
        yield table[table[:, 0] >= 0]


def _parse(buffer: io.BytesIO) -> Iterator[np.ndarray]:
    """Parse the complete lines of a COPY buffer; keep the partial last line in it."""
    data = buffer.getvalue()
    cut = data.rfind(b"\n") + 1
    buffer.seek(0)
    buffer.truncate()
    buffer.write(data[cut:])
    if cut:
        frame = pd.read_csv(io.BytesIO(data[:cut]), sep="\t", header=None, dtype=np.int64)
        yield frame.to_numpy(dtype=np.int64)


def rows_frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """A DataFrame from result rows, column by column (pandas is slow on Row objects)."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    data = (list(c) for c in zip(*rows, strict=True))
    return pd.DataFrame(dict(zip(columns, data, strict=True)))


def bulk_insert(
    conn: Connection, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """Append plain tuples to `table`: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
