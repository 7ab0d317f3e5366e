"""The runner's guarantees: all or nothing per window, a run row always, safe reruns and kills."""

from __future__ import annotations

import datetime as dt
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

import app
from errors import BadInputError, IngestError
from ingest import registry
from ingest.progress import Progress
from ingest.runner import (
    GC_THRESHOLD,
    RunResult,
    Window,
    Writer,
    fewer_collections,
    read_cursor,
    run_source,
)
from store.engine import write_transaction
from store.identity import Identity
from store.locks import LockHeld
from store.models import DailyActivity, IngestRun, IngestState, Lock, Person, RefreshQueue
from tests.conftest import BACKENDS, TEST_HASH_KEY

ROOT = Path(__file__).resolve().parents[1]
D = dt.date(2026, 1, 1)


def _fact(name: str, key: str, day: dt.date) -> dict:
    return {"source": name, "person_key": key, "day": day, "posts": 1, "replies": 0,
            "reactions": 0, "reads": 0}


class DaySource:
    """One window per day after the cursor, up to `days`; writes `n` people and their facts."""

    def __init__(self, name: str = "fake", days: int = 3, n: int = 4, fail_on: int | None = None,
                 error: Exception | None = None, peek=None):
        self.name, self.days, self.n = name, days, n
        self.fail_on, self.error, self.peek = fail_on, error, peek

    def windows(self, cursor: str | None) -> Iterable[Window]:
        first = int(cursor or 0) + 1
        return [Window(target=f"day{i}", start=str(i)) for i in range(first, self.days + 1)]

    def ingest(self, window: Window, writer: Writer) -> str | None:
        i = int(window.start)
        keys = [f"{self.name}-{i}-{j}" for j in range(self.n)]
        writer.read(self.n + 1)
        writer.save_people([{"person_key": k} for k in keys])
        day = D + dt.timedelta(days=i - 1)
        writer.upsert(DailyActivity.__table__, [_fact(self.name, k, day) for k in keys])
        writer.touch(day, day)
        writer.skip("one unusable row")
        if self.peek:
            self.peek()
        if i == self.fail_on:
            raise self.error or BadInputError(f"day{i}.csv: missing column 'email'")
        return str(i)


def _snapshot(engine) -> dict[str, list]:
    """The facts a run may change (run log aside)."""
    with engine.connect() as conn:
        return {
            "people": sorted(conn.scalars(select(Person.person_key))),
            "facts": sorted(
                conn.execute(select(DailyActivity.person_key, DailyActivity.day)).all()
            ),
            "cursor": conn.execute(select(IngestState.source, IngestState.cursor)).all(),
            "queue": sorted(
                conn.execute(select(RefreshQueue.day_from, RefreshQueue.day_to)).all()
            ),
        }


def _runs(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            select(IngestRun.source, IngestRun.target, IngestRun.status).order_by(IngestRun.id)
        ).all()


@BACKENDS
def test_failed_run_commits_nothing_and_logs_one_line(engine, settings):
    run_source(engine, settings, DaySource(days=1))
    before = _snapshot(engine)

    with pytest.raises(IngestError) as info:
        run_source(engine, settings, DaySource(days=2, fail_on=2))

    assert str(info.value) == "fake day2: day2.csv: missing column 'email'"
    assert _snapshot(engine) == before  # no people, facts, cursor move or queued refresh
    assert read_cursor(engine, "fake") == "1"
    with engine.connect() as conn:
        run = conn.execute(select(IngestRun).order_by(IngestRun.id.desc())).first()
    assert (run.status, run.target, run.error) == (
        "failed", "day2", "day2.csv: missing column 'email'"
    )
    assert (run.rows_read, run.rows_written, run.rows_skipped) == (5, 0, 1)
    assert run.finished_at is not None and run.duration_s is not None


