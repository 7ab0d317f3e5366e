"""What pages, reports and the CLI call: materialised metrics, always suppressed, kept fresh.

Every function returns a plain DataFrame that has passed through `metrics.privacy.suppress`
(a boolean `suppressed` column; withheld figures are NaN). A metric's plain-language definition
is `metrics.catalog.get(name).definition`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, String, cast, func, select

from errors import MetricError
from metrics.attribution import CROSS
from metrics.factload import rows_frame
from metrics.privacy import SUPPRESSED, suppress
from metrics.refresh import current_state, read_state, refresh
from metrics.trends import GRAINS, STORED, add_changes, derive, period_start, to_periods
from settings import Settings
from store.aggregates import AggEngagement
from store.locks import LockHeld
from store.models import DailyActivity

_FACTS: dict[str, object] = {}  # the facts of the last refresh, for period metrics
HISTORY_DAYS = 366 + 31  # a year and one period before `start`, for the changes
BEHAVIOUR = [
    "engaged", "active", "engaged_share", "active_share", "wau", "mau", "engaged_7",
    "engaged_28", "engaged_7d_avg", "engaged_28d_avg", "stickiness", "progress",
]
DAILY_COLUMNS = [
    "day", "group", "members", "engaged", "active", "engaged_share", "active_share", "workforce",
    "adoption", "wau", "mau", "engaged_7d_avg", "stickiness", "target", "progress", SUPPRESSED,
]
PERIOD_COLUMNS = [
    "period", "group", "members", "min_members", "engaged", "active", "engaged_share",
    "active_share", "workforce", "adoption", "wau", "mau", "stickiness", "target", "progress",
    SUPPRESSED,
]


def ensure_fresh(engine: Engine, settings: Settings) -> Any:
    """Run an incremental refresh first when ingests queued changes; returns the watermark."""
    with engine.connect() as conn:
        state = current_state(conn, settings)
    if state is not None:
        return state
    try:
        refresh(engine, settings)
    except LockHeld:
        pass  # another process is refreshing right now; read what is there
    return read_state(engine)


def dimensions(engine: Engine, settings: Settings) -> list[str]:
    """Breakdowns available: 'all' and every HR attribute (crosses `a@region` excluded)."""
    return _dimensions(ensure_fresh(engine, settings))


def data_span(engine: Engine, settings: Settings) -> tuple[dt.date, dt.date] | None:
    """First and last local day with materialised data, or None when there is none."""
    return _span(ensure_fresh(engine, settings))


def _dimensions(state: Any) -> list[str]:
    if state is None or not state.dimensions:
        return ["all"]
    return [d for d in state.dimensions.split(",") if CROSS not in d]


def _span(state: Any) -> tuple[dt.date, dt.date] | None:
    if state is None or state.first_day is None or state.last_day is None:
        return None
    return _as_date(state.first_day), _as_date(state.last_day)


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def read_engagement(
    engine: Engine,
    settings: Settings,
    by: str = "all",
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: str = "day",
    filters: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Engagement per day (or week/month) and group of `by`, suppressed.

    Day rows: day, group, members, engaged, active, engaged_share, active_share, workforce,
    adoption, wau, mau, engaged_7d_avg, stickiness, target, progress, suppressed. Period rows
    replace `day` with `period` (its first day) and average the daily counts (see
    metrics.trends.to_periods). `filters={'region': 'Canada'}` keeps people in that region.
    """
    daily, lo, hi = _daily(engine, settings, by, start, end, filters)
    return _shape(daily, grain, settings, lo, hi)


