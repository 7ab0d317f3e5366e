"""A PostgreSQL read of person-day activity: the server packs each day's rows into one binary
value, read by numpy; a large read runs in two halves of the table, one snapshot for both.

The read runs in threads on connections of their own, so the caller reads the roster
meanwhile (a thread waits on its socket with the GIL released; numpy sorts without it).
A large read is cut at the middle page of the table: each half is one scan of its own pages
(a cut by person made both servers scan every page, and the first read after a bulk load
sets every row's hint bits). The first connection exports its snapshot and the second
imports it (`SET TRANSACTION SNAPSHOT`), so together they read one state of the table
even while rows are written, and the people's hashes are read once. Each half's rows then
hold any person: each thread splits its days' rows at the middle person and takes one side
of both halves, a day after another (a person-day two sources saw may be in both), so the
two sides, each sorted by (pid, day), are in order one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from psycopg import sql

from metrics.person_days import BITS, CAP, Rows, no_rows, person_days, unpacked_counts

# Memory the server may give a read's aggregation (per connection, and up to
# hash_mem_multiplier times it), instead of spilling it to disk: a day's row is built in
# memory, and half of the 100,000 member × 365 day benchmark holds 130 MB of them.
POSTGRES_READ_MEMORY = "512MB"
# A day's person-days in one binary value, 16 bytes a row: the person as a 64-bit hash of
# their key (hashtextextended), then the packed counts. For half of the 100,000 member × 365
# day benchmark the server took 3.3 s, against 7.6 s for a text row of days per person
# (100,000 growing values instead of a hundred) and 5.5 s for a row per day with the people
# joined in for their positions.
# The reader maps hashes to people with the people's own hashes, read in the same snapshot
# (the key references people) under a seed that gives no two of them the same hash.
POSTGRES_ACTIVITY = f"""
SELECT d.day - DATE '1970-01-01', string_agg(
         int8send(hashtextextended(d.person_key, %(seed)s)) || int8send(
           LEAST(d.posts, {CAP})::bigint + LEAST(d.replies, {CAP})::bigint * {1 << BITS}
           + LEAST(d.reactions, {CAP})::bigint * {1 << 2 * BITS}
           + LEAST(d.reads, {CAP})::bigint * {1 << 3 * BITS}), ''::bytea)
FROM daily_activity d
{{where}}
GROUP BY d.day
ORDER BY d.day
"""
POSTGRES_PEOPLE = "SELECT person_key, hashtextextended(person_key, %(seed)s) FROM people"
POSTGRES_SEEDS = 16  # hash seeds tried in turn: two of 100,000 keys share one with p ≈ 3e-10
POSTGRES_ROW = np.dtype([("who", ">i8"), ("packed", ">i8")])
DAYS_BATCH = 16  # days fetched at a time
# The table's pages when the halves are cut (rows on later pages go to the second half)
Day = tuple[int, np.ndarray, np.ndarray]  # a day's rows: (day number, pids, int16 counts)
PAGES = "SELECT pg_relation_size('daily_activity') / current_setting('block_size')::int"


class People:
    """The people's key hashes under one seed and each one's pid in the read's index."""

    def __init__(self, raw: Any, index: pd.Index):
        """Read them on `raw`: the first seed under which no two people's keys hash alike."""
        for seed in range(POSTGRES_SEEDS):
            people = raw.execute(POSTGRES_PEOPLE, {"seed": seed}).fetchall()
            lookup = pd.Index(np.array([r[1] for r in people], dtype=np.int64))
            if lookup.is_unique:
                self.seed, self.lookup = seed, lookup
                self.pids = index.get_indexer([r[0] for r in people]).astype(np.int64)
                return
        raise RuntimeError(f"the people's keys collide under {POSTGRES_SEEDS} hash seeds")

    def pids_of(self, hashes: np.ndarray) -> np.ndarray:
        """The pid of each person hash (-1: no person of the snapshot has it)."""
        at = self.lookup.get_indexer(hashes)
        return np.where(at >= 0, self.pids[at], -1)


def begin(raw: Any) -> None:
    """Begin a read's transaction on the driver connection `raw`: one snapshot for the
    people's hashes and the rows that name them, and the settings of the read."""
    raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    raw.execute(f"SET LOCAL work_mem = '{POSTGRES_READ_MEMORY}'")  # this transaction only
    # the whole result is read: a plan for the first rows (the key's index, the heap in its
    # order) took three times as long
    raw.execute("SET LOCAL cursor_tuple_fraction = 1")


