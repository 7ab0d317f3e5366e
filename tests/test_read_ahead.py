"""A generator run in a forked reader process: items in order, its errors raised here."""

from __future__ import annotations

import os
import threading
import time

import pytest

from errors import BadInputError, IngestError
from ingest.read_ahead import PIPE_BYTES, can_read_ahead, read_ahead


def numbers(n: int):
    for i in range(n):
        yield {"i": i, "pid": os.getpid()}


def fails_after(n: int):
    yield from range(n)
    raise BadInputError("m.zip/Messages.csv: corrupt ZIP entry (CRC)")


def dies_after(n: int):
    yield from range(n)
    os._exit(3)  # killed: no error sent


class Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a} {b}")


def raises_unpicklable():
    yield 1
    raise Unpicklable("both", "parts")


def endless(path: str):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    i = 0
    while True:
        yield i
        i += 1


def test_items_arrive_in_order_from_another_process():
    items = list(read_ahead(numbers, 50))
    assert [x["i"] for x in items] == list(range(50))
    assert {x["pid"] for x in items} != {os.getpid()}


def blobs(n: int, size: int):
    for i in range(n):
        yield bytes([i]) * size


def test_large_items_cross_a_widened_pipe_whole():
    fcntl = pytest.importorskip("fcntl")
    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        pytest.skip("pipe sizes are a Linux feature")
    ahead = read_ahead(blobs, 4, 3_000_000)
    try:
        allowed = int(open("/proc/sys/fs/pipe-max-size").read())
        size = fcntl.fcntl(ahead._pipe._reader.fileno(), fcntl.F_GETPIPE_SZ)
        assert size == PIPE_BYTES if allowed >= PIPE_BYTES else size < PIPE_BYTES
        assert [(len(b), b[0], b[-1]) for b in ahead] == [(3_000_000, i, i) for i in range(4)]
    finally:
        ahead.close()


def test_an_error_in_the_reader_is_raised_here_after_its_items():
    got = []
    with pytest.raises(BadInputError, match="corrupt ZIP entry"):
        for item in read_ahead(fails_after, 3):
            got.append(item)
    assert got == [0, 1, 2]


def test_an_exception_that_cannot_be_sent_arrives_as_an_ingest_error():
    with pytest.raises(IngestError, match="Unpicklable: both parts"):
        list(read_ahead(raises_unpicklable))


def test_a_reader_that_dies_is_an_ingest_error_not_a_hang():
    got = []
    with pytest.raises(IngestError, match=r"reader process ended without finishing \(exit code 3"):
        for item in read_ahead(dies_after, 2):
            got.append(item)
    assert got == [0, 1][:len(got)]  # items not yet sent when it died are lost with it


def test_stopping_early_ends_the_reader(tmp_path):
    path = tmp_path / "pid"
    items = read_ahead(endless, str(path))
    assert next(items) == 0
    pid = int(path.read_text())
    items.close()
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_no_fork_while_another_thread_runs(monkeypatch):
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_read_ahead()
    finally:
        stop.set()
        other.join()
    # alone (other tests of this process may have left threads behind: counted as one)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert can_read_ahead()
