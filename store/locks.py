"""Named leases in the database so two processes never run the same job at once."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from errors import UptakeError
from store.engine import write_transaction
from store.models import Lock

# built once: a Graph import renews its lease in every day's window
_RENEW = update(Lock).where(Lock.name == bindparam("lock"), Lock.holder == bindparam("me"))


class LockHeld(UptakeError):
    """Another live process holds the lock."""


def holder_id() -> str:
    """This thread of this process, as `host:pid:thread`."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _holder_dead(holder: str) -> bool:
    host, pid = (holder.split(":") + [""])[:2]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _held_by_other(row: Row[str, dt.datetime] | None, me: str, now: dt.datetime) -> bool:
    return (
        row is not None
        and row.holder != me
        and row.expires_at > now
        and not _holder_dead(row.holder)
    )


def acquire(engine: Engine, name: str, ttl_s: int) -> bool:
    """Take the lock unless a live holder has it; a dead or expired holder's lock is taken over."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    me = holder_id()
    # A plain read first: on SQLite the write transaction below waits for any other writer
    # (e.g. the holder's own ingest), so a held lock must be reported without writing.
    with engine.connect() as conn:
        if _held_by_other(_lock_row(conn, name), me, now):
            return False
    try:
        with write_transaction(engine) as conn:
            if _held_by_other(_lock_row(conn, name), me, now):
                return False
            conn.execute(delete(Lock).where(Lock.name == name))
            conn.execute(
                insert(Lock).values(
                    name=name,
                    holder=me,
                    acquired_at=now,
                    expires_at=now + dt.timedelta(seconds=ttl_s),
                )
            )
    except IntegrityError:  # PostgreSQL: another process inserted the same lock first
        return False
    return True


def _lock_row(conn: Connection, name: str) -> Row[str, dt.datetime] | None:
    return conn.execute(
        select(Lock.holder, Lock.expires_at).where(Lock.name == name)
    ).one_or_none()


def renew(conn: Connection, name: str, ttl_s: int) -> None:
    """Extend our lease by `ttl_s` from now, so a long run is not taken for abandoned; in the
    caller's write transaction (a window's own: one commit fewer per window)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    conn.execute(_RENEW, {"lock": name, "me": holder_id(),
                          "expires_at": now + dt.timedelta(seconds=ttl_s)})


def release(engine: Engine, name: str) -> None:
    """Give the lock back (only if we hold it)."""
    with write_transaction(engine) as conn:
        conn.execute(delete(Lock).where(Lock.name == name, Lock.holder == holder_id()))


@contextmanager
def hold_lock(engine: Engine, name: str, ttl_s: int) -> Iterator[None]:
    """Hold `name` for the duration of the block, or raise LockHeld at once."""
    if not acquire(engine, name, ttl_s):
        with engine.connect() as conn:
            holder = conn.scalar(select(Lock.holder).where(Lock.name == name))
        raise LockHeld(f"{name} is already running (held by {holder}); try again when it ends")
    try:
        yield
    finally:
        release(engine, name)
