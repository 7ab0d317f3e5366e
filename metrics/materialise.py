"""Period metrics the pages read (funnel, listening, …), materialised at refresh in agg_results.

Each view is one metric × breakdown × grain computed over every day with data; its rows are
stored unsuppressed (one JSON payload per row) and suppressed when read, like agg_engagement.
"""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, String, cast, delete, select

from metrics.attribution import ALL, CROSS
from metrics.catalog import METRIC_MODULES
from metrics.factload import bulk_insert
from metrics.facts import Facts
from metrics.heap import release_free_memory
from metrics.listening import ANSWER_WINDOW
from metrics.periods import period_of
from store.aggregates import AggResult

EVERY = "*"  # every materialised breakdown (crossed `a@region` ones excepted)
# What the pages read: (metric, breakdown or EVERY, grains). Other views compute on request.
PAGE_VIEWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("funnel", EVERY, ("month",)),
    ("listening", EVERY, ("month",)),
    ("listening", ALL, ("week",)),
    ("manager_participation", ALL, ("week", "month")),
    ("cross_department_replies", ALL, ("week", "month")),
    ("cross_region_replies", ALL, ("week", "month")),
    ("reply_matrix", "department", ("week", "month")),
)
# Views computed from person-day activity; the others read messages. An incremental refresh
# gives them engaging activity only before the first changed day: a view that counts readers
# (active, reads) over earlier days of its periods would need every row (refresh.py).
ACTIVITY_VIEWS = frozenset({"funnel"})
COLUMNS = ["metric", "dimension", "grain", "period", "grp", "sub", "size", "payload"]
# Each view also stores one row dated here holding its column names: a view with no rows in a
# range is then read as an empty table of the right shape, never recomputed from the facts.
SHAPE_DAY = dt.date(1970, 1, 1)


def views(dimensions: list[str]) -> Iterator[tuple[str, str, str]]:
    """Every (metric, breakdown, grain) to materialise, given the materialised breakdowns."""
    plain = [d for d in dimensions if CROSS not in d]
    for metric, by, grains in PAGE_VIEWS:
        for dimension in plain if by == EVERY else [by] if by in plain else []:
            for grain in grains:
                yield metric, dimension, grain


def is_materialised(name: str, by: str, grain: str, dimensions: list[str]) -> bool:
    """True when refresh stores this view (the pages' views)."""
    return (name, by, grain) in set(views(dimensions))


def implementation(name: str) -> tuple[Any, dict[str, Any], str | None]:
    """The metric's compute function, privacy rule and extra row key (None: period × group)."""
    for module_name in METRIC_MODULES:
        module = importlib.import_module(module_name)
        compute = getattr(module, "COMPUTE", {}).get(name)
        if compute is not None:
            privacy = getattr(module, "PRIVACY", {}).get(name, {"size": "members"})
            return compute, privacy, getattr(module, "SUB", {}).get(name)
    raise KeyError(name)


def changed_periods(day: dt.date) -> dict[str, dict[str, dt.date]]:
    """Per page-view metric and grain, the first period that a change of facts on `day` (or
    later) can alter.

    Message views reach back: a reply answers a thread up to 7 days old, so a thread's period
    may change that much later. Activity views (the funnel) change only from `day`'s period.
    """
    out: dict[str, dict[str, dt.date]] = {}
    for name, _, grains in PAGE_VIEWS:
        reach = dt.timedelta(0) if name in ACTIVITY_VIEWS else ANSWER_WINDOW.to_pytimedelta()
        earliest = np.array([day - reach], dtype="datetime64[D]")
        out.setdefault(name, {}).update(
            {grain: pd.Timestamp(period_of(earliest, grain)[0]).date() for grain in grains}
        )
    return out


