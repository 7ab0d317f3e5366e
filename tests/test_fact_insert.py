"""The fact table's bulk insert: packed blobs on SQLite, rows one by one elsewhere; same rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from store import fact_insert
from store.engine import write_transaction
from store.fact_insert import insert_facts
from store.models import DailyActivity, Person
from store.upsert import upsert
from tests.conftest import BACKENDS

DAY = dt.date(2026, 3, 29)
KEYS = [f"{i:064x}" for i in (7, 3, 250, 1)]  # not in key order


def _people(conn, keys):
    now = dt.datetime(2026, 1, 1)
    upsert(conn, Person.__table__, [{"person_key": k, "created_at": now} for k in keys])


def _stored(engine):
    columns = (DailyActivity.day, DailyActivity.source, DailyActivity.person_key,
               DailyActivity.posts, DailyActivity.replies, DailyActivity.reactions,
               DailyActivity.reads)
    with engine.connect() as conn:
        return conn.execute(select(*columns).order_by(*columns[:3])).all()


@BACKENDS
def test_rows_arrive_with_every_value(engine):
    days = [DAY, DAY + dt.timedelta(days=1), DAY, DAY]
    counts = {
        "posts": np.array([0, 12, 3, 2_000_000_000]),  # widths differ per column
        "replies": [1, 0, 0, 0],
        "reactions": np.zeros(4, dtype=np.int64),
        "reads": np.array([5, 0, 99, 7], dtype=np.int32),
    }
    with write_transaction(engine) as conn:
        _people(conn, KEYS)
        assert insert_facts(conn, "graph_yammer_activity", days, KEYS, counts) == 4
        assert insert_facts(conn, "graph_yammer_activity", [], [], {c: [] for c in counts}) == 0
    assert _stored(engine) == [
        (DAY, "graph_yammer_activity", KEYS[3], 2_000_000_000, 0, 0, 7),
        (DAY, "graph_yammer_activity", KEYS[0], 0, 1, 0, 5),
        (DAY, "graph_yammer_activity", KEYS[2], 3, 0, 0, 99),
        (DAY + dt.timedelta(days=1), "graph_yammer_activity", KEYS[1], 12, 0, 0, 0),
    ]


@BACKENDS
def test_values_the_blobs_cannot_hold_go_row_by_row(engine):
    odd = ["short-key", KEYS[0]]  # a key that is not 64 characters
    counts = {"posts": [1, 2], "replies": [0, 0], "reactions": [0, 0], "reads": [-1, 3]}
    with write_transaction(engine) as conn:
        _people(conn, odd)
        insert_facts(conn, "yammer_export", [DAY, DAY], odd, counts)
    assert sorted(r[2:] for r in _stored(engine)) == [
        (KEYS[0], 2, 0, 0, 3), ("short-key", 1, 0, 0, -1)
    ]


def test_a_datetime_for_a_day_goes_row_by_row(engine, monkeypatch):
    from store import fact_insert

    sent = []
    monkeypatch.setattr(fact_insert, "insert_columns", lambda conn, table, cols: sent.append(cols))
    counts = {"posts": [1], "replies": [0], "reactions": [0], "reads": [0]}
    with write_transaction(engine) as conn:
        insert_facts(conn, "yammer_export", [dt.datetime(2026, 3, 29, 12)], KEYS[:1], counts)
    assert [c["day"] for c in sent] == [[dt.datetime(2026, 3, 29, 12)]]  # not packed as text


@BACKENDS
def test_an_unknown_person_fails_the_whole_insert(engine):
    counts = {"posts": [1, 1], "replies": [0, 0], "reactions": [0, 0], "reads": [0, 0]}
    with pytest.raises(IntegrityError):
        with write_transaction(engine) as conn:
            _people(conn, KEYS[:1])
            insert_facts(conn, "yammer_export", [DAY, DAY], KEYS[:2], counts)
    assert _stored(engine) == []


def test_columns_of_different_lengths_are_refused(engine):
    with write_transaction(engine) as conn, pytest.raises(ValueError, match="lengths"):
        insert_facts(conn, "yammer_export", [DAY], KEYS[:2],
                     {"posts": [1, 1], "replies": [0, 0], "reactions": [0, 0], "reads": [0, 0]})


@BACKENDS
@pytest.mark.parametrize("sign", [1, -1], ids=["packed", "row by row"])
def test_added_facts_add_to_rows_there_and_insert_the_rest(engine, sign):
    """Counts add to an existing row (its other counts untouched) and new rows are inserted;
    a negative count (not packable) takes away, through the dialect's upsert."""
    with write_transaction(engine) as conn:
        _people(conn, KEYS)
        insert_facts(conn, "yammer_export", [DAY, DAY], KEYS[:2],
                     {"posts": [5, 1], "replies": [2, 0], "reactions": [0, 0], "reads": [4, 0]})
        sent = insert_facts(conn, "yammer_export", [DAY, DAY, DAY + dt.timedelta(days=1)],
                            [KEYS[0], KEYS[2], KEYS[0]],
                            {"posts": np.array([sign, 3, 1]), "replies": [1, 0, 0]}, add=True)
        assert sent == 3
        assert insert_facts(conn, "yammer_export", [], [], {"posts": []}, add=True) == 0
    assert _stored(engine) == [
        (DAY, "yammer_export", KEYS[1], 1, 0, 0, 0),
        (DAY, "yammer_export", KEYS[0], 5 + sign, 3, 0, 4),
        (DAY, "yammer_export", KEYS[2], 3, 0, 0, 0),
        (DAY + dt.timedelta(days=1), "yammer_export", KEYS[0], 1, 0, 0, 0),
    ]


def test_packed_rows_go_in_statements_of_a_bounded_size_and_survive_a_rollback(
    engine, monkeypatch
):
    """On SQLite rows are numbered by a temporary table of integers on the connection: large
    inserts take several statements, each row once; a rolled-back transaction that made or
    grew that table takes it away, and the next insert makes it again."""
    monkeypatch.setattr(fact_insert, "STATEMENT_ROWS", 4)
    keys = [f"{i:064x}" for i in range(11)]
    days = [DAY + dt.timedelta(days=i % 3) for i in range(11)]
    counts = {"posts": np.arange(11), "reads": np.arange(11) * 10}
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        _people(conn, keys)
        insert_facts(conn, "graph_yammer_activity", days[:2], keys[:2],
                     {c: v[:2] for c, v in counts.items()})
        raise RuntimeError("rolled back")
    statements: list[str] = []
    with write_transaction(engine) as conn:
        driver = conn.connection.driver_connection
        assert driver.execute(  # the table went with the rollback
            "SELECT count(*) FROM sqlite_temp_master WHERE name = ?", (fact_insert.ROW_NUMBERS,)
        ).fetchone() == (0,)
        _people(conn, keys)
        driver.set_trace_callback(statements.append)
        assert insert_facts(conn, "graph_yammer_activity", days, keys, counts) == 11
        driver.set_trace_callback(None)
    inserts = [s for s in statements if s.lstrip().startswith("INSERT INTO daily_activity")]
    assert len(inserts) == 3  # 4 + 4 + 3 rows
    expected = sorted((days[i], "graph_yammer_activity", keys[i], i, 0, 0, i * 10)
                      for i in range(11))
    assert _stored(engine) == expected
