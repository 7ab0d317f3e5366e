"""Part of a large SQLite read in a reader process: the sqlite3 module reads on one core.

A refresh reads millions of person-days through the driver; on SQLite that is one core's work
and it holds the GIL between rows. Two reader processes, each reading half the rows, finish it
in about half the time while the refresh reads the roster. A reader is this file run by the
same interpreter (`python -I`: it imports only sqlite3 and numpy, never the caller's main
module) and hands its rows back as a `.npy` file. It opens its own connection and only reads:
its own snapshot, so a write committed meanwhile may show in one half only (the refresh queue
brings it in next time).
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

FETCH = 250_000
log = logging.getLogger(__name__)


def read_ints(path: str, sql: str) -> np.ndarray:
    """Every row of `sql` (integer columns) on the SQLite file `path`, as an int64 matrix."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA cache_size=-262144")
        cursor = conn.execute(sql)
        width = len(cursor.description)
        parts = [np.array(rows, dtype=np.int64) for rows in iter(
            lambda: cursor.fetchmany(FETCH), [])]
    finally:
        conn.close()
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.int64)


def start(path: str, sql: str, out: Path) -> subprocess.Popen[bytes]:
    """Start reading `sql` in a child process that saves the rows to `out` (.npy)."""
    return subprocess.Popen(
        [sys.executable, "-I", __file__, path, sql, str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def finish(child: subprocess.Popen[bytes], out: Path) -> np.ndarray | None:
    """The reader's rows, or None when it failed (the caller then reads them itself)."""
    _, errors = child.communicate()
    if child.returncode != 0 or not out.exists():
        last = (errors.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        log.warning("reader process failed (%s); reading its rows here", last)
        return None
    return np.load(out)


class Readers:
    """One reader process per query, begun at once, its rows saved in a temporary folder that
    `close` removes (stopping any reader still running)."""

    def __init__(self, path: str, queries: Sequence[str]):
        self._tmp = tempfile.TemporaryDirectory(prefix="uptake-read-")
        self._children: list[tuple[subprocess.Popen[bytes], Path]] = []
        try:
            for i, sql in enumerate(queries):
                out = Path(self._tmp.name) / f"rows-{i}.npy"
                self._children.append((start(path, sql, out), out))
        except BaseException:  # no reader left running, no files left behind
            self.close()
            raise

    def results(self) -> Iterator[np.ndarray | None]:
        """Each query's rows, in order; None where its reader failed (the caller reads them)."""
        for child, out in self._children:
            rows = finish(child, out)
            if rows is not None:
                out.unlink()
            yield rows
            del rows  # the next read's rows do not join this one's in memory

    def close(self) -> None:
        """Stop any reader still running and remove the folder; safe to call again."""
        for child, _ in self._children:
            if child.poll() is None:
                child.kill()
                child.wait()
        self._children = []
        self._tmp.cleanup()


if __name__ == "__main__":
    np.save(sys.argv[3], read_ints(sys.argv[1], sys.argv[2]))
