"""Bulk readers of person-day activity as integers: named SQL, no Python object per value.

Reading tens of millions of person-days through ORM rows costs minutes; here the database
turns each row into integers (person index, day number, packed counts) and we receive them as
numpy arrays: SQLite through its cursor (or two reader processes), PostgreSQL as one binary
row per day, read by numpy.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from metrics import split_read
from metrics.calendar import day_number
from metrics.person_days import BITS, CAP, KINDS, Rows, no_rows, unpacked_counts
from metrics.postgres_read import PostgresRead
from store.fact_rows import day_span, estimated_rows, middle_day

# A read of a table this large, over every day or at least SPLIT_DAYS of them, runs in two
# halves: on SQLite two reader processes (metrics/split_read.py), on PostgreSQL two connections.
SPLIT_ROWS = 4_000_000
SPLIT_DAYS = 14

# A day's person-days (keyed: each row's people.rowid comes first), the counts packed in one
# integer; the day number is the query's lead, sent once (parsing every row's date costs a third
# of the read, and repeating it in every row a tenth).
# Capped by CASE, not min(), a function call per count: 0.55 s against 0.63 s for 30 days of
# the 100,000-member benchmark.
ACTIVITY_COLUMNS = (" + ".join(
    f"(CASE WHEN d.{kind} < {CAP} THEN d.{kind} ELSE {CAP} END) * {1 << BITS * i}"
    for i, kind in enumerate(KINDS)
),)
ACTIVITY_FROM = "FROM daily_activity d"
ACTIVITY_WIDTH = len(ACTIVITY_COLUMNS) + 2  # the rowid and the day first

# Counted messages (what store.message_activity counts) as integers, keyed (people.rowid
# first; 0: no person): canonical digit thread ids (flagged), the starter flag, then the time
# in microseconds since 1970, read by the reader from the stored text (split_read.stamp_micros):
# SQLite's unixepoch() per row was a quarter of the read.
MESSAGE_COLUMNS = (
    "CAST(CAST(m.thread_id AS INTEGER) AS TEXT) = m.thread_id",
    "CAST(m.thread_id AS INTEGER)",
    "m.is_thread_starter",
)
MESSAGE_STAMP = "m.created_at"
MESSAGE_WIDTH = len(MESSAGE_COLUMNS) + 2  # the rowid first, the time last
MESSAGES_FROM = """
FROM messages m
WHERE (m.sender_type IS NULL OR m.sender_type = 'user')
  AND (m.message_type IS NULL OR m.message_type != 'system')
  AND m.created_at >= '{}' AND m.created_at < '{}'
"""
CHUNK_MESSAGE_DAYS = 7  # days of messages a packed query covers: a reader holds their texts


def packed(
    columns: Sequence[str], rest: str, key: str | None = None, lead: int | None = None,
    stamp: str | None = None,
) -> str:
    """A query giving every row of `SELECT columns rest` in one text: the integer cells,
    comma-separated, row after row (NULL as 0). With `key`, a person_key expression, also
    the rows' keys in a second text, in the same order: the reader puts each one's
    people.rowid before its row; with `lead`, a value every row shares (a day number), sent
    once and put before the cells; with `stamp`, a time's text, the rows' times in a third
    text, put after the cells as microseconds since 1970 (split_read.unpacked).

    The sqlite3 module makes a Python object per cell; numpy parses one text per query
    instead (≈ 25 % less work per row, and the reads are what a refresh waits for). Finding
    the keys' rowids in the reader (split_read.PersonRowids) costs a fraction of a join of
    people per row.
    """
    cells = " || ',' || ".join(f"coalesce({c}, 0)" for c in columns)
    # the separator as a literal: char(31) was called again for every row (a third of the
    # query's time for a day of 44,000 person-days)
    keys = (f"group_concat(coalesce({key}, ''), '{split_read.KEY_SEPARATOR}')"
            if key else "NULL")
    first = "NULL" if lead is None else str(int(lead))
    stamps = (f"group_concat(coalesce({stamp}, ''), '{split_read.KEY_SEPARATOR}')"
              if stamp else "NULL")
    return f"SELECT {first}, group_concat({cells}, ','), {keys}, {stamps} {rest}"


class MessageRead:
    """`sqlite_messages`' rows of [lo, hi), read meanwhile by a reader process when the
    messages table is large (the caller reads the roster in the meantime)."""

    def __init__(self, conn: Connection, lo: dt.datetime, hi: dt.datetime, ahead: bool = True):
        # stored as SQLAlchemy writes DATETIME on SQLite, the bounds compare as text alike;
        # ISO times formatted here become literals: no input reaches the SQL text
        step = dt.timedelta(days=CHUNK_MESSAGE_DAYS)
        cuts = [lo + step * i for i in range(max((hi - lo) // step, 0) + 1)] + [hi]
        self.queries = [
            packed(MESSAGE_COLUMNS, MESSAGES_FROM.format(
                a.isoformat(" ", "microseconds"), b.isoformat(" ", "microseconds")),
                key="m.person_key", stamp=MESSAGE_STAMP)
            for a, b in itertools.pairwise(cuts) if a < b
        ]
        self._readers: split_read.Readers | None = None
        path = conn.engine.url.database
        if not ahead or conn.dialect.name != "sqlite" or not path or path == ":memory:":
            return
        if (conn.exec_driver_sql("SELECT max(rowid) FROM messages").scalar() or 0) >= SPLIT_ROWS:
            self._readers = split_read.Readers(path, [self.queries], MESSAGE_WIDTH)

    def tables(self, conn: Connection) -> Iterator[np.ndarray]:
        """The rows as int64 matrices (read through `conn` when there is no reader, or it
        failed: the connection that began the read may be closed by now)."""
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            yield from _tables(raw, [self.queries], self._readers, MESSAGE_WIDTH)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader if it still runs and remove its file."""
        if self._readers is not None:
            self._readers.close()


