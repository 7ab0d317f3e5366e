"""Membership as merged day intervals per person, following design.md's definition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from metrics.calendar import FOREVER

_SHIFT = np.int64(2**32)
_BIAS = np.int64(2**31)
MASK_CHUNK = 1 << 21  # rows `mask` looks up at once


@dataclass
class Membership:
    """Non-overlapping member intervals [start, end) per pid, sorted by (pid, start)."""

    pids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def build(
        cls, accounts: pd.DataFrame, first_activity: pd.DataFrame
    ) -> Membership:
        """From user-record accounts (pid, joined, suspended, deleted: local day numbers, FOREVER
        when unset) and first activity days (pid, first) of people with no user record."""
        joined = accounts["joined"].to_numpy(dtype=np.int64)
        ends = np.minimum(
            accounts["suspended"].to_numpy(dtype=np.int64),
            accounts["deleted"].to_numpy(dtype=np.int64),
        )
        keep = (joined != FOREVER) & (ends > joined)
        recorded = set(accounts["pid"].to_numpy().tolist())
        loose = first_activity[~first_activity["pid"].isin(recorded)]
        pids = np.concatenate(
            [accounts["pid"].to_numpy(dtype=np.int64)[keep], loose["pid"].to_numpy(dtype=np.int64)]
        )
        starts = np.concatenate([joined[keep], loose["first"].to_numpy(dtype=np.int64)])
        ends = np.concatenate([ends[keep], np.full(len(loose), FOREVER, dtype=np.int64)])
        return cls(*merge_intervals(pids, starts, ends))

    def mask(self, pids: np.ndarray, days: np.ndarray) -> np.ndarray:
        """True where the person is a member on the day."""
        pids, days = np.asarray(pids), np.asarray(days)
        out = np.zeros(len(pids), dtype=bool)
        if len(self.pids) == 0:
            return out
        keys = self.pids * _SHIFT + (self.starts + _BIAS)
        # a chunk at a time: tens of millions of rows would need six int64 temporaries each
        for lo in range(0, len(pids), MASK_CHUNK):
            p = pids[lo:lo + MASK_CHUNK].astype(np.int64, copy=False)
            d = days[lo:lo + MASK_CHUNK].astype(np.int64, copy=False)
            at = np.searchsorted(keys, p * _SHIFT + (d + _BIAS), side="right") - 1
            safe = np.maximum(at, 0)
            out[lo:lo + MASK_CHUNK] = (at >= 0) & (self.pids[safe] == p) & (self.ends[safe] > d)
        return out


def merge_intervals(
    pids: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of [start, end) intervals per pid: sorted, non-overlapping, touching ones joined."""
    pids = np.asarray(pids, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if len(pids) == 0:
        return pids, starts, ends
    order = np.lexsort((starts, pids))
    pids, starts, ends = pids[order], starts[order], ends[order]
    # Running max of ends within each pid: an interval opens a new run when it starts after it.
    reach = _running_max_by(pids, ends)
    new_run = np.ones(len(pids), dtype=bool)
    new_run[1:] = (pids[1:] != pids[:-1]) | (starts[1:] > reach[:-1])
    last = np.r_[np.flatnonzero(new_run)[1:], len(pids)] - 1
    return pids[new_run], starts[new_run], reach[last]


def _running_max_by(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative max of `values` restarting at each change of (sorted) `keys`."""
    frame = pd.DataFrame({"k": keys, "v": values})
    return frame.groupby("k", sort=False)["v"].cummax().to_numpy(dtype=np.int64)
