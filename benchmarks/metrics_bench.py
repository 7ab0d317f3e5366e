"""Metrics benchmark: full and incremental refresh, a 90-day breakdown read, and DuckDB.

`run(scale, workdir)` builds a synthetic organisation of `scale` members × 365 days of
person-day facts (MAX-merged Graph + export rows, two roster snapshots, joins, suspensions),
loads it into SQLite and PostgreSQL (when UPTAKE_BENCH_POSTGRES_URL or
UPTAKE_TEST_POSTGRES_URL is set) and times what the targets of issue 3 name; then, when the
ingest benchmark left its demo store in `workdir`, refreshes that realistic store too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.memory import high_water_kb

ROOT = Path(__file__).resolve().parents[1]
DAYS = 365
START = dt.date(2025, 1, 1)
DEPARTMENTS = [f"Department {i:02d}" for i in range(20)]
REGIONS = ["EMEA", "Americas", "APAC", "Nordics", "Canada"]
TARGETS = {"refresh_full": 60.0, "refresh_incremental": 5.0, "engagement_90d": 0.2,
           "demo_refresh_full": 60.0, "demo_refresh_incremental": 5.0}
PEAK_TARGET_MB = 2048.0
BENCH_SCHEMA = "uptake_bench_metrics"


def run(scale: int, workdir: str | Path) -> list[dict[str, Any]]:
    """Benchmark the metrics layer at `scale` members; one result dict per measurement."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    org = synthesise(scale)
    results: list[dict[str, Any]] = []
    urls = {"sqlite": f"sqlite:///{workdir / f'metrics-{scale}.db'}"}
    postgres = os.environ.get("UPTAKE_BENCH_POSTGRES_URL") or os.environ.get(
        "UPTAKE_TEST_POSTGRES_URL"
    )
    if postgres:
        urls["postgresql"] = _schema_url(postgres, BENCH_SCHEMA)
    for backend, url in urls.items():
        results += _bench_backend(backend, url, org, scale, workdir)
    results += _bench_duckdb(org, scale, results)
    results += _bench_demo(scale, workdir)
    return results


def synthesise(scale: int, seed: int = 7) -> dict[str, Any]:
    """Integer-coded synthetic facts: people, accounts, roster, person-day activity."""
    rng = np.random.default_rng(seed)
    keys = np.array([hashlib.sha256(f"bench-{i}".encode()).hexdigest() for i in range(scale)])
    late = rng.random(scale) < 0.08
    joined = np.where(late, rng.integers(0, DAYS, scale), -rng.integers(1, 900, scale))
    pending = rng.random(scale) < 0.02
    suspended = np.where(rng.random(scale) < 0.03, rng.integers(0, DAYS + 1, scale), 10**6)
    suspended = np.maximum(suspended, joined + 1)
    dept = rng.integers(0, len(DEPARTMENTS), scale)
    moved = dept.copy()
    movers = rng.random(scale) < 0.03
    moved[movers] = rng.integers(0, len(DEPARTMENTS), movers.sum())
    region = dept % len(REGIONS)
    rate = rng.beta(0.9, 1.1, scale)
    engage = rng.beta(2.0, 2.0, scale)
    parts = []
    for day in range(DAYS):
        member = ~pending & (joined <= day) & (suspended > day)
        active = member & (rng.random(scale) < rate)
        pid = np.flatnonzero(active)
        engaged = rng.random(len(pid)) < engage[pid]
        parts.append(pd.DataFrame({
            "pid": pid.astype(np.int32),
            "day": np.int32(day),
            "posts": (engaged & (rng.random(len(pid)) < 0.15)).astype(np.int32),
            "replies": (engaged & (rng.random(len(pid)) < 0.35)).astype(np.int32),
            "reactions": np.where(engaged, 1 + rng.poisson(1.0, len(pid)), 0).astype(np.int32),
            "reads": (1 + rng.poisson(4.0, len(pid))).astype(np.int32),
        }))
    activity = pd.concat(parts, ignore_index=True)
    export = activity[(activity["posts"] + activity["replies"] > 0)].sample(
        frac=0.3, random_state=seed)[["pid", "day", "posts", "replies"]]
    return {
        "keys": keys, "joined": joined, "pending": pending, "suspended": suspended,
        "dept": dept, "moved": moved, "region": region, "activity": activity, "export": export,
    }


