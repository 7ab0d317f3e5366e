"""Export ZIPs: validate, refuse unsafe entry paths, and hand members to handlers by file name."""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import IO

from errors import BadInputError

log = logging.getLogger(__name__)

Handler = Callable[[str, IO[bytes], zipfile.ZipInfo], None]  # (label, stream, member)
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)
_DRIVE = re.compile(r"^[A-Za-z]:")
CHECK_BYTES = 1 << 20


def is_unsafe(name: str) -> bool:
    """True for an entry that would escape the folder it is extracted to (zip-slip)."""
    path = name.replace("\\", "/")
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/")


def open_export(path: Path, streamed: Collection[str] = ()) -> zipfile.ZipFile:
    """Open a ZIP after checking it is whole (every CRC) and that no entry path is unsafe.

    The CRCs of the `streamed` members (entry names) are left to their one reader: zipfile
    checks a member's CRC when a read reaches its end, so the caller must read them whole
    before it commits anything of them."""
    label = path.name
    if not path.is_file():
        raise BadInputError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise BadInputError(f"{label}: not a ZIP archive (corrupt or truncated)")
    try:
        archive = zipfile.ZipFile(path)
    except (*ZIP_ERRORS, OSError) as exc:
        raise BadInputError(f"{label}: unreadable ZIP archive ({exc})") from None
    try:
        unsafe = [i.filename for i in archive.infolist() if is_unsafe(i.filename)]
        if unsafe:
            raise BadInputError(f"{label}: unsafe path in ZIP entry {unsafe[0]!r}; nothing read")
        bad = _first_corrupt(archive, streamed)
    except BadInputError:
        archive.close()
        raise
    except (*ZIP_ERRORS, OSError) as exc:
        archive.close()
        raise BadInputError(f"{label}: corrupt ZIP archive ({exc})") from None
    if bad is not None:
        archive.close()
        raise BadInputError(f"{label}: corrupt ZIP entry {bad!r} (CRC mismatch)")
    return archive


def read_export(
    path: Path, handlers: Mapping[str, Handler], streamed: Collection[str] = ()
) -> list[str]:
    """Feed each member to the handler of its base name, in the handlers' order: its label
    (`ZIP name/member path`, for messages), an open stream and its ZipInfo.

    `streamed`: members whose CRC is checked by their reader instead (`open_export`).

    Members may sit in per-network folders; other files are logged once and skipped.
    Returns the skipped base names. Never extracts anything to disk.
    """
    label = path.name
    with open_export(path, streamed) as archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        skipped = sorted({base_name(i.filename) for i in members} - set(handlers))
        for name in skipped:
            log.info("%s: %s is not ingested; skipped", label, name)
        wanted = [(n, i) for n in handlers for i in members if base_name(i.filename) == n]
        if not wanted:
            raise BadInputError(
                f"{label}: none of {', '.join(handlers)} in the ZIP; not a network data export?"
            )
        for name, info in wanted:
            member = f"{label}/{info.filename}"
            try:
                with archive.open(info) as raw:
                    handlers[name](member, raw, info)
            except ZIP_ERRORS as exc:
                raise BadInputError(f"{member}: corrupt ZIP entry ({exc})") from None
    return skipped


def verify_member(archive: zipfile.ZipFile, name: str) -> None:
    """Read one member to its end: zipfile raises BadZipFile there when its CRC is wrong."""
    with archive.open(name) as member:
        verify_rest(member)


def verify_rest(member: IO[bytes]) -> None:
    """Read an open member's remaining bytes (none, once parsed whole): its CRC is checked."""
    while member.read(CHECK_BYTES):
        pass


def _first_corrupt(archive: zipfile.ZipFile, streamed: Collection[str]) -> str | None:
    """`ZipFile.testzip` without the `streamed` members: the first member whose CRC is wrong."""
    for info in archive.infolist():
        if info.filename in streamed or info.is_dir():
            continue
        try:
            verify_member(archive, info.filename)
        except zipfile.BadZipFile:
            return info.filename
    return None


def base_name(name: str) -> str:
    """An entry's file name without its folders (either slash)."""
    return PurePosixPath(name.replace("\\", "/")).name
