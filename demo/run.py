"""`uptake demo`: write the demo organisation in real export formats, then ingest it for real."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, inspect, select

from demo.activity import Simulation, Summary
from demo.communities import build_communities
from demo.export import write_exports
from demo.organisation import build_organisation
from demo.writers import GraphReportWriter, write_rosters
from errors import UptakeError
from settings import Settings

Say = Callable[[str], None]


@dataclass
class DemoFiles:
    """What `write_demo` wrote, and the generator's own daily counts."""

    out: Path
    rosters: list[Path]
    exports: list[Path]
    graph_dir: Path
    graph_files: list[Path]
    messages: int
    people: int
    members: int
    summary: Summary
    seconds: float


def demo_end(settings: Settings, end: dt.date | str | None = None) -> dt.date:
    """The last demo day: the argument, else `demo.end`, else yesterday (UTC)."""
    value = end if end is not None else settings.demo.end
    if isinstance(value, dt.date):
        return value
    if value:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise UptakeError(f"demo: end {value!r} is not a date (YYYY-MM-DD)") from None
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def write_demo(
    members: int, days: int, end: dt.date, seed: int, out: Path, split: bool = False,
    say: Say = print,
) -> DemoFiles:
    """Generate the organisation and write every file under `out` (old demo files removed)."""
    started = time.perf_counter()
    org = build_organisation(members, days, end, seed)
    groups = build_communities(org, seed)
    _clear(out)
    rosters = write_rosters(org, out / "hr")
    graph = GraphReportWriter(org, out / "graph")
    ticker = _Ticker("demo: simulating days", days)

    def on_day(facts):  # type: ignore[no-untyped-def]
        graph(facts)
        ticker.update(facts.t + 1)

    log, summary = Simulation(org, groups, seed).run(on_day)
    ticker.done()
    say(f"demo: writing {len(log):,} messages into monthly Yammer export ZIPs …")
    exports = write_exports(org, groups, log, out / "yammer", seed, split=split)
    return DemoFiles(
        out=out, rosters=rosters, exports=exports, graph_dir=out / "graph",
        graph_files=graph.written, messages=len(log), people=org.size,
        members=int(summary.members[-1]), summary=summary,
        seconds=time.perf_counter() - started,
    )


def run_demo(
    settings: Settings,
    *,
    members: int,
    days: int,
    seed: int,
    out: str | Path,
    ingest: bool = True,
    if_empty: bool = False,
    end: dt.date | str | None = None,
    say: Say = print,
) -> DemoFiles | None:
    """Write the demo files and (unless `ingest` is False) ingest them through the ingesters."""
    from store.engine import make_engine
    from store.migrate import upgrade

    engine = make_engine(settings.database.url, echo=settings.database.echo)
    try:
        if if_empty and (rows := activity_rows(engine)):
            say(f"demo: the store already has activity ({rows:,} daily activity rows); "
                "nothing to do")
            return None
        upgrade(engine)
        last = demo_end(settings, end)
        files = write_demo(members, days, last, seed, Path(out), say=say)
        first = last - dt.timedelta(days=days - 1)
        say(
            f"demo: wrote {len(files.rosters)} HR roster snapshots, {len(files.exports)} Yammer "
            f"export ZIPs ({files.messages:,} messages) and {len(files.graph_files)} Graph daily "
            f"activity reports for {first} … {last} under {files.out} in {files.seconds:.1f}s"
        )
        say(
            f"demo: {files.members:,} members on {last} ({files.people:,} people employed over "
            f"the year); typical weekday engaged share at the end: "
            f"{files.summary.weekday_share():.0%}"
        )
        if ingest:
            ingest_demo(engine, settings, files, say=say)
        return files
    finally:
        engine.dispose()


def ingest_demo(engine: Engine, settings: Settings, files: DemoFiles, say: Say = print) -> float:
    """Ingest every roster snapshot, every export ZIP and the Graph directory; returns seconds."""
    from ingest.registry import make_source
    from ingest.runner import run_source
    from store.identity import Identity

    identity = Identity(settings.hash_key(), settings.privacy.pseudonymise)
    steps = [
        ("hr-roster", files.rosters),
        ("yammer-export", files.exports),
        ("graph-yammer-activity", [files.graph_dir]),
    ]
    started = time.perf_counter()
    for name, paths in steps:
        step_started = time.perf_counter()
        rows = 0
        for i, path in enumerate(paths, 1):
            if len(paths) > 1:
                _progress(f"demo: ingesting {name} {i}/{len(paths)}")
            source = make_source(settings, name, {"file": str(path)})
            rows += sum(r.rows_read for r in run_source(engine, settings, source, identity))
        _progress("")
        say(f"demo: ingested {name}: {rows:,} rows in {time.perf_counter() - step_started:.1f}s")
    seconds = time.perf_counter() - started
    counts = store_counts(engine)
    say(
        f"demo: store ready: {files.members:,} members, {files.summary.members.size} days, "
        + ", ".join(f"{n:,} {table}" for table, n in counts.items())
        + f"; ingest took {seconds:.1f}s"
    )
    return seconds


def activity_rows(engine: Engine) -> int:
    """Daily activity rows in the store (0 when the store is not initialised)."""
    if "daily_activity" not in inspect(engine).get_table_names():
        return 0
    from store.models import DailyActivity

    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(DailyActivity)) or 0)


def store_counts(engine: Engine) -> dict[str, int]:
    """Row counts of the main tables."""
    from store.models import Account, DailyActivity, Message, Person, PersonAttribute

    tables = {"people": Person, "accounts": Account, "messages": Message,
              "daily activity rows": DailyActivity, "HR attribute rows": PersonAttribute}
    with engine.connect() as conn:
        return {
            name: int(conn.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in tables.items()
        }


def _clear(out: Path) -> None:
    """Remove files an earlier demo run wrote (only ours), so stale days are not re-ingested."""
    for folder, pattern in (("hr", "hr_roster_*.csv"), ("graph", "YammerActivityUserDetail_*.csv"),
                            ("yammer", "*.zip")):
        for path in (out / folder).glob(pattern):
            path.unlink()


def _progress(text: str) -> None:
    """One overwritten status line on a terminal; nothing otherwise."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{text:<70}" if text else "\r" + " " * 70 + "\r")
        sys.stderr.flush()


class _Ticker:
    """Shows `label: i/total` on a terminal at most a few times a second."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self._last = label, total, 0.0

    def update(self, i: int) -> None:
        now = time.monotonic()
        if now - self._last >= 0.25:
            self._last = now
            _progress(f"{self.label} {i}/{self.total}")

    def done(self) -> None:
        _progress("")