def _bench_backend(
    backend: str, url: str, org: dict[str, Any], scale: int, workdir: Path
) -> list[dict[str, Any]]:
    from store.engine import make_engine
    from store.migrate import upgrade

    engine = make_engine(url)
    _reset(engine, backend, url)
    upgrade(engine)
    started = time.perf_counter()
    rows = load(engine, org)
    load_s = time.perf_counter() - started
    config = workdir / f"bench-{backend}.yaml"
    config.write_text(
        f"database: {{url: '{url}'}}\ntimezone: UTC\nprivacy: {{min_group_size: 5}}\n"
    )
    out = []
    common = {"suite": "metrics", "backend": backend, "scale": scale, "person_days": rows}
    out.append({**common, "name": "load_facts_into_store", "seconds": round(load_s, 2)})
    full = _child(config, "refresh_full")
    out.append(_result(common, "refresh_full", full))
    _add_one_day(engine, org)
    out.append(_result(common, "refresh_incremental", _child(config, "refresh_incremental")))
    out.append(_result(common, "engagement_90d", _child(config, "engagement_90d")))
    engine.dispose()
    return out


def _bench_demo(scale: int, workdir: Path) -> list[dict[str, Any]]:
    """The demo organisation the ingest benchmark left in `workdir` (SQLite), when it did:
    its first refresh, `refresh --full`, then a refresh after its last day is queued again
    (as an ingest of that day's report queues it)."""
    from benchmarks import ingest_bench

    config = workdir / ingest_bench.CONFIG
    if not (workdir / ingest_bench.STORE).exists() or not config.exists():
        return []
    common = {"suite": "metrics", "backend": "sqlite (demo store)", "scale": scale}
    out = [_result(common, name, _child(config, name))
           for name in ("demo_refresh_first", "demo_refresh_full")]
    _queue_last_day(config)
    out.append(_result(common, "demo_refresh_incremental",
                       _child(config, "refresh_incremental")))
    return out


