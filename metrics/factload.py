"""Bulk readers of person-day activity as integers: named SQL, no Python object per value.

Reading tens of millions of person-days through ORM rows costs minutes; here the database
turns each row into integers (person index, day number, packed counts) and we receive them as
numpy arrays: SQLite through its cursor, PostgreSQL through COPY.
"""

from __future__ import annotations

import datetime as dt
import io

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

    On PostgreSQL pids follow `ORDER BY person_key`, the order `index` was read in.
    """
    lo, hi = conn.exec_driver_sql("SELECT min(day), max(day) FROM daily_activity").one()
    covered = lo is None or (str(lo)[:10] >= start.isoformat() and str(hi)[:10] <= end.isoformat())
    if conn.dialect.name == "postgresql":
        table = _postgres(conn, start, end, covered)
    else:
        table = _sqlite(conn, index, start, end, covered)
    packed = table[:, 2]
    counts = np.stack([(packed >> (BITS * i)) & CAP for i in range(4)], axis=1)
    return table[:, 0], table[:, 1], counts


def _sqlite(
    conn: Connection, index: pd.Index, start: dt.date, end: dt.date, covered: bool
) -> np.ndarray:
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
    parts = []
    while rows := cursor.fetchmany(FETCH):
        parts.append(np.array(rows, dtype=np.int64))
    cursor.close()
    if not parts:
        return np.zeros((0, 3), dtype=np.int64)
    table = np.concatenate(parts)
    table[:, 0] = to_pid[table[:, 0]]
    return table[table[:, 0] >= 0]


def _postgres(conn: Connection, start: dt.date, end: dt.date, covered: bool) -> np.ndarray:
    raw = conn.connection.driver_connection
    assert raw is not None
    buffer = io.BytesIO()
    where = "" if covered else (
        f"WHERE d.day >= DATE '{start.isoformat()}' AND d.day <= DATE '{end.isoformat()}'"
    )
    sql = POSTGRES_ACTIVITY.format(where=where)
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for block in copy:
            buffer.write(block)
    if buffer.tell() == 0:
        return np.zeros((0, 3), dtype=np.int64)
    buffer.seek(0)
    frame = pd.read_csv(buffer, sep="\t", header=None, dtype=np.int64, engine="c")
    return frame.to_numpy(dtype=np.int64)


def rows_frame(rows: list, columns: list[str]) -> pd.DataFrame:  # type: ignore[type-arg]
    """A DataFrame from result rows, column by column (pandas is slow on Row objects)."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    data = (list(c) for c in zip(*rows, strict=True))
    return pd.DataFrame(dict(zip(columns, data, strict=True)))


def bulk_insert(conn: Connection, table: str, columns: list[str], rows: list[tuple]) -> None:  # type: ignore[type-arg]
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