def sqlite_messages(
    conn: Connection,
    index: pd.Index,
    lo: dt.datetime,
    hi: dt.datetime,
    reading: MessageRead | None = None,
    to_pid: np.ndarray | None = None,
) -> pd.DataFrame | None:
    """Counted messages created in [lo, hi) (naive UTC) as thread_id (int64), pid (int32, -1:
    not in `index`), created_at and is_starter; None when a thread id is not plain digits
    (the caller reads them as text then). `reading`: the same range's read, begun earlier;
    `to_pid`: read_people's map for `index`, when the caller has it."""
    raw = conn.connection.driver_connection
    assert raw is not None
    tables = []
    for table in (reading or MessageRead(conn, lo, hi, ahead=False)).tables(conn):
        if not table[:, 1].all():
            return None
        tables.append(table[:, [2, 0, 4, 3]])  # thread, rowid, created, starter
    table = np.concatenate(tables) if tables else np.zeros((0, 4), dtype=np.int64)
    return pd.DataFrame({
        "thread_id": table[:, 0],
        "pid": _pids_of(table[:, 1], _sqlite_pids(raw, index) if to_pid is None else to_pid
                        ).astype(np.int32),
        "created_at": pd.to_datetime(table[:, 2], unit="us"),
        "is_starter": table[:, 3].astype(bool),
    })


# Roster attribute rows as numbers only, a rowid range at a time in one string per range (no
# Python object per row or cell): (people.rowid, the attribute's position among the names
# given (CASE … WHEN ? …), the snapshot's day number) packed in one integer, then the value's
# code: the rowid of its text in a temporary table of the distinct values (0: blank).
ROSTER_VALUES = "uptake_roster_values"
ATTRIBUTE_SPAN = 500_000  # person_attributes rowids a query covers
DAY_BITS, NAME_BITS = 20, 8  # day numbers offset by 2 ** 19: ±1,435 years around 1970
SQLITE_ATTRIBUTES = f"""
SELECT group_concat(
         ((p.rowid * {1 << NAME_BITS} + CASE a.attribute {{whens}} ELSE {(1 << NAME_BITS) - 1} END)
           * {1 << DAY_BITS} + CAST(julianday(a.valid_from) - 2440587.5 AS INTEGER)
           + {1 << (DAY_BITS - 1)})
         || ',' || coalesce(v.rowid, CASE WHEN a.value IS NULL THEN 0 ELSE -1 END), ',')
FROM person_attributes a JOIN people p ON p.person_key = a.person_key
LEFT JOIN temp.{ROSTER_VALUES} v ON v.value = a.value
WHERE a.rowid BETWEEN ? AND ? AND a.valid_from <= ?
"""


