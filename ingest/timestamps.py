"""Tolerant timestamp and date parsing for export files; everything becomes naive UTC."""

from __future__ import annotations

import datetime as dt
import re

from errors import SkippableRecord

_SLASH = re.compile(
    r"^(\d{4})[/-](\d{2})[/-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    r"\s*(?:([+-])(\d{2}):?(\d{2})|Z|UTC)?$"
)
MISSING = {"", "null", "none", "nan"}


def parse_timestamp(text: str | None) -> dt.datetime | None:
    """Parse ISO-8601 (Z, offset, fractions) or `YYYY/MM/DD HH:MM:SS +0000`; naive UTC out.

    Empty and `null` give None; anything else unparseable raises SkippableRecord.
    A value without an offset is taken as UTC (the platforms' documented convention).
    """
    if text is None:
        return None
    value = text.strip()
    if value.lower() in MISSING:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        parsed = _parse_slash(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _parse_slash(value: str) -> dt.datetime:
    match = _SLASH.match(value)
    if not match:
        raise SkippableRecord(f"unparseable timestamp {value[:40]!r}")
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    try:
        parsed = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        raise SkippableRecord(f"unparseable timestamp {value[:40]!r}") from None
    if sign:
        offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
        parsed -= offset if sign == "+" else -offset
    return parsed


def parse_date(text: str | None) -> dt.date | None:
    """Parse `YYYY-MM-DD` (or `YYYY/MM/DD`, or a timestamp's date part); empty gives None."""
    if text is None:
        return None
    value = text.strip()
    if value.lower() in MISSING:
        return None
    try:
        return dt.date.fromisoformat(value[:10].replace("/", "-"))
    except ValueError:
        raise SkippableRecord(f"unparseable date {value[:40]!r}") from None