def days_read(raw: Any, conditions: list[str], people: People) -> Iterator[Day]:
    """The rows meeting `conditions`, a day at a time in day order, as (day number, pids,
    int16 counts); rows of people not in the index left out."""
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    with raw.cursor(name="uptake_activity", binary=True) as cursor:
        cursor.itersize = DAYS_BATCH  # a named cursor fetches this many rows at a time
        cursor.execute(POSTGRES_ACTIVITY.format(where=where), {"seed": people.seed})
        for day, value in cursor:
            rows = np.frombuffer(value, dtype=POSTGRES_ROW)
            pid = people.pids_of(rows["who"])
            known = pid >= 0
            packed = rows["packed"][known].astype(np.int64)  # native byte order: faster shifts
            yield day, pid[known].astype(np.int32), unpacked_counts(packed)


class PostgresRead:
    """The rows meeting `conditions` as one row per person-day sorted by (pid, day), read in
    one thread, or with `halved` in two (see the module's docstring). Begun at once;
    `result()` waits for them and raises a thread's error."""

    def __init__(self, engine: Any, index: pd.Index, conditions: list[str], halved: bool):
        self.engine, self.index, self.conditions = engine, index, conditions
        count = 2 if halved else 1
        self._exported = threading.Event()  # the lead's snapshot, page cut and people are set
        self._imported = threading.Event()  # the second connection has taken the snapshot
        self._split = threading.Barrier(count)  # both halves read and split at the middle
        self._snapshot, self._cut = "", 0
        self._people: People | None = None
        self._sides: list[list[list[Day] | None]] = [[None, None] for _ in range(count)]
        self._merged: list[Rows | None] = [None] * count
        self._errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._run, args=(half, count), daemon=True,
                                          name=f"uptake-activity-{half}")
                         for half in range(count)]
        for thread in self._threads:
            thread.start()

    def result(self) -> Rows:
        """The rows, once read."""
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise self._errors[0]
        merged = [rows for rows in self._merged if rows is not None]
        assert len(merged) == len(self._threads)
        if len(merged) == 1:
            return merged[0]
        pid, day, counts = (np.concatenate(c) for c in zip(*merged, strict=True))
        return pid, day, counts

    def _run(self, half: int, count: int) -> None:
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.driver_connection
                begin(raw)
                conditions = self._half_conditions(raw, half, count)
                assert self._people is not None
                read = days_read(raw, conditions, self._people)
                if count == 1:
                    days = list(read)
                else:  # split as they come: no day's rows held twice
                    self._sides[half] = _split(read, len(self.index) // 2)
                    if half == 0:  # its snapshot lives as long as this transaction
                        self._imported.wait()
            if count > 1:
                self._split.wait()
                days = []
                for of_half in self._sides:  # this thread's side of each half, let go of there
                    days += of_half[half] or []
                    of_half[half] = None
                days.sort(key=lambda rows: rows[0])  # stable: a day's rows of each half in turn
            rows = _joined(days)
            del days  # the days' pieces, copied: freed before the merge's arrays are made
            self._merged[half] = person_days(*rows)
        except BaseException as exc:  # handed to result(), in the caller's thread
            self._errors.append(exc)
            self._split.abort()  # the other thread stops waiting
        finally:
            self._exported.set()
            self._imported.set()

    def _half_conditions(self, raw: Any, half: int, count: int) -> list[str]:
        """This half's conditions, once its connection reads the lead's snapshot: the lead
        exports it, cuts the table's pages and reads the people."""
        if count == 1:
            self._people = People(raw, self.index)
            return self.conditions
        if half == 0:
            self._snapshot = raw.execute("SELECT pg_export_snapshot()").fetchone()[0]
            self._cut = int(raw.execute(PAGES).fetchone()[0]) // 2
            self._people = People(raw, self.index)
            self._exported.set()
        else:
            self._exported.wait()
            if self._people is None:  # the lead failed: its error is the read's
                raise RuntimeError("the first half of the read failed")
            raw.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self._snapshot)))
            self._imported.set()
        operator = "<" if half == 0 else ">="
        return [*self.conditions, f"d.ctid {operator} '({self._cut},0)'::tid"]


def _split(days: Iterable[Day], middle: int) -> list[list[Day] | None]:
    """Each day's rows of pids below `middle`, and the others."""
    low: list[Day] = []
    high: list[Day] = []
    for day, pid, counts in days:
        below = pid < middle
        above = ~below
        low.append((day, pid[below], counts[below]))
        high.append((day, pid[above], counts[above]))
    return [low, high]


def _joined(days: list[Day]) -> Rows:
    """Days of rows, in the order given, as one (pid, day, counts) table."""
    if not days:
        return no_rows()
    sizes = [len(pid) for _, pid, _ in days]
    day = np.repeat(np.array([d for d, _, _ in days], dtype=np.int32), sizes)
    return (np.concatenate([pid for _, pid, _ in days]), day,
            np.concatenate([counts for _, _, counts in days]))
