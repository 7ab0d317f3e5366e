"""Graph Yammer activity ingester: report files, the report API, concealed names, failures."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
import responses
from sqlalchemy import Engine, MetaData, select

from errors import IngestError
from ingest import http as uhttp
from ingest.graph_activity import GraphActivitySource
from ingest.runner import read_cursor, run_source
from store.engine import write_transaction
from store.identity import Identity
from store.models import Account, DailyActivity, IngestRun, Person, RefreshQueue
from tests.conftest import BACKENDS, TEST_HASH_KEY

ROOT = Path(__file__).resolve().parents[1]
ID = Identity(TEST_HASH_KEY.encode())
HEADER = (
    "Report Refresh Date,User Principal Name,Display Name,User State,State Change Date,"
    "Last Activity Date,Posted Count,Read Count,Liked Count,Assigned Products,Report Period"
)
HIDDEN = "77E5979DD60BA6EAA53E814DBEEEFA5F"
REPORT = "\r\n".join([
    HEADER,
    "2026-03-03,Alice@Contoso.com,Alice A,,,2026-03-01,2,5,1,MICROSOFT 365 E5,1",
    "2026-03-03,bob@contoso.com,Bob B,,,2026-02-20,0,0,0,MICROSOFT 365 E5,1",
    f"2026-03-03,{HIDDEN},4291DA7C39EE3263E97336B42734A667,,,2026-03-01,0,3,0,MICROSOFT 365 E5,1",
    "2026-03-03,carol@contoso.com,Carol C,,,2026-03-01,x,1,0,MICROSOFT 365 E5,1",
    '2026-03-03,dave@contoso.com,Dave D,,,2026-03-01,0,0,4,"MICROSOFT 365 E5+POWER BI PRO",1',
]) + "\r\n"
ALICE, BOB, DAVE = (ID.person_key(f"{n}@contoso.com") for n in ("alice", "bob", "dave"))
CONCEALED = ID.concealed_key(HIDDEN)
TODAY = dt.date(2026, 3, 10)
API = "https://graph.microsoft.com/v1.0/reports/getYammerActivityUserDetail"
DOWNLOAD = "https://reports.office.com/data/download/abc123"


def write(folder: Path, name: str, text: str = REPORT, bom: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def facts(engine: Engine) -> dict[tuple[str, dt.date], tuple[int, int, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(
            DailyActivity.person_key, DailyActivity.day, DailyActivity.posts,
            DailyActivity.replies, DailyActivity.reactions, DailyActivity.reads,
        ).where(DailyActivity.source == "graph_yammer_activity")).all()
    return {(k, d): (p, r, x, n) for k, d, p, r, x, n in rows}


def runs(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(IngestRun.target, IngestRun.status, IngestRun.error).order_by(IngestRun.id)
        )]


@BACKENDS
def test_report_file_with_bom_hand_checked(engine, settings, tmp_path):
    with write_transaction(engine) as conn:  # alice already has a Yammer user record
        conn.execute(Person.__table__.insert(), [{"person_key": ALICE, "matched": True,
                                                   "created_at": dt.datetime(2026, 1, 1)}])
        conn.execute(Account.__table__.insert(), [{
            "platform": "yammer", "account_id": "1538539363", "person_key": ALICE,
            "has_user_record": True, "state": "active", "updated_at": dt.datetime(2026, 1, 1),
        }])
    path = write(tmp_path, "yammer-activity-2026-03-01.csv")
    [result] = run_source(engine, settings, GraphActivitySource(settings, path=path))
    assert (result.status, result.rows_read, result.rows_skipped) == ("success", 5, 1)
    assert any("bad count" in w for w in result.warnings)
    day = dt.date(2026, 3, 1)
    assert facts(engine) == {
        (ALICE, day): (2, 0, 1, 5),  # posts, replies, reactions (Liked), reads
        (CONCEALED, day): (0, 0, 0, 3),
        (DAVE, day): (0, 0, 4, 0),
    }  # bob's all-zero row writes no fact; carol's bad count is skipped
    with engine.connect() as conn:
        people = dict(conn.execute(select(Person.person_key, Person.matched)).all())
        accounts = conn.execute(
            select(Account.platform, Account.account_id, Account.person_key,
                   Account.has_user_record).order_by(Account.platform, Account.account_id)
        ).all()
        emails = set(conn.scalars(select(Person.email)))
        queued = conn.execute(select(RefreshQueue.day_from, RefreshQueue.day_to)).all()
    assert people == {ALICE: True, BOB: True, DAVE: True, CONCEALED: False}
    assert sorted(accounts) == sorted([
        ("yammer", "1538539363", ALICE, True),
        ("graph", BOB, BOB, False), ("graph", DAVE, DAVE, False),
        ("graph", CONCEALED, CONCEALED, False),
    ])
    assert emails == {None}
    assert queued == [(day, day)]
    assert read_cursor(engine, "graph-yammer-activity") == "2026-03-01"


@BACKENDS
def test_concealed_names_warn_about_the_report_setting(engine, settings, tmp_path):
    path = write(tmp_path, "r.csv")
    source = GraphActivitySource(settings, path=path, day="2026-03-01")
    [result] = run_source(engine, settings, source)
    [warning] = [w for w in result.warnings if "concealed" in w]
    assert warning.startswith("1 user(s) have concealed names")
    assert "department/region joins are impossible" in warning
    assert "Display concealed user, group, and site names in all reports" in warning
    assert "Settings → Org settings → Services → Reports" in warning


@BACKENDS
def test_directory_runs_one_window_per_day_in_date_order(engine, settings, tmp_path):
    folder = tmp_path / "reports"
    one_user = HEADER + "\n2026-03-03,erin@contoso.com,E,,,,{p},0,0,,1\n"
    write(folder, "day-2026-03-02.csv", one_user.format(p=2))
    write(folder, "a-2026-03-01.csv", one_user.format(p=1), bom=False)
    write(folder, "z-2026-02-27.csv", one_user.format(p=7))
    (folder / "notes.txt").write_text("not a report")
    results = run_source(engine, settings, GraphActivitySource(settings, path=folder))
    assert [Path(r.target).name for r in results] == [
        "z-2026-02-27.csv", "a-2026-03-01.csv", "day-2026-03-02.csv"
    ]
    erin = ID.person_key("erin@contoso.com")
    assert facts(engine) == {
        (erin, dt.date(2026, 2, 27)): (7, 0, 0, 0),
        (erin, dt.date(2026, 3, 1)): (1, 0, 0, 0),
        (erin, dt.date(2026, 3, 2)): (2, 0, 0, 0),
    }
    assert [status for _, status, _ in runs(engine)] == ["success"] * 3
    assert read_cursor(engine, "graph-yammer-activity") == "2026-03-02"
    # an older file later does not move the cursor back
    run_source(engine, settings, GraphActivitySource(settings, path=folder / "z-2026-02-27.csv"))
    assert read_cursor(engine, "graph-yammer-activity") == "2026-03-02"


@BACKENDS
def test_day_from_option_wins_over_name_and_a_name_without_date_fails(engine, settings, tmp_path):
    dated = write(tmp_path, "report-2026-03-01.csv")
    run_source(engine, settings, GraphActivitySource(settings, path=dated, day=dt.date(2026, 3, 5)))
    assert {d for _, d in facts(engine)} == {dt.date(2026, 3, 5)}
    undated = write(tmp_path, "report.csv")
    with pytest.raises(IngestError, match=r"report\.csv: no YYYY-MM-DD date in the file name"):
        run_source(engine, settings, GraphActivitySource(settings, path=undated))
    assert runs(engine)[-1][1] == "failed"


@BACKENDS
def test_missing_column_fails_naming_it(engine, settings, tmp_path):
    text = REPORT.replace(",Liked Count", "")
    path = write(tmp_path, "r-2026-03-01.csv", text)
    with pytest.raises(IngestError, match=r"r-2026-03-01\.csv: missing required column\(s\) Liked"):
        run_source(engine, settings, GraphActivitySource(settings, path=path))
    assert runs(engine)[-1][1:] == (
        "failed", "r-2026-03-01.csv: missing required column(s) Liked Count"
    )
    assert facts(engine) == {}
    assert read_cursor(engine, "graph-yammer-activity") is None


def _record_calls(monkeypatch, owner, name: str, log: Path) -> None:
    """Wrap `owner.name` so that every call appends its first str argument (or '-') and the
    calling process id to `log` (a file: calls in a forked child are seen too)."""
    real = getattr(owner, name)

    def recorded(*args):
        label = next((a for a in args if isinstance(a, str)), "-")
        with log.open("a") as out:
            out.write(f"{label} {os.getpid()}\n")
        return real(*args)

    monkeypatch.setattr(owner, name, recorded)


def _calls(log: Path) -> list[tuple[str, int]]:
    return [(label, int(pid)) for label, pid in map(str.split, log.read_text().splitlines())]


@BACKENDS
def test_files_parsed_ahead_fail_in_their_own_window(engine, settings, tmp_path, monkeypatch):
    from ingest import graph_activity

    log = tmp_path / "parsed"
    _record_calls(monkeypatch, graph_activity, "parse_report", log)
    monkeypatch.setattr(graph_activity, "can_read_ahead", lambda: True)
    folder = tmp_path / "reports"
    write(folder, "r-2026-03-01.csv")
    write(folder, "r-2026-03-02.csv", REPORT.replace(",Liked Count", ""))
    write(folder, "r-2026-03-03.csv")
    with pytest.raises(IngestError, match=r"r-2026-03-02\.csv: missing required column"):
        run_source(engine, settings, GraphActivitySource(settings, path=folder))
    assert [r[1] for r in runs(engine)] == ["success", "failed"]
    assert {day for _, day in facts(engine)} == {dt.date(2026, 3, 1)}
    assert read_cursor(engine, "graph-yammer-activity") == "2026-03-01"
    parsed_in = dict(_calls(log))
    assert parsed_in["r-2026-03-02.csv"] != os.getpid()  # in the forked child


@BACKENDS
def test_keys_looked_up_ahead_are_those_of_the_run(engine, settings, tmp_path, monkeypatch):
    from ingest import graph_activity

    log = tmp_path / "looked-up"
    _record_calls(monkeypatch, graph_activity.UpnKeys, "of", log)
    monkeypatch.setattr(graph_activity, "can_read_ahead", lambda: True)
    folder = tmp_path / "reports"
    regular = "\r\n".join(r for r in REPORT.split("\r\n") if "carol" not in r)
    for day in (1, 2, 3, 4):
        write(folder, f"r-2026-03-0{day}.csv", regular)
    other = Identity(b"another-key", pseudonymise=True)  # not the settings' key
    run_source(engine, settings, GraphActivitySource(settings, path=folder), other)
    with engine.connect() as conn:
        stored = set(conn.scalars(select(DailyActivity.person_key)))
    assert stored == {other.person_key("alice@contoso.com"), other.person_key("dave@contoso.com"),
                      other.concealed_key(HIDDEN)}
    pids = [pid for _, pid in _calls(log)]
    assert len(pids) == 4 and len(set(pids)) == 1 and pids[0] != os.getpid()


@BACKENDS
def test_known_keys_settle_once_a_person_has_an_account(engine, settings, tmp_path):
    """A person without any account (e.g. from the roster) gets a Graph account the first day
    the report lists them; people and accounts first seen on a later day too."""
    from ingest.graph_activity import KnownKeys

    with write_transaction(engine) as conn:
        conn.execute(Person.__table__.insert(), [
            {"person_key": k, "matched": True, "created_at": dt.datetime(2026, 1, 1)}
            for k in (ALICE, BOB)])
        conn.execute(Account.__table__.insert(), [{
            "platform": "yammer", "account_id": "1", "person_key": BOB, "has_user_record": True,
            "state": "active", "updated_at": dt.datetime(2026, 1, 1)}])
        known = KnownKeys()
        known.load(conn)
    assert known.settled == {BOB}
    known.add({DAVE}, {ALICE, DAVE})
    assert known.settled == {ALICE, BOB, DAVE}
    known.forget()
    assert known.settled == set()

    regular = "\r\n".join(r for r in REPORT.split("\r\n") if "carol" not in r)
    erin = "2026-03-03,erin@contoso.com,Erin E,,,2026-03-02,1,0,0,MICROSOFT 365 E5,1\r\n"
    folder = tmp_path / "reports"
    write(folder, "r-2026-03-01.csv", regular)
    write(folder, "r-2026-03-02.csv", regular + erin)
    run_source(engine, settings, GraphActivitySource(settings, path=folder))
    erin_key = ID.person_key("erin@contoso.com")
    with engine.connect() as conn:
        graph = set(conn.scalars(select(Account.person_key).where(Account.platform == "graph")))
        people = set(conn.scalars(select(Person.person_key)))
    assert graph == {ALICE, DAVE, CONCEALED, erin_key}
    assert people == {ALICE, BOB, DAVE, CONCEALED, erin_key}
    assert facts(engine)[(erin_key, dt.date(2026, 3, 2))] == (1, 0, 0, 0)


class _Counting:
    """An identity that counts the keys it makes."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def person_key(self, upn: str) -> str:
        self.made.append(upn)
        return ID.person_key(upn)

    def concealed_key(self, upn: str) -> str:
        self.made.append(upn)
        return ID.concealed_key(upn)


