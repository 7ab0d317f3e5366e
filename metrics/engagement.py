"""Daily engagement by group: members, engaged, active, workforce, engaged share, adoption."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from errors import MetricError
from metrics.attribution import ALL, CROSS
from metrics.calendar import as_datetime64, day_number
from metrics.catalog import Metric, declare
from metrics.facts import Facts
from metrics.person_days import ENGAGING, KINDS, any_count

ROWS_CHUNK = 1 << 21  # rows a per-row step handles at once (its int64 temporaries: 16 MB)
ENGAGEMENT_COLUMNS = ["day", "group", "members", "engaged", "active", "workforce",
                      "engaged_share", "adoption"]


@dataclass
class Grid:
    """Counts per (group, day) as matrices: rows are label indexes, columns days from `first`."""

    first: int
    labels: np.ndarray
    counts: dict[str, np.ndarray]

    @property
    def n_days(self) -> int:
        """Columns of the grid."""
        return next(iter(self.counts.values())).shape[1]


def interval_counts(
    facts: Facts,
    by: str,
    pieces: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    intervals: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    lo: int,
    hi: int,
) -> np.ndarray:
    """People per (group, day) of [lo, hi] from day intervals [start, end), attributed per day.

    `intervals` (pid, start, end) are cut at snapshot boundaries first; `pieces` are already cut
    (pid, start, end, snapshot). Each piece adds +1 at its start and −1 at its end.
    """
    matrix, labels = facts.attribution.codes(by)
    n = hi - lo + 1
    if intervals is not None:
        pid, a, b = intervals
        a, b = np.maximum(a, lo), np.minimum(b, hi + 1)
        keep = b > a
        pieces = facts.attribution.split(pid[keep], a[keep], b[keep])
    assert pieces is not None
    pid, a, b, snap = pieces
    a, b = np.maximum(a, lo), np.minimum(b, hi + 1)
    keep = b > a
    code = matrix[snap[keep], pid[keep]].astype(np.int64)
    size = len(labels) * (n + 1)
    diff = np.bincount(code * (n + 1) + (a[keep] - lo), minlength=size) - np.bincount(
        code * (n + 1) + (b[keep] - lo), minlength=size
    )
    return np.cumsum(diff.reshape(len(labels), n + 1), axis=1)[:, :n]


def day_counts(facts: Facts, by: str, pids: np.ndarray, days: np.ndarray, lo: int, hi: int,
               weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of `weights` (default 1) per (group, day) of [lo, hi] for (pid, day) rows.

    ROWS_CHUNK rows at a time: the int64 temporaries of tens of millions of rows at once
    would be a refresh's peak.
    """
    matrix, labels = facts.attribution.codes(by)
    n = hi - lo + 1
    flat = np.zeros(len(labels) * n, dtype=np.int64 if weights is None else np.float64)
    for at in range(0, len(pids), ROWS_CHUNK):
        part = slice(at, at + ROWS_CHUNK)
        p, d = pids[part], days[part]
        inside = (d >= lo) & (d <= hi)
        p, d = p[inside], d[inside]
        code = matrix[facts.attribution.snapshot_index(d), p].astype(np.int64)
        flat += np.bincount(
            code * n + (d - lo),
            weights=None if weights is None else weights[part][inside],
            minlength=len(flat),
        )
    return flat.reshape(len(labels), n).astype(np.int64)


def member_activity(facts: Facts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pid, day, engaged, active) of activity rows on days the person is a member."""
    def produce() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        pids, days, counts = member_counts(facts)
        engaged = any_count(counts, len(ENGAGING))
        active = engaged | any_count(counts[:, len(ENGAGING):])
        return pids, days, engaged, active

    return facts.cached("member_activity", produce)


def member_counts(facts: Facts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pid, day, counts[posts, replies, reactions, reads]) of members' activity rows."""
    def produce() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pids = facts.activity["pid"].to_numpy()
        days = facts.activity_days()
        member = facts.member_mask(pids, days)
        # compact: cached for every breakdown of a refresh (day numbers fit int32); the
        # counts are the activity's own int16 block, copied only to drop non-members
        counts = facts.activity[list(KINDS)].to_numpy(dtype=np.int16)
        if not member.all():
            pids, days, counts = pids[member], days[member], counts[member]
        return pids.astype(np.int32), days.astype(np.int32), counts

    return facts.cached("member_counts", produce)


def engagement_grid(facts: Facts, by: str, lo: int, hi: int) -> Grid:
    """Members, engaged, active and workforce per (group, day) of day numbers [lo, hi]."""
    facts.attribution.check(by)
    membership = facts.membership
    members = interval_counts(
        facts, by, None, (membership.pids, membership.starts, membership.ends), lo, hi
    )
    employed = interval_counts(facts, by, workforce(facts), None, lo, hi)
    _, labels = facts.attribution.codes(by)
    grid = dict(row_tallies(facts, by, lo, hi))
    grid["members"] = members
    grid["workforce"] = employed
    return Grid(lo, labels, grid)