def sqlite_attributes(
    conn: Connection,
    index: pd.Index,
    names: Sequence[str],
    upto: dt.date,
    to_pid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Every roster attribute row valid from `upto` or earlier as (pid, position in `names`,
    valid_from day number, value code) and the values by code (code 0: None); people not in
    `index` left out.

    None, and the caller reads the rows as text, with more names than the packing holds or if
    a value was not in the value table (the connection's one read transaction should make
    that impossible).
    """
    if len(names) >= (1 << NAME_BITS) - 1:
        return None
    if not names:  # the names come from the table: no names, no rows
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, np.array([None], dtype=object)
    raw = conn.connection.driver_connection
    assert raw is not None
    if to_pid is None:
        to_pid = _sqlite_pids(raw, index)
    raw.execute(f"DROP TABLE IF EXISTS temp.{ROSTER_VALUES}")
    raw.execute(f"CREATE TEMP TABLE {ROSTER_VALUES} AS "
                "SELECT DISTINCT value FROM person_attributes WHERE value IS NOT NULL")
    try:
        raw.execute(f"CREATE UNIQUE INDEX temp.{ROSTER_VALUES}_value ON {ROSTER_VALUES} (value)")
        texts = raw.execute(f"SELECT rowid, value FROM temp.{ROSTER_VALUES}").fetchall()
        first, last = raw.execute("SELECT min(rowid), max(rowid) FROM person_attributes").fetchone()
        whens = " ".join(f"WHEN ? THEN {i}" for i in range(len(names)))
        sql = SQLITE_ATTRIBUTES.format(whens=whens)
        parts = []
        for at in range(first or 0, (last or -1) + 1, ATTRIBUTE_SPAN):
            (text,) = raw.execute(
                sql, (*names, at, at + ATTRIBUTE_SPAN - 1, upto.isoformat())).fetchone()
            if text:
                parts.append(_unpacked(np.fromstring(text, dtype=np.int64, sep=","), to_pid,
                                       len(names)))
    finally:
        raw.execute(f"DROP TABLE IF EXISTS temp.{ROSTER_VALUES}")
    columns = [np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, dtype=np.int32)
               for i in range(4)]
    if (columns[3] < 0).any():
        return None
    values = np.full(max((r[0] for r in texts), default=0) + 1, None, dtype=object)
    values[[r[0] for r in texts]] = [r[1] for r in texts]
    return columns[0], columns[1], columns[2], columns[3], values


def _unpacked(
    pairs: np.ndarray, to_pid: np.ndarray, names: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SQLITE_ATTRIBUTES' (packed, value code) pairs as compact pid, name, day and value code
    arrays; people not in the index and names not asked for left out."""
    packed, value = pairs[0::2], pairs[1::2]
    pid = _pids_of(packed >> (DAY_BITS + NAME_BITS), to_pid)
    name = (packed >> DAY_BITS) & ((1 << NAME_BITS) - 1)
    day = (packed & ((1 << DAY_BITS) - 1)) - (1 << (DAY_BITS - 1))
    keep = (pid >= 0) & (name < names)
    return (pid[keep].astype(np.int32), name[keep].astype(np.int16),
            day[keep].astype(np.int32), value[keep].astype(np.int32))


class ActivityRead:
    """A read of the daily_activity rows in [start, end] as (pid, day number, int16 counts):
    every row, or before `complete_from` only those that engage (posts, replies, reactions).

    It begins at once, so the caller can read the roster and accounts meanwhile. `to_pid`:
    read_people's map for `index`, when the caller has it.

    A large SQLite read runs in two reader processes (metrics/split_read.py), each on half
    the rows: the sqlite3 module reads on one core and holds the GIL between rows. A
    PostgreSQL read runs in a thread on a connection of its own, a large one in two, each on
    half the table's pages (metrics/postgres_read.py): the server does the work, a process
    per connection.
    `result()` collects the rows (reading here any half whose reader process failed).
    """

    def __init__(
        self,
        conn: Connection,
        index: pd.Index,
        start: dt.date,
        end: dt.date,
        complete_from: dt.date | None = None,
        to_pid: np.ndarray | None = None,
    ):
        self.conn, self.index, self.to_pid = conn, index, to_pid
        # ISO dates of dt.date values become literals: no input reaches the SQL text.
        span = day_span(conn)
        covered = span is None or (span[0] >= start and span[1] <= end)
        # A range covering every day needs no condition: the whole key is read in order.
        conditions = [] if covered else [f"d.day >= {{day}}'{start}' AND d.day <= {{day}}'{end}'"]
        if complete_from is not None and complete_from > start:
            engaging = "d.posts > 0 OR d.replies > 0 OR d.reactions > 0"
            conditions.append(f"(d.day >= {{day}}'{complete_from}' OR {engaging})")
        self.groups: list[list[str]] = []  # SQLite: each reader's packed queries
        self._readers: split_read.Readers | None = None
        self._postgres: PostgresRead | None = None
        if conn.dialect.name == "postgresql":
            self._postgres = PostgresRead(conn.engine, index,
                                          [c.format(day="DATE ") for c in conditions],
                                          halved=_large(conn, start, end, span))
            return
        self.groups = [
            [packed(ACTIVITY_COLUMNS, f"{ACTIVITY_FROM} {where.format(day='')}",
                    key="d.person_key", lead=number)
             for number, where in days]
            for days in _halves(conn, conditions, start, end, span)
        ]
        if len(self.groups) > 1:
            path = conn.engine.url.database
            assert path is not None
            self._readers = split_read.Readers(path, self.groups, ACTIVITY_WIDTH)

    @property
    def in_processes(self) -> bool:
        """True when the rows are read by reader processes (SQLite, a large read)."""
        return self._readers is not None

    def result(self) -> Rows:
        """The rows as (pid, day, int16 counts)."""
        try:
            if self._postgres is not None:
                return self._postgres.result()
            return _narrowed(self._tables())
        finally:
            self.close()

    def close(self) -> None:
        """Stop any reader still running and remove its files (a PostgreSQL read in a thread
        runs to its end: its connection is its own)."""
        if self._readers is not None:
            self._readers.close()

    def _tables(self) -> Iterator[np.ndarray]:
        raw = self.conn.connection.driver_connection
        assert raw is not None
        tables = _tables(raw, self.groups, self._readers, ACTIVITY_WIDTH)
        to_pid = _sqlite_pids(raw, self.index) if self.to_pid is None else self.to_pid
        yield from _mapped(tables, to_pid)


def _narrowed(tables: Iterator[np.ndarray]) -> Rows:
    """(pid, day, packed) tables as (pid, day, int16 counts), a table at a time: 16 bytes a
    row instead of 24."""
    pids, days, counts = [], [], []
    for table in tables:
        pids.append(table[:, 0].astype(np.int32))
        days.append(table[:, 1].astype(np.int32))
        counts.append(unpacked_counts(table[:, 2]))
    if not pids:
        return no_rows()
    return np.concatenate(pids), np.concatenate(days), np.concatenate(counts)


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _halves(
    conn: Connection,
    conditions: list[str],
    start: dt.date,
    end: dt.date,
    span: tuple[dt.date, dt.date] | None,
) -> list[list[tuple[int, str]]]:
    """The days of a SQLite read as (day number, WHERE clause): one list, or two halves for
    two reader processes when it is large (the table, and the range unless it covers `span`,
    the table's days), cut at the day that splits its rows about in half."""
    if span is None:  # no rows
        return [[]]
    lo, hi = max(start, span[0]), min(end, span[1])
    if hi < lo:
        return [[]]
    cut = None if conn.engine.url.database in (None, "", ":memory:") else _cut(
        conn, start, end, span)
    if cut is None:
        return [_days(conditions, lo, hi)]
    return [_days(conditions, lo, cut), _days(conditions, cut + dt.timedelta(1), hi)]


def _cut(
    conn: Connection, start: dt.date, end: dt.date, span: tuple[dt.date, dt.date] | None
) -> dt.date | None:
    """The last day of the first half of a large read (the table, and the range unless it
    covers `span`, the table's days), cut where its rows split about in half; None for one
    read."""
    if not _large(conn, start, end, span):
        return None
    assert span is not None
    return middle_day(conn, max(start, span[0]), min(end, span[1]))


def _large(
    conn: Connection, start: dt.date, end: dt.date, span: tuple[dt.date, dt.date] | None
) -> bool:
    """True for a read of [start, end] read in two halves: a large table, and the range
    covers its days (`span`) or at least SPLIT_DAYS of them."""
    if span is None:
        return False
    lo, hi = max(start, span[0]), min(end, span[1])
    if hi <= lo:
        return False
    covered = (lo, hi) == span
    return estimated_rows(conn, *span) >= SPLIT_ROWS and (
        covered or (end - start).days >= SPLIT_DAYS)


def _days(conditions: list[str], lo: dt.date, hi: dt.date) -> list[tuple[int, str]]:
    """(day number, WHERE clause) of each day of [lo, hi], other conditions kept: a range of
    the table's key (day first) each."""
    count = (hi - lo).days + 1
    days = (lo + dt.timedelta(days=i) for i in range(count))
    return [(day_number(d), _where([*conditions, f"d.day = {{day}}'{d}'"])) for d in days]


def read_people(conn: Connection) -> tuple[pd.Index, np.ndarray | None]:
    """Every person key, sorted (a pid is a key's position), and on SQLite the pid of each
    people.rowid (-1: none): one read for a load, not one per table read."""
    # sorted here, not by the database: a collation-aware sort of 100,000 keys is slow
    if conn.dialect.name != "sqlite":
        return pd.Index(np.array(sorted(row[0] for row in conn.exec_driver_sql(
            "SELECT person_key FROM people").cursor.fetchall()), dtype=object)), None
    people = conn.exec_driver_sql("SELECT rowid, person_key FROM people").cursor.fetchall()
    index = pd.Index(np.array(sorted(r[1] for r in people), dtype=object))
    return index, _pids_by_rowid(people, index)  # the index's hash table, built once


def _sqlite_pids(raw: Any, index: pd.Index) -> np.ndarray:
    """pid of each people.rowid (-1: not in `index`)."""
    return _pids_by_rowid(raw.execute("SELECT rowid, person_key FROM people").fetchall(), index)


def _pids_by_rowid(people: Sequence[tuple[int, str]], index: pd.Index) -> np.ndarray:
    rowids = np.array([r[0] for r in people], dtype=np.int64)
    to_pid = np.full(int(rowids.max(initial=0)) + 1, -1, dtype=np.int64)
    to_pid[rowids] = index.get_indexer([r[1] for r in people])
    return to_pid


def _pids_of(rowids: np.ndarray, to_pid: np.ndarray) -> np.ndarray:
    """The pid of each people.rowid (-1: not in the index, or a person newer than `to_pid`)."""
    return np.where(rowids < len(to_pid), to_pid[np.minimum(rowids, len(to_pid) - 1)], -1)


def _tables(
    raw: Any,
    groups: Sequence[Sequence[str]],
    readers: split_read.Readers | None,
    width: int,
) -> Iterator[np.ndarray]:
    """The rows of each group of packed queries (`packed`) as int64 matrices of `width`
    columns: its reader's, or read here (no readers, or that one failed)."""
    results = readers.results() if readers is not None else (None for _ in groups)
    for queries, chunks in zip(groups, results, strict=True):
        yield from _fetched(raw, queries, width) if chunks is None else chunks


def _fetched(raw: Any, queries: Sequence[str], width: int) -> Iterator[np.ndarray]:
    """The rows of packed queries as int64 matrices, one per query that has rows."""
    for table in split_read.tables(raw, queries, width):
        if len(table):
            yield table


def _mapped(tables: Iterator[np.ndarray], to_pid: np.ndarray) -> Iterator[np.ndarray]:
    """Each table with its first column (people.rowid) turned into pids; unknown people out
    (also people a reader's later snapshot has and ours has not)."""
    for table in tables:
        table[:, 0] = _pids_of(table[:, 0], to_pid)
        yield table[table[:, 0] >= 0]


def rows_frame(rows: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    """A DataFrame from result rows, column by column (pandas is slow on Row objects)."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    data = (list(c) for c in zip(*rows, strict=True))
    return pd.DataFrame(dict(zip(columns, data, strict=True)))


def bulk_insert(
    conn: Connection,
    table: str,
    columns: Mapping[str, Sequence[Any]],
    dates: Collection[str] = (),
) -> None:
    """Append rows given column by column (equal lengths) to `table`: COPY on PostgreSQL,
    executemany on SQLite, where the `dates` columns (datetime.date values) are written as
    SQLAlchemy writes a Date there: ISO text."""
    if not columns or not len(next(iter(columns.values()))):
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in zip(*columns.values(), strict=True):
                copy.write_row(row)
        return
    cells = [[None if d is None else d.isoformat() for d in values] if name in dates else values
             for name, values in columns.items()]
    marks = ", ".join("?" for _ in columns)
    raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", zip(*cells, strict=True))