def test_upn_keys_hash_each_new_upn_once():
    from ingest.graph_activity import UpnKeys

    keys, identity = UpnKeys(), _Counting()
    assert keys.of(["alice@contoso.com", HIDDEN, "alice@contoso.com"], identity) == [
        ID.person_key("alice@contoso.com"), CONCEALED, ID.person_key("alice@contoso.com")]
    assert keys.of([HIDDEN, "alice@contoso.com"], identity) == [
        CONCEALED, ID.person_key("alice@contoso.com")]  # all known: nothing hashed
    assert keys.of(["dave@contoso.com", "alice@contoso.com"], identity)[0] == DAVE
    assert sorted(identity.made) == sorted(["alice@contoso.com", HIDDEN, "dave@contoso.com"])
    assert keys.hidden == {CONCEALED}


def test_count_columns_parse_as_int_would():
    from ingest.graph_activity import _counts_of

    cells = ["0", "7", "000012", "999999999999999999", "42"]
    assert _counts_of(cells).tolist() == [int(c) for c in cells]
    assert _counts_of(cells).dtype == np.int64
    assert _counts_of([]).tolist() == []


class _Reading:
    """What `_batches` asks of a Writer: its identity, and a count of rows read."""

    def __init__(self, identity: Identity):
        self.identity = identity
        self.rows = 0

    def read(self, n: int = 1) -> None:
        self.rows += n


