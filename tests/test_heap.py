"""Freed heap is handed back only where it matters: in a process holding LARGE_MB or more."""

from __future__ import annotations

import pytest

from metrics import heap


@pytest.mark.parametrize("limit, trimmed", [(0, [0]), (10**9, [])])
def test_release_trims_only_a_large_process(monkeypatch, limit, trimmed):
    calls: list[int] = []
    monkeypatch.setattr(heap, "_malloc_trim", lambda: calls.append)
    monkeypatch.setattr(heap, "LARGE_MB", limit)
    heap.release_free_memory()
    assert calls == trimmed


def test_resident_size_is_read_from_proc():
    resident = heap._resident_mb()
    assert resident is None or 10 < resident < 100_000  # a Python process with pytest loaded


def test_finding_malloc_trim_starts_no_process(monkeypatch):
    """A child forked from a refresh of a GB or more would count that GB again while it
    lives: the lookup of malloc_trim must not run one (find_library runs `ldconfig`)."""
    import subprocess
    import sys

    def refused(*args, **kwargs):
        raise AssertionError(f"a process was started: {args[:1]}")

    monkeypatch.setattr(subprocess, "Popen", refused)
    heap._malloc_trim.cache_clear()
    try:
        trim = heap._malloc_trim()
        if sys.platform.startswith("linux"):
            assert trim is not None and trim(0) in (0, 1)
    finally:
        heap._malloc_trim.cache_clear()
