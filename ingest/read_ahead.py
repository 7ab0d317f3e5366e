"""A generator's items produced in a child process, a few ahead of the caller that uses them."""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from errors import IngestError

T = TypeVar("T")
AHEAD = 3  # items waiting in the pipe at most: bounds the memory of a fast producer
POLL_S = 1.0
PIPE_BYTES = 1 << 20  # Linux's largest pipe for an unprivileged process (fs/pipe-max-size)


def can_read_ahead() -> bool:
    """True where a child can be forked safely: this process runs no other thread."""
    # a fork copies only the calling thread: a lock another thread held stays held in the
    # child; a threaded caller (the scheduler's jobs) reads in-process instead
    return threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()


def read_ahead(produce: Callable[..., Iterator[T]], *args: Any) -> ReadAhead[T]:
    """`produce(*args)`'s items, produced meanwhile by a child process forked now; its
    exceptions are raised here. Only where `can_read_ahead()`."""
    return ReadAhead(produce, args)


class ReadAhead(Generic[T]):
    """The items a forked child produces, in order; `close()` stops the child at once."""

    def __init__(self, produce: Callable[..., Iterator[T]], args: tuple[Any, ...]):
        # fork, not spawn or forkserver: the child has every module already and starts in
        # milliseconds, and nothing of the caller's __main__ is run again
        context = multiprocessing.get_context("fork")
        self._pipe: Any = context.Queue(AHEAD)
        _widen(self._pipe)
        self._child = context.Process(target=_produce, args=(self._pipe, produce, args),
                                      daemon=True)
        self._child.start()
        self._open = True

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if not self._open:
            raise StopIteration
        try:
            kind, value = _next(self._pipe, self._child)
        except BaseException:
            self.close()
            raise
        if kind == "item":
            return value  # type: ignore[no-any-return]
        self.close()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the child (if still running) and release the pipe; idempotent."""
        if not self._open:
            return
        self._open = False
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._pipe.close()


def _widen(pipe: Any) -> None:
    """Give a Queue's pipe PIPE_BYTES where the system allows it (Linux), else leave it."""
    # An item crosses a 64 KiB pipe in pieces, and the child's sending thread waits for its
    # GIL after each one while the child parses the next item: with the default pipe the
    # 6,800 Graph benchmark's writer waited 1.2 s for its reader (0.5 MB a day), here 0.8 s.
    try:
        import fcntl

        fcntl.fcntl(pipe._writer.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or a lower pipe-max-size
        pass


def _next(pipe: Any, child: Any) -> tuple[str, Any]:
    while True:
        try:
            return pipe.get(timeout=POLL_S)  # type: ignore[no-any-return]
        except queue.Empty:
            if child.is_alive():
                continue
        try:  # it may have put its last item just before it ended
            return pipe.get(timeout=POLL_S)  # type: ignore[no-any-return]
        except queue.Empty:
            raise IngestError(
                f"the reader process ended without finishing (exit code {child.exitcode})"
            ) from None


def _produce(pipe: Any, produce: Callable[..., Iterator[Any]], args: tuple[Any, ...]) -> None:
    """The child: every item, then ('done', None) or ('error', the exception)."""
    try:
        for item in produce(*args):
            pipe.put(("item", item))
        pipe.put(("done", None))
    except BaseException as exc:  # noqa: BLE001 - whatever stops it is the caller's error
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001 - an exception that cannot cross the pipe
            exc = IngestError(f"{type(exc).__name__}: {exc}")
        pipe.put(("error", exc))
    finally:
        pipe.close()
        pipe.join_thread()