def test_reports_read_ahead_leave_the_upns_behind_unless_names_are_kept(tmp_path):
    from ingest.graph_activity import UpnKeys, _batches, parse_reports

    regular = "\r\n".join(r for r in REPORT.split("\r\n") if "carol" not in r)
    path = write(tmp_path, "r-2026-03-01.csv", regular)
    [(_, slim)] = parse_reports([path], False, UpnKeys(), ID)
    assert slim.batch is not None and slim.batch.upns == []
    assert slim.batch.keys == [ALICE, ID.person_key("bob@contoso.com"), CONCEALED, DAVE]
    named = Identity(TEST_HASH_KEY.encode(), pseudonymise=False)
    [(_, full)] = parse_reports([path], True, UpnKeys(), named)
    assert full.batch is not None and full.batch.upns[0] == "Alice@Contoso.com"

    reading = _Reading(ID)
    [batch] = _batches(path, path.name, reading, slim._replace(identity=ID))
    assert (batch.upns, batch.keys, reading.rows) == ([], slim.batch.keys, 4)
    other = _Reading(Identity(b"another-key", pseudonymise=True))  # keys not this writer's:
    [again] = _batches(path, path.name, other, slim._replace(identity=ID))
    assert again.keys is None and again.upns[0] == "Alice@Contoso.com"  # read again
    assert (again.active, other.rows) == (batch.active, 4)


