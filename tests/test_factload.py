"""Person-day facts read as integers: capped counts, sources MAX-merged, engaging-only slices."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from metrics.facts import load_activity
from store.engine import write_transaction
from store.models import DailyActivity, Person
from tests.conftest import BACKENDS

DAY = dt.date(2026, 3, 2)


def _store(engine: Engine) -> None:
    now = dt.datetime(2026, 3, 1)
    with write_transaction(engine) as conn:
        conn.execute(Person.__table__.insert(), [
            {"person_key": key, "matched": True, "created_at": now} for key in ("a", "b", "c")])
        conn.execute(DailyActivity.__table__.insert(), [
            # more than the cap, in two sources: the larger per kind, capped
            {"source": "graph_yammer_activity", "day": DAY, "person_key": "a", "posts": 1,
             "replies": 0, "reactions": 40_000, "reads": 100_000},
            {"source": "yammer_export", "day": DAY, "person_key": "a", "posts": 3,
             "replies": 2, "reactions": 0, "reads": 0},
            # a reader only, the day before
            {"source": "graph_yammer_activity", "day": DAY - dt.timedelta(days=1),
             "person_key": "b", "posts": 0, "replies": 0, "reactions": 0, "reads": 5},
            {"source": "graph_yammer_activity", "day": DAY - dt.timedelta(days=1),
             "person_key": "c", "posts": 0, "replies": 0, "reactions": 1, "reads": 0},
            {"source": "graph_yammer_activity", "day": DAY + dt.timedelta(days=1),
             "person_key": "c", "posts": 1, "replies": 0, "reactions": 0, "reads": 0},
        ])


@BACKENDS
def test_counts_are_capped_and_merged_over_sources(engine: Engine) -> None:
    _store(engine)
    index = pd.Index(["a", "b", "c"])
    with engine.connect() as conn:
        frame = load_activity(conn, index, DAY - dt.timedelta(days=1), DAY)
    rows = {(int(r.pid), r.day.date()): (r.posts, r.replies, r.reactions, r.reads)
            for r in frame.itertuples()}
    assert rows == {
        (0, DAY): (3, 2, 32_767, 32_767),
        (1, DAY - dt.timedelta(days=1)): (0, 0, 0, 5),
        (2, DAY - dt.timedelta(days=1)): (0, 0, 1, 0),
    }
    assert frame["reads"].dtype == np.int16  # capped: int16 holds every count


@BACKENDS
def test_before_the_complete_day_only_engaging_rows_are_read(engine: Engine) -> None:
    _store(engine)
    index = pd.Index(["a", "b", "c"])
    with engine.connect() as conn:
        frame = load_activity(conn, index, DAY - dt.timedelta(days=1), DAY, complete_from=DAY)
    assert sorted(frame["pid"].tolist()) == [0, 2]  # b only read, before DAY


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# every day, and a range of days: each split at the day that halves its rows
SPANS = pytest.mark.parametrize("days", [(-1, 1), (-1, 0)])


def _read(engine: Engine, days: tuple[int, int]) -> pd.DataFrame:
    first, last = (DAY + dt.timedelta(days=d) for d in days)
    with engine.connect() as conn:
        return load_activity(conn, pd.Index(["a", "b", "c"]), first, last)


@SQLITE_ONLY
@SPANS
def test_a_large_read_by_two_reader_processes_reads_the_same(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, days: tuple[int, int]
) -> None:
    from metrics import factload, split_read

    _store(engine)
    alone = _read(engine, days)
    started = []
    real_start = split_read.start
    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)
    monkeypatch.setattr(factload, "SPLIT_DAYS", 1)
    monkeypatch.setattr(split_read, "start", lambda *a: started.append(a) or real_start(*a))
    shared = _read(engine, days)
    assert len(started) == 2  # a reader process for each half
    assert len(alone) == (4 if days == (-1, 1) else 3)
    pd.testing.assert_frame_equal(shared, alone)


@SQLITE_ONLY
@SPANS
def test_when_a_reader_fails_its_rows_are_read_here(
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    days: tuple[int, int],
) -> None:
    import subprocess
    import sys

    from metrics import factload, split_read

    _store(engine)
    alone = _read(engine, days)
    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)
    monkeypatch.setattr(factload, "SPLIT_DAYS", 1)
    monkeypatch.setattr(split_read, "start", lambda *a: subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.exit('no numpy here')"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    pd.testing.assert_frame_equal(_read(engine, days), alone)
    assert caplog.text.count("reader process failed (no numpy here)") == 2


@SQLITE_ONLY
def test_a_small_read_stays_in_one_process(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metrics import factload, split_read

    _store(engine)
    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)
    monkeypatch.setattr(split_read, "start", lambda *a: pytest.fail("no reader process"))
    assert len(_read(engine, (-1, 0))) == 3  # two days: under SPLIT_DAYS


POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _two_sources_apart(engine: Engine) -> dict[tuple[int, int], tuple[int, ...]]:
    """Pages of rows, the same person-days again from a second source on later pages (each
    kind's larger count wanted); returns {(pid, day offset): counts} of what should be read."""
    keys = [f"p{i:03d}" for i in range(40)]
    now = dt.datetime(2026, 3, 1)
    rows: dict[tuple[str, int], dict[str, int]] = {}
    with write_transaction(engine) as conn:
        conn.execute(Person.__table__.insert(), [
            {"person_key": key, "matched": True, "created_at": now} for key in keys])
        for source, shift in (("graph_yammer_activity", 0), ("yammer_export", 1)):
            batch = []
            for i, key in enumerate(keys):
                for day in range(-7, 8):
                    counts = {"posts": (i + day + shift) % 3, "replies": shift * (day % 2),
                              "reactions": (i * day) % 4, "reads": 2 + shift}
                    batch.append({"source": source, "day": DAY + dt.timedelta(days=day),
                                  "person_key": key, **counts})
                    seen = rows.setdefault((key, day), dict.fromkeys(counts, 0))
                    for kind, count in counts.items():
                        seen[kind] = max(seen[kind], count)
            conn.execute(DailyActivity.__table__.insert(), batch)
    return {(keys.index(key), day): tuple(c.values()) for (key, day), c in rows.items()}


def _read_all(engine: Engine, last: int = 7) -> pd.DataFrame:
    with engine.connect() as conn:
        return load_activity(conn, pd.Index([f"p{i:03d}" for i in range(40)]),
                             DAY - dt.timedelta(days=7), DAY + dt.timedelta(days=last))


@POSTGRES_ONLY
@pytest.mark.parametrize("last", [7, 3])  # every day, and a range of them
def test_a_large_postgresql_read_in_two_halves_of_the_pages_reads_the_same(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, last: int
) -> None:
    """A large read runs on two connections, each on one half of the table's pages (the
    other conditions kept): one person-day's rows from two sources may lie in both, and
    come out as one row, each kind its larger count, every person's rows in (pid, day)
    order."""
    from metrics import factload, postgres_read

    wanted = _two_sources_apart(engine)
    alone = _read_all(engine, last)
    conditions: list[list[str]] = []
    real = postgres_read.days_read

    def recorded(raw: object, where: list[str], people: object):
        conditions.append(where)
        return real(raw, where, people)  # type: ignore[arg-type]

    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)
    monkeypatch.setattr(factload, "SPLIT_DAYS", 1)
    monkeypatch.setattr(postgres_read, "days_read", recorded)
    halved = _read_all(engine, last)
    with engine.connect() as conn:
        pages = conn.exec_driver_sql(postgres_read.PAGES).scalar()
    assert pages >= 4  # the second source's rows lie on pages of the second half
    cut = f"'({pages // 2},0)'::tid"
    assert sorted(c[-1] for c in conditions) == [f"d.ctid < {cut}", f"d.ctid >= {cut}"]
    assert all(("d.day >= DATE" in c[0]) == (last < 7) for c in conditions)
    pd.testing.assert_frame_equal(halved, alone)
    got = {(int(r.pid), (r.day.date() - DAY).days): (r.posts, r.replies, r.reactions, r.reads)
           for r in halved.itertuples()}
    assert got == {k: v for k, v in wanted.items() if any(v) and k[1] <= last}
    assert list(halved["pid"]) == sorted(halved["pid"])


