"""`uptake scheduler`: APScheduler in its own process, one cron job per configured source."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import signal
import sys
from dataclasses import dataclass
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from errors import ConfigError, UptakeError
from ingest.registry import make_source
from ingest.runner import run_source
from settings import Settings
from store.erase import purge_old_messages
from store.locks import LockHeld

log = logging.getLogger("uptake.scheduler")

UTC = dt.UTC
RETENTION_JOB = "retention"
RETENTION_CRON = "45 3 * * *"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_WORKERS = 4


@dataclass(frozen=True)
class Plan:
    """Whether one source is scheduled, its cron schedule, and why not when it is not."""

    source: str
    config_key: str
    schedule: str
    reason: str | None = None


def plan_sources(settings: Settings) -> list[Plan]:
    """One plan per source: scheduled when enabled and its credentials or file are present."""
    sources = settings.sources
    yam, graph, roster = sources.yammer_export, sources.graph_yammer_activity, sources.hr_roster
    graph_app = graph.tenant_id and graph.client_id and settings.secret(graph.client_secret_env)
    checks = [
        ("yammer-export", "yammer_export", yam.schedule, yam.enabled,
         settings.secret(yam.token_env) is not None,
         f"no token in ${yam.token_env} (a verified admin's token is needed)"),
        ("graph-yammer-activity", "graph_yammer_activity", graph.schedule, graph.enabled,
         bool(settings.secret(graph.token_env) or graph_app),
         f"no token in ${graph.token_env} and no tenant_id/client_id with a secret in "
         f"${graph.client_secret_env}"),
        ("hr-roster", "hr_roster", roster.schedule, roster.enabled, bool(roster.file),
         "sources.hr_roster.file is not set"),
    ]
    plans = []
    for name, key, schedule, enabled, ready, missing in checks:
        reason = None
        if not enabled:
            reason = f"disabled (sources.{key}.enabled is false)"
        elif not ready:
            reason = missing
        plans.append(Plan(name, key, schedule, reason))
    return plans


def build_scheduler(settings: Settings, engine: Engine) -> BlockingScheduler:
    """A scheduler (not started) holding one job per ready source, plus retention when set."""
    scheduler = BlockingScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(MAX_WORKERS)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.scheduler.misfire_grace_time_s,
        },
    )
    for plan in plan_sources(settings):
        if plan.reason:
            level = logging.INFO if plan.reason.startswith("disabled") else logging.WARNING
            log.log(level, "%s: not scheduled: %s", plan.source, plan.reason)
            continue
        try:
            trigger = CronTrigger.from_crontab(plan.schedule, timezone=UTC)
        except ValueError as exc:
            raise ConfigError([f"sources.{plan.config_key}.schedule: {exc}"]) from None
        scheduler.add_job(
            run_ingest_job,
            trigger,
            args=[settings, engine, plan.source],
            id=plan.source,
            name=f"ingest {plan.source}",
        )
        log.info("%s: scheduled at '%s' (UTC)", plan.source, plan.schedule)
    if settings.privacy.retention_days is not None:
        scheduler.add_job(
            run_retention_job,
            CronTrigger.from_crontab(RETENTION_CRON, timezone=UTC),
            args=[settings, engine],
            id=RETENTION_JOB,
            name="purge old messages",
        )
        log.info("retention: messages older than %d days purged daily at '%s' (UTC)",
                 settings.privacy.retention_days, RETENTION_CRON)
    return scheduler


def run_ingest_job(settings: Settings, engine: Engine, name: str) -> None:
    """One scheduled ingest (then a refresh); every failure becomes one log line, never a raise."""
    try:
        results = run_source(engine, settings, make_source(settings, name))
    except LockHeld as exc:
        log.warning("%s: skipped: %s", name, redact(str(exc), settings))
        return
    except Exception as exc:  # noqa: BLE001 - a job must never take the scheduler down
        log.error("%s: failed: %s", name, _one_line(exc, settings))
        return
    for r in results:
        log.info(
            "%s %s: read %d, wrote %d, skipped %d in %.1fs",
            name, r.target, r.rows_read, r.rows_written, r.rows_skipped, r.duration_s,
        )
        for warning in r.warnings:
            log.warning("%s %s: %s", name, r.target, redact(warning, settings))
    if not results:
        log.info("%s: nothing to ingest (up to date)", name)
    if settings.scheduler.refresh_after_ingest:
        run_refresh(settings, engine)


def run_refresh(settings: Settings, engine: Engine) -> None:
    """Recompute materialised metrics when the metrics package provides `refresh`."""
    try:
        module = importlib.import_module("metrics.refresh")
    except ModuleNotFoundError as exc:
        if exc.name != "metrics.refresh":
            log.error("refresh: failed: %s", _one_line(exc, settings))
            return
        log.info("refresh: skipped (metrics.refresh is not available in this version)")
        return
    try:
        summary = module.refresh(engine, settings)
    except LockHeld as exc:  # another process is refreshing; our days stay queued meanwhile
        log.info("refresh: skipped: %s", exc)
        return
    except Exception as exc:  # noqa: BLE001 - logged; the next ingest retries it
        log.error("refresh: failed: %s", _one_line(exc, settings))
        return
    log.info("refresh: %s", " ".join(str(summary).split()))


def run_retention_job(settings: Settings, engine: Engine) -> None:
    """The daily purge of messages older than `privacy.retention_days`."""
    try:
        purged = purge_old_messages(engine, settings)
    except Exception as exc:  # noqa: BLE001 - one line; tomorrow's run tries again
        log.error("retention: failed: %s", _one_line(exc, settings))
        return
    log.info("retention: purged %d message(s) older than %s days", purged,
             settings.privacy.retention_days)


def run_scheduler(settings: Settings, engine: Engine) -> None:
    """Run the scheduler until SIGTERM or SIGINT, then wait for running jobs and return."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
    scheduler = build_scheduler(settings, engine)
    if not scheduler.get_jobs():
        raise UptakeError("scheduler: nothing to schedule (no source is enabled and ready)")

    def stop(signum: int, _frame: FrameType | None) -> None:
        if scheduler.running:
            log.info("%s received: waiting for running jobs, then stopping",
                     signal.Signals(signum).name)
            scheduler.shutdown(wait=True)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("scheduler started: %d job(s), UTC, misfire grace %ds",
             len(scheduler.get_jobs()), settings.scheduler.misfire_grace_time_s)
    try:
        scheduler.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    log.info("scheduler stopped")


def redact(text: str, settings: Settings) -> str:
    """`text` with every configured secret's value replaced by `***`."""
    sources = settings.sources
    names = (
        sources.yammer_export.token_env,
        sources.graph_yammer_activity.token_env,
        sources.graph_yammer_activity.client_secret_env,
        settings.privacy.hash_key_env,
    )
    for name in names:
        value = settings.secret(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _one_line(exc: BaseException, settings: Settings) -> str:
    text = str(exc) if isinstance(exc, UptakeError) else f"{exc.__class__.__name__}: {exc}"
    return redact(" ".join(text.split()), settings)
