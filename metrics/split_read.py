"""Part of a large SQLite read in a reader process: the sqlite3 module reads on one core.

A refresh reads millions of person-days through the driver; on SQLite that is one core's work
and it holds the GIL between rows. Two reader processes, each reading half the rows, finish it
in about half the time while the refresh reads the roster. A reader is this file run by the
same interpreter (`python -I`: it imports only the standard library and numpy, never the
caller's main module) and hands its rows back in a file, written and read a chunk at a time:
neither side ever holds every row at once. It opens its own connection and only reads:
its own snapshot, so a write committed meanwhile may show in one half only (the refresh queue
brings it in next time).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

FETCH = 250_000
CACHE_KIB = 32_768  # a reader's SQLite page cache
SEPARATOR = "\0"  # between the queries of a reader's query file
KEY_SEPARATOR = "\x1f"  # between the person keys (hex digests) or the times of a packed query
STAMP_WIDTH = 26  # a time as SQLAlchemy stores it on SQLite: 'YYYY-MM-DD HH:MM:SS.ffffff'
_STAMP_MARKS = {4: b"-", 7: b"-", 10: b" T", 13: b":", 16: b":", 19: b"."}
_EPOCH = dt.datetime(1970, 1, 1)
KEY_WIDTH = 64  # a person key: a hex HMAC-SHA256 (as store.fact_insert.KEY_WIDTH; a reader
# imports only the standard library and numpy)
log = logging.getLogger(__name__)


def write_ints(path: str, queries: Sequence[str], width: int, out: str) -> int:
    """Write the rows of packed queries (each one text of comma-separated integers, `width` a
    row; factload.packed) on the SQLite file `path` to `out`: the column count, then the
    rows, as native int64. Returns the rows written."""
    conn = sqlite3.connect(path)
    part = Path(out + ".part")
    written = 0
    try:
        # a day's key range is scanned in order: a small cache does (keys come back as text)
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        with part.open("wb") as file:
            np.array([width], dtype=np.int64).tofile(file)
            conn.execute("BEGIN")  # every query reads one snapshot
            for table in tables(conn, queries, width):
                table.tofile(file)
                written += len(table)
    finally:
        conn.close()
    part.replace(out)  # whole, or not there at all
    return written


def tables(conn: sqlite3.Connection, queries: Sequence[str], width: int) -> Iterator[np.ndarray]:
    """The rows of each packed query (factload.packed) as an int64 matrix of `width` columns:
    a keyed query's rows begin with the people.rowid of their person key (0: none), then its
    lead (when it has one), then the integers of its text, then its time in microseconds
    (when it has times)."""
    rowids = _NO_PEOPLE  # read at the first keyed query: looked up here, not joined per row
    for sql in queries:
        lead, text, keys, stamps = conn.execute(sql).fetchone()
        if keys is not None and rowids is _NO_PEOPLE:
            rowids = PersonRowids(conn.execute("SELECT person_key, rowid FROM people").fetchall())
        yield unpacked(text, keys, lead, width, rowids, stamps)


class PersonRowids:
    """people.rowid of person keys. Keys of KEY_WIDTH ASCII characters (every key Uptake
    makes) are found by their first eight bytes among the people's, sorted, and checked whole;
    a key text made only of such keys is looked up without a Python object per key (a day's
    rows come in key order, so the search walks the people once). Other keys: a dict."""

    def __init__(self, people: Sequence[tuple[str, int]]):
        self.by_key = dict(people)
        plain = sorted((key, rowid) for key, rowid in people
                       if len(key) == KEY_WIDTH and key.isascii())
        self.rowids = np.array([rowid for _, rowid in plain], dtype=np.int64)
        self.words = _words("".join(key for key, _ in plain).encode("ascii"))
        self.prefixes = _prefixes(self.words)

    def of(self, keys: str, rows: int) -> np.ndarray:
        """The rowid (0: none) of each of `rows` keys joined by KEY_SEPARATOR."""
        fixed = self._fixed(keys, rows) if len(self.rowids) else None
        if fixed is None:
            parts = keys.split(KEY_SEPARATOR)
            if len(parts) != rows:
                raise ValueError(f"a keyed query gave {rows} rows and {len(parts)} keys")
            return np.fromiter(map(self.by_key.get, parts, itertools.repeat(0)),
                               dtype=np.int64, count=rows)
        at = np.minimum(np.searchsorted(self.prefixes, _prefixes(fixed)), len(self.rowids) - 1)
        found = (fixed == self.words[at]).all(axis=1)
        out = np.where(found, self.rowids[at], 0)
        step = KEY_WIDTH + len(KEY_SEPARATOR)
        for i in np.flatnonzero(~found).tolist():  # a prefix two people share, or no person
            out[i] = self.by_key.get(keys[i * step:i * step + KEY_WIDTH], 0)
        return out

    @staticmethod
    def _fixed(keys: str, rows: int) -> np.ndarray | None:
        """The keys as rows of KEY_WIDTH bytes (as uint64 words) when each is KEY_WIDTH ASCII
        characters, else None."""
        cells = fixed_width(keys, rows, KEY_WIDTH)
        return None if cells is None else np.ascontiguousarray(cells).view(np.uint64)


def fixed_width(text: str, rows: int, width: int) -> np.ndarray | None:
    """`rows` items of `width` ASCII characters joined by KEY_SEPARATOR, as a (rows, width)
    view of their bytes; None when any item is of another width or not ASCII."""
    step = width + len(KEY_SEPARATOR)
    if not rows or len(text) != rows * step - 1 or text.count(KEY_SEPARATOR) != rows - 1:
        return None  # each separator where it belongs, and no other: the items are whole
    try:
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None
    return np.lib.stride_tricks.as_strided(raw, (rows, width), (step, 1), writeable=False)


def _words(keys: bytes) -> np.ndarray:
    """KEY_WIDTH-byte keys end to end as rows of uint64 words (compared whole at once)."""
    return np.frombuffer(keys, dtype=np.uint64).reshape(-1, KEY_WIDTH // 8)


def _prefixes(words: np.ndarray) -> np.ndarray:
    """Each key's first eight bytes as a big-endian integer: sorted as the keys are."""
    return words[:, 0].byteswap() if sys.byteorder == "little" else words[:, 0].copy()


