"""Materialise what pages read: daily engagement per dimension, incrementally from the queue."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, String, cast, delete, func, select

from metrics import activity_cache, roster_cache
from metrics.activity_cache import KEEP_DAYS
from metrics.attribution import ALL, CROSS
from metrics.calendar import day_number, from_day_number, parse_days
from metrics.factload import bulk_insert, rows_frame
from metrics.facts import Facts, data_range, load_facts
from metrics.heap import release_free_memory
from metrics.materialise import PAGE_VIEWS, changed_periods, compute_views, save_views
from metrics.periods import GRAINS
from metrics.trends import LOOKBACK, STORED, compute_daily
from settings import Settings
from store.aggregates import AggEngagement, AggFirstActivity, RefreshState
from store.engine import write_transaction
from store.locks import hold_lock
from store.message_activity import SOURCE as MESSAGE_SOURCE
from store.message_activity import counted_zone, note_counted_zone, rebuild_message_activity
from store.models import DailyActivity, Message, RefreshQueue
from store.roster import fingerprint as roster_fingerprint
from store.upsert import upsert
from store.write_behind import WriteBehind

FILTER_ATTRIBUTE = "region"  # pages filter any breakdown by region: materialise `x@region`
INSERT_CHUNK = 100_000
MESSAGE_DAYS_CHUNK = 31
STATE_ID = 1


@dataclass
class Plan:
    """What one refresh recomputes: every day, or the local days [first, last]."""

    full: bool
    first: dt.date | None = None
    last: dt.date | None = None
    queue_id: int | None = None
    reason: str = ""
    recount: bool = False  # also recount message-derived facts from the stored messages


def refresh(
    engine: Engine, settings: Settings, full: bool = False, recount: bool = False
) -> str:
    """Bring the materialised tables up to date; returns a one-line summary. `recount`
    (implies `full`) also recounts the message-derived facts from the stored messages."""
    with hold_lock(engine, "refresh", settings.scheduler.lock_ttl_s):
        started = time.perf_counter()
        plan = make_plan(engine, settings, full, recount)
        if plan is None:
            return "metrics up to date: nothing queued since the last refresh"
        days = _run(engine, settings, plan)
        took = time.perf_counter() - started
        what = "full refresh" if plan.full else "incremental refresh"
        why = f"{plan.reason}, messages recounted" if plan.recount else plan.reason
        return f"{what} ({why}): {days:,} days recomputed in {took:.1f}s"


def is_stale(engine: Engine, settings: Settings) -> bool:
    """True when a refresh would change something (queue non-empty, zone or roster changed)."""
    with engine.connect() as conn:
        return current_state(conn, settings) is None


def current_state(conn: Connection, settings: Settings) -> Any:
    """The watermark when nothing waits to be refreshed, else None (one round of queries)."""
    state = _state(conn)
    if state is None or state.timezone != settings.timezone:
        return None
    queued = conn.scalar(select(RefreshQueue.id).limit(1))
    if queued is not None or state.roster != roster_fingerprint(conn):
        return None
    return state


def make_plan(
    engine: Engine, settings: Settings, full: bool, recount: bool = False
) -> Plan | None:
    """Decide between a full rebuild, an incremental one, or nothing; and whether a full one
    recounts the message-derived facts first."""
    with engine.connect() as conn:
        state = _state(conn)
        queue = conn.execute(
            select(RefreshQueue.id, RefreshQueue.day_from, RefreshQueue.day_to)
        ).all()
        queue_id = max((row[0] for row in queue), default=None)
        # Ingest keeps message facts exact, in the zone configured then (recorded with them):
        # they are recounted when asked, or when that zone is not the configured one
        recorded, zone = counted_zone(conn)
        if recorded:
            stale_zone = zone != settings.timezone
        else:  # facts written by other means than an ingest: as last refreshed, if ever
            stale_zone = state is None or state.timezone != settings.timezone
        if full or recount:
            return Plan(True, queue_id=queue_id, reason="requested", recount=recount or stale_zone)
        if state is None:
            return Plan(True, queue_id=queue_id, reason="first refresh", recount=stale_zone)
        if state.timezone != settings.timezone:
            return Plan(True, queue_id=queue_id, reason="time zone changed", recount=stale_zone)
        if state.roster != roster_fingerprint(conn):
            return Plan(True, queue_id=queue_id, reason="HR roster changed")
        if not queue:
            return None
        first = min(row[1] for row in queue)
        ends = [row[2] for row in queue if row[2] is not None]
        open_ended = len(ends) < len(queue)
        last = None if open_ended else max(ends) + dt.timedelta(days=LOOKBACK)
        return Plan(False, first, last, queue_id, reason=f"{len(queue)} queued change(s)")


def _run(engine: Engine, settings: Settings, plan: Plan) -> int:
    if plan.recount:
        with write_transaction(engine) as conn:  # message days follow the configured zone
            days = _message_days(conn, settings)
            for at in range(0, len(days), MESSAGE_DAYS_CHUNK):  # a month's messages at a time
                rebuild_message_activity(conn, settings.zone, days[at:at + MESSAGE_DAYS_CHUNK])
            note_counted_zone(conn, settings.zone, recounted=True)
    with engine.connect() as conn:
        span = data_range(conn, settings.zone)
        state = _state(conn)
    if span is None:
        with write_transaction(engine) as conn:
            conn.execute(delete(AggEngagement))
            conn.execute(delete(AggFirstActivity))
            save_views(conn, [])
            _save_state(conn, settings, [], None, plan, roster_fingerprint(conn))
        return 0
    first, last = span
    incremental = not plan.full and state is not None and state.first_day is not None
    if incremental:
        assert state is not None and state.first_day is not None and state.last_day is not None
        lo = plan.first or last
        hi = plan.last or last
        if first < state.first_day:
            lo = min(lo, first)
        if last > state.last_day:
            lo, hi = min(lo, state.last_day + dt.timedelta(days=1)), last
        lo, hi = max(lo, first), min(hi, last)
        if lo > hi:
            lo = hi = last
        since = changed_periods(lo)
        starts = [day for grains in since.values() for day in grains.values()]
        start = min(lo - dt.timedelta(days=LOOKBACK), *starts)
        known = _known_first_activity(engine, lo)
    else:
        lo, hi, known = first, last, None
        since = {name: {grain: first for grain in GRAINS} for name, _, _ in PAGE_VIEWS}
        start = first - dt.timedelta(days=LOOKBACK)
    # One load for both: days from `start` (rolling windows, changed periods) to the last.
    # Only days from `lo` changed: of earlier ones, what the rolling windows and the funnel
    # read (engaging activity) is enough, and their first activity days are cached.
    # Messages are read meanwhile (a reader process on SQLite), and taken when the first view
    # that counts them starts: the daily figures and the funnel need none.
    facts = load_facts(engine, settings, start, last, with_messages=True, first_activity=known,
                       complete_from=lo if incremental else None, cached=incremental,
                       defer_messages=True)
    try:
        release_free_memory()
        dimensions = materialised_dimensions(facts.attributes())
        if incremental and state is not None and state.dimensions != ",".join(dimensions):
            facts.close()
            return _run(engine, settings,
                        Plan(True, queue_id=plan.queue_id, reason="new attribute"))
        # one transaction, written as the results come (on PostgreSQL, meanwhile)
        with WriteBehind(engine) as writes:
            writes.add(_save_first_activity, facts, lo if incremental else None)
            if facts.roster_read is not None:
                writes.add(roster_cache.save, *facts.roster_read)
            writes.add(activity_cache.save, settings.timezone, facts.person_keys, facts.activity,
                       max(facts.start, last - dt.timedelta(days=KEEP_DAYS - 1)), last)
            with facts.scoped_cache():
                # crossed breakdowns first: the ones they cross are then sums of theirs
                computed = {dim: compute_daily(facts, dim, lo, hi)
                            for dim in sorted(dimensions, key=lambda dim: CROSS not in dim)}
                frames = {dim: computed[dim] for dim in dimensions}
            writes.add(_save_engagement, frames, (lo, hi, first, last) if incremental else None)
            release_free_memory()
            views = compute_views(facts, since)
            writes.add(save_views, views, since if incremental else None)
            writes.add(_save_state, settings, dimensions, (first, last), plan, facts.roster)
    finally:
        facts.close()
    release_free_memory()
    return (hi - lo).days + 1


def _message_days(conn: Connection, settings: Settings) -> list[dt.date]:
    """Days to re-derive from messages: from the first day that still has messages (days a
    retention purge emptied keep their facts) to the last with messages or message facts."""
    first, last = conn.execute(
        select(func.min(Message.created_at), func.max(Message.created_at))
    ).one()
    if first is None:
        return []
    zone = settings.zone
    lo, hi = _local(first, zone), _local(last, zone)
    facts = conn.scalar(select(cast(func.max(DailyActivity.day), String)).where(
        DailyActivity.source == MESSAGE_SOURCE))
    if facts is not None:
        hi = max(hi, dt.date.fromisoformat(facts[:10]))
    return [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]


def _local(stamp: Any, zone: Any) -> dt.date:
    value = stamp if isinstance(stamp, dt.datetime) else dt.datetime.fromisoformat(str(stamp))
    return value.replace(tzinfo=dt.UTC).astimezone(zone).date()


def materialised_dimensions(attributes: list[str]) -> list[str]:
    """Every attribute, plus each one crossed with region for the pages' region filter."""
    dims = list(attributes)
    if FILTER_ATTRIBUTE in attributes:
        dims += [f"{a}{CROSS}{FILTER_ATTRIBUTE}" for a in attributes
                 if a not in (ALL, FILTER_ATTRIBUTE)]
    return dims


