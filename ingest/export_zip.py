"""Export ZIPs: validate, refuse unsafe entry paths, and hand members to handlers by file name."""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import IO

from errors import BadInputError

log = logging.getLogger(__name__)

Handler = Callable[[str, IO[bytes], zipfile.ZipInfo], None]  # (label, stream, member)
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)
_DRIVE = re.compile(r"^[A-Za-z]:")


def is_unsafe(name: str) -> bool:
    """True for an entry that would escape the folder it is extracted to (zip-slip)."""
    path = name.replace("\\", "/")
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/")


def open_export(path: Path) -> zipfile.ZipFile:
    """Open a ZIP after checking it is whole (every CRC) and that no entry path is unsafe."""
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
        bad = archive.testzip()
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


def read_export(path: Path, handlers: Mapping[str, Handler]) -> list[str]:
    """Feed each member to the handler of its base name, in the handlers' order: its label
    (`ZIP name/member path`, for messages), an open stream and its ZipInfo.

    Members may sit in per-network folders; other files are logged once and skipped.
    Returns the skipped base names. Never extracts anything to disk.
    """
    label = path.name
    with open_export(path) as archive:
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


def base_name(name: str) -> str:
    """An entry's file name without its folders (either slash)."""
    return PurePosixPath(name.replace("\\", "/")).name
