"""HR roster ingester: column mapping, as-of dating, is_manager, snapshot replacement, hashing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, select

from errors import IngestError
from ingest.hr_roster import RosterSource
from ingest.runner import run_source
from store.engine import write_transaction
from store.identity import Identity
from store.models import (
    DailyActivity,
    IngestRun,
    Person,
    RefreshQueue,
    RosterSnapshot,
)
from store.roster import state_at
from tests.conftest import BACKENDS, TEST_HASH_KEY

ID = Identity(TEST_HASH_KEY.encode())
ALICE, BOB, CAROL = (ID.person_key(f"{n}@example.com") for n in ("alice", "bob", "carol"))
ROSTER = (
    "email,department,region,country,manager_email,hire_date,termination_date\r\n"
    " Alice@Example.com ,Sales,EMEA,DE,bob@example.com,2020-01-15,\r\n"
    "bob@example.com,Sales,EMEA,DE,,2019/05/01,\r\n"
    "carol@example.com,IT,APAC,SG,BOB@example.com ,,2026-06-30\r\n"
    ",IT,APAC,SG,,,\r\n"
    "not-an-email,IT,APAC,SG,,,\r\n"
)


def write(tmp_path: Path, text: str, name: str = "roster.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def ingest(engine: Engine, settings, path: Path, as_of=None, today=None):
    source = RosterSource(settings, path, as_of=as_of, today=today)
    return run_source(engine, settings, source, ID)


def attributes(engine: Engine, as_of: dt.date) -> dict[tuple[str, str], str | None]:
    """The roster in effect on `as_of`, cell by cell."""
    with engine.connect() as conn:
        state = state_at(conn, as_of)
    return {(k, a): v for k, values in state.items() for a, v in values.items()}


def queue(engine: Engine) -> list[tuple[dt.date, dt.date | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(RefreshQueue.day_from, RefreshQueue.day_to).order_by(RefreshQueue.id)
        )]


@BACKENDS
def test_default_mapping_is_manager_and_normalised_emails(engine, settings, tmp_path):
    day = dt.date(2026, 1, 1)
    [result] = ingest(engine, settings, write(tmp_path, ROSTER, bom=True), as_of=day)
    assert (result.rows_read, result.rows_skipped) == (5, 2)
    assert any("blank email" in w for w in result.warnings)
    assert any("invalid email" in w for w in result.warnings)
    got = attributes(engine, day)
    assert len(got) == 3 * 7
    assert got[(ALICE, "department")] == "Sales"
    assert got[(ALICE, "region")] == "EMEA"
    assert got[(CAROL, "country")] == "SG"
    assert got[(ALICE, "manager")] == BOB
    assert got[(CAROL, "manager")] == BOB  # " BOB@example.com " normalised to bob's key
    assert got[(BOB, "manager")] is None
    assert {k: got[(k, "is_manager")] for k in (ALICE, BOB, CAROL)} == {
        ALICE: "false", BOB: "true", CAROL: "false"
    }
    assert got[(BOB, "hire_date")] == "2019-05-01"  # stored ISO
    assert got[(CAROL, "hire_date")] is None
    assert got[(CAROL, "termination_date")] == "2026-06-30"
    with engine.connect() as conn:
        assert conn.execute(select(RosterSnapshot.as_of, RosterSnapshot.people)).all() == [(day, 3)]
    assert queue(engine) == [(day, None)]  # the only snapshot governs every day from it


@BACKENDS
def test_custom_mapping_extra_column_and_no_manager(engine, settings, tmp_path):
    settings.sources.hr_roster.columns = {
        "email": "Work Email", "department": "Dept", "cost_centre": "CC", "region": "Region",
    }
    path = write(tmp_path, "Work Email,Dept,CC,Ignored\na@example.com,Ops,4711,x\n")
    [result] = ingest(engine, settings, path, as_of=dt.date(2026, 2, 1))
    got = attributes(engine, dt.date(2026, 2, 1))
    key = ID.person_key("a@example.com")
    assert got == {
        (key, "department"): "Ops", (key, "cost_centre"): "4711", (key, "is_manager"): "false"
    }
    assert result.warnings == ["roster.csv: column 'Region' (for region) is not in the file"]


@BACKENDS
def test_missing_email_column_fails_naming_it(engine, settings, tmp_path):
    path = write(tmp_path, "mail,department\na@example.com,Ops\n")
    with pytest.raises(IngestError, match=r"roster\.csv: missing required column\(s\) email"):
        ingest(engine, settings, path, as_of=dt.date(2026, 2, 1))
    with engine.connect() as conn:
        assert conn.execute(select(IngestRun.status, IngestRun.error)).one() == (
            "failed", "roster.csv: missing required column(s) email"
        )
        assert conn.scalar(select(RosterSnapshot.as_of)) is None


@BACKENDS
def test_as_of_from_column_then_today(engine, settings, tmp_path):
    text = "email,department,as_of\na@example.com,Ops,2026-03-01\nb@example.com,IT,2026-03-01\n"
    ingest(engine, settings, write(tmp_path, text))
    ingest(engine, settings, write(tmp_path, "email\nc@example.com\n", "r2.csv"),
           today=dt.date(2026, 4, 9))
    with engine.connect() as conn:
        assert conn.execute(
            select(RosterSnapshot.as_of, RosterSnapshot.people).order_by(RosterSnapshot.as_of)
        ).all() == [(dt.date(2026, 3, 1), 2), (dt.date(2026, 4, 9), 1)]
    # the argument wins over the column
    ingest(engine, settings, write(tmp_path, text), as_of=dt.date(2026, 5, 1))
    assert len(attributes(engine, dt.date(2026, 5, 1))) == 2 * 2


@BACKENDS
def test_as_of_column_with_several_dates_is_bad_input(engine, settings, tmp_path):
    text = "email,as_of\na@example.com,2026-03-01\nb@example.com,2026-03-02\n"
    with pytest.raises(IngestError, match="as_of column holds several dates"):
        ingest(engine, settings, write(tmp_path, text))


@BACKENDS
def test_same_as_of_replaces_snapshot_and_leaves_others(engine, settings, tmp_path):
    jan, feb = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
    ingest(engine, settings, write(tmp_path, ROSTER), as_of=jan)
    ingest(engine, settings, write(tmp_path, ROSTER), as_of=feb)
    february = {cell: v for cell, v in attributes(engine, feb).items() if v is not None}
    assert len(february) == 17  # three people, seven cells each, four of them blank
    moved = "email,department\nalice@example.com,IT\nbob@example.com,Sales\n"
    [result] = ingest(engine, settings, write(tmp_path, moved, "moved.csv"), as_of=jan)
    assert attributes(engine, jan) == {
        (ALICE, "department"): "IT", (ALICE, "is_manager"): "false",
        (BOB, "department"): "Sales", (BOB, "is_manager"): "false",
    }
    # February's snapshot is what it was (its changes were rewritten against the new January)
    assert {cell: v for cell, v in attributes(engine, feb).items() if v is not None} == february
    assert any("'region'" in w for w in result.warnings)
    with engine.connect() as conn:
        assert conn.scalar(select(RosterSnapshot.people).where(RosterSnapshot.as_of == jan)) == 2
    # the January snapshot now governs only the days before February's
    assert queue(engine)[-1] == (jan, dt.date(2026, 1, 31))


@BACKENDS
def test_touch_covers_days_before_a_new_first_snapshot(engine, settings, tmp_path):
    with write_transaction(engine) as conn:
        conn.execute(Person.__table__.insert(), [{"person_key": ALICE, "matched": True,
                                                   "created_at": dt.datetime(2025, 1, 1)}])
        conn.execute(DailyActivity.__table__.insert(), [{
            "source": "yammer_export", "person_key": ALICE, "day": dt.date(2025, 11, 20),
            "posts": 1, "replies": 0, "reactions": 0, "reads": 0,
        }])
    ingest(engine, settings, write(tmp_path, ROSTER), as_of=dt.date(2026, 3, 1))
    ingest(engine, settings, write(tmp_path, ROSTER), as_of=dt.date(2026, 1, 1))
    assert queue(engine) == [
        (dt.date(2025, 11, 20), None),
        (dt.date(2025, 11, 20), dt.date(2026, 2, 28)),
    ]


@BACKENDS
def test_duplicate_emails_last_wins_with_warning(engine, settings, tmp_path):
    text = "email,department\na@example.com,Ops\nA@EXAMPLE.COM,IT\n"
    [result] = ingest(engine, settings, write(tmp_path, text), as_of=dt.date(2026, 1, 1))
    key = ID.person_key("a@example.com")
    assert attributes(engine, dt.date(2026, 1, 1))[(key, "department")] == "IT"
    assert "roster.csv: 1 duplicate email row(s); the last row of each wins" in result.warnings


@BACKENDS
def test_unparseable_date_skips_the_row(engine, settings, tmp_path):
    text = "email,hire_date\na@example.com,next week\nb@example.com,2024-02-29\n"
    [result] = ingest(engine, settings, write(tmp_path, text), as_of=dt.date(2026, 1, 1))
    assert result.rows_skipped == 1
    assert any("unparseable date" in w for w in result.warnings)
    assert attributes(engine, dt.date(2026, 1, 1))[(ID.person_key("b@example.com"), "hire_date")] \
        == "2024-02-29"


@BACKENDS
def test_only_hashes_stored_when_pseudonymising(engine, settings, tmp_path):
    ingest(engine, settings, write(tmp_path, ROSTER), as_of=dt.date(2026, 1, 1))
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.tables.values():
            for row in conn.execute(select(table)):
                assert not any("@" in str(v) or "example" in str(v) for v in row), table.name
        assert conn.scalar(select(Person.email).where(Person.person_key == ALICE)) is None


@BACKENDS
def test_email_kept_when_not_pseudonymising(engine, settings, tmp_path):
    settings.privacy.pseudonymise = False
    identity = Identity(TEST_HASH_KEY.encode(), pseudonymise=False)
    source = RosterSource(settings, write(tmp_path, ROSTER), as_of=dt.date(2026, 1, 1))
    run_source(engine, settings, source, identity)
    with engine.connect() as conn:
        assert conn.scalar(select(Person.email).where(Person.person_key == ALICE)) \
            == "alice@example.com"


@BACKENDS
def test_missing_file_is_bad_input(engine, settings, tmp_path):
    with pytest.raises(IngestError, match="roster file not found"):
        ingest(engine, settings, tmp_path / "nope.csv", as_of=dt.date(2026, 1, 1))
