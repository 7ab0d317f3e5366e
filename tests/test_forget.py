"""Right to erasure and retention: every trace of a person goes, the erasure is recorded."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

from sqlalchemy import String, inspect, select, text

import app
from ingest.registry import make_source
from ingest.runner import Window, Writer, run_source
from store.engine import write_transaction
from store.erase import forget, purge_old_messages, retention_cutoff
from store.identity import Identity
from store.message_activity import rebuild_message_activity
from store.models import (
    Account,
    DailyActivity,
    Erasure,
    IngestState,
    Message,
    Person,
    PersonAttribute,
    RefreshQueue,
    RosterSnapshot,
)
from store.upsert import upsert
from tests.conftest import BACKENDS

ALICE, BOB, CAROL = "Alice@Example.com", "bob@example.com", "carol@example.com"
AS_OF = dt.date(2026, 1, 5)


def _identity(settings, pseudonymise: bool = True) -> Identity:
    return Identity(settings.hash_key(), pseudonymise)


class OrgSource:
    """A fake ingester writing one small organisation through the real Writer."""

    name = "fake-org"

    def __init__(self, identity: Identity):
        self.identity = identity

    def windows(self, cursor: str | None) -> Iterable[Window]:
        return [Window(target="org")]

    def ingest(self, window: Window, writer: Writer) -> str | None:
        key = self.identity.person_key
        alice, bob, carol = key(ALICE), key(BOB), key(CAROL)
        writer.save_people(
            [
                {"person_key": k, "email": self.identity.email_to_store(e)}
                for k, e in ((alice, ALICE), (bob, BOB), (carol, CAROL))
            ]
        )
        writer.upsert(
            RosterSnapshot.__table__,
            [{"as_of": AS_OF, "people": 3, "ingested_at": dt.datetime(2026, 1, 5, 8)}],
        )
        attrs = [
            (alice, "department", "Sales"),
            (alice, "is_manager", "true"),
            (bob, "department", "Sales"),
            (bob, "manager", alice),
            (carol, "department", "IT"),
            (carol, "manager", bob),
        ]
        writer.upsert(
            PersonAttribute.__table__,
            [
                {"person_key": p, "attribute": a, "valid_from": AS_OF, "value": v}
                for p, a, v in attrs
            ],
        )
        writer.upsert(
            Account.__table__,
            [
                _account("1001", alice, dt.datetime(2026, 1, 2, 9)),
                _account("1002", bob, dt.datetime(2026, 1, 3, 9)),
                _account("1003", carol, dt.datetime(2025, 12, 30, 23)),
            ],
        )
        writer.upsert(
            Message.__table__,
            [
                _message("m1", "m1", "1001", alice, dt.datetime(2026, 1, 6, 10)),
                _message("m2", "m1", "1002", bob, dt.datetime(2026, 1, 6, 11)),
                _message("m4", "m4", "1003", carol, dt.datetime(2026, 1, 7, 12)),
            ],
        )
        writer.upsert(
            DailyActivity.__table__,
            [
                _fact("yammer_export", alice, dt.date(2026, 1, 6), posts=1),
                _fact("graph_yammer_activity", alice, dt.date(2026, 1, 7), reads=4),
                _fact("yammer_export", bob, dt.date(2026, 1, 6), replies=1),
            ],
        )
        writer.touch(dt.date(2026, 1, 6), dt.date(2026, 1, 7))
        return "org-1"


def _account(account_id: str, person: str, joined: dt.datetime) -> dict:
    return {
        "platform": "yammer",
        "account_id": account_id,
        "person_key": person,
        "has_user_record": True,
        "state": "active",
        "joined_at": joined,
        "department": "Sales",
        "updated_at": joined,
    }


def _message(mid: str, thread: str, sender: str, person: str | None, at: dt.datetime) -> dict:
    return {
        "platform": "yammer",
        "message_id": mid,
        "thread_id": thread,
        "replied_to_id": None if mid == thread else thread,
        "group_id": "g1",
        "sender_account_id": sender,
        "person_key": person,
        "sender_type": "user",
        "message_type": "update",
        "is_thread_starter": mid == thread,
        "created_at": at,
    }


def _fact(source: str, person: str, day: dt.date, **counts: int) -> dict:
    base = {"posts": 0, "replies": 0, "reactions": 0, "reads": 0}
    return {"source": source, "person_key": person, "day": day, **base, **counts}


def _seed(engine, settings, identity: Identity) -> None:
    run_source(engine, settings, OrgSource(identity), identity)
    with write_transaction(engine) as conn:  # a message stored without its sender's key
        upsert(
            conn,
            Message.__table__,
            [_message("m3", "m3", "1001", None, dt.datetime(2026, 1, 8, 9))],
        )
        conn.execute(RefreshQueue.__table__.delete())


def _count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(model).where(*where)).all())


def _rows_mentioning(engine, needle: str) -> list[str]:
    """Every (table.column) holding a string that contains `needle`, anywhere in the store."""
    hits = []
    with engine.connect() as conn:
        inspector = inspect(conn)
        for name in inspector.get_table_names():
            for col in inspector.get_columns(name):
                if not isinstance(col["type"], String):
                    continue
                for (value,) in conn.execute(text(f'SELECT "{col["name"]}" FROM "{name}"')):
                    if value is not None and needle.lower() in str(value).lower():
                        hits.append(f"{name}.{col['name']}")
    return hits


@BACKENDS
def test_forget_removes_the_person_everywhere(engine, settings):
    identity = _identity(settings, pseudonymise=False)  # so the raw email is stored at first
    _seed(engine, settings, identity)
    alice, bob, carol = (identity.person_key(e) for e in (ALICE, BOB, CAROL))
    with write_transaction(engine) as conn:  # a person-level table from some later migration
        conn.execute(text("CREATE TABLE extra_facts (person_key VARCHAR(64), n INTEGER)"))
        conn.execute(text("INSERT INTO extra_facts VALUES (:a, 1), (:b, 2)"),
                     {"a": alice, "b": bob})
    assert _rows_mentioning(engine, "alice@example.com") == ["people.email"]

    removed = forget(engine, identity, "  alice@EXAMPLE.com ")

    # m1 + m3 (by account), 2 facts, 2 attributes, 1 account, 1 extra fact, 1 person
    assert removed == 9
    assert _rows_mentioning(engine, "alice") == []
    assert _rows_mentioning(engine, alice) == ["erasures.person_key"]
    for model in (Person, Account, Message, DailyActivity, PersonAttribute):
        assert _count(engine, model, model.person_key == alice) == 0
    assert _count(engine, Message, Message.sender_account_id == "1001") == 0
    with engine.connect() as conn:
        managers = dict(
            conn.execute(
                select(PersonAttribute.person_key, PersonAttribute.value).where(
                    PersonAttribute.attribute == "manager"
                )
            ).all()
        )
        erasure = conn.execute(select(Erasure)).one()
        queued = conn.execute(select(RefreshQueue.source, RefreshQueue.day_from,
                                     RefreshQueue.day_to)).all()
        people = set(conn.scalars(select(Person.person_key)))
    assert managers == {bob: None, carol: bob}
    assert people == {bob, carol}
    assert erasure.person_key == alice and erasure.rows_removed == 9
    # carol joined 2025-12-30 23:00 UTC: the earliest local day in any zone is 2025-12-29
    assert queued == [("forget", dt.date(2025, 12, 29), None)]
    assert _count(engine, Message) == 2 and _count(engine, DailyActivity) == 1


@BACKENDS
def test_forget_twice_and_unknown_email(engine, settings):
    identity = _identity(settings)
    _seed(engine, settings, identity)
    assert forget(engine, identity, ALICE) == 8
    assert forget(engine, identity, ALICE) == 0
    assert forget(engine, identity, "nobody@example.com") == 0
    with engine.connect() as conn:
        erasures = dict(conn.execute(select(Erasure.person_key, Erasure.rows_removed)).all())
        queued = conn.scalar(select(RefreshQueue.id).where(RefreshQueue.source == "forget"))
        n_queued = len(conn.execute(select(RefreshQueue)).all())
    assert erasures == {identity.person_key(ALICE): 8, identity.person_key("nobody@example.com"): 0}
    assert queued is not None and n_queued == 1  # nothing changed by the later two
    assert _rows_mentioning(engine, "nobody") == []


@BACKENDS
def test_reingest_after_forget_brings_nothing_back(engine, settings):
    identity = _identity(settings)
    alice, bob = identity.person_key(ALICE), identity.person_key(BOB)
    run_source(engine, settings, OrgSource(identity), identity)
    forget(engine, identity, ALICE)

    (result,) = run_source(engine, settings, OrgSource(identity), identity)

    assert result.status == "success"
    for model in (Person, Account, Message, DailyActivity, PersonAttribute):
        assert _count(engine, model, model.person_key == alice) == 0
    assert _count(engine, PersonAttribute, PersonAttribute.value == alice) == 0
    assert _count(engine, PersonAttribute, PersonAttribute.person_key == bob,
                  PersonAttribute.attribute == "manager", PersonAttribute.value.is_(None)) == 1
    assert _count(engine, Message) == 2 and _count(engine, DailyActivity) == 1
    # 1 snapshot + 4 attributes + 2 accounts + 2 messages + 1 fact (people are not counted)
    assert result.rows_written == 10
    with engine.connect() as conn:
        assert conn.scalar(select(IngestState.cursor)) == "org-1"


ROSTER = (
    "email,department,region,country,manager_email,hire_date,termination_date\r\n"
    "Alice@Example.com,Sales,EMEA,FR,,2020-01-01,\r\n"
    "bob@example.com,Sales,EMEA,FR,alice@example.com,2021-01-01,\r\n"
)
GRAPH = (
    "\ufeffReport Refresh Date,User Principal Name,Display Name,User State,State Change Date,"
    "Last Activity Date,Posted Count,Read Count,Liked Count,Assigned Products,Report Period\r\n"
    "2026-01-07,alice@example.com,Alice A,Active,,2026-01-06,2,5,1,,1\r\n"
    "2026-01-07,bob@example.com,Bob B,Active,,2026-01-06,0,3,0,,1\r\n"
)


@BACKENDS
def test_real_ingesters_skip_an_erased_person(engine, settings, tmp_path):
    roster, graph = tmp_path / "roster.csv", tmp_path / "yammer_activity_2026-01-06.csv"
    roster.write_text(ROSTER, encoding="utf-8", newline="")
    graph.write_text(GRAPH, encoding="utf-8", newline="")
    identity = _identity(settings)
    alice, bob = identity.person_key(ALICE), identity.person_key(BOB)

    def ingest_all() -> None:
        run_source(engine, settings, make_source(settings, "hr-roster",
                                                 {"file": str(roster), "as_of": AS_OF}))
        run_source(engine, settings, make_source(settings, "graph-yammer-activity",
                                                 {"file": str(graph)}))

    ingest_all()
    assert _count(engine, DailyActivity, DailyActivity.person_key == alice) == 1
    assert _count(engine, PersonAttribute, PersonAttribute.value == alice) == 1
    # person + 1 fact + 1 graph account + 7 attributes: department, region, country,
    # manager (blank), is_manager, hire_date, termination_date
    assert forget(engine, identity, ALICE) == 10

    ingest_all()

    assert _rows_mentioning(engine, alice) == ["erasures.person_key"]
    assert _rows_mentioning(engine, "alice") == []
    with engine.connect() as conn:
        bob_attrs = dict(conn.execute(
            select(PersonAttribute.attribute, PersonAttribute.value).where(
                PersonAttribute.person_key == bob)
        ).all())
        facts = conn.execute(select(DailyActivity.person_key, DailyActivity.reads)).all()
    assert bob_attrs["manager"] is None and bob_attrs["department"] == "Sales"
    assert facts == [(bob, 3)]


@BACKENDS
def test_purge_keeps_whole_local_days_within_retention(engine, settings):
    settings.privacy.retention_days = 30
    settings.timezone = "Europe/Paris"  # UTC+1 in winter
    now = dt.datetime(2026, 3, 1, 12)  # local 2026-03-01: keep local days from 2026-01-30
    assert retention_cutoff(settings, 30, now) == dt.datetime(2026, 1, 29, 23)
    identity = _identity(settings)
    person = identity.person_key(BOB)
    with write_transaction(engine) as conn:
        upsert(conn, Person.__table__, [{"person_key": person, "created_at": now}])
        upsert(
            conn,
            Message.__table__,
            [
                _message("old", "old", "1002", person, dt.datetime(2026, 1, 29, 22, 59)),
                _message("edge", "edge", "1002", person, dt.datetime(2026, 1, 29, 23, 0)),
                _message("new", "new", "1002", person, dt.datetime(2026, 2, 28, 8)),
            ],
        )
        upsert(conn, DailyActivity.__table__, [_fact("yammer_export", person, dt.date(2026, 1, 29),
                                                     posts=1)])

    assert purge_old_messages(engine, settings, now=now) == 1

    with engine.connect() as conn:
        assert set(conn.scalars(select(Message.message_id))) == {"edge", "new"}
    assert _count(engine, DailyActivity) == 1  # derived facts stay
    settings.privacy.retention_days = None
    assert purge_old_messages(engine, settings, now=now) == 0


@BACKENDS
def test_full_rebuild_after_purge_keeps_purged_days_facts(engine, settings):
    settings.privacy.retention_days = 28
    identity = _identity(settings)
    person = identity.person_key(BOB)
    now = dt.datetime(2026, 3, 1, 12)
    with write_transaction(engine) as conn:
        upsert(conn, Person.__table__, [{"person_key": person, "created_at": now}])
        upsert(
            conn,
            Message.__table__,
            [
                _message("a", "a", "1002", person, dt.datetime(2026, 1, 10, 9)),
                _message("b", "a", "1002", person, dt.datetime(2026, 1, 10, 10)),
                _message("c", "c", "1002", person, dt.datetime(2026, 2, 20, 9)),
            ],
        )
        rebuild_message_activity(conn, settings.zone)
    assert purge_old_messages(engine, settings, now=now) == 2

    with write_transaction(engine) as conn:
        rebuild_message_activity(conn, settings.zone)  # what `refresh --full` does

    with engine.connect() as conn:
        facts = conn.execute(
            select(DailyActivity.day, DailyActivity.posts, DailyActivity.replies)
            .order_by(DailyActivity.day)
        ).all()
    assert facts == [(dt.date(2026, 1, 10), 1, 1), (dt.date(2026, 2, 20), 1, 0)]


@BACKENDS
def test_cli_forget_prints_no_email(engine, settings, tmp_path, monkeypatch, capsys):
    for name in [n for n in os.environ if n.startswith("UPTAKE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("UPTAKE_HASH_KEY", "test-hash-key")
    identity = _identity(settings)
    _seed(engine, settings, identity)
    code = app.main(["--config", str(tmp_path / "config.yaml"), "forget", ALICE])
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    assert out.out == (
        "erased one person: 8 rows removed; the erasure is recorded (without the email)\n"
    )
    assert _count(engine, Person, Person.person_key == identity.person_key(ALICE)) == 0
