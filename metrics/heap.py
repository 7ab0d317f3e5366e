"""Hand freed heap memory back to the operating system between a refresh's big steps."""

from __future__ import annotations

import ctypes
import functools
import gc
import os
from collections.abc import Callable

LARGE_MB = 1024  # below this resident size a release is not worth its collection (≈ 50 ms)


def release_free_memory() -> None:
    """In a process holding LARGE_MB or more, collect garbage, then ask glibc to return free
    heap pages (a no-op elsewhere).

    A refresh allocates and frees many arrays of tens of MB; glibc keeps much of that in its
    heap, so the next step's peak would come on top of memory no longer used. A small refresh
    (the demo, an incremental one) is far from any memory limit and skips the cost.
    """
    resident = _resident_mb()
    if resident is not None and resident < LARGE_MB:
        return
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _resident_mb() -> float | None:
    """This process's resident memory (Linux), else None."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # The process's own symbols, not ctypes.util.find_library("c"): that runs `ldconfig -p`
    # in a child process, forked from a process of a GB or more (its pages shared, but
    # counted in the child's resident size until the exec).
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