@BACKENDS
def test_read_ahead_or_not_gives_the_same_store(engine, settings, tmp_path, monkeypatch):
    from ingest import graph_activity

    folder = tmp_path / "reports"
    for day in (1, 2, 3):
        write(folder, f"r-2026-03-0{day}.csv", REPORT.replace(",2,5,1,", f",{day},5,1,"))
    outcomes = []
    for ahead in (True, False):
        with write_transaction(engine) as conn:  # each way starts from an empty store
            for model in (DailyActivity, Account, Person):
                conn.execute(model.__table__.delete())
        monkeypatch.setattr(graph_activity, "can_read_ahead", lambda ahead=ahead: ahead)
        results = run_source(engine, settings, GraphActivitySource(settings, path=folder))
        warned = [sum("concealed" in w for w in r.warnings) for r in results]
        dump = _dump(engine)
        outcomes.append((warned, dump["daily_activity"], dump["people"], dump["accounts"]))
    assert outcomes[0][0] == [1, 1, 1]  # concealed names found ahead are still reported
    assert outcomes[0] == outcomes[1]
    assert facts(engine)[(ALICE, dt.date(2026, 3, 3))] == (3, 0, 1, 5)


@BACKENDS
def test_empty_file_fails_clearly(engine, settings, tmp_path):
    path = write(tmp_path, "r-2026-03-01.csv", "", bom=False)
    with pytest.raises(IngestError, match=r"r-2026-03-01\.csv: empty file"):
        run_source(engine, settings, GraphActivitySource(settings, path=path))


@BACKENDS
def test_same_file_twice_gives_an_identical_store(engine, settings, tmp_path):
    path = write(tmp_path, "r-2026-03-01.csv")
    run_source(engine, settings, GraphActivitySource(settings, path=path))
    first = _dump(engine)
    run_source(engine, settings, GraphActivitySource(settings, path=path))
    assert _dump(engine) == first
    assert len(first["daily_activity"]) == 3


@BACKENDS
def test_a_corrected_report_replaces_the_day(engine, settings, tmp_path):
    first = write(tmp_path, "a-2026-03-01.csv")
    run_source(engine, settings, GraphActivitySource(settings, path=first))
    quiet = HEADER + "\n2026-03-03,alice@contoso.com,A,,,,0,0,0,,1\n"
    run_source(engine, settings, GraphActivitySource(
        settings, path=write(tmp_path, "b-2026-03-01.csv", quiet)))
    assert facts(engine) == {}


