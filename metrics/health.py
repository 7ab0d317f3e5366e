"""Data health: read-only facts about ingest runs, cursors, gaps, concealed names and store size."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, column, false, func, literal_column, select, table

from store.fact_rows import estimated_fact_rows
from store.models import (
    Base,
    DailyActivity,
    IngestRun,
    IngestState,
    Person,
    RosterSnapshot,
)

ACTIVITY_SOURCES = {
    "yammer_export": "yammer-export",
    "graph_yammer_activity": "graph-yammer-activity",
}
SOURCES = ("yammer-export", "graph-yammer-activity", "hr-roster")
FAILED = ("failed", "abandoned")
GAP_WINDOW_DAYS = 60


def compute_freshness(engine: Engine) -> pd.DataFrame:
    """Per source: the last day of data and the last successful run (UTC)."""
    with engine.connect() as conn:
        days = {stored: _edge_day(conn, stored, last=True) for stored in ACTIVITY_SOURCES}
        days = {stored: day for stored, day in days.items() if day is not None}
        roster = conn.execute(select(func.max(RosterSnapshot.as_of))).scalar()
        success = dict(
            conn.execute(
                select(IngestRun.source, func.max(IngestRun.finished_at))
                .where(IngestRun.status == "success")
                .group_by(IngestRun.source)
            ).all()
        )
    last_day = {ACTIVITY_SOURCES.get(k, k): _as_date(v) for k, v in days.items()}
    last_day["hr-roster"] = _as_date(roster)
    names = [s for s in SOURCES if s in success or last_day.get(s)] + sorted(
        set(success) - set(SOURCES)
    )
    return pd.DataFrame(
        {
            "source": names,
            "last_day": [last_day.get(name) for name in names],
            "last_success_at": [success.get(name) for name in names],
        },
        columns=["source", "last_day", "last_success_at"],
    )


def compute_source_status(engine: Engine, today: dt.date) -> pd.DataFrame:
    """Per source: freshness, cursor, the last run's status and failures in the last 30 days."""
    fresh = compute_freshness(engine)
    since = dt.datetime.combine(today - dt.timedelta(days=30), dt.time())
    with engine.connect() as conn:
        cursors = dict(conn.execute(select(IngestState.source, IngestState.cursor)).all())
        failures = dict(
            conn.execute(
                select(IngestRun.source, func.count())
                .where(IngestRun.status.in_(FAILED), IngestRun.started_at >= since)
                .group_by(IngestRun.source)
            ).all()
        )
        latest = (
            select(IngestRun.source, func.max(IngestRun.id).label("id"))
            .group_by(IngestRun.source)
            .subquery()
        )
        last = {
            row.source: row.status
            for row in conn.execute(
                select(IngestRun.source, IngestRun.status).join(latest, IngestRun.id == latest.c.id)
            )
        }
    names = list(dict.fromkeys([*fresh["source"], *cursors, *last]))
    fresh = fresh.set_index("source").reindex(names)
    return pd.DataFrame(
        {
            "source": names,
            "last_day": [_as_date(v) for v in fresh["last_day"]],
            "days_behind": [
                (today - d).days if d else None for d in (_as_date(v) for v in fresh["last_day"])
            ],
            "last_success_at": [_none(v) for v in fresh["last_success_at"]],
            "last_status": [last.get(name) for name in names],
            "failed_runs_30d": [int(failures.get(name, 0)) for name in names],
            "cursor": [cursors.get(name) for name in names],
        }
    )


def compute_recent_problems(engine: Engine, limit: int = 20) -> pd.DataFrame:
    """The newest runs that failed or skipped rows, with their one-line error."""
    query = (
        select(
            IngestRun.started_at, IngestRun.source, IngestRun.target, IngestRun.status,
            IngestRun.rows_read, IngestRun.rows_skipped, IngestRun.error,
        )
        .where(IngestRun.status.in_(FAILED) | (IngestRun.rows_skipped > 0))
        .order_by(IngestRun.started_at.desc(), IngestRun.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    columns = ["started_at", "source", "target", "status", "rows_read", "rows_skipped", "error"]
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def compute_missing_days(engine: Engine, window_days: int = GAP_WINDOW_DAYS) -> pd.DataFrame:
    """Days without any activity row from a source, within its latest `window_days` of data."""
    out = []
    with engine.connect() as conn:
        for stored, name in ACTIVITY_SOURCES.items():
            first, last = _edge_day(conn, stored, last=False), _edge_day(conn, stored, last=True)
            if first is None or last is None:
                continue
            lo = max(first, last - dt.timedelta(days=window_days - 1))
            for offset in range((last - lo).days + 1):
                day = lo + dt.timedelta(days=offset)
                # One indexed probe per day: scanning the window's rows grows with the
                # organisation, the probes do not.
                found = conn.execute(
                    select(DailyActivity.day)
                    .where(DailyActivity.day == day, DailyActivity.source == stored)
                    .limit(1)
                ).first()
                if found is None:
                    out.append((name, day))
    return pd.DataFrame(out, columns=["source", "day"])


def _edge_day(conn: Connection, source: str, last: bool) -> dt.date | None:
    """The first or last day with a row from `source`, walking the day index from that end."""
    order = DailyActivity.day.desc() if last else DailyActivity.day.asc()
    found = conn.execute(
        select(DailyActivity.day).where(DailyActivity.source == source).order_by(order).limit(1)
    ).scalar()
    return _as_date(found)


def compute_concealed(engine: Engine) -> dict[str, int]:
    """People known only by a concealed Graph name (not joinable to HR data), and all people."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Person)).scalar() or 0
        concealed = (
            conn.execute(
                select(func.count()).select_from(Person).where(Person.matched == false())
            ).scalar()
            or 0
        )
    return {"people": int(total), "concealed": int(concealed)}


def compute_store_size(engine: Engine) -> tuple[pd.DataFrame, int | None]:
    """Rows per table (estimates: PostgreSQL statistics; SQLite's largest rowid, and sampled
    days for daily_activity, which has no rowid) and bytes."""
    names = sorted(Base.metadata.tables)
    rows: list[tuple[str, int]] = []
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            pg_class = table("pg_class", column("relname"), column("reltuples"))
            estimates = dict(
                conn.execute(
                    select(pg_class.c.relname, pg_class.c.reltuples).where(
                        pg_class.c.relname.in_(names)
                    )
                ).all()
            )
            rows = [(name, max(int(estimates.get(name) or 0), 0)) for name in names]
            size = conn.execute(select(func.pg_database_size(func.current_database()))).scalar()
        else:
            for name in names:  # the largest rowid: exact until rows are deleted, and instant
                if name == DailyActivity.__tablename__:  # no rowid: a sampled estimate
                    rows.append((name, estimated_fact_rows(conn)))
                    continue
                counted = conn.execute(
                    select(func.max(literal_column("rowid"))).select_from(table(name))
                ).scalar()
                rows.append((name, int(counted or 0)))
            size = _sqlite_bytes(engine)
    return pd.DataFrame(rows, columns=["table", "rows"]), (int(size) if size else None)


def _sqlite_bytes(engine: Engine) -> int | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    files = [Path(database), Path(f"{database}-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) or None


def _as_date(value: object) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _none(value: object) -> object:
    return None if value is None or pd.isna(value) else value
