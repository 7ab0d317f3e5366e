"""Calendar periods (ISO weeks, months) and who counts in them, shared by the period metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from errors import MetricError
from metrics.attribution import CROSS
from metrics.calendar import day_number
from metrics.facts import KINDS

GRAINS = ("week", "month")
UNKNOWN = "Unknown"
DAY = np.timedelta64(1, "D")
TABLE_MIN = 4096  # elements from which a table over their span beats arithmetic per element


def check_grain(grain: str, allowed: tuple[str, ...] = GRAINS) -> str:
    """The grain, or a MetricError naming the allowed ones."""
    if grain not in allowed:
        raise MetricError(f"unknown grain {grain!r}: use one of {', '.join(allowed)}")
    return grain


def check_by(facts: Any, by: str) -> str:
    """The breakdown attribute, if the facts know it (crossed `a@b` is for engagement only)."""
    if CROSS in by:
        raise MetricError(f"crossed breakdown {by!r} is only available for daily engagement")
    known = facts.attributes()
    if by not in known:
        raise MetricError(f"unknown attribute {by!r}; known: {', '.join(known)}")
    return by


def bounds(facts: Any, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    """The requested range clipped to the facts' days (lo > hi: nothing to compute).

    An end before the start is a MetricError.
    """
    if start and end and end < start:
        raise MetricError(f"end {end.isoformat()} is before start {start.isoformat()}")
    lo = max(start or facts.start, facts.start)
    hi = min(end or facts.end, facts.end)
    return lo, hi


def empty(columns: list[str]) -> pd.DataFrame:
    """A frame with `columns` and no rows: the honest answer for a range without data."""
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


def as_days(values: Any) -> np.ndarray:
    """Days as datetime64[D]: from datetime64, dates, or integer day numbers (since 1970)."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[D]")
    return np.asarray(pd.to_datetime(array).values, dtype="datetime64[D]")


def numbers(values: Any) -> np.ndarray:
    """Days as int64 day numbers (days since 1970-01-01)."""
    return as_days(values).astype(np.int64)