def _dump(engine: Engine) -> dict[str, list[tuple]]:
    volatile = {"ingest_runs", "refresh_queue", "ingest_state", "locks"}
    meta = MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            if name in volatile:
                continue
            stable = [c for c in table.columns if c.name not in ("created_at", "updated_at")]
            out[name] = sorted(conn.execute(select(*stable)).all(), key=repr)
    return out


# --- the report API -------------------------------------------------------------------------

@pytest.fixture
def api(settings, monkeypatch):
    """Settings with a Graph token and fast retries; sleeps are recorded, never waited."""
    settings._environ = {**settings._environ, "UPTAKE_GRAPH_TOKEN": "tok-SECRET-123"}
    settings.http.max_retries = 2
    settings.http.backoff_s = 1
    waits: list[float] = []
    monkeypatch.setattr(uhttp, "_sleep", waits.append)
    return waits


def _report_for(day: dt.date, posted: int) -> None:
    responses.get(f"{API}(date={day})", status=302,
                  headers={"Location": f"{DOWNLOAD}?day={day}&sig=xyz"})
    body = (HEADER + f"\r\n{day},alice@contoso.com,A,,,{day},{posted},1,0,,1\r\n").encode()
    responses.get(f"{DOWNLOAD}?day={day}&sig=xyz", body=b"\xef\xbb\xbf" + body,
                  content_type="application/octet-stream")


def _set_cursor(engine: Engine, day: dt.date) -> None:
    from ingest.runner import _save_cursor

    with write_transaction(engine) as conn:
        _save_cursor(conn, "graph-yammer-activity", day.isoformat())


@BACKENDS
@responses.activate
def test_api_follows_the_redirect_without_authorization(engine, settings, api):
    _set_cursor(engine, dt.date(2026, 3, 7))
    _report_for(dt.date(2026, 3, 8), 3)
    _report_for(dt.date(2026, 3, 9), 4)
    results = run_source(engine, settings, GraphActivitySource(settings, today=TODAY))
    assert [r.target for r in results] == ["date=2026-03-08", "date=2026-03-09"]
    assert facts(engine) == {
        (ALICE, dt.date(2026, 3, 8)): (3, 0, 0, 1), (ALICE, dt.date(2026, 3, 9)): (4, 0, 0, 1),
    }
    graph_calls = [c for c in responses.calls if c.request.url.startswith(API)]
    download_calls = [c for c in responses.calls if c.request.url.startswith(DOWNLOAD)]
    assert len(graph_calls) == len(download_calls) == 2
    assert all(c.request.headers["Authorization"] == "Bearer tok-SECRET-123" for c in graph_calls)
    assert all("Authorization" not in c.request.headers for c in download_calls)
    assert read_cursor(engine, "graph-yammer-activity") == "2026-03-09"
    assert run_source(engine, settings, GraphActivitySource(settings, today=TODAY)) == []


@BACKENDS
@responses.activate
def test_api_429_waits_for_retry_after(engine, settings, api):
    _set_cursor(engine, dt.date(2026, 3, 8))
    responses.get(f"{API}(date=2026-03-09)", status=429, headers={"Retry-After": "2"})
    _report_for(dt.date(2026, 3, 9), 1)
    [result] = run_source(engine, settings, GraphActivitySource(settings, today=TODAY))
    assert result.status == "success" and api == [2.0]
    settings.http.max_wait_s = 5
    _set_cursor(engine, dt.date(2026, 3, 8))
    responses.reset()
    responses.get(f"{API}(date=2026-03-09)", status=429,
                  headers={"Retry-After": "Tue, 10 Mar 2099 00:00:00 GMT"})
    _report_for(dt.date(2026, 3, 9), 1)
    run_source(engine, settings, GraphActivitySource(settings, today=TODAY))
    assert api == [2.0, 5.0]  # an HTTP-date far away is capped at max_wait_s


@BACKENDS
@responses.activate
def test_api_repeated_5xx_fails_the_run_and_keeps_the_cursor(engine, settings, api):
    _set_cursor(engine, dt.date(2026, 3, 8))
    for _ in range(3):
        responses.get(f"{API}(date=2026-03-09)", status=503)
    with pytest.raises(IngestError, match=r"HTTP 503 after 3 attempts"):
        run_source(engine, settings, GraphActivitySource(settings, today=TODAY))
    assert api == [1.0, 2.0]
    target, status, error = runs(engine)[-1]
    assert (target, status) == ("date=2026-03-09", "failed")
    assert "tok-SECRET-123" not in error
    assert read_cursor(engine, "graph-yammer-activity") == "2026-03-08"
    assert facts(engine) == {}


