"""The minimum group size rule, applied in one place that every metric output passes through."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SUPPRESSED = "suppressed"


def suppress(
    frame: pd.DataFrame,
    k: int,
    *,
    partition: Sequence[str] = ("day",),
    group: str = "group",
    size: str = "members",
    values: Sequence[str] = (),
) -> pd.DataFrame:
    """Withhold `values` of groups with fewer than k people, plus the complementary group.

    Within each partition (a day, a week…), a group whose `size` is below k is suppressed; if
    exactly one group is suppressed and others exist, the smallest other group (fewest people,
    ties by ascending name) is suppressed too, so the hidden one cannot be derived from a total.
    The size column stays visible; suppressed values become missing and `suppressed` is True.
    """
    out = frame.copy()
    if out.empty:
        out[SUPPRESSED] = pd.Series(dtype=bool)
        return out
    small = out[size].to_numpy() < k
    out[SUPPRESSED] = small
    keys = list(partition)
    counts = out.groupby(keys, sort=False)[SUPPRESSED].transform("sum").to_numpy()
    groups = out.groupby(keys, sort=False)[group].transform("size").to_numpy()
    lonely = (counts == 1) & (groups > 1)
    if lonely.any():
        candidates = out[lonely & ~small]
        order = candidates.sort_values(keys + [size, group], kind="mergesort")
        extra = order.groupby(keys, sort=False).head(1).index
        out.loc[extra, SUPPRESSED] = True
    hidden = out[SUPPRESSED].to_numpy()
    for column in values:
        if column in out.columns:
            if not pd.api.types.is_float_dtype(out[column]):
                out[column] = out[column].astype("float64")
            out.loc[hidden, column] = np.nan
    return out


def suppress_cells(
    frame: pd.DataFrame,
    k: int,
    *,
    size: str = "people",
    values: Sequence[str] = (),
    lines: Sequence[Sequence[str]] = (),
    name: str = "target",
) -> pd.DataFrame:
    """Withhold matrix cells that involve fewer than k distinct people (their head count too).

    For each line of the matrix (e.g. `("period", "group")` rows and `("period", "target")`
    columns) that would hide exactly one cell, the smallest other cell of that line is hidden
    too, so a hidden cell cannot be derived from the line's total; repeated until stable.
    """
    out = frame.copy()
    hidden = out[size].to_numpy() < k if not out.empty else np.zeros(0, dtype=bool)
    out[SUPPRESSED] = hidden
    for _ in range(20 if lines and not out.empty else 0):
        changed = False
        for line in lines:
            keys = list(line)
            count = out.groupby(keys, sort=False)[SUPPRESSED].transform("sum").to_numpy()
            cells = out.groupby(keys, sort=False)[size].transform("size").to_numpy()
            lonely = (count == 1) & (cells > 1)
            if not lonely.any():
                continue
            candidates = out[lonely & ~out[SUPPRESSED].to_numpy()]
            order = candidates.sort_values(keys + [size, name], kind="mergesort")
            extra = order.groupby(keys, sort=False).head(1).index
            out.loc[extra, SUPPRESSED] = True
            changed = True
        if not changed:
            break
    hidden = out[SUPPRESSED].to_numpy()
    for column in [*values, size]:
        if column in out.columns:
            out[column] = out[column].astype("float64")
            out.loc[hidden, column] = np.nan
    return out