def row_tallies(facts: Facts, by: str, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Engaged and active members and their KINDS per (group, day) of [lo, hi] (label × day).

    A crossed breakdown's are kept in the facts' cache: the breakdowns it crosses, and All,
    are then its sums over the other side, not one more pass over every activity row.
    """
    crossed = _crossed_tallies(facts, by, lo, hi)
    if crossed is not None:
        return crossed
    if CROSS not in by:
        return _counted_tallies(facts, by, lo, hi)
    return facts.cached(("row_tallies", by, lo, hi), lambda: _counted_tallies(facts, by, lo, hi))


def _crossed_tallies(facts: Facts, by: str, lo: int, hi: int) -> dict[str, np.ndarray] | None:
    """`by`'s tallies summed from a kept crossed breakdown's `a@b` (by = a, b or All)."""
    for key, tallies in list(facts.cache.items()):
        if not (isinstance(key, tuple) and key[0] == "row_tallies" and key[2:] == (lo, hi)):
            continue
        outer, inner = key[1].split(CROSS, 1)
        if by not in (outer, inner, ALL) or outer == inner:
            continue
        shape = (len(facts.attribution.codes(outer)[1]), len(facts.attribution.codes(inner)[1]),
                 hi - lo + 1)
        axes = {outer: (1,), inner: (0,), ALL: (0, 1)}[by]
        return {name: total.reshape(shape).sum(axis=axes).reshape(-1, shape[2])
                for name, total in tallies.items()}
    return None


def _counted_tallies(facts: Facts, by: str, lo: int, hi: int) -> dict[str, np.ndarray]:
    """row_tallies by one pass over the members' activity rows."""
    matrix, labels = facts.attribution.codes(by)
    pids, days, counts = member_counts(facts)
    _, _, engaged, active = member_activity(facts)
    snaps = _member_snapshots(facts)
    n = hi - lo + 1
    size = len(labels) * n
    tallies = {name: np.zeros(size, dtype=np.int64) for name in ("engaged", "active", *KINDS)}
    for at in range(0, len(pids), ROWS_CHUNK):  # int64 temporaries of a chunk only
        part = slice(at, at + ROWS_CHUNK)
        d = days[part]
        inside = (d >= lo) & (d <= hi)
        flat = (matrix[snaps[part], pids[part]].astype(np.int64) * n + (d - lo))[inside]
        tallies["engaged"] += np.bincount(flat[engaged[part][inside]], minlength=size)
        tallies["active"] += np.bincount(flat[active[part][inside]], minlength=size)
        kinds = counts[part][inside]
        for i, kind in enumerate(KINDS):  # float weights: exact for any count sum below 2**53
            tallies[kind] += np.bincount(
                flat, weights=kinds[:, i].astype(np.float64), minlength=size
            ).astype(np.int64)
    return {name: total.reshape(len(labels), n) for name, total in tallies.items()}


def _member_snapshots(facts: Facts) -> np.ndarray:
    """The roster snapshot in effect on each member activity row (shared by breakdowns)."""
    return facts.cached(
        "member_snaps",
        lambda: facts.attribution.snapshot_index(member_counts(facts)[1]).astype(np.int16),
    )


def workforce(facts: Facts) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The roster's employment intervals (pid, start, end, snapshot), shared by breakdowns."""
    return facts.cached("workforce", facts.attribution.workforce_pieces)


def grid_frame(grid: Grid, by: str, columns: list[str]) -> pd.DataFrame:
    """Long rows (day, group[, sub], columns…) for cells with members > 0, by day then group."""
    members = grid.counts["members"]
    g, d = np.nonzero(members > 0)
    frame = pd.DataFrame({"day": as_datetime64(grid.first + d)})
    labels = grid.labels[g]
    if CROSS in by:
        frame["group"] = [pair[0] for pair in labels]
        frame["sub"] = [pair[1] for pair in labels]
    else:
        frame["group"] = labels
    for column in columns:
        frame[column] = grid.counts[column][g, d]
    keys = ["day", "group", "sub"] if CROSS in by else ["day", "group"]
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)


def with_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """Add engaged_share (engaged / members) and adoption (members / workforce)."""
    frame["engaged_share"] = frame["engaged"] / frame["members"]
    workforce = frame["workforce"].where(frame["workforce"] > 0)
    frame["adoption"] = frame["members"] / workforce
    return frame


def compute_engagement(facts: Facts, by: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Daily members, engaged, active, workforce, engaged_share and adoption per group of `by`.

    Unsuppressed: outputs go through metrics.read, which applies the minimum group size.
    """
    if end < start:
        raise MetricError(f"end {end} is before start {start}")
    grid = engagement_grid(facts, by, day_number(start), day_number(end))
    frame = grid_frame(grid, by, ["members", "engaged", "active", "workforce"])
    return with_shares(frame)


ENGAGED_SHARE = declare(
    Metric(
        name="engagement",
        label="Daily engaged share",
        definition=(
            "Members engaged on the day (at least one post, reply or reaction in any source) "
            "divided by members that day. A member has joined on or before the day and is not "
            "suspended or deleted (people seen only in activity are members from their first "
            "activity). Active also counts reads. Adoption is members divided by the workforce "
            "in the HR roster that day. Groups follow the HR roster snapshot in effect that day."
        ),
        dimensions=("*",),
        grains=("day", "week", "month"),
        unit="share",
    )
)