def _save_engagement(
    conn: Connection,
    frames: dict[str, pd.DataFrame],
    days: tuple[dt.date, dt.date, dt.date, dt.date] | None,
) -> None:
    """Replace the daily rows with `frames` (by dimension): all of them, or with `days`
    (lo, hi, first, last) those of the recomputed days [lo, hi] and any outside the data's
    days [first, last]."""
    if days is None:
        conn.execute(delete(AggEngagement))
    else:
        lo, hi, first, last = days
        conn.execute(delete(AggEngagement).where(
            ((AggEngagement.day >= lo) & (AggEngagement.day <= hi))
            | (AggEngagement.day < first) | (AggEngagement.day > last)
        ))
    for dim, frame in frames.items():
        _insert(conn, dim, frame)


def _insert(conn: Connection, dimension: str, frame: pd.DataFrame) -> None:
    """Append one breakdown's daily rows, a chunk of Python tuples at a time (a breakdown
    with many groups over years of days holds millions of rows)."""
    for at in range(0, len(frame), INSERT_CHUNK):
        part = frame.iloc[at:at + INSERT_CHUNK]
        days = pd.to_datetime(part["day"]).dt.date.tolist()
        subs = part["sub"].astype(str).tolist() if "sub" in part.columns else [""] * len(part)
        values = {c: part[c].to_numpy(dtype=np.int64).tolist() for c in STORED}
        bulk_insert(conn, "agg_engagement", {
            "dimension": [dimension] * len(part), "day": days,
            "grp": part["group"].astype(str).tolist(), "sub": subs, **values,
        }, dates=("day",))


