"""A small hand-described organisation written to a real store, for metric value tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from metrics.facts import Facts, load_facts
from settings import Settings
from store.engine import write_transaction
from store.message_activity import rebuild_message_activity
from store.models import Account, DailyActivity, Message, Person
from store.roster import save_snapshot
from store.upsert import upsert

NOW = dt.datetime(2026, 1, 1)
GRAPH = "graph_yammer_activity"


@dataclass
class Org:
    """People (their keys are their names), accounts, roster snapshots, messages, Graph rows."""

    people: list[str]
    # person → (joined, suspended, deleted, profile department); joined None = pending
    accounts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # as_of → person → {attribute: value}
    roster: dict[dt.date, dict[str, dict[str, str | None]]] = field(default_factory=dict)
    # (message id, thread id, person or None, created_at UTC); a starter has id == thread id
    messages: list[tuple[str, str, str | None, dt.datetime]] = field(default_factory=list)
    # (person, day, posts, reactions, reads) from the Graph report
    graph: list[tuple[str, dt.date, int, int, int]] = field(default_factory=list)


def save_org(engine: Engine, settings: Settings, org: Org) -> None:
    """Write the organisation to the store and derive message activity as ingest does."""
    with write_transaction(engine) as conn:
        upsert(conn, Person.__table__, [
            {"person_key": p, "matched": True, "created_at": NOW} for p in org.people
        ])
        upsert(conn, Account.__table__, [
            {
                "platform": "yammer", "account_id": f"y-{person}", "person_key": person,
                "has_user_record": True, "state": "active" if joined else "pending",
                "joined_at": _stamp(joined), "suspended_at": _stamp(suspended),
                "deleted_at": _stamp(deleted), "department": department, "updated_at": NOW,
            }
            for person, (joined, suspended, deleted, department) in org.accounts.items()
        ])
        for as_of, rows in org.roster.items():
            save_snapshot(conn, as_of, rows, NOW)
        upsert(conn, Message.__table__, [
            {
                "platform": "yammer", "message_id": mid, "thread_id": tid, "person_key": person,
                "sender_account_id": f"y-{person}" if person else None, "sender_type": "user",
                "message_type": "update", "is_thread_starter": mid == tid, "created_at": at,
            }
            for mid, tid, person, at in org.messages
        ])
        upsert(conn, DailyActivity.__table__, [
            {
                "source": GRAPH, "person_key": p, "day": day, "posts": posts, "replies": 0,
                "reactions": reactions, "reads": reads,
            }
            for p, day, posts, reactions, reads in org.graph
        ])
        rebuild_message_activity(conn, settings.zone)


def org_facts(
    engine: Engine, settings: Settings, start: dt.date | None = None, end: dt.date | None = None
) -> Facts:
    """The facts of the stored organisation, messages included."""
    return load_facts(engine, settings, start, end, with_messages=True)


def pid(facts: Facts, person: str) -> int:
    """The integer id of a person in `facts`."""
    return int(list(facts.person_keys).index(person))


def _stamp(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(9))