@BACKENDS
@responses.activate
def test_api_401_is_fatal_and_names_the_permission(engine, settings, api):
    _set_cursor(engine, dt.date(2026, 3, 8))
    responses.get(f"{API}(date=2026-03-09)", status=401)
    with pytest.raises(IngestError) as info:
        run_source(engine, settings, GraphActivitySource(settings, today=TODAY))
    assert "HTTP 401" in str(info.value) and "Reports.Read.All" in str(info.value)
    assert "tok-SECRET-123" not in str(info.value)
    assert api == [] and len(responses.calls) == 1


@BACKENDS
@responses.activate
def test_api_timeout_is_retried_then_fails_clearly(engine, settings, api):
    _set_cursor(engine, dt.date(2026, 3, 8))
    responses.get(f"{API}(date=2026-03-09)", body=requests.Timeout("read timed out"))
    responses.get(f"{API}(date=2026-03-09)", body=requests.Timeout("read timed out"))
    responses.get(f"{API}(date=2026-03-09)", body=requests.Timeout("read timed out"))
    with pytest.raises(IngestError, match=r"timed out after 30s after 3 attempts"):
        run_source(engine, settings, GraphActivitySource(settings, today=TODAY))
    assert runs(engine)[-1][1] == "failed"
    assert read_cursor(engine, "graph-yammer-activity") == "2026-03-08"


@BACKENDS
@responses.activate
def test_api_warns_about_days_already_lost(engine, settings, api):
    _set_cursor(engine, dt.date(2026, 1, 31))
    first = TODAY - dt.timedelta(days=27)  # 2026-02-11
    for i in range(27):
        _report_for(first + dt.timedelta(days=i), 1)
    results = run_source(engine, settings, GraphActivitySource(settings, today=TODAY))
    assert [r.target for r in results][0] == "date=2026-02-11"
    assert results[-1].target == "date=2026-03-09" and len(results) == 27
    assert results[0].warnings == [
        "10 days lost (2026-02-01..2026-02-10): the Graph report API keeps only ~28 days; "
        "schedule this source at least daily"
    ]
    assert all(r.warnings == [] for r in results[1:])


@BACKENDS
@responses.activate
def test_api_one_requested_day_keeps_the_cursor(engine, settings, api):
    _set_cursor(engine, dt.date(2026, 3, 9))
    _report_for(dt.date(2026, 3, 2), 6)
    [result] = run_source(engine, settings, GraphActivitySource(settings, day="2026-03-02",
                                                                today=TODAY))
    assert result.target == "date=2026-03-02"
    assert facts(engine) == {(ALICE, dt.date(2026, 3, 2)): (6, 0, 0, 1)}
    assert read_cursor(engine, "graph-yammer-activity") == "2026-03-09"
    with pytest.raises(IngestError, match=r"--date 2026-01-02 is outside .* \(2026-02-11\.\."):
        run_source(engine, settings, GraphActivitySource(settings, day="2026-01-02", today=TODAY))


def test_api_without_cursor_starts_at_the_lookback(settings):
    windows = list(GraphActivitySource(settings, today=TODAY).windows(None))
    assert (windows[0].start, windows[-1].start, len(windows)) == ("2026-02-11", "2026-03-09", 27)


@BACKENDS
@responses.activate
def test_api_client_credentials(engine, settings, api):
    graph = settings.sources.graph_yammer_activity
    graph.tenant_id, graph.client_id = "contoso.onmicrosoft.com", "app-1"
    settings._environ = {**settings._environ, "UPTAKE_GRAPH_CLIENT_SECRET": "cs-SECRET"}
    token_url = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    responses.post(token_url, json={"access_token": "cc-token", "expires_in": 3599})
    _set_cursor(engine, dt.date(2026, 3, 8))
    _report_for(dt.date(2026, 3, 9), 1)
    run_source(engine, settings, GraphActivitySource(settings, today=TODAY))
    token_call, graph_call, _ = responses.calls
    assert "client_secret=cs-SECRET" in token_call.request.body
    assert "grant_type=client_credentials" in token_call.request.body
    assert graph_call.request.headers["Authorization"] == "Bearer cc-token"


@BACKENDS
def test_api_without_a_token_is_fatal(engine, settings):
    _set_cursor(engine, dt.date(2026, 3, 8))
    with pytest.raises(IngestError, match="no token: set UPTAKE_GRAPH_TOKEN"):
        run_source(engine, settings, GraphActivitySource(settings, today=TODAY))