@BACKENDS
def test_unexpected_error_is_one_line_in_the_run_log(engine, settings):
    source = DaySource(days=1, fail_on=1, error=KeyError("col\nwith a second line"))
    with pytest.raises(IngestError, match=r"^fake day1: KeyError: 'col\\nwith"):
        run_source(engine, settings, source)
    with engine.connect() as conn:
        error = conn.scalar(select(IngestRun.error))
    assert error == "KeyError: 'col\\nwith a second line'" and "\n" not in error


@BACKENDS
def test_failure_listing_windows_still_leaves_a_run_row(engine, settings):
    class Unlistable(DaySource):
        def windows(self, cursor):
            raise BadInputError("export: the API returned no window list")

    with pytest.raises(IngestError, match="^fake: export: the API returned no window list$"):
        run_source(engine, settings, Unlistable())
    assert _runs(engine) == [("fake", "(due windows)", "failed")]


@BACKENDS
def test_success_commits_rows_cursor_run_and_queue_together(engine, settings):
    seen_inside: list[tuple] = []

    def peek() -> None:  # another connection, mid-run: nothing of this run is visible yet
        with engine.connect() as other:
            seen_inside.append((
                other.scalar(select(func.count()).select_from(Person)),
                other.scalar(select(IngestState.cursor)),
                other.scalar(select(IngestRun.status)),
                other.scalar(select(func.count()).select_from(RefreshQueue)),
            ))

    class Touchy(DaySource):
        def ingest(self, window, writer):
            writer.touch(dt.date(2026, 1, 3), dt.date(2026, 1, 4))
            writer.touch(dt.date(2026, 1, 10))  # every later day
            writer.touch(dt.date(2026, 1, 12), dt.date(2026, 1, 13))  # inside the open range
            return super().ingest(window, writer)

    (result,) = run_source(engine, settings, Touchy(days=1, n=4, peek=peek))

    assert seen_inside == [(0, None, "running", 0)]
    assert (result.status, result.rows_read, result.rows_written, result.rows_skipped) == (
        "success", 5, 4, 1
    )
    assert result.warnings == ["skipped a record: one unusable row"]
    snap = _snapshot(engine)
    assert snap["people"] == [f"fake-1-{j}" for j in range(4)]
    assert len(snap["facts"]) == 4 and snap["cursor"] == [("fake", "1")]
    # (01-01) + (01-03..01-04) do not touch; (01-10, open) swallows (01-12..01-13)
    assert snap["queue"] == [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 1)),
        (dt.date(2026, 1, 3), dt.date(2026, 1, 4)),
        (dt.date(2026, 1, 10), None),
    ]
    with engine.connect() as conn:
        run = conn.execute(select(IngestRun)).one()
    assert (run.status, run.rows_read, run.rows_written, run.rows_skipped, run.error) == (
        "success", 5, 4, 1, None
    )
    assert run.warnings == "skipped a record: one unusable row"


@BACKENDS
def test_rerun_is_safe(engine, settings):
    assert len(run_source(engine, settings, DaySource(days=3))) == 3
    clean = _snapshot(engine)
    assert run_source(engine, settings, DaySource(days=3)) == []  # nothing due

    with engine.begin() as conn:  # forget the cursor: every window again
        conn.execute(delete(IngestState))
        conn.execute(delete(RefreshQueue))
    run_source(engine, settings, DaySource(days=3))
    again = _snapshot(engine)
    assert {k: v for k, v in again.items() if k != "queue"} == {
        k: v for k, v in clean.items() if k != "queue"
    }

    with engine.begin() as conn:  # a run that fails half-way, then a rerun
        for table in (DailyActivity, Person, IngestState, RefreshQueue):
            conn.execute(delete(table))
    with pytest.raises(IngestError):
        run_source(engine, settings, DaySource(days=3, fail_on=2))
    assert read_cursor(engine, "fake") == "1"
    run_source(engine, settings, DaySource(days=3))
    assert _snapshot(engine) == clean


