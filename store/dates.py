"""Dates as the drivers return them, made `datetime.date`; timestamps as the store's text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

_isoformat = dt.datetime.isoformat


def as_date(value: Any) -> dt.date | None:
    """A date from a date, a datetime, ISO text (SQLite aggregates lose their type) or None."""
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value  # type: ignore[no-any-return]


def time_text(value: dt.datetime) -> str:
    """A naive-UTC datetime as the text SQLite stores (`YYYY-MM-DD HH:MM:SS.ffffff`)."""
    return _isoformat(value, " ", "microseconds")


def utc_instants(values: Sequence[dt.datetime] | Sequence[str]) -> pd.DatetimeIndex:
    """Naive-UTC datetimes, or `time_text` texts, as a DatetimeIndex (microseconds)."""
    # numpy parses the text in C; from datetime objects pandas is the fast one
    if len(values) and isinstance(values[0], str):
        return pd.DatetimeIndex(np.asarray(values, dtype="datetime64[us]"))
    return pd.DatetimeIndex(values)