def read_trends(
    engine: Engine,
    settings: Settings,
    by: str = "all",
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: str = "day",
    filters: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """read_engagement plus the engaged share a period earlier and a year earlier, and changes."""
    span = data_span(engine, settings)
    lo, hi = _range(span, start, end, dt.datetime.now(settings.zone).date())
    back = lo - dt.timedelta(days=HISTORY_DAYS)
    if span is not None:
        back = max(back, span[0])
    daily, back, hi = _daily(engine, settings, by, back, hi, filters)
    frame = _shape(daily, grain, settings, back, hi)
    key = "day" if grain == "day" else "period"
    frame = add_changes(frame.rename(columns={key: "period"}), grain).rename(
        columns={"period": key}
    )
    keep = pd.to_datetime(frame[key]) >= pd.Timestamp(lo if grain == "day" else _floor(lo, grain))
    return frame[keep].reset_index(drop=True)


def read_freshness(engine: Engine) -> dict[str, object]:
    """When metrics were last refreshed, the last day with data, and whether changes wait."""
    from store.models import RefreshQueue

    state = read_state(engine)
    with engine.connect() as conn:
        last_fact = conn.scalar(select(cast(func.max(DailyActivity.day), String)))
        queued = conn.scalar(select(func.count()).select_from(RefreshQueue)) or 0
    return {
        "refreshed_at": state.refreshed_at if state else None,
        "first_day": state.first_day if state else None,
        "last_day": state.last_day if state else None,
        "last_activity_day": dt.date.fromisoformat(last_fact[:10]) if last_fact else None,
        "pending_changes": int(queued),
        "timezone": state.timezone if state else None,
    }


def _range(
    span: tuple[dt.date, dt.date] | None,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date | None = None,
) -> tuple[dt.date, dt.date]:
    """The days to show: inside the data, or up to `today` when asked to go past its last day
    (members with no activity after the last ingest are still members: their days count 0)."""
    if start and end and end < start:
        raise MetricError(f"end {end} is before start {start}")
    lo = start or (span[0] if span else dt.date.today())
    hi = end or (span[1] if span else dt.date.today())
    if hi < lo:
        raise MetricError(f"end {hi} is before start {lo}")
    if span and span[0] <= hi and lo <= span[1]:
        lo, hi = max(lo, span[0]), min(hi, max(span[1], today or span[1]))
    return lo, hi


def _daily(
    engine: Engine,
    settings: Settings,
    by: str,
    start: dt.date | None,
    end: dt.date | None,
    filters: Mapping[str, str] | None,
) -> tuple[pd.DataFrame, dt.date, dt.date]:
    """Stored daily rows of `by` in [start, end] (unsuppressed), with derived shares."""
    state = ensure_fresh(engine, settings)
    known = _dimensions(state)
    if by not in known:
        raise MetricError(f"unknown attribute {by!r}; known: {', '.join(known)}")
    span = _span(state)
    lo, hi = _range(span, start, end, dt.datetime.now(settings.zone).date())
    dimension, sub = by, ""
    if filters:
        if len(filters) > 1:
            raise MetricError("filter by one attribute at a time")
        (attribute, value), = filters.items()
        if attribute not in known:
            raise MetricError(f"unknown filter attribute {attribute!r}; known: {', '.join(known)}")
        dimension, sub = f"{by}{CROSS}{attribute}", value
    query = select(
        cast(AggEngagement.day, String), AggEngagement.grp,
        *[getattr(AggEngagement, c) for c in STORED],
    ).where(
        AggEngagement.dimension == dimension,
        AggEngagement.sub == sub,
        AggEngagement.day >= lo,
        AggEngagement.day <= hi,
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        if filters and not rows:
            present = conn.scalar(
                select(func.count()).select_from(AggEngagement).where(
                    AggEngagement.dimension == dimension
                )
            )
            if not present:
                raise MetricError(f"breakdown {by!r} cannot be filtered by {attribute!r}")
    frame = rows_frame(rows, ["day", "group", *STORED])
    frame["day"] = pd.to_datetime(frame["day"].str[:10], format="%Y-%m-%d")
    if span is not None and span[0] <= lo <= span[1] < hi:
        tail = _tail(engine, settings, dimension, sub, max(lo, span[1] + dt.timedelta(days=1)), hi)
        frame = pd.concat([frame, tail[frame.columns]], ignore_index=True)
    for column in STORED:
        frame[column] = frame[column].astype(np.int64)
    frame = frame.sort_values(["day", "group"], kind="mergesort").reset_index(drop=True)
    return derive(frame, settings.metrics.target_engaged_share), lo, hi


def _tail(
    engine: Engine, settings: Settings, dimension: str, sub: str, lo: dt.date, hi: dt.date
) -> pd.DataFrame:
    """Days after the last materialised one, computed from the facts (not stored)."""
    from metrics.calendar import parse_days
    from metrics.facts import load_facts
    from metrics.trends import LOOKBACK, compute_daily
    from store.aggregates import AggFirstActivity

    with engine.connect() as conn:
        rows = conn.execute(
            select(AggFirstActivity.person_key, cast(AggFirstActivity.first_day, String))
        ).all()
    known = rows_frame(rows, ["person_key", "first"])
    known["first"] = parse_days(known["first"]) if len(known) else pd.Series(dtype=np.int64)
    facts = load_facts(engine, settings, lo - dt.timedelta(days=LOOKBACK), hi, first_activity=known)
    frame = compute_daily(facts, dimension, lo, hi)
    if "sub" in frame.columns:
        frame = frame[frame["sub"].astype(str) == sub].drop(columns="sub")
    return frame


def _shape(
    daily: pd.DataFrame, grain: str, settings: Settings, lo: dt.date, hi: dt.date
) -> pd.DataFrame:
    if grain not in GRAINS:
        raise MetricError(f"unknown grain {grain!r}; known: {', '.join(GRAINS)}")
    k = settings.privacy.min_group_size
    if grain == "day":
        out = suppress(daily, k, partition=("day",), values=BEHAVIOUR)
        out["day"] = out["day"].dt.date
        return out[DAILY_COLUMNS].reset_index(drop=True)
    periods = to_periods(daily, grain, lo, hi)
    periods["target"] = settings.metrics.target_engaged_share
    periods["progress"] = periods["engaged_share"] / periods["target"]
    out = suppress(periods, k, partition=("period",), size="min_members", values=BEHAVIOUR)
    out["period"] = out["period"].dt.date
    return out[PERIOD_COLUMNS].reset_index(drop=True)


def _floor(day: dt.date, grain: str) -> dt.date:
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def read_metric(
    engine: Engine,
    settings: Settings,
    name: str,
    by: str = "all",
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: str | None = None,
    whole_periods: bool = False,
) -> pd.DataFrame:
    """Any catalogued period metric (funnel, listening, …), suppressed.

    The pages' views (metrics.materialise.PAGE_VIEWS) are read from agg_results when the range
    covers every day with data, or with `whole_periods` (the periods overlapping the range,
    each whole, as pages show them); anything else is computed from the facts (exact ranges).
    """
    from metrics import catalog
    from metrics.facts import load_facts
    from metrics.materialise import implementation, is_materialised, read_view

    metric = catalog.get(name)
    try:
        compute, privacy, _ = implementation(name)
    except KeyError:
        message = f"metric {name!r} cannot be printed here (no computation registered)"
        raise MetricError(message) from None
    grain = grain or metric.grains[0]
    state = ensure_fresh(engine, settings)
    known = _dimensions(state)
    if by not in known:
        raise MetricError(f"unknown attribute {by!r}; known: {', '.join(known)}")
    span = _span(state)
    lo, hi = _range(span, start, end)
    if span is None or hi < span[0] or lo > span[1]:
        return pd.DataFrame()
    frame = None
    whole = whole_periods or (lo <= span[0] and hi >= span[1])
    if whole and is_materialised(name, by, grain, known):
        with engine.connect() as conn:
            frame = read_view(conn, name, by, grain, lo, hi)
    if frame is None:  # not a stored view (or stored before views kept their shape)
        key = (engine.url.render_as_string(), settings.timezone, str(state.refreshed_at))
        if _FACTS.get("key") != key:  # one load per refresh, shared by every page callback
            _FACTS.clear()
            _FACTS.update(key=key, facts=load_facts(engine, settings, with_messages=True))
        frame = compute(_FACTS["facts"], by, lo, hi, grain)
    return _suppress_metric(frame, privacy, settings.privacy.min_group_size)


def read_page_metric(
    engine: Engine,
    settings: Settings,
    name: str,
    by: str = "all",
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: str | None = None,
) -> pd.DataFrame:
    """read_metric over whole periods (those overlapping the range): what the pages show."""
    return read_metric(engine, settings, name, by, start, end, grain, whole_periods=True)


def _suppress_metric(frame: pd.DataFrame, privacy: Mapping[str, Any], k: int) -> pd.DataFrame:
    from metrics.privacy import suppress_cells

    if privacy.get("cells"):
        return suppress_cells(
            frame, k, size=privacy["size"], values=privacy.get("values", ()),
            lines=privacy.get("lines", ()),
        )
    return suppress(
        frame,
        k,
        partition=tuple(privacy.get("partition", ("period",))),
        group=privacy.get("group", "group"),
        size=privacy["size"],
        values=privacy.get("values", ()),
    )


def read_activity_mix(
    engine: Engine,
    settings: Settings,
    by: str = "all",
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: str = "week",
    filters: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Members' posts, replies, reactions and reads per day/week/month and group, suppressed.

    Each person-day counts the larger figure of the sources that saw it (never their sum).
    """
    from metrics.facts import KINDS

    daily, lo, hi = _daily(engine, settings, by, start, end, filters)
    k = settings.privacy.min_group_size
    if grain == "day":
        out = suppress(daily, k, partition=("day",), values=list(KINDS))
        out["day"] = out["day"].dt.date
        return out[["day", "group", "members", *KINDS, SUPPRESSED]].reset_index(drop=True)
    periods = to_periods(daily, grain, lo, hi)
    daily = daily.assign(period=period_start(daily["day"], grain))
    sums = daily.groupby(["period", "group"])[list(KINDS)].sum().reset_index()
    periods = periods.merge(sums, on=["period", "group"], how="left")
    out = suppress(periods, k, partition=("period",), size="min_members", values=list(KINDS))
    out["period"] = out["period"].dt.date
    columns = ["period", "group", "members", "min_members", *KINDS, SUPPRESSED]
    return out[columns].reset_index(drop=True)
