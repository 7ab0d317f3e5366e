"""Hand freed heap memory back to the operating system between a refresh's big steps."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable


def release_free_memory() -> None:
    """Collect garbage, then ask glibc to return free heap pages (a no-op elsewhere).

    A refresh allocates and frees many arrays of tens of MB; glibc keeps much of that in its
    heap, so the next step's peak would come on top of memory no longer used.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
