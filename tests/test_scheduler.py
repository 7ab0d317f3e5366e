"""The scheduler: jobs, triggers and defaults; job functions; lease contention; clean shutdown."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterable
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select

import app
from errors import BadInputError, ConfigError
from ingest import scheduler as sched
from ingest.runner import Window, Writer
from store.engine import make_engine
from store.migrate import upgrade
from store.models import IngestRun, Person, PersonAttribute
from tests.conftest import BACKENDS, TEST_HASH_KEY

ROOT = Path(__file__).resolve().parents[1]
UTC = dt.UTC
GRAPH_TOKEN = "graph-token-s3cr3t-value"
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) ")


class FakeSource:
    """Writes `n` people in one window; optionally waits inside its transaction, or fails."""

    def __init__(self, name: str = "fake", n: int = 3, gate: threading.Event | None = None,
                 inside: threading.Event | None = None, error: Exception | None = None):
        self.name, self.n, self.gate, self.inside, self.error = name, n, gate, inside, error

    def windows(self, cursor: str | None) -> Iterable[Window]:
        return [Window(target="w1")]

    def ingest(self, window: Window, writer: Writer) -> str | None:
        writer.save_people([{"person_key": f"{self.name}-{i}"} for i in range(self.n)])
        writer.read(self.n)
        if self.inside:
            self.inside.set()
        if self.gate:
            assert self.gate.wait(30)
        if self.error:
            raise self.error
        return "c1"


def _ready(settings, roster_file: Path | None = None, retention: int | None = 30):
    settings._environ = {"UPTAKE_HASH_KEY": TEST_HASH_KEY, "UPTAKE_GRAPH_TOKEN": GRAPH_TOKEN}
    settings.scheduler.misfire_grace_time_s = 900
    settings.privacy.retention_days = retention
    settings.sources.hr_roster.enabled = True
    settings.sources.hr_roster.file = str(roster_file) if roster_file else None
    return settings


@pytest.fixture
def refresh_calls(monkeypatch):
    """A stand-in metrics.refresh module that records its calls."""
    calls: list[tuple] = []
    module = types.ModuleType("metrics.refresh")
    module.refresh = lambda engine, settings, full=False: calls.append((engine, full)) or "ok"
    monkeypatch.setitem(sys.modules, "metrics.refresh", module)
    return calls


def test_plan_names_missing_credentials(settings):
    settings._environ = {}
    settings.sources.yammer_export.enabled = False
    plans = {p.source: p.reason for p in sched.plan_sources(settings)}
    assert plans["yammer-export"] == "disabled (sources.yammer_export.enabled is false)"
    assert "$UPTAKE_GRAPH_TOKEN" in plans["graph-yammer-activity"]
    assert plans["hr-roster"] == "disabled (sources.hr_roster.enabled is false)"
    settings.sources.graph_yammer_activity.tenant_id = "t"
    settings.sources.graph_yammer_activity.client_id = "c"
    settings._environ = {"UPTAKE_GRAPH_CLIENT_SECRET": "x"}
    settings.sources.hr_roster.enabled = True
    plans = {p.source: p.reason for p in sched.plan_sources(settings)}
    assert plans["graph-yammer-activity"] is None
    assert plans["hr-roster"] == "sources.hr_roster.file is not set"


def test_jobs_triggers_and_defaults(settings, caplog, tmp_path):
    caplog.set_level(logging.INFO, logger="uptake.scheduler")
    _ready(settings, tmp_path / "roster.csv")
    engine = make_engine(settings.database.url)
    scheduler = sched.build_scheduler(settings, engine)
    runner = threading.Thread(target=scheduler.start, kwargs={"paused": True})
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not scheduler.running and time.monotonic() < deadline:
            time.sleep(0.01)
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=True)
        runner.join(10)
    assert set(jobs) == {"graph-yammer-activity", "hr-roster", "retention"}
    assert "yammer-export: not scheduled: no token in $UPTAKE_YAMMER_TOKEN" in caplog.text
    assert GRAPH_TOKEN not in caplog.text
    assert str(scheduler.timezone) == "UTC"
    after = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    expected_next = {
        "graph-yammer-activity": dt.datetime(2026, 3, 2, 6, 30, tzinfo=UTC),  # "30 6 * * *"
        "hr-roster": dt.datetime(2026, 3, 2, 5, 0, tzinfo=UTC),  # "0 5 * * *"
        "retention": dt.datetime(2026, 3, 2, 3, 45, tzinfo=UTC),
    }
    for job_id, job in jobs.items():
        assert isinstance(job.trigger, CronTrigger)
        assert str(job.trigger.timezone) == "UTC"
        assert job.trigger.get_next_fire_time(None, after) == expected_next[job_id]
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time == 900
    assert jobs["hr-roster"].func is sched.run_ingest_job
    assert jobs["hr-roster"].args[2] == "hr-roster"
    assert jobs["retention"].func is sched.run_retention_job
    engine.dispose()


def test_bad_cron_is_a_config_error(settings, tmp_path):
    _ready(settings, tmp_path / "roster.csv")
    settings.sources.hr_roster.schedule = "61 * * * *"
    with pytest.raises(ConfigError) as info:
        sched.build_scheduler(settings, make_engine(settings.database.url))
    assert info.value.problems[0].startswith("sources.hr_roster.schedule: ")


@BACKENDS
def test_job_ingests_a_roster_file_then_refreshes(engine, settings, tmp_path, refresh_calls,
                                                  caplog):
    caplog.set_level(logging.INFO, logger="uptake.scheduler")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "email,department,region,country,manager_email,hire_date,termination_date,as_of\r\n"
        "ann@example.com,Sales,EMEA,FR,,2020-01-01,,2026-01-05\r\n"
        "ben@example.com,Sales,EMEA,FR,ann@example.com,2021-02-01,,2026-01-05\r\n",
        encoding="utf-8",
    )
    _ready(settings, roster)

    sched.run_ingest_job(settings, engine, "hr-roster")

    with engine.connect() as conn:
        run = conn.execute(select(IngestRun)).one()
        is_manager = dict(
            conn.execute(
                select(PersonAttribute.person_key, PersonAttribute.value).where(
                    PersonAttribute.attribute == "is_manager"
                )
            ).all()
        )
    assert (run.source, run.status, run.rows_read, run.error) == ("hr-roster", "success", 2, None)
    assert sorted(is_manager.values()) == ["false", "true"]
    assert len(refresh_calls) == 1 and refresh_calls[0][1] is False
    assert "hr-roster " in caplog.text and "read 2, wrote" in caplog.text


@BACKENDS
def test_job_skips_refresh_when_metrics_refresh_is_missing(engine, settings, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="uptake.scheduler")
    monkeypatch.setitem(sys.modules, "metrics.refresh", None)  # import fails: not written yet
    monkeypatch.setattr(sched, "make_source", lambda s, name: FakeSource(name))
    sched.run_ingest_job(_ready(settings), engine, "fake")
    with engine.connect() as conn:
        assert len(conn.execute(select(Person)).all()) == 3
    assert "refresh: skipped (metrics.refresh is not available" in caplog.text


@BACKENDS
def test_failing_job_logs_one_line_without_the_token(engine, settings, monkeypatch, caplog,
                                                     refresh_calls):
    caplog.set_level(logging.INFO, logger="uptake.scheduler")
    error = BadInputError(f"report.csv: refused\nwith token {GRAPH_TOKEN}")
    monkeypatch.setattr(sched, "make_source", lambda s, name: FakeSource(name, error=error))
    sched.run_ingest_job(_ready(settings), engine, "fake")  # does not raise
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    line = errors[0].getMessage()
    assert line == "fake: failed: fake w1: report.csv: refused with token ***"
    assert GRAPH_TOKEN not in caplog.text
    assert refresh_calls == []  # nothing new: no refresh
    with engine.connect() as conn:
        run = conn.execute(select(IngestRun)).one()
        assert conn.execute(select(Person)).all() == []
    assert run.status == "failed" and "\n" not in run.error


@BACKENDS
def test_unexpected_error_in_a_job_is_one_line(engine, settings, monkeypatch, caplog):
    def broken(s, name):
        raise RuntimeError("registry exploded\nsecond line")

    monkeypatch.setattr(sched, "make_source", broken)
    sched.run_ingest_job(_ready(settings), engine, "fake")
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "fake: failed: RuntimeError: registry exploded second line"


@BACKENDS
def test_two_schedulers_contend_for_one_lease(engine, settings, monkeypatch, caplog,
                                              refresh_calls):
    """The first job holds `ingest:fake`; the second logs a skip and writes nothing."""
    caplog.set_level(logging.INFO, logger="uptake.scheduler")
    gate, inside = threading.Event(), threading.Event()
    sources = iter([FakeSource("fake", gate=gate, inside=inside), FakeSource("fake", n=5)])
    monkeypatch.setattr(sched, "make_source", lambda s, name: next(sources))
    _ready(settings)
    first = threading.Thread(target=sched.run_ingest_job, args=(settings, engine, "fake"))
    first.start()
    try:
        assert inside.wait(30)
        started = time.monotonic()
        sched.run_ingest_job(settings, engine, "fake")
        waited = time.monotonic() - started
    finally:
        gate.set()
        first.join(30)
    assert waited < 5  # reported at once, not after the other run's transaction
    skips = [r.getMessage() for r in caplog.records if ": skipped: " in r.getMessage()]
    assert len(skips) == 1
    assert skips[0].startswith("fake: skipped: ingest:fake is already running (held by ")
    with engine.connect() as conn:
        runs = conn.execute(select(IngestRun.status)).scalars().all()
        people = conn.execute(select(Person.person_key)).scalars().all()
    assert runs == ["success"] and len(people) == 3
    assert len(refresh_calls) == 1


@BACKENDS
def test_retention_job_purges(engine, settings, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="uptake.scheduler")
    seen = []
    monkeypatch.setattr(sched, "purge_old_messages", lambda e, s: seen.append(e) or 7)
    sched.run_retention_job(_ready(settings), engine)
    assert seen == [engine]
    assert "retention: purged 7 message(s) older than 30 days" in caplog.text


def _config(tmp_path: Path, roster: bool) -> Path:
    db = tmp_path / "sched.db"
    upgrade(make_engine(f"sqlite:///{db}"))
    (tmp_path / "roster.csv").write_text("email\r\nann@example.com\r\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"database: {{url: 'sqlite:///{db}'}}\n"
        "timezone: UTC\n"
        f"privacy: {{min_group_size: 5, hash_key_file: '{tmp_path / 'hash.key'}'}}\n"
        "sources:\n"
        "  yammer_export: {enabled: false}\n"
        "  graph_yammer_activity: {enabled: true}\n"
        f"  hr_roster: {{enabled: {str(roster).lower()}, file: '{tmp_path / 'roster.csv'}'}}\n"
    )
    return cfg


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPTAKE_")}
    return {**env, "UPTAKE_HASH_KEY": TEST_HASH_KEY, "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_scheduler_process_cleanly(tmp_path, signum):
    cfg = _config(tmp_path, roster=True)
    log_file = tmp_path / "stderr.log"
    with open(log_file, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--config", str(cfg), "scheduler"],
            cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=err,
        )
        try:
            deadline = time.monotonic() + 60
            while "scheduler started" not in log_file.read_text():
                assert proc.poll() is None, log_file.read_text()
                assert time.monotonic() < deadline, "scheduler did not start"
                time.sleep(0.1)
            sent = time.monotonic()
            proc.send_signal(signum)
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0
    assert time.monotonic() - sent < 5
    lines = log_file.read_text().splitlines()
    assert all(STAMP.match(line) for line in lines), lines
    text = "\n".join(lines)
    assert "hr-roster: scheduled at '0 5 * * *' (UTC)" in text
    assert "graph-yammer-activity: not scheduled: no token in $UPTAKE_GRAPH_TOKEN" in text
    assert f"{signal.Signals(signum).name} received" in text
    assert lines[-1].endswith("uptake.scheduler: scheduler stopped")


def test_nothing_to_schedule_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    cfg = _config(tmp_path, roster=False)
    for name in [n for n in os.environ if n.startswith("UPTAKE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("UPTAKE_HASH_KEY", TEST_HASH_KEY)
    assert app.main(["--config", str(cfg), "scheduler"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (
        "uptake: error: scheduler: nothing to schedule (no source is enabled and ready)"
    )