def _state(conn: Connection) -> Any:
    """The watermark row (attribute access by column name), or None."""
    return conn.execute(
        select(RefreshState.__table__).where(RefreshState.id == STATE_ID)
    ).first()


def read_state(engine: Engine) -> Any:
    """The refresh watermark, or None before the first refresh."""
    with engine.connect() as conn:
        return _state(conn)


def _save_state(
    conn: Connection,
    settings: Settings,
    dimensions: list[str],
    span: tuple[dt.date, dt.date] | None,
    plan: Plan,
    roster: str,
) -> None:
    """Record the refresh: `roster` is the fingerprint of the roster it attributed (one saved
    while it ran is still to be refreshed, as queued days are)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    previous = _state(conn)
    upsert(
        conn,
        RefreshState.__table__,  # type: ignore[arg-type]
        [{
            "id": STATE_ID,
            "refreshed_at": now,
            "full_at": now if plan.full else (previous.full_at if previous else None),
            "timezone": settings.timezone,
            "roster": roster,
            "dimensions": ",".join(dimensions),
            "first_day": span[0] if span else None,
            "last_day": span[1] if span else None,
        }],
    )
    if plan.queue_id is not None:
        conn.execute(delete(RefreshQueue).where(RefreshQueue.id <= plan.queue_id))


def _known_first_activity(engine: Engine, lo: dt.date) -> pd.DataFrame:
    """Cached first activity days before `lo` (person_key, first): they still hold.

    The refresh reloads every day from `lo` to the last day with data, so a first day from
    `lo` on is recomputed from the reloaded facts (or is gone with them); an earlier one cannot
    have changed.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            select(AggFirstActivity.person_key, cast(AggFirstActivity.first_day, String))
            .where(AggFirstActivity.first_day < lo)
        ).cursor.fetchall()  # the driver's tuples: no row objects for every person
    cache = rows_frame(rows, ["person_key", "first"])
    cache["first"] = parse_days(cache["first"])
    return cache


def _save_first_activity(conn: Connection, facts: Facts, since: dt.date | None) -> None:
    """Write the facts' all-time first activity days: all of them, or those from `since` on
    (earlier ones cannot have changed: only days from `since` were reloaded)."""
    firsts = facts.first_activity
    if since is not None:
        firsts = firsts[firsts["first"] >= day_number(since)]
        conn.execute(delete(AggFirstActivity).where(AggFirstActivity.first_day >= since))
    else:
        conn.execute(delete(AggFirstActivity))
    days = [from_day_number(d) for d in firsts["first"].tolist()]
    keys = facts.person_keys[firsts["pid"].to_numpy()].tolist()
    bulk_insert(conn, "agg_first_activity", {"person_key": keys, "first_day": days},
                dates=("first_day",))
