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