@BACKENDS
def test_lease_is_renewed_after_each_window(engine, settings):
    settings.scheduler.lock_ttl_s = 60
    leases: list[dt.timedelta] = []

    def peek() -> None:
        with engine.connect() as other:
            acquired, expires = other.execute(select(Lock.acquired_at, Lock.expires_at)).one()
        leases.append(expires - acquired)
        time.sleep(1.1)

    run_source(engine, settings, DaySource(days=2, peek=peek))
    assert leases[0] == dt.timedelta(seconds=60)
    assert leases[1] > dt.timedelta(seconds=61)  # renewed after window 1, ~1.1 s later


SCRIPT = """
import datetime as dt, os, sys, time
sys.path.insert(0, {root!r})
from ingest.runner import Window, run_source
from settings import load_settings
from store.engine import make_engine
from store.models import DailyActivity

config, name, mode, days, rows = sys.argv[1:6]
days, rows = int(days), int(rows)
gate = sys.argv[6] if len(sys.argv) > 6 else None


class ScriptSource:
    def __init__(self):
        self.name = name

    def windows(self, cursor):
        due = range(int(cursor or 0) + 1, days + 1)
        return [Window(target=f"day{{i}}", start=str(i)) for i in due]

    def ingest(self, window, writer):
        i = int(window.start)
        day = dt.date(2026, 1, i)
        keys = [f"{{name}}-{{i}}-{{j}}" for j in range(rows)]
        writer.read(rows)
        writer.save_people([{{"person_key": k}} for k in keys])
        writer.upsert(DailyActivity.__table__, [
            {{"source": name, "person_key": k, "day": day, "posts": 1, "replies": 0,
              "reactions": 0, "reads": 0}} for k in keys])
        writer.touch(day, day)
        print(f"inside {{window.target}}", flush=True)
        if mode == "hang":
            time.sleep(600)
        while mode == "gate" and not os.path.exists(gate):
            time.sleep(0.05)
        return str(i)


settings = load_settings(config)
results = run_source(make_engine(settings.database.url), settings, ScriptSource())
print(f"done {{len(results)}}", flush=True)
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPTAKE_")}
    return {**env, "UPTAKE_HASH_KEY": TEST_HASH_KEY}


class Script:
    """A fake ingest run in its own process (see SCRIPT), its stdout in a file."""

    def __init__(self, tmp_path: Path, label: str, *args: str):
        script = tmp_path / "slow_ingest.py"
        script.write_text(SCRIPT.format(root=str(ROOT)))
        self.out = tmp_path / f"{label}.out"
        self.err = tmp_path / f"{label}.err"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), str(tmp_path / "config.yaml"), *args],
                cwd=ROOT, env=_env(), stdout=out, stderr=err,
            )

    def wait_for(self, line: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.out.read_text():
            assert self.proc.poll() is None, self.err.read_text()
            assert time.monotonic() < deadline, f"no {line!r} in time"
            time.sleep(0.05)

    def finish(self, timeout: float = 120) -> str:
        code = self.proc.wait(timeout=timeout)
        assert code == 0, self.err.read_text()
        return self.out.read_text()


@BACKENDS
def test_killed_mid_run_leaves_nothing_half_written(engine, settings, tmp_path):
    Script(tmp_path, "first", "slow", "fast", "1", "50").finish()
    before = _snapshot(engine)

    victim = Script(tmp_path, "victim", "slow", "hang", "3", "50")
    victim.wait_for("inside day2")  # rows of day2 are written, uncommitted
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=30)

    assert _snapshot(engine) == before
    assert read_cursor(engine, "slow") == "1"
    assert _runs(engine) == [("slow", "day1", "success"), ("slow", "day2", "running")]
    with engine.connect() as conn:  # the dead process still "holds" the lease
        holder = conn.scalar(select(Lock.holder).where(Lock.name == "ingest:slow"))
    assert holder.split(":")[1] == str(victim.proc.pid)

    assert Script(tmp_path, "rerun", "slow", "fast", "3", "50").finish().endswith("done 2\n")
    assert _runs(engine) == [
        ("slow", "day1", "success"),
        ("slow", "day2", "abandoned"),
        ("slow", "day2", "success"),
        ("slow", "day3", "success"),
    ]
    assert len(_snapshot(engine)["people"]) == 150 and read_cursor(engine, "slow") == "3"
    with engine.connect() as conn:
        assert conn.scalar(select(IngestRun.error).where(IngestRun.status == "abandoned")) == (
            "the process ended before the run finished"
        )
        assert conn.scalar(select(func.count()).select_from(Lock)) == 0


@BACKENDS
def test_two_different_sources_at_once_lose_nothing(engine, settings, tmp_path):
    """On SQLite the two take turns window by window (one writer; busy timeout); no lock error."""
    left = Script(tmp_path, "left", "left", "fast", "4", "3000")
    right = Script(tmp_path, "right", "right", "fast", "4", "3000")
    assert left.finish() == right.finish() == "".join(
        f"inside day{i}\n" for i in range(1, 5)
    ) + "done 4\n"
    with engine.connect() as conn:
        counts = dict(conn.execute(
            select(DailyActivity.source, func.count()).group_by(DailyActivity.source)
        ).all())
        people = conn.scalar(select(func.count()).select_from(Person))
        if engine.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert counts == {"left": 12000, "right": 12000} and people == 24000
    assert sorted(s for _, _, s in _runs(engine)) == ["success"] * 8
    assert read_cursor(engine, "left") == read_cursor(engine, "right") == "4"


@BACKENDS
def test_same_source_twice_gets_lock_held_at_once(engine, settings, tmp_path):
    """The second run of a source fails fast with LockHeld (it does not wait)."""
    gate = tmp_path / "gate"
    holder = Script(tmp_path, "holder", "hr-roster", "gate", "1", "10", str(gate))
    holder.wait_for("inside day1")  # holds the lease and an open write transaction
    try:
        started = time.monotonic()
        with pytest.raises(LockHeld, match=r"^ingest:hr-roster is already running \(held by "):
            run_source(engine, settings, DaySource(name="hr-roster"))
        cli = subprocess.run(
            [sys.executable, "app.py", "--config", str(tmp_path / "config.yaml"), "ingest",
             "hr-roster", "--file", str(tmp_path / "roster.csv")],
            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60,
        )
        waited = time.monotonic() - started
    finally:
        gate.touch()
    assert holder.finish() == "inside day1\ndone 1\n"
    assert waited < 30
    assert cli.returncode == 2
    (line,) = cli.stderr.splitlines()
    assert line.startswith("uptake: error: ingest:hr-roster is already running (held by ")
    assert line.endswith("); try again when it ends")
    assert _runs(engine) == [("hr-roster", "day1", "success")]
    assert len(_snapshot(engine)["people"]) == 10


@BACKENDS
def test_cli_ingest_error_exits_2_with_one_line(engine, settings, tmp_path, monkeypatch, capsys):
    for name in [n for n in os.environ if n.startswith("UPTAKE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("UPTAKE_HASH_KEY", TEST_HASH_KEY)
    monkeypatch.setattr(registry, "make_source", lambda s, name, opts: DaySource(days=1, fail_on=1))
    code = app.main(["--config", str(tmp_path / "config.yaml"), "ingest", "hr-roster",
                     "--file", "x.csv"])
    assert code == 2
    assert capsys.readouterr().err == "uptake: error: fake day1: day1.csv: missing column 'email'\n"
    assert _runs(engine) == [("fake", "day1", "failed")]


@BACKENDS
def test_cli_real_ingester_failure_exits_2(engine, settings, tmp_path):
    missing = tmp_path / "nope.csv"
    cli = subprocess.run(
        [sys.executable, "app.py", "--config", str(tmp_path / "config.yaml"), "ingest",
         "hr-roster", "--file", str(missing)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert cli.returncode == 2
    assert cli.stderr.splitlines() == [
        f"uptake: error: hr-roster {missing}: {missing}: roster file not found"
    ]
    with engine.connect() as conn:
        run = conn.execute(select(IngestRun)).one()
    assert (run.source, run.status, run.error) == (
        "hr-roster", "failed", f"{missing}: roster file not found"
    )


def test_fewer_collections_raises_the_threshold_and_restores_it():
    before = gc.get_threshold()
    raised = (max(before[0], GC_THRESHOLD), *before[1:])
    seen: list[tuple[int, ...]] = []

    def nested() -> None:
        with fewer_collections():
            seen.append(gc.get_threshold())

    with fewer_collections():
        seen.append(gc.get_threshold())
        worker = threading.Thread(target=nested)
        worker.start()
        worker.join()
        seen.append(gc.get_threshold())  # the other thread's exit leaves ours raised
    assert seen == [raised, raised, raised]
    assert gc.get_threshold() == before


class KeyCheckingSource(DaySource):
    """A DaySource whose Writer checks person keys itself; `stray` facts name no person."""

    writer_checks_keys = True

    def __init__(self, stray: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.stray = stray
        self.foreign_keys_seen: list[int] = []

    def ingest(self, window: Window, writer: Writer) -> str | None:
        if writer.conn.dialect.name == "sqlite":
            self.foreign_keys_seen.append(writer.conn.exec_driver_sql(
                "PRAGMA foreign_keys").scalar())
        cursor = super().ingest(window, writer)
        if self.stray:
            writer.insert_facts(self.name, [D], ["nobody"], {"posts": [1]})
        return cursor


@BACKENDS
def test_writer_that_checks_keys_runs_without_the_stores_checks(engine, settings):
    source = KeyCheckingSource(days=2)
    run_source(engine, settings, source)

    sqlite = engine.dialect.name == "sqlite"
    assert source.foreign_keys_seen == ([0, 0] if sqlite else [])
    with engine.connect() as conn:  # every later transaction checks them again
        if sqlite:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.scalar(select(func.count()).select_from(DailyActivity)) == 8


@BACKENDS
def test_writer_that_checks_keys_refuses_a_key_not_in_people(engine, settings):
    source = KeyCheckingSource(days=1, stray=True)
    refusal = (  # the Writer's check on SQLite; PostgreSQL's own, which stays on
        r"1 person key\(s\) written but not in people, e.g. nobody… \(foreign key\)$"
        if engine.dialect.name == "sqlite" else r"IntegrityError: .*ForeignKeyViolation"
    )
    with pytest.raises(IngestError, match=r"^fake day1: " + refusal):
        run_source(engine, settings, source)
    assert _snapshot(engine)["facts"] == []
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@BACKENDS
def test_key_checks_look_each_stored_key_up_once(engine, settings):
    run_source(engine, settings, DaySource(days=1))  # people fake-1-0 … fake-1-3
    lookups: list[str] = []
    with write_transaction(engine) as conn:
        writer = Writer(conn, settings, Identity(b"k", True), RunResult("s", "t", "running"),
                        Progress("t"), checks_keys=True)
        original = conn.scalars

        def counted(statement, *args, **kwargs):
            lookups.append(str(statement))
            return original(statement, *args, **kwargs)

        conn.scalars = counted  # type: ignore[method-assign]
        writer.check_people(["fake-1-0", "fake-1-1", None, "fake-1-0"])
        writer.check_people(["fake-1-1", "fake-1-0"])
        writer.save_people([{"person_key": "new"}])
        writer.check_people(["new", "fake-1-0"])
        writer.note_present(["fake-1-3"])  # read from people by the caller
        writer.check_people(["fake-1-3"])
        assert len(lookups) == 1
        with pytest.raises(IngestError, match="^2 person key"):
            writer.check_people(["fake-1-2", "ghost", "phantom"])