_NO_PEOPLE = PersonRowids([])


def parsed(text: str | None, width: int) -> np.ndarray:
    """A packed query's text as an int64 matrix of `width` columns (no text: no rows)."""
    if not text:
        return np.zeros((0, width), dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=",").reshape(-1, width)


def unpacked(
    text: str | None, keys: str | None, lead: int | None, width: int, rowids: PersonRowids,
    stamps: str | None = None,
) -> np.ndarray:
    """A packed query's result as rows of `width` columns: the rowid of each row's key (0:
    unknown) when keyed (`keys`: joined by KEY_SEPARATOR), the lead when there is one, the
    integers of the text, then each row's time in microseconds when it has `stamps` (ISO
    times joined by KEY_SEPARATOR)."""
    first = (keys is not None) + (lead is not None)
    last = width - (stamps is not None)
    table = parsed(text, last - first)
    rows = np.empty((len(table), width), dtype=np.int64)
    rows[:, first:last] = table
    if lead is not None:
        rows[:, first - 1] = lead
    if keys is not None and len(table):
        rows[:, 0] = rowids.of(keys, len(table))
    if stamps is not None and len(table):
        rows[:, last] = stamp_micros(stamps, len(table))
    return rows


def stamp_micros(stamps: str, rows: int) -> np.ndarray:
    """Microseconds since 1970 of `rows` times joined by KEY_SEPARATOR, as the query once
    computed them with SQLite's unixepoch(): a time's first 19 characters, plus the digits of
    its 21st to 26th (0 where the time is unreadable). Times as SQLAlchemy stores them on
    SQLite ('2025-11-17 06:00:00.000000') are read at once as rows of bytes; any other one
    by one (`_micros`)."""
    cells = fixed_width(stamps, rows, STAMP_WIDTH)
    if cells is not None:
        micros, plain = _fixed_micros(cells)
        step = STAMP_WIDTH + len(KEY_SEPARATOR)
        for i in np.flatnonzero(~plain).tolist():
            micros[i] = _micros(stamps[i * step:i * step + STAMP_WIDTH])
        return micros
    parts = stamps.split(KEY_SEPARATOR) if rows else []
    if len(parts) != rows:
        raise ValueError(f"a query gave {rows} rows and {len(parts)} times")
    return np.fromiter(map(_micros, parts), dtype=np.int64, count=rows)