@POSTGRES_ONLY
def test_both_halves_of_a_postgresql_read_read_one_snapshot(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row written once the first half has begun is in neither half: the second reads the
    snapshot the first exported, not a later one of its own."""
    from metrics import factload, postgres_read

    _two_sources_apart(engine)
    before = _read_all(engine)
    real = postgres_read.People
    written: list[bool] = []

    class WriteAfterExport(real):  # type: ignore[misc, valid-type]
        def __init__(self, raw: object, index: pd.Index) -> None:
            super().__init__(raw, index)
            if not written:  # the lead has exported its snapshot: the follower waits on it
                with write_transaction(engine) as conn:
                    conn.execute(DailyActivity.__table__.insert(), [{
                        "source": "another_source", "day": DAY + dt.timedelta(days=7),
                        "person_key": "p001", "posts": 0, "replies": 0, "reactions": 0,
                        "reads": 9}])
                written.append(True)

    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)
    monkeypatch.setattr(postgres_read, "People", WriteAfterExport)
    pd.testing.assert_frame_equal(_read_all(engine), before)
    assert written
    monkeypatch.setattr(postgres_read, "People", real)
    after = _read_all(engine)  # the row is there for the next read, on the second half's pages
    last = (after["pid"] == 1) & (after["day"] == pd.Timestamp(DAY + dt.timedelta(days=7)))
    assert after.loc[last, "reads"].tolist() == [9] != before.loc[last, "reads"].tolist()


@POSTGRES_ONLY
def test_a_postgresql_read_has_more_memory_for_its_transaction_only(engine: Engine) -> None:
    from metrics import postgres_read

    _store(engine)
    with engine.connect() as conn:
        default = conn.exec_driver_sql("SHOW work_mem").scalar()
        conn.rollback()
        raw = conn.connection.driver_connection
        postgres_read.begin(raw)
        people = postgres_read.People(raw, pd.Index(["a", "b", "c"]))
        days = list(postgres_read.days_read(raw, [], people))
        assert sum(len(pid) for _, pid, _ in days) == 5
        wanted = postgres_read.POSTGRES_READ_MEMORY
        assert conn.exec_driver_sql("SHOW work_mem").scalar() == wanted
        # the people's hashes and the rows that name them: one snapshot
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "repeatable read"
        conn.rollback()
        assert conn.exec_driver_sql("SHOW work_mem").scalar() == default != wanted


@POSTGRES_ONLY
def test_people_whose_keys_hash_alike_are_read_under_the_next_seed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows name people by a hash of their key: a seed under which two people's keys hash
    alike is passed over for the next; none without a collision is a clear error."""
    from metrics import postgres_read

    _store(engine)
    honest = _read(engine, (-1, 1))
    # under seed 0 every key hashes alike
    monkeypatch.setattr(postgres_read, "POSTGRES_PEOPLE", "SELECT person_key, CASE WHEN "
                        "%(seed)s = 0 THEN 7 ELSE hashtextextended(person_key, %(seed)s) END "
                        "FROM people")
    monkeypatch.setattr(postgres_read, "POSTGRES_ACTIVITY", postgres_read.POSTGRES_ACTIVITY.replace(
        "hashtextextended(d.person_key, %(seed)s)",
        "CASE WHEN %(seed)s = 0 THEN 7 ELSE hashtextextended(d.person_key, %(seed)s) END"))
    pd.testing.assert_frame_equal(_read(engine, (-1, 1)), honest)
    monkeypatch.setattr(postgres_read, "POSTGRES_SEEDS", 1)
    with pytest.raises(RuntimeError, match="collide under 1 hash seeds"):
        _read(engine, (-1, 1))


@BACKENDS
def test_rows_of_people_not_in_the_index_are_left_out(engine: Engine) -> None:
    _store(engine)
    with engine.connect() as conn:
        frame = load_activity(conn, pd.Index(["a", "c"]), DAY - dt.timedelta(days=1),
                              DAY + dt.timedelta(days=1))
    assert [(int(r.pid), r.day.date(), r.posts) for r in frame.itertuples()] == [
        (0, DAY, 3), (1, DAY - dt.timedelta(days=1), 0), (1, DAY + dt.timedelta(days=1), 1)]


@pytest.mark.parametrize(("first", "people"), [(0, 3), (0, 70_000), (0, 140_000),
                                               (50_000, 60_000), (60_000, 70_000)])
def test_rows_are_ordered_by_person_then_day(first: int, people: int) -> None:
    """Day after day (the readers' order) or in any order, rows come out as a stable sort of
    (pid, day) gives them, past the 65,536 pids one radix pass sorts (counted from the
    lowest pid); rows already in that order are left as they are."""
    from metrics.person_days import person_day_order

    rng = np.random.default_rng(people)
    pid = rng.integers(first, first + people, 50_000).astype(np.int32)
    day = np.sort(rng.integers(19_000, 19_400, 50_000)).astype(np.int32)
    for order in (np.arange(len(pid)), rng.permutation(len(pid))):
        p, d = pid[order], day[order]
        got = person_day_order(p, d)
        assert got is not None and (got == np.lexsort((d, p))).all()  # lexsort: stable
    wanted = np.lexsort((day, pid))
    assert person_day_order(pid[wanted], day[wanted]) is None


@POSTGRES_ONLY
@pytest.mark.parametrize(("halves", "failing"), [(1, 0), (2, 0), (2, 1)])
def test_a_failed_postgresql_read_raises_in_the_caller(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, halves: int, failing: int
) -> None:
    """The read failing, or either of its halves, is the read's error: the other half does
    not wait for it for ever."""
    from metrics import factload, postgres_read

    _two_sources_apart(engine)
    real = postgres_read.days_read

    def broken(raw: object, where: list[str], people: object):
        if halves == 1 or where[-1].startswith("d.ctid <" if failing == 0 else "d.ctid >="):
            raise RuntimeError("server went away")
        return real(raw, where, people)  # type: ignore[arg-type]

    monkeypatch.setattr(factload, "SPLIT_ROWS", 1 if halves == 2 else 10**9)
    monkeypatch.setattr(postgres_read, "days_read", broken)
    with pytest.raises(RuntimeError, match="server went away"):
        _read_all(engine)


@POSTGRES_ONLY
def test_when_the_first_half_fails_before_exporting_the_second_does_not_wait(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metrics import factload, postgres_read

    _two_sources_apart(engine)

    class Unreadable:
        def __init__(self, *_args: object) -> None:
            raise RuntimeError("people unreadable")

    monkeypatch.setattr(factload, "SPLIT_ROWS", 1)
    monkeypatch.setattr(postgres_read, "People", Unreadable)
    with pytest.raises(RuntimeError, match="people unreadable"):
        _read_all(engine)


@BACKENDS
def test_message_platforms_are_found_by_key_seeks(engine: Engine) -> None:
    """Each stored platform once, in order; on SQLite through the key's index (no scan), as is
    the lookup of an earlier thread starter that uses them."""
    from sqlalchemy import func, select

    from metrics.facts import message_platforms
    from store.models import Message

    with engine.connect() as conn:
        assert message_platforms(conn) == []
    _messages_store(engine, ("17", "32"))
    with write_transaction(engine) as conn:
        starter = conn.execute(select(Message.__table__).where(Message.message_id == "17")).one()
        conn.execute(Message.__table__.insert(), [
            {**starter._asdict(), "platform": platform} for platform in ("slack", "teams")])
    with engine.connect() as conn:
        assert message_platforms(conn) == ["slack", "teams", "yammer"]
        if engine.dialect.name == "sqlite":
            queries = [
                select(func.min(Message.platform)).where(Message.platform > "slack"),
                select(Message.thread_id).where(
                    Message.platform.in_(["yammer"]), Message.message_id.in_(["17", "32"]),
                    Message.is_thread_starter.is_(True)),
            ]
            for query in queries:
                sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
                plan = " ".join(r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                assert plan.startswith("SEARCH messages USING") and "INDEX" in plan, plan


def _messages_store(engine: Engine, thread_ids: tuple[str, str]) -> None:
    from store.models import Message

    now = dt.datetime(2026, 3, 1)
    first, second = thread_ids
    row = {"platform": "yammer", "replied_to_id": None, "group_id": "g", "sender_account_id": "1",
           "sender_type": "user", "message_type": "update", "in_private_group": False,
           "in_private_conversation": False, "deleted_at": None}
    with write_transaction(engine) as conn:
        conn.execute(Person.__table__.insert(), [
            {"person_key": key, "matched": True, "created_at": now} for key in ("a", "b", "x")])
        conn.execute(Message.__table__.insert(), [
            # a thread started before the range, answered in it
            {**row, "message_id": first, "thread_id": first, "person_key": "a",
             "is_thread_starter": True, "created_at": dt.datetime(2026, 2, 20, 9)},
            {**row, "message_id": "31", "thread_id": first, "person_key": "b",
             "is_thread_starter": False, "created_at": dt.datetime(2026, 3, 2, 22, 59, 59, 999999)},
            {**row, "message_id": "35", "thread_id": first, "person_key": "b",  # the 3rd in Paris
             "is_thread_starter": False, "created_at": dt.datetime(2026, 3, 2, 23)},
            {**row, "message_id": second, "thread_id": second, "person_key": "x",  # not indexed
             "is_thread_starter": True, "created_at": dt.datetime(2026, 3, 2, 8, 0, 0, 5)},
            {**row, "message_id": "33", "thread_id": second, "person_key": None,  # no person
             "is_thread_starter": False, "created_at": dt.datetime(2026, 3, 2, 9)},
            {**row, "message_id": "34", "thread_id": second, "person_key": "a",  # not counted
             "sender_type": "system", "is_thread_starter": False,
             "created_at": dt.datetime(2026, 3, 2, 10)},
        ])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("chunk_days", [None, 1], ids=["a-month-a-query", "a-day-a-query"])
def test_sqlite_reads_messages_as_numbers_as_the_text_path_does(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, chunk_days: int | None
) -> None:
    from zoneinfo import ZoneInfo

    from metrics import factload, facts

    if chunk_days:  # the range's days each in a query of their own: nothing lost or doubled
        monkeypatch.setattr(factload, "CHUNK_MESSAGE_DAYS", chunk_days)
    _messages_store(engine, ("17", "32"))
    index, zone = pd.Index(["b", "a"]), ZoneInfo("Europe/Paris")
    with engine.connect() as conn:
        numbers = facts._load_messages(conn, index, zone, DAY, DAY)
        monkeypatch.setattr(facts, "sqlite_messages", lambda *args: None)
        text = facts._load_messages(conn, index, zone, DAY, DAY)
    pd.testing.assert_frame_equal(numbers, text)
    # the earlier starter comes along; 23:00 UTC on the 2nd is the 3rd in Paris: out
    assert numbers["pid"].tolist() == [1, -1, -1, 0]
    assert numbers["thread_id"].tolist() == [17, 32, 32, 17]
    assert numbers["created_at"].tolist() == [
        pd.Timestamp("2026-02-20 09:00"), pd.Timestamp("2026-03-02 08:00:00.000005"),
        pd.Timestamp("2026-03-02 09:00"), pd.Timestamp("2026-03-02 22:59:59.999999"),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_thread_ids_that_are_not_plain_digits_are_read_as_text(engine: Engine) -> None:
    from zoneinfo import ZoneInfo

    from metrics import facts
    from metrics.factload import sqlite_messages

    _messages_store(engine, ("17", "032"))  # a leading zero: not the integer's text
    with engine.connect() as conn:
        lo, hi = dt.datetime(2026, 2, 1), dt.datetime(2026, 4, 1)
        assert sqlite_messages(conn, pd.Index(["a"]), lo, hi) is None
        frame = facts._load_messages(conn, pd.Index(["b", "a"]), ZoneInfo("UTC"), DAY, DAY)
    assert len(frame) == 5  # both threads, the earlier starter included (UTC: 23:00 is in)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_reads_the_roster_as_numbers_as_the_text_path_does(
    engine: Engine, settings, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metrics import facts
    from store.models import Person as People
    from tests import engagement_org as org

    settings.timezone = org.ZONE
    org.build(engine, settings, tmp_path / "org")
    with engine.connect() as conn:
        keys = sorted(conn.execute(People.__table__.select()).scalars())
        index = pd.Index(keys[1:])  # someone not in the index: left out by both paths
        snapshots = np.array(sorted(facts.day_number(d) for d in conn.execute(
            facts.select(facts.RosterSnapshot.as_of)).scalars()), dtype=np.int64)
        names = facts._attribute_names(conn)
        numbers = facts._attribute_rows(conn, index, snapshots, names)
        monkeypatch.setattr(facts, "sqlite_attributes", lambda *args: None)
        text = facts._attribute_rows(conn, index, snapshots, names)

    def labelled(coded: tuple[pd.DataFrame, np.ndarray]) -> pd.DataFrame:
        frame, values = coded
        value = frame["value"].to_numpy()
        return pd.DataFrame({
            "pid": frame["pid"], "attribute": np.array(names)[frame["attr"].to_numpy()],
            "snap": frame["snap"],
            "value": np.where(value >= 0, values[np.maximum(value, 0)], None),
        }).sort_values(["pid", "attribute", "snap"]).reset_index(drop=True)

    assert len(numbers[0]) > 20 and len(snapshots) > 1 and len(names) > 2
    assert labelled(numbers)["value"].isna().any()  # blanks stay blank
    pd.testing.assert_frame_equal(labelled(numbers), labelled(text))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("reader", ["works", "fails"])
def test_messages_read_by_a_reader_process_are_the_same(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    reader: str,
) -> None:
    import subprocess
    import sys
    from zoneinfo import ZoneInfo

    from metrics import factload, facts, split_read

    _messages_store(engine, ("17", "32"))
    index, zone = pd.Index(["b", "a"]), ZoneInfo("Europe/Paris")
    started = []
    real_start = split_read.start

    def start(*args):
        started.append(args)
        if reader == "fails":
            return subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('broken')"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return real_start(*args)

    with engine.connect() as conn:
        here = facts._load_messages(conn, index, zone, DAY, DAY)
        monkeypatch.setattr(split_read, "start", start)
        assert factload.MessageRead(conn, *facts._message_bounds(DAY, DAY))._readers is None
        monkeypatch.setattr(factload, "SPLIT_ROWS", 1)  # a "large" table: a reader reads it
        reading = factload.MessageRead(conn, *facts._message_bounds(DAY, DAY))
        there = facts._load_messages(conn, index, zone, DAY, DAY, reading)
    assert len(started) == 1
    pd.testing.assert_frame_equal(there, here)
    assert ("reader process failed (broken)" in caplog.text) == (reader == "fails")


def test_a_reader_file_is_written_and_read_a_chunk_at_a_time(tmp_path, monkeypatch):
    """A reader process writes its rows as they come and the caller reads them back in
    chunks: the same integers (64-bit), in order; no rows, no chunk."""
    import sqlite3

    import numpy as np

    from metrics import split_read
    from metrics.factload import packed

    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a INTEGER, b INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, -i * 2**40) for i in range(7)])
    monkeypatch.setattr(split_read, "FETCH", 3)
    out = tmp_path / "rows.bin"
    queries = [packed(["a", "b"], f"FROM t WHERE a {cut}") for cut in ("< 2", ">= 2", "< 0")]
    assert split_read.write_ints(str(db), queries, 2, str(out)) == 7  # one query has no rows
    chunks = list(split_read.read_chunks(out))
    assert [c.shape for c in chunks] == [(3, 2), (3, 2), (1, 2)]
    assert np.concatenate(chunks).tolist() == [[i, -i * 2**40] for i in range(7)]
    none = tmp_path / "none.bin"
    assert split_read.write_ints(str(db), [packed(["a", "b"], "FROM t WHERE a < 0")], 2,
                                 str(none)) == 0
    assert list(split_read.read_chunks(none)) == []
    assert not (tmp_path / "none.bin.part").exists()


def test_a_keyed_query_puts_each_rows_person_rowid_first(tmp_path):
    """A keyed packed query maps each row's person key to its people.rowid in the reader, as
    a join would: a row without a person or with a key not in people gets 0; the rows' order
    is kept, and a key text that does not match the rows is an error, not a shifted column."""
    import sqlite3

    import numpy as np
    import pytest

    from metrics import split_read
    from metrics.factload import packed

    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (person_key TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO people (rowid, person_key) VALUES (?, ?)",
                         [(5, "k-five"), (9, "k-nine")])
        conn.execute("CREATE TABLE t (a INTEGER, who TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)",
                         [(1, "k-nine"), (2, None), (3, "k-five"), (4, "k-gone"), (5, "k-nine")])
    out = tmp_path / "rows.bin"
    queries = [packed(["a"], "FROM t WHERE a < 4", key="who"),
               packed(["a"], "FROM t WHERE a >= 4", key="who"),
               packed(["a"], "FROM t WHERE a > 9", key="who")]
    assert split_read.write_ints(str(db), queries, 2, str(out)) == 5
    rows = np.concatenate(list(split_read.read_chunks(out))).tolist()
    assert rows == [[9, 1], [0, 2], [5, 3], [0, 4], [9, 5]]
    with pytest.raises(ValueError, match="3 rows and 2 keys"):
        split_read.unpacked("1,2,3", f"k-five{split_read.KEY_SEPARATOR}k-nine", None, 2,
                            split_read.PersonRowids([]))


def test_hex_person_keys_are_found_without_a_dict_lookup_each_and_exactly(tmp_path):
    """Keys of 64 ASCII characters are found by their first eight bytes and checked whole:
    two people sharing those bytes each get their own rowid, a key not in people gets 0, in
    the rows' order; a key text with an empty key (no person), or a key that is not 64
    characters, is looked up key by key, with the same results."""
    import sqlite3

    import numpy as np

    from metrics import split_read
    from metrics.factload import packed

    shared = "0123abcd"
    keys = {
        3: shared + "e" * 56, 7: shared + "0" * 56, 8: "f" * 64, 11: "9" * 63 + "a",
    }
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE people (person_key TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO people (rowid, person_key) VALUES (?, ?)", keys.items())
        conn.execute("CREATE TABLE t (a INTEGER, who TEXT)")
        who = [keys[8], keys[3], "7" * 64, keys[7], keys[11], keys[3]]
        conn.executemany("INSERT INTO t VALUES (?, ?)", enumerate(who))
        conn.execute("INSERT INTO t VALUES (6, NULL)")
        conn.execute("INSERT INTO t VALUES (7, 'short')")
    expected = [[8, 0], [3, 1], [0, 2], [7, 3], [11, 4], [3, 5]]
    out = tmp_path / "rows.bin"
    queries = [packed(["a"], "FROM t WHERE a < 6", key="who"),  # every key 64 wide
               packed(["a"], "FROM t WHERE a < 7", key="who"),  # and no person
               packed(["a"], "FROM t", key="who")]  # and a key of another width
    assert split_read.write_ints(str(db), queries, 2, str(out)) == 6 + 7 + 8
    rows = np.concatenate(list(split_read.read_chunks(out))).tolist()
    assert rows == expected + [*expected, [0, 6]] + [*expected, [0, 6], [0, 7]]

    lookup = split_read.PersonRowids([(key, rowid) for rowid, key in keys.items()])
    sep = split_read.KEY_SEPARATOR
    assert lookup._fixed(sep.join(who), len(who)) is not None  # the whole-text path
    assert lookup._fixed(sep.join([*who, ""]), len(who) + 1) is None
    assert lookup._fixed(sep.join([keys[8][:-1] + sep, keys[3]]), 2) is None
    assert lookup._fixed(sep.join([keys[8][:-1] + "é", keys[3]]), 2) is None
    assert lookup.of(sep.join(who), len(who)).tolist() == [r for r, _ in expected]
    no_people = split_read.PersonRowids([])
    assert no_people.of(sep.join(who), len(who)).tolist() == [0] * len(who)


def test_message_times_are_read_as_sqlite_read_them():
    """The reader's microseconds since 1970 of stored times equal what SQLite's unixepoch (or
    strftime) gave the query before: times as stored at once, any other one by one."""
    import sqlite3

    from metrics import split_read

    plain = ["1969-12-31 23:59:59.999999", "1970-01-01 00:00:00.000000",
             "2024-02-29 12:34:56.789012", "2025-03-30 00:59:59.000001",
             "2025-03-30T01:00:00.500000", "2038-01-19 03:14:08.000000",
             "2100-02-28 23:59:59.123456", "0001-01-01 00:00:00.000000"]
    other = ["2025-03-30 01:00:00", "2025-03-30 01:00", "2025-03-30", "2025-03-30 01:00:00.5",
             "2025-13-01 00:00:00.000000", "not a time at all, really", "2025-03-30 01:00:00+01"]
    conn = sqlite3.connect(":memory:")
    seconds = ("unixepoch({})" if sqlite3.sqlite_version_info >= (3, 38)
               else "CAST(strftime('%s', {}) AS INTEGER)")
    before = (f"coalesce({seconds.format('substr(?, 1, 19)')} * 1000000"
              " + CAST(substr(?, 21, 6) AS INTEGER), 0)")

    def sqlite_micros(stamp: str) -> int:
        return conn.execute(f"SELECT {before}", (stamp, stamp)).fetchone()[0]

    sep = split_read.KEY_SEPARATOR
    for stamps in (plain, plain + other, other, plain + ["2025-03-30 01:00:00.00000é"]):
        got = split_read.stamp_micros(sep.join(stamps), len(stamps)).tolist()
        assert got == [sqlite_micros(s) for s in stamps], stamps
    assert split_read.stamp_micros("", 0).tolist() == []
    with pytest.raises(ValueError, match="2 rows and 1 times"):
        split_read.stamp_micros(plain[0], 2)


@BACKENDS
def test_people_are_read_once_as_sorted_keys_and_a_rowid_map(engine: Engine) -> None:
    from metrics.factload import read_people

    _store(engine)
    with engine.connect() as conn:
        index, to_pid = read_people(conn)
        assert index.tolist() == ["a", "b", "c"]
        if engine.dialect.name != "sqlite":
            assert to_pid is None
            return
        rowids = dict(conn.exec_driver_sql("SELECT person_key, rowid FROM people").all())
    assert to_pid is not None
    assert {key: int(to_pid[rowid]) for key, rowid in rowids.items()} == {"a": 0, "b": 1, "c": 2}
    assert (np.delete(to_pid, list(rowids.values())) == -1).all()  # no other rowid has a pid


def test_a_packed_querys_lead_is_sent_once_and_put_in_every_row():
    """A lead (a day number every row shares) comes back once and the reader puts it after
    the rowid of a keyed row, or first in an unkeyed one; a query without rows gives none."""
    import sqlite3

    from metrics import split_read
    from metrics.factload import packed

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE people (person_key TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO people (rowid, person_key) VALUES (5, 'k-five')")
    conn.execute("CREATE TABLE t (a INTEGER, who TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "k-five"), (2, None)])
    assert conn.execute(packed(["a"], "FROM t", key="who", lead=20_000)).fetchone() == (
        20_000, "1,2", f"k-five{split_read.KEY_SEPARATOR}", None)
    keyed, plain, empty = split_read.tables(conn, [
        packed(["a"], "FROM t", key="who", lead=20_000),
        packed(["a", "a * 2"], "FROM t", lead=-3),
        packed(["a"], "FROM t WHERE a > 9", key="who", lead=1),
    ], 3)
    assert keyed.tolist() == [[5, 20_000, 1], [0, 20_000, 2]]
    assert plain.tolist() == [[-3, 1, 2], [-3, 2, 4]]
    assert empty.shape == (0, 3)


def test_a_packed_querys_times_come_last_in_microseconds():
    import sqlite3

    from metrics import split_read
    from metrics.factload import packed

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE people (person_key TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO people (rowid, person_key) VALUES (5, 'k-five')")
    conn.execute("CREATE TABLE t (a INTEGER, who TEXT, at TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [
        (1, "k-five", "1970-01-02 00:00:01.000002"), (2, None, "1970-01-01 00:00:03"),
        (3, "k-five", None)])
    stamped, none = split_read.tables(conn, [
        packed(["a"], "FROM t", key="who", stamp="at"),
        packed(["a"], "FROM t WHERE a > 9", key="who", stamp="at"),
    ], 3)
    assert stamped.tolist() == [[5, 1, 86_401_000_002], [0, 2, 3_000_000], [5, 3, 0]]
    assert none.shape == (0, 3)


@BACKENDS
def test_bulk_insert_writes_dates_as_the_store_reads_them(engine: Engine) -> None:
    from sqlalchemy import select

    from metrics.factload import bulk_insert
    from store.aggregates import AggFirstActivity

    days = [dt.date(2026, 3, 2), dt.date(1999, 12, 31)]
    with write_transaction(engine) as conn:
        conn.execute(Person.__table__.insert(), [
            {"person_key": key, "matched": True, "created_at": dt.datetime(2026, 3, 1)}
            for key in ("a", "b")])
        bulk_insert(conn, "agg_first_activity", {}, dates=("first_day",))  # nothing: no error
        bulk_insert(conn, "agg_first_activity", {"person_key": ["a", "b"], "first_day": days},
                    dates=("first_day",))
    with engine.connect() as conn:
        stored = conn.execute(select(AggFirstActivity.person_key, AggFirstActivity.first_day)
                              .order_by(AggFirstActivity.person_key)).all()
        # compared as dates by the store, as any reader of the column does
        later = conn.scalar(select(AggFirstActivity.person_key)
                            .where(AggFirstActivity.first_day > dt.date(2000, 1, 1)))
    assert [tuple(row) for row in stored] == [("a", days[0]), ("b", days[1])]
    assert later == "a"


def test_any_count_finds_the_rows_with_a_count_in_the_columns_asked():
    from metrics.person_days import any_count

    counts = np.array([[0, 0, 0, 0], [0, 0, 0, 5], [0, 2, 0, 0], [7, 0, 1, 0], [0, 0, 0, 0]],
                      dtype=np.int16)
    assert any_count(counts).tolist() == [False, True, True, True, False]
    assert any_count(counts, 3).tolist() == [False, False, True, True, False]
    assert any_count(counts[:, 3:]).tolist() == [False, True, False, False, False]
    assert any_count(counts, 0).tolist() == [False] * 5
    assert any_count(counts[:0]).tolist() == []


def test_a_person_day_seen_by_several_sources_keeps_the_largest_count_per_kind() -> None:
    """However many sources saw a person-day and in whatever order the rows come, one row
    remains, each kind its largest count; rows with no count at all are left out."""
    from metrics.calendar import day_number
    from metrics.facts import activity_frame

    pid = np.array([1, 0, 1, 1, 0, 2, 1], dtype=np.int32)
    day = np.array([5, 5, 5, 4, 5, 5, 5], dtype=np.int32) + day_number(DAY)
    counts = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 3, 0, 0], [0, 0, 2, 0], [2, 0, 0, 0],
                       [0, 0, 0, 0], [0, 1, 4, 0]], dtype=np.int16)
    frame = activity_frame(lambda: (pid, day, counts))
    fifth, fourth = DAY + dt.timedelta(days=5), DAY + dt.timedelta(days=4)
    assert [(r.pid, r.day.date(), r.posts, r.replies, r.reactions, r.reads)
            for r in frame.itertuples()] == [
        (0, fifth, 2, 0, 0, 1), (1, fourth, 0, 0, 2, 0), (1, fifth, 1, 3, 4, 0)]
    assert frame["pid"].dtype == np.int32 and frame["posts"].dtype == np.int16
