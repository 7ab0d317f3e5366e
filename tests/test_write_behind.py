"""A write transaction fed while the caller computes: in order, all or nothing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Connection, Engine, select

from store.models import Person
from store.write_behind import WriteBehind
from tests.conftest import BACKENDS

NOW = dt.datetime(2026, 3, 1)


def _add(conn: Connection, key: str, seen: list[str]) -> None:
    conn.execute(Person.__table__.insert().values(person_key=key, matched=True, created_at=NOW))
    seen.append(key)


def _keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(Person.person_key).order_by(Person.person_key)))


@BACKENDS
def test_jobs_run_in_order_and_commit_together(engine: Engine) -> None:
    seen: list[str] = []
    with WriteBehind(engine) as writes:
        for key in ("b", "a", "c"):
            writes.add(_add, key, seen)
    assert seen == ["b", "a", "c"]
    assert _keys(engine) == ["a", "b", "c"]


@BACKENDS
def test_on_postgresql_the_jobs_run_while_the_caller_computes(engine: Engine) -> None:
    """PostgreSQL writes meanwhile, in a thread of its own; SQLite at the end of the block,
    and neither commits before it."""
    ran = threading.Event()
    with WriteBehind(engine) as writes:
        writes.add(lambda conn: (_add(conn, "a", []), ran.set()))
        meanwhile = ran.wait(timeout=10 if engine.dialect.name == "postgresql" else 0.2)
        assert _keys(engine) == []  # not committed yet
    assert meanwhile == (engine.dialect.name == "postgresql")
    assert _keys(engine) == ["a"]


@BACKENDS
def test_when_the_caller_fails_nothing_is_written(engine: Engine) -> None:
    seen: list[str] = []
    with pytest.raises(ValueError, match="views failed"), WriteBehind(engine) as writes:
        writes.add(_add, "a", seen)
        raise ValueError("views failed")
    assert _keys(engine) == []


@BACKENDS
def test_a_failed_job_is_raised_in_the_caller_and_nothing_is_written(engine: Engine) -> None:
    seen: list[str] = []

    def broken(conn: Connection) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"), WriteBehind(engine) as writes:
        writes.add(_add, "a", seen)
        writes.add(broken)
        writes.add(_add, "b", seen)
    assert seen == ["a"]  # the jobs after the failed one never run
    assert _keys(engine) == []
    # and the store takes the next transaction
    with WriteBehind(engine) as writes:
        writes.add(_add, "c", seen)
    assert _keys(engine) == ["c"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_failed_job_stops_the_caller_at_its_next_job(engine: Engine) -> None:
    failed = threading.Event()

    def broken(conn: Connection) -> None:
        failed.set()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"), WriteBehind(engine) as writes:
        writes.add(broken)
        assert failed.wait(timeout=10)
        writes._thread.join(timeout=10)  # type: ignore[union-attr]
        writes.add(_add, "a", [])
        pytest.fail("the failed job was not raised at the next add")
    assert _keys(engine) == []
