"""Read export CSVs by header name: BOM, CRLF, quoted multi-line cells, UTF-8 or cp1252."""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Iterable, Iterator
from typing import IO

from errors import BadInputError

csv.field_size_limit(sys.maxsize)  # message bodies can be long; we read past them, never keep them


def decode_stream(raw: IO[bytes]) -> io.TextIOBase:
    """Text stream over raw bytes: UTF-8 (BOM stripped), falling back to cp1252 for legacy files."""
    head = raw.read(1 << 20)
    rest = raw
    try:
        head.decode("utf-8")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the 1 MiB boundary is still UTF-8
        encoding = "utf-8-sig" if exc.start >= len(head) - 3 else "cp1252"
    stream = io.BufferedReader(_Chain(head, rest))  # type: ignore[arg-type]
    return io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")


class _Chain(io.RawIOBase):
    """A raw stream that replays `head` then continues with `rest`."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Utf8Checked(io.RawIOBase):
    """The bytes of `raw`, checked as UTF-8 on the way: a read past a byte that is not
    raises UnicodeDecodeError, as decoding would, with nothing decoded kept."""

    # for a reader that decodes only some of what it reads (pandas: the columns it keeps)
    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if not data:
            self._decoder.decode(b"", final=True)  # a character cut short at the end
        elif not data.isascii() or self._decoder.getstate()[0]:
            self._decoder.decode(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_rows(
    text: Iterable[str], name: str, required: Iterable[str]
) -> tuple[list[str], Iterator[list[str]]]:
    """Header and row iterator of a CSV; BadInputError names a missing column or empty file."""
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise BadInputError(f"{name}: empty file (no header row)") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BadInputError(f"{name}: unreadable CSV header ({exc})") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise BadInputError(f"{name}: missing required column(s) {', '.join(missing)}")
    return header, _guarded(reader, name)


def _guarded(reader: Iterator[list[str]], name: str) -> Iterator[list[str]]:
    try:
        yield from reader
    except (csv.Error, UnicodeDecodeError) as exc:
        line = getattr(reader, "line_num", "?")
        raise BadInputError(f"{name}: unreadable CSV near line {line} ({exc})") from None
