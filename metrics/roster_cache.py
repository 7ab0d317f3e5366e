"""The roster's changes as the metrics load decodes them, kept in the store between refreshes.

Reading and decoding the stored changes of a year of rosters takes seconds at 100,000 people
(a join per row), and an incremental refresh after one day of activity would read the same
roster again. The decoded arrays are saved under the roster's fingerprint and used only while
it is unchanged (store/cache.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from store import cache

NAME = "roster"
COLUMNS = ("who", "attr", "day", "value")


class RosterChanges(NamedTuple):
    """Every stored roster change: who (index into keys), attr (position in names), day
    (its snapshot's day number) and value (index into values; -1: blank)."""

    keys: np.ndarray  # object: person keys
    who: np.ndarray  # int32
    attr: np.ndarray  # int16
    day: np.ndarray  # int32
    value: np.ndarray  # int32
    names: tuple[str, ...]  # every stored attribute name
    values: np.ndarray  # object: the cleaned values

    @classmethod
    def of(
        cls, keys: np.ndarray, as_of: np.ndarray, frame: pd.DataFrame,
        names: tuple[str, ...], values: np.ndarray,
    ) -> RosterChanges:
        """From coded rows of pid (into `keys`), attr, snap (into `as_of`) and value."""
        return cls(
            np.asarray(keys, dtype=object), frame["pid"].to_numpy(np.int32),
            frame["attr"].to_numpy(np.int16), as_of[frame["snap"].to_numpy()].astype(np.int32),
            frame["value"].to_numpy(np.int32), tuple(names), np.asarray(values, dtype=object),
        )

    def frame(self, index: pd.Index, as_of: np.ndarray) -> pd.DataFrame:
        """The changes of the snapshots `as_of` (sorted day numbers, the first ones) as pid
        (position in `index`), attr, snap (index into `as_of`) and value; people not in
        `index` left out."""
        pid = index.get_indexer(self.keys)[self.who] if len(self.who) else self.who
        keep = (pid >= 0) & (self.day <= (as_of[-1] if len(as_of) else np.iinfo(np.int32).min))
        return pd.DataFrame({
            "pid": pid[keep].astype(np.int32),
            "attr": self.attr[keep],
            "snap": np.searchsorted(as_of, self.day[keep]).astype(np.int16),
            "value": self.value[keep],
        })


def load(conn: Connection, fingerprint: str) -> RosterChanges | None:
    """The cached changes of the roster with `fingerprint` (None: none cached for it)."""
    kept = cache.load(conn, NAME, fingerprint)
    if kept is None:
        return None
    arrays, labels = kept
    return RosterChanges(
        keys=np.array(labels["keys"], dtype=object), who=arrays["who"], attr=arrays["attr"],
        day=arrays["day"], value=arrays["value"], names=tuple(labels["names"]),
        values=np.array(labels["values"], dtype=object),
    )


def save(conn: Connection, fingerprint: str, changes: RosterChanges) -> None:
    """Keep `changes` as those of the roster with `fingerprint`, replacing any cached."""
    cache.save(conn, NAME, fingerprint, {c: getattr(changes, c) for c in COLUMNS},
               {"keys": changes.keys.tolist(), "names": list(changes.names),
                "values": changes.values.tolist()})