def period_of(days: Any, grain: str) -> np.ndarray:
    """First day of the period (Monday of the ISO week, or the 1st of the month) of each day."""
    d = as_days(days)
    if grain == "month":
        return d.astype("datetime64[M]").astype("datetime64[D]")
    monday_offset = (d.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday
    return d - monday_offset.astype("timedelta64[D]")


def next_period(periods: np.ndarray, grain: str) -> np.ndarray:
    """The first day of the period after each period start."""
    p = as_days(periods)
    if grain == "month":
        return (p.astype("datetime64[M]") + 1).astype("datetime64[D]")
    return p + 7 * DAY


def period_index(periods: Any, grain: str) -> np.ndarray:
    """A consecutive integer per period (weeks or months since 1970) for 'previous period' tests."""
    d = as_days(periods).astype(np.int64)
    if grain != "month":
        return (d + 3) // 7
    if len(d) < TABLE_MIN:
        return d.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    # Calendar arithmetic per element is slow: look each day up in a table of its span.
    lo = d.min()
    table = np.arange(lo, d.max() + 1).astype("datetime64[D]").astype("datetime64[M]")
    return table.astype(np.int64)[d - lo]


def period_start(indexes: np.ndarray, grain: str) -> np.ndarray:
    """First day (datetime64[D]) of the periods numbered by `period_index`."""
    index = np.asarray(indexes, dtype=np.int64)
    if grain == "month":
        return index.astype("datetime64[M]").astype("datetime64[D]")
    return (index * 7 - 3).astype("datetime64[D]")


def last_days(periods: np.ndarray, grain: str, hi: dt.date) -> np.ndarray:
    """The last day of each period, clipped to `hi`."""
    return np.minimum(next_period(periods, grain) - DAY, np.datetime64(hi, "D"))


def last_day_numbers(indexes: np.ndarray, grain: str, hi: dt.date) -> np.ndarray:
    """Day numbers of the last day of each period numbered by `period_index`, clipped to `hi`:
    computed once per period of their span, not once per element (millions of pairs)."""
    index = np.asarray(indexes, dtype=np.int64)
    if len(index) < TABLE_MIN:
        return numbers(last_days(period_start(index, grain), grain, hi))
    lo = index.min()
    table = numbers(last_days(period_start(np.arange(lo, index.max() + 1), grain), grain, hi))
    return table[index - lo]


def groups_of(facts: Any, by: str, pids: np.ndarray, days: Any) -> np.ndarray:
    """Group labels of `by` for person-days ('All' for all); unknown senders (pid -1) → Unknown."""
    pids = np.asarray(pids, dtype=np.int64)
    days = numbers(days)
    known = pids >= 0
    if known.all():
        return np.asarray(facts.group_of(by, pids, days), dtype=object)
    out = np.empty(len(pids), dtype=object)
    out[~known] = UNKNOWN if by != "all" else "All"
    out[known] = np.asarray(facts.group_of(by, pids[known], days[known]), dtype=object)
    return out


def labelled(out: pd.DataFrame, labels: np.ndarray, coded: list[str]) -> pd.DataFrame:
    """Rows grouped on codes — period as a day number, `coded` columns as indexes into
    `labels` — with the period as a date and those columns as their labels (in place).

    Metrics over millions of messages group on codes: object labels per row cost GBs.
    """
    out["period"] = as_days(out["period"].to_numpy()).astype("datetime64[ns]")
    for column in coded:
        out[column] = np.asarray(labels, dtype=object)[out[column].to_numpy()]
    return out


@dataclass
class PeriodPeople:
    """Distinct (period, person) pairs with the person's group code; ordered by (pid, period)."""

    index: np.ndarray  # period_index of each pair
    pid: np.ndarray
    code: np.ndarray  # index into `labels`
    labels: np.ndarray
    grain: str

    def frame(self) -> pd.DataFrame:
        """(period, pid, group) as a DataFrame of labels."""
        periods = period_start(self.index, self.grain).astype("datetime64[ns]")
        return pd.DataFrame({"period": periods, "pid": self.pid, "group": self.labels[self.code]})

    def counts(self, mask: np.ndarray | None = None, extra: np.ndarray | None = None
               ) -> pd.DataFrame:
        """People per (period, group[, extra]) among the pairs where `mask` holds."""
        index, code = self.index, self.code
        if mask is not None:
            index, code = index[mask], code[mask]
            extra = extra[mask] if extra is not None else None
        width = np.int64(len(self.labels) + 1)
        keys = (index - (index.min() if len(index) else 0)) * width + code
        if extra is not None:
            keys = keys * 2 + extra.astype(np.int64)
        distinct, n = distinct_counts(keys)
        if extra is not None:
            flags, distinct = distinct % 2, distinct // 2
        base = index.min() if len(index) else 0
        out = pd.DataFrame({
            "period": period_start(distinct // width + base, self.grain).astype("datetime64[ns]"),
            "group": self.labels[distinct % width] if len(distinct) else np.array([], object),
        })
        if extra is not None:
            out["extra"] = flags.astype(bool)
        out["count"] = n.astype(np.int64)
        return out


def distinct_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_counts=True) of non-negative integer keys; by a count per key
    where their span is small beside their number (no sort of millions of pairs)."""
    if len(keys) == 0 or keys.max() >= 4 * len(keys) + TABLE_MIN:
        return np.unique(keys, return_counts=True)
    tally = np.bincount(keys)
    distinct = np.flatnonzero(tally)
    return distinct, tally[distinct]


def people_codes(
    facts: Any, by: str, intervals: tuple[np.ndarray, ...], lo: dt.date, hi: dt.date, grain: str,
    name: str | None = None,
) -> PeriodPeople:
    """Every person whose day interval [start, end) meets a period of [lo, hi], per period;
    the group is the person's value of `by` on the period's last day (clipped to `hi`), as WAU
    and MAU attribute people to their group as of the window's end. With a `name`, the pairs
    (the same for every breakdown) are kept in the facts' cache."""
    def produce() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _period_pairs(intervals, lo, hi, grain)

    pairs = facts.cached(("period_pairs", name, lo, hi, grain), produce) if name else produce()
    return _with_groups(facts, by, pairs, grain)


def _with_groups(
    facts: Any, by: str, pairs: tuple[np.ndarray, np.ndarray, np.ndarray], grain: str
) -> PeriodPeople:
    index, pid, ends = pairs
    code, labels = facts.group_codes(by, pid, ends)
    return PeriodPeople(index, pid, np.asarray(code, dtype=np.int64),
                        np.asarray(labels, dtype=object), grain)


def _period_pairs(
    intervals: tuple[np.ndarray, ...], lo: dt.date, hi: dt.date, grain: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(period index, pid, period's last day number clipped to hi) of the distinct pairs."""
    pids, starts, ends = _clipped(intervals, lo, hi)
    a = period_index(starts.astype("datetime64[D]"), grain)
    b = period_index((ends - 1).astype("datetime64[D]"), grain)
    pieces = b - a + 1
    owner = np.repeat(np.arange(len(pids)), pieces)
    offset = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    index, pid = unique_pairs(a[owner] + offset, pids[owner])
    return index, pid, last_day_numbers(index, grain, hi)


def _clipped(
    intervals: tuple[np.ndarray, ...], lo: dt.date, hi: dt.date
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pid, start, end) of the day intervals [start, end) clipped to [lo, hi]; empty ones out."""
    pids, starts, ends = (np.asarray(a, dtype=np.int64) for a in intervals[:3])
    starts = np.maximum(starts, np.int64(day_number(lo)))
    ends = np.minimum(ends, np.int64(day_number(hi)) + 1)
    keep = ends > starts
    return pids[keep], starts[keep], ends[keep]


def counted_by_period(
    facts: Any, by: str, intervals: tuple[np.ndarray, ...], lo: dt.date, hi: dt.date,
    grain: str, extra: np.ndarray | None = None,
) -> pd.DataFrame:
    """What `people_codes(...).counts(extra=...)` gives, counted without listing every
    (period, person) pair: `extra` is a boolean matrix [snapshot, pid] (the roster snapshot in
    effect on the period's last day, as the group).

    Each person's periods become disjoint runs (two intervals in one period count once),
    cut where the snapshot of the periods' last days changes; each piece adds one to its
    group's periods through a difference array.
    """
    pids, starts, ends = _clipped(intervals, lo, hi)
    columns = ["period", "group", *(["extra"] if extra is not None else []), "count"]
    if not len(pids):
        return pd.DataFrame({c: [] for c in columns}).astype(
            {"period": "datetime64[ns]", "group": object, "count": np.int64})
    first = period_index(starts.astype("datetime64[D]"), grain)
    last = period_index((ends - 1).astype("datetime64[D]"), grain)
    order = np.lexsort((first, pids))
    pids, first, last = pids[order], first[order], last[order]
    low, high = int(first.min()), int(last.max())
    span = np.int64(high - low + 2)
    reach = np.maximum.accumulate(pids * span + (last - low))  # running last period, per person
    runs = np.flatnonzero(np.r_[True, (pids[1:] != pids[:-1])
                                | (pids[1:] * span + (first[1:] - low) > reach[:-1])])
    pids, first, last = pids[runs], first[runs], np.maximum.reduceat(last, runs)
    snaps = facts.attribution.snapshot_index(
        last_day_numbers(np.arange(low, high + 1), grain, hi))
    changed = np.r_[True, snaps[1:] != snaps[:-1]]
    segment = np.cumsum(changed) - 1  # per period of the span
    bounds_lo = np.flatnonzero(changed) + low
    bounds_hi = np.r_[bounds_lo[1:] - 1, high]
    a, b = segment[first - low], segment[last - low]
    pieces = b - a + 1
    owner = np.repeat(np.arange(len(pids)), pieces)
    piece = np.repeat(a, pieces) + np.arange(int(pieces.sum())) - np.repeat(
        np.cumsum(pieces) - pieces, pieces)
    snap, pid = snaps[bounds_lo[piece] - low], pids[owner]
    start = np.maximum(first[owner], bounds_lo[piece]) - low
    stop = np.minimum(last[owner], bounds_hi[piece]) - low + 1
    matrix, labels = facts.attribution.codes(by)
    key = np.asarray(matrix[snap, pid], dtype=np.int64)
    keys = len(labels)
    if extra is not None:
        key, keys = key * 2 + np.asarray(extra[snap, pid], dtype=np.int64), keys * 2
    width = high - low + 2
    size = keys * width
    delta = (np.bincount(key * width + start, minlength=size)
             - np.bincount(key * width + stop, minlength=size))
    counts = np.cumsum(delta.reshape(keys, width), axis=1)[:, :-1]
    key, period = np.nonzero(counts)
    order = np.lexsort((key, period))
    key, period = key[order], period[order]
    out = pd.DataFrame({
        "period": period_start(period + low, grain).astype("datetime64[ns]"),
        "group": np.asarray(labels, dtype=object)[key // 2 if extra is not None else key],
    })
    if extra is not None:
        out["extra"] = (key % 2).astype(bool)
    out["count"] = counts[key, period].astype(np.int64)
    return out


def people_by_period(
    facts: Any, by: str, intervals: tuple[np.ndarray, ...], lo: dt.date, hi: dt.date, grain: str
) -> pd.DataFrame:
    """(period, pid, group) of `people_codes` as a DataFrame."""
    return people_codes(facts, by, intervals, lo, hi, grain).frame()


def unique_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (first, second) integer pairs, ordered by (second, first).

    Pairs already in that order (activity is sorted by pid, then day) cost one pass; when
    they are also distinct, the arrays given (as int64) are returned.
    """
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    if len(first) == 0:
        return first, second
    lo1 = first.min()
    width = np.int64(first.max() - lo1 + 1)
    keys = second * width + (first - lo1)
    if (keys[1:] < keys[:-1]).any():
        keys = np.sort(keys)
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
        return keys % width + lo1, keys // width
    new = np.r_[True, keys[1:] != keys[:-1]]  # in order already: no division per pair
    return (first, second) if new.all() else (first[new], second[new])


def members_by_period(facts: Any, by: str, lo: dt.date, hi: dt.date, grain: str) -> pd.DataFrame:
    """Every (period, pid) member on at least one day of the period in [lo, hi], with its group."""
    return member_codes(facts, by, lo, hi, grain).frame()


def member_codes(facts: Any, by: str, lo: dt.date, hi: dt.date, grain: str) -> PeriodPeople:
    """members_by_period as codes (cheap to count at scale)."""
    membership = facts.membership
    intervals = (membership.pids, membership.starts, membership.ends)
    return people_codes(facts, by, intervals, lo, hi, grain, "members")


def member_days(facts: Any, lo: dt.date, hi: dt.date) -> pd.DataFrame:
    """Activity rows of [lo, hi] on days the person was a member, in the facts' (pid, day) order.

    Columns: pid, day (int64 day number), posts, replies, reactions, reads, engaged (bool).
    """
    activity = facts.activity
    days = np.asarray(facts.activity_days(), dtype=np.int64)
    pids = activity["pid"].to_numpy()
    keep = (days >= day_number(lo)) & (days <= day_number(hi))
    keep &= np.asarray(facts.member_mask(pids, days), dtype=bool)
    every = bool(keep.all())
    frame = pd.DataFrame(
        {
            "pid": pids if every else pids[keep],
            "day": days if every else days[keep],
            **{k: activity[k].to_numpy() if every else activity[k].to_numpy()[keep]
               for k in KINDS},
        }
    )
    frame["engaged"] = (frame["posts"].to_numpy() > 0) | (frame["replies"].to_numpy() > 0) | (
        frame["reactions"].to_numpy() > 0
    )
    return frame


def sum_by_key(
    keys: np.ndarray, values: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(distinct keys, sums of each array in `values` per key) of integer keys."""
    keys = np.asarray(keys, dtype=np.int64)
    if len(keys) and (np.diff(keys) < 0).any():
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], [v[order] for v in values]
    if len(keys) == 0:
        return keys, [np.zeros(0, dtype=np.int64) for _ in values]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], [np.add.reduceat(np.asarray(v, dtype=np.int64), starts) for v in values]


BITMAP_CELLS = 1 << 26  # (group, person) flags grouped_counts sets instead of hashing pairs


def grouped_counts(
    keys: list[np.ndarray], pids: np.ndarray, sums: dict[str, np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """Per distinct combination of the integer `keys` columns, in sorted order: the columns'
    values, the number of distinct `pids` (non-negative) and each of `sums` summed: what a
    groupby's nunique and sum give, counted on one combined integer code."""
    columns = [np.asarray(k, dtype=np.int64) for k in keys]
    pids = np.asarray(pids, dtype=np.int64)
    if not len(pids):
        return ([c[:0] for c in columns], np.zeros(0, dtype=np.int64),
                {name: np.zeros(0, dtype=np.int64) for name in sums})
    lows = [int(c.min()) for c in columns]
    widths = [int(c.max()) - low + 1 for c, low in zip(columns, lows, strict=True)]
    combined = np.zeros(len(pids), dtype=np.int64)
    for column, low, width in zip(columns, lows, widths, strict=True):
        combined = combined * width + (column - low)
    total = int(np.prod(widths, dtype=np.float64))
    if total <= BITMAP_CELLS:  # few combinations: each one's code by a lookup, not a hash
        present = np.bincount(combined, minlength=total) > 0
        distinct = np.flatnonzero(present)
        codes = (np.cumsum(present) - 1)[combined]
    else:
        codes, distinct = pd.factorize(combined, sort=True)
    n, people = len(distinct), int(pids.max()) + 1
    pairs = codes.astype(np.int64) * people + pids
    if n * people <= BITMAP_CELLS:  # a flag per (group, person): no hashing of pairs
        seen = np.zeros(n * people, dtype=bool)
        seen[pairs] = True
        counts = seen.reshape(n, people).sum(axis=1, dtype=np.int64)
    else:
        counts = np.bincount(pd.unique(pairs) // people, minlength=n).astype(np.int64)
    totals = {name: np.bincount(codes, weights=np.asarray(v, dtype=np.float64),
                                minlength=n).astype(np.int64) for name, v in sums.items()}
    values = []
    rest = np.asarray(distinct, dtype=np.int64)
    for low, width in reversed(list(zip(lows, widths, strict=True))):
        values.append(rest % width + low)
        rest = rest // width
    return values[::-1], counts, totals


def count_by(
    frame: pd.DataFrame, keys: list[str], column: str, categories: tuple[str, ...]
) -> pd.DataFrame:
    """Rows per `keys` with one count column per category of `column` (zero when absent)."""
    flags = pd.DataFrame(
        {c: (frame[column].to_numpy() == c).astype("int64") for c in categories},
        index=frame.index,
    )
    return pd.concat([frame[keys], flags], axis=1).groupby(keys)[list(categories)].sum()


def finish(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by `keys`, reset the index, and turn `period` into dates."""
    out = frame.sort_values(keys, kind="mergesort").reset_index(drop=True)
    out["period"] = pd.to_datetime(out["period"]).dt.date
    return out
