"""store.upsert through the DBAPI: rows land, the last row wins, conflicts update, both stores."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from store.engine import write_transaction
from store.models import Account, DailyActivity, Group, Message, Person
from store.upsert import dedupe_tuples, insert_columns, insert_rows, upsert
from tests.conftest import BACKENDS

NOW = dt.datetime(2026, 3, 1, 9, 30, 0)
DAY = dt.date(2026, 3, 1)
FACT = ("source", "person_key", "day", "posts", "replies", "reactions", "reads")


def _people(conn, *keys):
    upsert(conn, Person.__table__, [{"person_key": k, "created_at": NOW} for k in keys])


def _facts(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            select(DailyActivity.person_key, DailyActivity.day, DailyActivity.posts,
                   DailyActivity.reads).order_by(DailyActivity.person_key, DailyActivity.day)
        )
        return [tuple(r) for r in rows]


@BACKENDS
def test_tuples_land_and_the_last_row_of_a_key_wins(engine):
    with write_transaction(engine) as conn:
        _people(conn, "a", "b")
        sent = upsert(
            conn, DailyActivity.__table__,
            [("g", "a", DAY, 1, 0, 0, 5), ("g", "b", DAY, 2, 0, 0, 6), ("g", "a", DAY, 3, 0, 0, 7)],
            columns=FACT,
        )
    assert sent == 2
    assert _facts(engine) == [("a", DAY, 3, 7), ("b", DAY, 2, 6)]


@BACKENDS
def test_conflicts_update_only_the_named_columns(engine):
    with write_transaction(engine) as conn:
        _people(conn, "a")
        upsert(conn, DailyActivity.__table__, [("g", "a", DAY, 1, 0, 0, 5)], columns=FACT)
    with write_transaction(engine) as conn:
        upsert(conn, DailyActivity.__table__, [("g", "a", DAY, 9, 0, 0, 9)], columns=FACT,
               update=("posts",))
        upsert(conn, DailyActivity.__table__, [("g", "a", DAY, 8, 0, 0, 8)], columns=FACT,
               update=())
    assert _facts(engine) == [("a", DAY, 9, 5)]


@BACKENDS
def test_added_columns_add_to_the_stored_values_and_keys_may_not_repeat(engine):
    with write_transaction(engine) as conn:
        _people(conn, "a", "b")
        upsert(conn, DailyActivity.__table__, [("g", "a", DAY, 1, 0, 0, 5)], columns=FACT)
    with write_transaction(engine) as conn:
        upsert(conn, DailyActivity.__table__,
               [("g", "a", DAY, 2, 0, 0, 9), ("g", "b", DAY, -1, 0, 0, 4)], columns=FACT,
               update=("posts", "reads"), add=("posts",))
        with pytest.raises(ValueError, match="a key repeats"):
            upsert(conn, DailyActivity.__table__,
                   [("g", "a", DAY, 1, 0, 0, 0), ("g", "a", DAY, 1, 0, 0, 0)], columns=FACT,
                   add=("posts",))
    assert _facts(engine) == [("a", DAY, 3, 9), ("b", DAY, -1, 4)]  # reads replaced


@BACKENDS
def test_dicts_fill_constant_defaults_and_store_what_core_stores(engine):
    joined = dt.datetime(2025, 1, 2, 3, 4, 5)
    with write_transaction(engine) as conn:
        _people(conn, "p")
        upsert(conn, Account.__table__, [{"platform": "yammer", "account_id": "1",
                                          "person_key": "p", "joined_at": joined,
                                          "updated_at": NOW}])
        conn.execute(Account.__table__.insert(), [{"platform": "yammer", "account_id": "2",
                                                   "person_key": "p", "joined_at": joined,
                                                   "updated_at": NOW}])
    with engine.connect() as conn:
        stored = conn.execute(
            select(Account.account_id, Account.has_user_record, Account.joined_at, Account.state)
            .order_by(Account.account_id)
        ).all()
        matched = conn.scalar(select(Person.matched))
        raw = conn.execute(text("SELECT joined_at, has_user_record FROM accounts")).all()
    assert [tuple(r) for r in stored] == [("1", False, joined, None), ("2", False, joined, None)]
    assert matched is True
    assert raw[0] == raw[1]  # the same stored form (SQLite: text and 0/1) as the Core path


@BACKENDS
def test_insert_rows_is_a_plain_insert(engine):
    with write_transaction(engine) as conn:
        _people(conn, "a", "b")
        assert insert_rows(
            conn, DailyActivity.__table__, FACT,
            [("g", "a", DAY, 1, 0, 0, 1), ("g", "b", DAY, 2, 0, 0, 2)],
        ) == 2
    assert _facts(engine) == [("a", DAY, 1, 1), ("b", DAY, 2, 2)]
    with pytest.raises(IntegrityError):
        with write_transaction(engine) as conn:
            insert_rows(conn, DailyActivity.__table__, FACT, [("g", "a", DAY, 5, 0, 0, 5)])


@BACKENDS
def test_a_failed_transaction_rolls_back_fast_path_rows(engine):
    with pytest.raises(IntegrityError):
        with write_transaction(engine) as conn:
            upsert(conn, Group.__table__, [{"platform": "yammer", "group_id": "1", "name": "n"}])
            _people(conn, "a")
            # a fact of an unknown person breaks the foreign key: everything above rolls back
            insert_rows(conn, DailyActivity.__table__, FACT, [("g", "nobody", DAY, 1, 0, 0, 0)])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Group)) == 0
        assert conn.scalar(select(func.count()).select_from(Person)) == 0


@BACKENDS
def test_large_batches_span_chunks(engine):
    keys = [f"k{i:05d}" for i in range(12_001)]
    with write_transaction(engine) as conn:
        _people(conn, *keys)
        rows = [("yammer", str(i), "t", None, None, None, k, "user", None, True, None, None,
                 NOW + dt.timedelta(seconds=i), None) for i, k in enumerate(keys)]
        columns = [c.name for c in Message.__table__.columns]
        assert insert_rows(conn, Message.__table__, columns, rows) == len(keys)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Message)) == len(keys)
        last = conn.scalar(select(Message.created_at).where(Message.message_id == "12000"))
    assert last == NOW + dt.timedelta(seconds=12_000)


def test_dedupe_tuples_keeps_last_in_first_seen_order():
    rows = [(1, "x", "a"), (2, "x", "b"), (1, "x", "c"), (1, "y", "d")]
    assert dedupe_tuples(rows, [0]) == [(1, "y", "d"), (2, "x", "b")]
    assert dedupe_tuples(rows, [0, 1]) == [(1, "x", "c"), (2, "x", "b"), (1, "y", "d")]


@BACKENDS
def test_insert_columns_stores_what_insert_rows_stores(engine):
    people = [{"person_key": k, "created_at": dt.datetime(2026, 1, 1)} for k in ("a", "b")]
    with write_transaction(engine) as conn:
        upsert(conn, Person.__table__, people)
        written = insert_columns(conn, DailyActivity.__table__, {
            "source": ["g", "g"], "person_key": ["a", "b"], "day": [DAY, DAY],
            "posts": [5, 0], "replies": [0, 1], "reactions": [0, 2], "reads": [7, 3],
        })
        assert insert_columns(conn, DailyActivity.__table__, {"source": [], "person_key": []}) == 0
        with pytest.raises(ValueError, match="different lengths"):
            insert_columns(conn, DailyActivity.__table__, {"source": ["g"], "person_key": []})
    assert written == 2
    with engine.connect() as conn:
        rows = conn.execute(select(
            DailyActivity.person_key, DailyActivity.day, DailyActivity.posts,
            DailyActivity.replies, DailyActivity.reactions, DailyActivity.reads,
        ).order_by(DailyActivity.person_key)).all()
    assert rows == [("a", DAY, 5, 0, 0, 7), ("b", DAY, 0, 1, 2, 3)]


@BACKENDS
def test_timestamps_are_stored_as_the_core_path_stores_them(engine):
    import pandas as pd

    values = [
        dt.datetime(2026, 3, 1, 9, 30, 5), dt.datetime(2026, 3, 1, 9, 30, 5, 120),
        dt.datetime(33, 1, 2, 3, 4, 5), pd.Timestamp("2026-03-01 09:30:05.25"),
    ]
    if engine.dialect.name == "sqlite":  # PostgreSQL's column is without time zone
        values.append(dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC))

    def row(mid: str, when: dt.datetime) -> dict:
        return {"platform": "yammer", "message_id": mid, "thread_id": mid,
                "is_thread_starter": True, "created_at": when, "deleted_at": None}

    with write_transaction(engine) as conn:
        conn.execute(Message.__table__.insert(), [row(f"core{i}", v) for i, v in enumerate(values)])
        upsert(conn, Message.__table__, [row(f"fast{i}", v) for i, v in enumerate(values)])
        stored = dict(conn.exec_driver_sql("SELECT message_id, created_at FROM messages").all())
    assert len(stored) == 2 * len(values)
    assert [stored[f"fast{i}"] for i in range(len(values))] == [
        stored[f"core{i}"] for i in range(len(values))
    ]


@BACKENDS
def test_timestamps_given_as_time_text_store_what_datetimes_store(engine):
    from store.dates import time_text

    values = [dt.datetime(2026, 3, 1, 9, 30, 5), dt.datetime(2026, 3, 1, 9, 30, 5, 120),
              dt.datetime(33, 1, 2, 3, 4, 5), dt.datetime(9999, 12, 31, 23, 59, 59, 999999)]
    names = [f"m{i}" for i in range(len(values))]

    def columns(prefix: str, times: list) -> dict[str, list]:
        ids = [prefix + n for n in names]
        return {"platform": ["yammer"] * len(ids), "message_id": ids, "thread_id": ids,
                "is_thread_starter": [True] * len(ids), "created_at": times,
                "deleted_at": [None, times[1], None, None]}

    texts = [time_text(v) for v in values]
    assert texts[1] == "2026-03-01 09:30:05.000120" and texts[2] == "0033-01-02 03:04:05.000000"
    with write_transaction(engine) as conn:
        insert_columns(conn, Message.__table__, columns("dt", values))
        insert_columns(conn, Message.__table__, columns("tx", texts),
                       texts=("created_at", "deleted_at"))
        again = columns("tx", texts)  # txm0 again, a month later
        again["created_at"][0] = "2026-04-01 00:00:00.000001"
        upsert(conn, Message.__table__, [tuple(v[0] for v in again.values())],
               columns=tuple(again), texts=("created_at", "deleted_at"))
        with pytest.raises(TypeError, match="only timestamps"):
            insert_columns(conn, Message.__table__, {"platform": ["yammer"], "message_id": ["x"]},
                           texts=("message_id",))
        stored = dict(conn.exec_driver_sql("SELECT message_id, created_at FROM messages").all())
        read = dict(conn.execute(select(Message.message_id, Message.deleted_at)).all())
    assert [stored["tx" + n] for n in names[1:]] == [stored["dt" + n] for n in names[1:]]
    assert [read["tx" + n] for n in names] == [read["dt" + n] for n in names]
    assert read["txm1"] == values[1]
    with engine.connect() as conn:
        assert conn.scalar(select(Message.created_at).where(Message.message_id == "txm0")) == (
            dt.datetime(2026, 4, 1, 0, 0, 0, 1))


@BACKENDS
@pytest.mark.parametrize("rows_per_statement", [250, 3])
def test_plain_inserts_store_every_row_in_order_however_many_a_statement_holds(
    engine, monkeypatch, rows_per_statement
):
    """SQLite's plain INSERT sends many rows per statement: 5,757 rows are 23 statements of
    250 and 7 single rows (or 1,919 of 3); each row lands whole, in order (rowids), and a
    broken row fails its statement and the transaction."""
    import store.upsert as store_upsert

    monkeypatch.setattr(store_upsert, "ROWS_PER_STATEMENT", rows_per_statement)
    keys = [f"k{i:05d}" for i in range(5_757)]
    columns = {"source": ["g"] * len(keys), "person_key": keys, "day": [DAY] * len(keys),
               "posts": list(range(len(keys))), "replies": [1] * len(keys),
               "reactions": [i % 7 for i in range(len(keys))],
               "reads": [i % 5 for i in range(len(keys))]}
    expected = list(zip(keys, columns["posts"], [1] * len(keys), columns["reactions"],
                        columns["reads"], strict=True))
    with write_transaction(engine) as conn:
        _people(conn, *keys, "extra")
        assert insert_columns(conn, DailyActivity.__table__, columns) == len(keys)
    with pytest.raises(IntegrityError):
        with write_transaction(engine) as conn:
            rows = [("g", "extra", DAY + dt.timedelta(days=1), 1, 0, 0, 0)] * 2  # a key twice
            insert_rows(conn, DailyActivity.__table__, FACT, rows * 3)
    with engine.connect() as conn:
        query = select(DailyActivity.person_key, DailyActivity.posts, DailyActivity.replies,
                       DailyActivity.reactions, DailyActivity.reads)
        stored = [tuple(r) for r in conn.execute(query.order_by(DailyActivity.person_key))]
        assert conn.scalar(select(func.count()).select_from(DailyActivity)) == len(keys)
    assert stored == expected
    if engine.dialect.name == "sqlite":  # messages keep a rowid: it follows the input's order
        messages = [f"{i:04d}" for i in range(1_003)]
        statements: list[str] = []
        with write_transaction(engine) as conn:
            conn.connection.driver_connection.set_trace_callback(statements.append)
            insert_columns(conn, Message.__table__, {
                "platform": ["yammer"] * len(messages), "message_id": messages[::-1],
                "thread_id": messages[::-1], "is_thread_starter": [True] * len(messages),
                "created_at": [NOW] * len(messages)})
            conn.connection.driver_connection.set_trace_callback(None)
            order = conn.exec_driver_sql("SELECT message_id FROM messages ORDER BY rowid")
            assert [r[0] for r in order] == messages[::-1]
        inserts = [s for s in statements if s.startswith("INSERT INTO messages")]
        whole = len(messages) // rows_per_statement
        assert len(inserts) == whole + len(messages) % rows_per_statement
        assert sum(s.count("'yammer'") for s in inserts) == len(messages)