def test_cli_missing_column_exits_2_with_one_line(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'store.db'}'}}\n"
        "timezone: UTC\nprivacy: {min_group_size: 5}\n"
    )
    report = write(tmp_path, "activity-2026-03-01.csv", REPORT.replace("Posted Count,", ""))
    env = {**os.environ, "UPTAKE_HASH_KEY": "k"}
    cli = [sys.executable, str(ROOT / "app.py"), "--config", str(config)]
    subprocess.run([*cli, "init"], cwd=tmp_path, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*cli, "ingest", "graph-yammer-activity", "--file", str(report)],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "activity-2026-03-01.csv" in lines[0]
    assert "missing required column(s) Posted Count" in lines[0]


@BACKENDS
def test_people_seen_in_a_rolled_back_window_are_saved_when_it_reruns(
    engine, settings, tmp_path, monkeypatch
):
    from ingest import runner
    from store.identity import Identity as Ident

    folder = tmp_path / "reports"
    write(folder, "r-2026-03-01.csv", HEADER + "\n2026-03-02,erin@contoso.com,E,,,,1,0,0,,1\n")
    write(folder, "r-2026-03-02.csv", HEADER + "\n2026-03-03,finn@contoso.com,F,,,,2,0,0,,1\n")
    source = GraphActivitySource(settings, path=folder)
    first, second = list(source.windows(None))
    identity = Ident(TEST_HASH_KEY.encode())
    runner.run_window(engine, settings, source, first, identity)
    real = runner._queue_refresh

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runner, "_queue_refresh", broken)
    with pytest.raises(IngestError, match="disk full"):
        runner.run_window(engine, settings, source, second, identity)
    monkeypatch.setattr(runner, "_queue_refresh", real)
    # the same source object again: finn's person row was rolled back, so it must be written
    runner.run_window(engine, settings, source, second, identity)
    finn = ID.person_key("finn@contoso.com")
    with engine.connect() as conn:
        assert finn in set(conn.scalars(select(Person.person_key)))
        assert finn in set(conn.scalars(select(Account.person_key)))
    assert facts(engine)[(finn, dt.date(2026, 3, 2))] == (2, 0, 0, 0)


@BACKENDS
@pytest.mark.parametrize("path", ["pandas", "rows"])
def test_a_person_repeated_across_chunks_keeps_the_last_counts(
    engine, settings, tmp_path, monkeypatch, path
):
    from ingest import graph_activity

    monkeypatch.setattr(graph_activity, "CHUNK_ROWS", 2)  # the row path reads 2 rows a chunk
    if path == "rows":
        monkeypatch.setattr(graph_activity, "_regular_frame", lambda text, cols: None)
    lines = [
        "2026-03-02,erin@contoso.com,E,,,,1,0,0,,1",
        "2026-03-02,finn@contoso.com,F,,,,3,0,0,,1",
        "2026-03-02,Erin@Contoso.com,E,,,,5,6,7,,1",  # the same person, next chunk
        "2026-03-02,finn@contoso.com,F,,,,0,0,0,,1",  # all zero: no fact, the earlier one stays
    ]
    path = write(tmp_path, "r-2026-03-01.csv", HEADER + "\n" + "\n".join(lines) + "\n")
    run_source(engine, settings, GraphActivitySource(settings, path=path))
    erin, finn = ID.person_key("erin@contoso.com"), ID.person_key("finn@contoso.com")
    day = dt.date(2026, 3, 1)
    assert facts(engine) == {(erin, day): (5, 0, 7, 6), (finn, day): (3, 0, 0, 0)}


# --- the pandas path and the row-by-row path read every report alike -----------------------