def _queue_last_day(config: Path) -> None:
    """Queue the store's last day of activity for refresh, as its ingest did."""
    from sqlalchemy import func, select

    from settings import load_settings
    from store.engine import make_engine, write_transaction
    from store.models import DailyActivity, RefreshQueue

    engine = make_engine(load_settings(config).database.url)
    with write_transaction(engine) as conn:
        last = conn.scalar(select(func.max(DailyActivity.day)))
        conn.execute(RefreshQueue.__table__.insert().values(  # type: ignore[attr-defined]
            source="graph_yammer_activity", day_from=last, day_to=last,
            queued_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    engine.dispose()


def _result(common: dict[str, Any], name: str, measured: dict[str, Any]) -> dict[str, Any]:
    target = TARGETS.get(name)
    peak = measured.get("peak_mb")
    ok = (target is None or measured["seconds"] < target) and (
        peak is None or peak < PEAK_TARGET_MB)
    result = {**common, "name": name, **measured, "target_s": target, "ok": ok}
    print(json.dumps(result), file=sys.stderr, flush=True)  # progress of a long run
    return result


def _child(config: Path, what: str) -> dict[str, Any]:
    """Measure in a fresh process, so peak memory is that step's own."""
    code = (
        "import json, sys; from benchmarks.metrics_bench import measure; "
        f"print(json.dumps(measure({str(config)!r}, {what!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "UPTAKE_HASH_KEY": "bench"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(config: str, what: str) -> dict[str, Any]:
    """Run one step in this process; seconds and peak resident memory."""

    from metrics.refresh import refresh
    from settings import load_settings
    from store.engine import make_engine

    settings = load_settings(config)
    engine = make_engine(settings.database.url)
    note = ""
    sampler = TreePeak()
    sampler.start()
    started = time.perf_counter()
    if what in ("refresh_full", "refresh_incremental", "demo_refresh_first"):
        note = refresh(engine, settings)  # the first refresh of a store is a full one
    elif what == "demo_refresh_full":
        note = refresh(engine, settings, full=True)
    else:
        from app import build_parser
        from metrics.cli import run_metric_command
        from metrics.read import ensure_fresh

        ensure_fresh(engine, settings)
        end = START + dt.timedelta(days=DAYS - 1)
        args = build_parser().parse_args([
            "metrics", "engagement", "--by", "department", "--start",
            str(end - dt.timedelta(days=89)), "--end", str(end), "--format", "csv",
        ])
        started = time.perf_counter()
        out = io.StringIO()
        run_metric_command(engine, settings, args, out)
        note = f"{out.getvalue().count(chr(10)) - 1} rows"
    seconds = time.perf_counter() - started
    sampler.stop()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child started by
    # the benchmark (holding the synthetic organisation) would report the parent's size.
    own = high_water_kb() / 1024
    # a large SQLite read runs in reader processes: the peak is that of all of them together
    # (sampled), or this process's own when that is higher
    return {"seconds": round(seconds, 3), "peak_mb": round(max(own, sampler.peak_mb), 1),
            "note": note}


class TreePeak(threading.Thread):
    """Peak resident memory of this process and its children, sampled every 50 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self._done.wait(0.05):
            self.peak_mb = max(self.peak_mb, tree_rss_kb(os.getpid()) / 1024)

    def stop(self) -> None:
        """Stop sampling."""
        self._done.set()
        self.join()


def tree_rss_kb(pid: int) -> int:
    """Resident kB of `pid` and the children its main thread started (from /proc)."""
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    total = 0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for each in [str(pid), *children]:
        try:
            total += int(Path(f"/proc/{each}/statm").read_text().split()[1]) * page_kb
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total


def _bench_duckdb(
    org: dict[str, Any], scale: int, results: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The same daily engaged-by-department table from the same facts, by one DuckDB query."""
    import duckdb

    activity = org["activity"]
    export = org["export"].assign(reactions=0, reads=0)
    facts = pd.concat([activity, export[activity.columns]], ignore_index=True)
    first_member = np.where(org["pending"], 10**6, org["joined"])
    members = pd.DataFrame({
        "pid": np.arange(scale), "joined": first_member, "left": org["suspended"],
        "dept": org["dept"], "moved": org["moved"],
    })
    con = duckdb.connect()
    con.register("facts", facts)
    con.register("members", members)
    query = f"""
        WITH days AS (SELECT range AS day FROM range(0, {DAYS})),
        person_days AS (
            SELECT pid, day, max(posts) + max(replies) + max(reactions) AS engaging
            FROM facts GROUP BY pid, day),
        groups AS (
            SELECT m.pid, d.day, CASE WHEN d.day < {DAYS // 2} THEN m.dept ELSE m.moved END AS g
            FROM members m JOIN days d ON d.day >= m.joined AND d.day < m.left),
        engaged AS (
            SELECT g.day, g.g, count(*) AS engaged
            FROM person_days p JOIN groups g ON g.pid = p.pid AND g.day = p.day
            WHERE p.engaging > 0 GROUP BY g.day, g.g)
        SELECT g.day, g.g, count(*) AS members, coalesce(max(e.engaged), 0) AS engaged
        FROM groups g LEFT JOIN engaged e ON e.day = g.day AND e.g = g.g
        GROUP BY g.day, g.g ORDER BY g.day, g.g
    """
    started = time.perf_counter()
    table = con.execute(query).df()
    seconds = time.perf_counter() - started
    out = {"suite": "metrics", "backend": "duckdb", "scale": scale,
           "name": "duckdb_engaged_by_dept", "seconds": round(seconds, 2),
           "note": f"{len(table)} rows"}
    for r in results:
        if r["name"] == "refresh_full":
            out[f"ratio_refresh_full_{r['backend']}"] = round(r["seconds"] / seconds, 2)
    return [out]


def load(engine: Any, org: dict[str, Any]) -> int:
    """Bulk-load the synthetic organisation; returns person-day rows written."""
    from store.engine import write_transaction
    from store.models import Account, Person, PersonAttribute, RosterSnapshot

    keys, now = org["keys"], dt.datetime(2025, 1, 1)
    start = dt.datetime.combine(START, dt.time(9))
    with write_transaction(engine) as conn:
        conn.execute(Person.__table__.insert(), [
            {"person_key": k, "matched": True, "created_at": now} for k in keys])
        conn.execute(Account.__table__.insert(), [
            {"platform": "yammer", "account_id": str(i), "person_key": k, "has_user_record": True,
             "state": "pending" if org["pending"][i] else "active",
             "joined_at": None if org["pending"][i] else start + dt.timedelta(
                 days=int(org["joined"][i])),
             "suspended_at": start + dt.timedelta(days=int(org["suspended"][i]))
             if org["suspended"][i] < 10**6 else None,
             "deleted_at": None, "department": None, "location": None, "updated_at": now}
            for i, k in enumerate(keys)])
        half = START + dt.timedelta(days=DAYS // 2)
        for as_of, depts in ((START, org["dept"]), (half, org["moved"])):
            conn.execute(RosterSnapshot.__table__.insert(), [
                {"as_of": as_of, "people": len(keys), "ingested_at": now}])
            rows = []  # stored as store/roster.py does: the second snapshot's changes only
            for i, k in enumerate(keys):
                if as_of != START:
                    if depts[i] != org["dept"][i]:
                        rows.append({"person_key": k, "attribute": "department",
                                     "valid_from": as_of, "value": DEPARTMENTS[depts[i]]})
                    continue
                rows.append({"person_key": k, "attribute": "department", "valid_from": as_of,
                             "value": DEPARTMENTS[depts[i]]})
                rows.append({"person_key": k, "attribute": "region", "valid_from": as_of,
                             "value": REGIONS[org["region"][i]]})
                rows.append({"person_key": k, "attribute": "hire_date", "valid_from": as_of,
                             "value": "2015-01-01"})
            if rows:
                conn.execute(PersonAttribute.__table__.insert(), rows)
    activity = org["activity"]
    export = org["export"]
    _copy_facts(engine, "graph_yammer_activity", activity, keys)
    _copy_facts(engine, "yammer_export", export.assign(reactions=0, reads=0), keys)
    return len(activity)


def _copy_facts(engine: Any, source: str, frame: pd.DataFrame, keys: np.ndarray) -> None:
    days = np.array([(START + dt.timedelta(days=d)).isoformat() for d in range(DAYS + 1)])
    frame = frame.sort_values(["day", "pid"])  # as daily reports arrive
    columns = "source, person_key, day, posts, replies, reactions, reads"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for lo in range(0, len(frame), 500_000):
            part = frame.iloc[lo:lo + 500_000]
            rows = zip(
                [source] * len(part), keys[part["pid"].to_numpy()].tolist(),
                days[part["day"].to_numpy()].tolist(), part["posts"].tolist(),
                part["replies"].tolist(), part["reactions"].tolist(), part["reads"].tolist(),
                strict=True,
            )
            if engine.dialect.name == "postgresql":
                with cursor.copy(f"COPY daily_activity ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.execute("BEGIN")
                cursor.executemany(
                    f"INSERT INTO daily_activity ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                )
                cursor.execute("COMMIT")
        raw.commit()
    finally:
        raw.close()


def _add_one_day(engine: Any, org: dict[str, Any]) -> None:
    """Day DAYS (the 366th): the same people as the last day, queued like an ingest does."""
    from store.engine import write_transaction
    from store.models import RefreshQueue

    last = org["activity"][org["activity"]["day"] == DAYS - 1].assign(day=DAYS)
    _copy_facts(engine, "graph_yammer_activity", last, org["keys"])
    day = START + dt.timedelta(days=DAYS)
    with write_transaction(engine) as conn:
        conn.execute(RefreshQueue.__table__.insert().values(
            source="graph-yammer-activity", day_from=day, day_to=day,
            queued_at=dt.datetime.combine(day, dt.time(7))))


def _reset(engine: Any, backend: str, url: str) -> None:
    from sqlalchemy import text

    if backend == "sqlite":
        engine.dispose()
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from sqlalchemy import create_engine

    admin = create_engine(url.split("?")[0])
    with admin.begin() as conn:  # our own schema only: never touch anyone else's tables
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{BENCH_SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{BENCH_SCHEMA}"'))
    admin.dispose()


def _schema_url(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 6800
    for result in run(size, Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "data" / "bench"):
        print(json.dumps(result))