def _fixed_micros(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(microseconds, plain) of rows of STAMP_WIDTH bytes; plain where a row is a valid
    'YYYY-MM-DD HH:MM:SS.ffffff' (or with a T), its microseconds then exact. Column by
    column: a narrow matrix is slow to reduce along its rows."""
    bad = np.zeros(len(cells), dtype=bool)

    def number(at: int, size: int) -> np.ndarray:
        nonlocal bad
        value = np.zeros(len(cells), dtype=np.int64)
        for i in range(at, at + size):
            digit = cells[:, i] - np.uint8(ord("0"))  # wraps below '0': above 9 as well
            bad |= digit > 9
            value = value * 10 + digit
        return value

    year, month, day = number(0, 4), number(5, 2), number(8, 2)
    hour, minute, second, micro = number(11, 2), number(14, 2), number(17, 2), number(20, 6)
    for at, marks in _STAMP_MARKS.items():
        column = cells[:, at]
        bad |= np.logical_and.reduce([column != mark for mark in marks])
    plain = ~bad & (month >= 1) & (month <= 12) & (day >= 1) & (day <= _days_in(year, month))
    plain &= (hour <= 23) & (minute <= 59) & (second <= 59)
    # days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    shifted = (month + 9) % 12
    of_era = y - era * 400
    of_year = (153 * shifted + 2) // 5 + day - 1
    days = era * 146097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719468
    seconds = days * 86400 + hour * 3600 + minute * 60 + second
    return np.where(plain, seconds * 1_000_000 + micro, 0), plain


def _days_in(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    lengths = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    return lengths[np.clip(month, 0, 12)] + (leap & (month == 2))


def _micros(stamp: str) -> int:
    """stamp_micros of one time: its first 19 characters read by Python's fromisoformat
    (unreadable, or with a zone: 0; SQLite's unixepoch() agrees on every form Uptake or
    SQLAlchemy writes), then the leading digits of its 21st to 26th as microseconds."""
    try:
        moment = dt.datetime.fromisoformat(stamp[:19])
    except ValueError:
        return 0
    if moment.tzinfo is not None:  # SQLite's unixepoch() takes no zone in 19 characters
        return 0
    digits = re.match(r"\d*", stamp[20:26])
    fraction = int(digits.group()) if digits and digits.group() else 0
    return int((moment - _EPOCH).total_seconds()) * 1_000_000 + fraction


def read_chunks(out: Path) -> Iterator[np.ndarray]:
    """The rows `write_ints` wrote to `out`, as int64 matrices of at most FETCH rows."""
    with out.open("rb") as file:
        width = int(np.fromfile(file, dtype=np.int64, count=1)[0])
        while len(chunk := np.fromfile(file, dtype=np.int64, count=FETCH * width)):
            yield chunk.reshape(-1, width)


def _drained(out: Path) -> Iterator[np.ndarray]:
    """`read_chunks(out)`, then the file removed: its disk space is not held until `close`."""
    yield from read_chunks(out)
    out.unlink()


def start(path: str, queries: Sequence[str], width: int, out: Path) -> subprocess.Popen[bytes]:
    """Start reading `queries` in a child process that writes the rows to `out`
    (`write_ints`); the queries go in a file beside it (a year of days is too long for a
    command line)."""
    listed = out.with_suffix(".sql")
    listed.write_text(SEPARATOR.join(queries), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-I", __file__, path, str(out), str(width), str(listed)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def finish(child: subprocess.Popen[bytes], out: Path) -> bool:
    """Wait for the reader: True when its rows are in `out`, False when it failed (the caller
    then reads them itself)."""
    _, errors = child.communicate()
    if child.returncode != 0 or not out.exists():
        last = (errors.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        log.warning("reader process failed (%s); reading its rows here", last)
        return False
    return True


class Readers:
    """One reader process per group of packed queries, begun at once, its rows saved in a
    temporary folder that `close` removes (stopping any reader still running)."""

    def __init__(self, path: str, groups: Sequence[Sequence[str]], width: int):
        self._tmp = tempfile.TemporaryDirectory(prefix="uptake-read-")
        self._children: list[tuple[subprocess.Popen[bytes], Path]] = []
        try:
            for i, queries in enumerate(groups):
                out = Path(self._tmp.name) / f"rows-{i}.bin"
                self._children.append((start(path, queries, width, out), out))
        except BaseException:  # no reader left running, no files left behind
            self.close()
            raise

    def results(self) -> Iterator[Iterator[np.ndarray] | None]:
        """Each query's rows, in order, as chunks read from its file; None where its reader
        failed (the caller reads them)."""
        for child, out in self._children:
            yield _drained(out) if finish(child, out) else None

    def close(self) -> None:
        """Stop any reader still running and remove the folder; safe to call again."""
        for child, _ in self._children:
            if child.poll() is None:
                child.kill()
                child.wait()
        self._children = []
        self._tmp.cleanup()


if __name__ == "__main__":
    given = Path(sys.argv[4]).read_text(encoding="utf-8")
    write_ints(sys.argv[1], given.split(SEPARATOR) if given else [], int(sys.argv[3]),
               sys.argv[2])