ROW = "2026-03-03,{upn},{name},,,,{p},{r},{l},,1"
IRREGULAR = {
    "regular": [ROW.format(upn="alice@contoso.com", name="A", p=2, r=5, l=1),
                ROW.format(upn="bob@contoso.com", name="B", p=0, r=0, l=0)],
    "bad count": [ROW.format(upn="a@contoso.com", name="A", p="x", r=1, l=0),
                  ROW.format(upn="b@contoso.com", name="B", p=1, r=1, l=1)],
    "float and exponent counts": [ROW.format(upn="a@contoso.com", name="A", p="5.0", r=1, l=0),
                                  ROW.format(upn="b@contoso.com", name="B", p="1e3", r=0, l=0)],
    "signed, spaced, zero-padded and blank counts": [
        ROW.format(upn="a@contoso.com", name="A", p="+5", r=" 6", l="007"),
        ROW.format(upn="b@contoso.com", name="B", p="00", r="000", l="0"),
        ROW.format(upn="c@contoso.com", name="C", p="", r=3, l=""),
        ROW.format(upn="d@contoso.com", name="D", p="-1", r=1, l=0),
        ROW.format(upn="e@contoso.com", name="E", p="\u0665", r=1, l=0),  # Arabic-Indic 5
    ],
    "short rows and blank lines": [
        ROW.format(upn="a@contoso.com", name="A", p=1, r=0, l=0),
        "2026-03-03,b@contoso.com,B,,,,1,2",
        "",
        "   ",
        ROW.format(upn="c@contoso.com", name="C", p=0, r=4, l=0),
    ],
    "more fields than the header": [
        ROW.format(upn="a@contoso.com", name="A", p=1, r=0, l=0),
        ROW.format(upn="b@contoso.com", name="B", p=2, r=0, l=0) + ",extra,cells",
    ],
    "first row longer than the header": [
        ROW.format(upn="a@contoso.com", name="A", p=1, r=0, l=0) + ",extra",
        ROW.format(upn="b@contoso.com", name="B", p=2, r=0, l=0) + ",extra",
    ],
    "blank and padded UPNs": [
        ROW.format(upn="  ", name="A", p=1, r=0, l=0),
        ROW.format(upn=" Carol@Contoso.com ", name=" Carol C ", p=1, r=0, l=0),
    ],
    "quoted multi-line name and repeats": [
        ROW.format(upn="a@contoso.com", name='"Ann\r\nA, Jr."', p=1, r=0, l=0),
        ROW.format(upn="A@contoso.com", name="Ann", p=0, r=9, l=0),
        ROW.format(upn="a@contoso.com", name="Ann", p=0, r=0, l=0),
        ROW.format(upn=HIDDEN, name="4291DA7C", p=0, r=1, l=0),
    ],
    "header only": [],
}


def _ingest(settings, engine, path):
    [result] = run_source(engine, settings, GraphActivitySource(settings, path=path))
    return (result.status, result.rows_read, result.rows_written, result.rows_skipped,
            result.warnings)


@BACKENDS
@pytest.mark.parametrize("case", list(IRREGULAR))
def test_pandas_and_row_paths_store_the_same(engine, settings, tmp_path, monkeypatch, case):
    from ingest import graph_activity

    text = "\r\n".join([HEADER, *IRREGULAR[case]]) + "\r\n"
    path = write(tmp_path, "r-2026-03-01.csv", text)
    fast = _ingest(settings, engine, path), _dump(engine)
    with write_transaction(engine) as conn:
        for table in ("daily_activity", "accounts", "people"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    monkeypatch.setattr(graph_activity, "_regular_frame", lambda text, cols: None)
    assert (_ingest(settings, engine, path), _dump(engine)) == fast


@BACKENDS
def test_a_regular_report_takes_the_pandas_path(engine, settings, tmp_path, monkeypatch):
    from ingest import graph_activity

    def no_row_path(*args):
        raise AssertionError("read row by row")

    monkeypatch.setattr(graph_activity, "_row_batch", no_row_path)
    text = "\r\n".join(r for r in REPORT.split("\r\n") if "carol" not in r)
    path = write(tmp_path, "r-2026-03-01.csv", text)
    assert _ingest(settings, engine, path)[:4] == ("success", 4, 7, 0)
    day = dt.date(2026, 3, 1)
    assert facts(engine) == {
        (ALICE, day): (2, 0, 1, 5), (CONCEALED, day): (0, 0, 0, 3), (DAVE, day): (0, 0, 4, 0),
    }


@BACKENDS
def test_irregular_rows_are_skipped_with_their_reasons(engine, settings, tmp_path):
    rows = [*IRREGULAR["short rows and blank lines"], *IRREGULAR["blank and padded UPNs"],
            *IRREGULAR["float and exponent counts"]]
    path = write(tmp_path, "r-2026-03-01.csv", "\r\n".join([HEADER, *rows]) + "\r\n")
    status, read, _, skipped, warnings = _ingest(settings, engine, path)
    assert (status, read, skipped) == ("success", 9, 6)
    assert warnings == [
        "skipped a record: r-2026-03-01.csv: short row (8 fields)",
        "skipped a record: r-2026-03-01.csv: short row (0 fields)",
        "skipped a record: r-2026-03-01.csv: short row (1 fields)",
        "skipped a record: r-2026-03-01.csv: blank User Principal Name",
        "skipped a record: r-2026-03-01.csv: bad count for one user",
    ]
    day = dt.date(2026, 3, 1)
    a, c = (ID.person_key(f"{n}@contoso.com") for n in ("a", "c"))
    carol = ID.person_key("carol@contoso.com")
    assert facts(engine) == {
        (a, day): (1, 0, 0, 0), (c, day): (0, 0, 0, 4), (carol, day): (1, 0, 0, 0),
    }
