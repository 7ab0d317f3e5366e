"""One write transaction fed while the caller computes: the server writes on another core."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

from sqlalchemy import Engine

from store.engine import is_sqlite, write_transaction

Job = tuple[Callable[..., Any], tuple[Any, ...]]
_DONE, _ABORT = object(), object()


class _Aborted(Exception):
    """The caller failed: roll the transaction back."""


class WriteBehind:
    """Runs each added `job(conn, *args)`, in order, in one write transaction that commits
    when the `with` block ends without error and otherwise writes nothing.

    On PostgreSQL a thread of its own runs the jobs as they are added, so the server inserts
    (index entries, foreign-key checks) while the caller computes what comes next; a failed
    job is raised in the caller at its next `add` or at the end. On SQLite the jobs run at the
    end of the block: its writer holds the store's one write lock, taken as late as it can be.
    Jobs must only read what they are given: the caller goes on with the same objects.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        if not is_sqlite(engine):
            self._thread = threading.Thread(target=self._write, name="uptake-writes", daemon=True)

    def __enter__(self) -> WriteBehind:
        if self._thread is not None:
            self._thread.start()
        return self

    def add(self, job: Callable[..., Any], *args: Any) -> None:
        """Run `job(conn, *args)` after the jobs added before it."""
        if self.error is not None:
            raise self.error
        self._queue.put((job, args))

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._queue.put(_DONE if exc is None else _ABORT)
        if self._thread is not None:
            self._thread.join()
        elif exc is None:  # SQLite: the jobs run now, here
            self._write()
        if exc is None and self.error is not None:
            raise self.error

    def _write(self) -> None:
        """Run the queued jobs in one transaction until the end is queued; an abort (or a
        failed job, kept in `error`) rolls it back."""
        try:
            with write_transaction(self.engine) as conn:
                while (item := self._queue.get()) is not _DONE:
                    if item is _ABORT:
                        raise _Aborted
                    job, args = cast(Job, item)
                    job(conn, *args)
        except _Aborted:
            pass
        except BaseException as exc:  # raised in the caller (its thread, on PostgreSQL)
            self.error = exc
