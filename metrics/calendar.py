"""Local days as integers (days since 1970-01-01), so date logic is vectorised and portable."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

EPOCH = dt.date(1970, 1, 1)
FOREVER = 2**30  # a day number after every real day: "no end"
NEVER = -(2**30)  # a day number before every real day: "no start"


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01."""
    return (day - EPOCH).days


def from_day_number(number: int) -> dt.date:
    """The date of a day number."""
    return EPOCH + dt.timedelta(days=int(number))


def day_numbers(days: pd.Series | np.ndarray, missing: int = FOREVER) -> np.ndarray:
    """Day numbers (int64) of datetime64 days; missing values become `missing`."""
    values = np.asarray(pd.to_datetime(days)).astype("datetime64[D]")
    out = values.astype("int64")
    out[np.isnat(values)] = missing
    return out


def as_datetime64(numbers: np.ndarray) -> np.ndarray:
    """datetime64[ns] midnights of day numbers."""
    return np.asarray(numbers, dtype="int64").astype("datetime64[D]").astype("datetime64[ns]")


def local_day_numbers(utc: pd.Series, zone: ZoneInfo) -> np.ndarray:
    """Local day numbers of naive-UTC timestamps (missing values become FOREVER)."""
    stamps = pd.to_datetime(utc, format="ISO8601")
    local = stamps.dt.tz_localize("UTC").dt.tz_convert(str(zone)).dt.tz_localize(None)
    return day_numbers(local.dt.normalize())


def parse_days(text: pd.Series | np.ndarray, missing: int = FOREVER) -> np.ndarray:
    """Day numbers of ISO date strings or date objects; blanks and junk become `missing`."""
    codes, uniques = pd.factorize(pd.Series(text, dtype="object"), use_na_sentinel=True)
    strings = pd.Series(uniques, dtype="object").astype("string").str[:10]
    values = day_numbers(pd.to_datetime(strings, format="%Y-%m-%d", errors="coerce"), missing)
    out = np.full(len(codes), missing, dtype=np.int64)
    known = codes >= 0
    out[known] = values[codes[known]]
    return out