def compute_views(
    facts: Facts, since: dict[str, dict[str, dt.date]] | None = None
) -> list[tuple[Any, ...]]:
    """agg_results rows of every page view over the facts' span (from `since[metric][grain]`).

    What a metric module's views cache on the facts (shared across its breakdowns) is dropped
    once they are done: the next module's peak should not carry it in memory.
    """
    rows: list[tuple[Any, ...]] = []
    for _, family in itertools.groupby(views(facts.attributes()), key=_module):
        with facts.scoped_cache():
            for name, by, grain in family:
                compute, privacy, sub = implementation(name)
                start = max(since[name][grain], facts.start) if since else facts.start
                frame = compute(facts, by, start, facts.end, grain)
                rows += _rows(frame, name, by, grain, privacy["size"], sub)
                rows.append(
                    (name, by, grain, SHAPE_DAY, "", "", 0, json.dumps(list(frame.columns))))
        release_free_memory()
    return rows


def _module(view: tuple[str, str, str]) -> str:
    return str(implementation(view[0])[0].__module__)


def save_views(
    conn: Connection,
    rows: list[tuple[Any, ...]],
    since: dict[str, dict[str, dt.date]] | None = None,
) -> None:
    """Replace the stored views (from `since[metric][grain]` on) with `rows`, in the refresh's
    transaction."""
    if since is None:
        conn.execute(delete(AggResult))
    for name, grains in (since or {}).items():
        for grain, first in grains.items():
            conn.execute(delete(AggResult).where(
                AggResult.metric == name, AggResult.grain == grain,
                (AggResult.period >= first) | (AggResult.period == SHAPE_DAY),
            ))
    columns = dict(zip(COLUMNS, zip(*rows, strict=True), strict=True)) if rows else {}
    bulk_insert(conn, "agg_results", columns, dates=("period",))


def read_view(
    conn: Connection, name: str, by: str, grain: str, lo: dt.date, hi: dt.date
) -> pd.DataFrame | None:
    """Stored rows of a view whose periods overlap [lo, hi], as the metric computed them
    (None when the view is not stored)."""
    first = pd.Timestamp(period_of(np.array([lo], dtype="datetime64[D]"), grain)[0]).date()
    query = select(cast(AggResult.period, String), AggResult.grp, AggResult.payload).where(
        AggResult.metric == name,
        AggResult.dimension == by,
        AggResult.grain == grain,
        AggResult.period >= first,
        AggResult.period <= hi,
    )
    stored = conn.execute(query).all()
    if not stored:
        shape = conn.scalar(select(AggResult.payload).where(
            AggResult.metric == name, AggResult.dimension == by, AggResult.grain == grain,
            AggResult.period == SHAPE_DAY,
        ))
        if shape is None:
            return None
        return pd.DataFrame({c: pd.Series(dtype=object) for c in json.loads(shape)})
    records = []
    for period, group, payload in stored:
        values = json.loads(payload)
        records.append({"period": dt.date.fromisoformat(period[:10]), "group": group, **values})
    frame = pd.DataFrame.from_records(records)
    for column in frame.columns[2:]:
        if frame[column].isna().all():
            frame[column] = frame[column].astype(float)
    return frame


def _rows(
    frame: pd.DataFrame, name: str, by: str, grain: str, size: str, sub: str | None
) -> list[tuple[Any, ...]]:
    if frame.empty:
        return []
    values = [c for c in frame.columns if c not in ("period", "group")]
    periods = pd.to_datetime(frame["period"]).dt.date.tolist()
    groups = frame["group"].astype(str).tolist()
    subs = frame[sub].astype(str).tolist() if sub else [""] * len(frame)
    sizes = frame[size].fillna(0).astype(np.int64).tolist() if size in frame else [0] * len(frame)
    payloads = [
        json.dumps(dict(zip(values, map(_plain, row), strict=True)), separators=(",", ":"))
        for row in frame[values].itertuples(index=False, name=None)
    ]
    return [
        (name, by, grain, period, group, s, n, payload)
        for period, group, s, n, payload in zip(periods, groups, subs, sizes, payloads,
                                                 strict=True)
    ]


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars unwrapped, NaN as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
