"""Dates as the drivers return them, made `datetime.date`."""

from __future__ import annotations

import datetime as dt
from typing import Any


def as_date(value: Any) -> dt.date | None:
    """A date from a date, a datetime, ISO text (SQLite aggregates lose their type) or None."""
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value  # type: ignore[no-any-return]
