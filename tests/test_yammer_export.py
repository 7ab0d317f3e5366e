"""yammer-export from files: hand-checked rows and daily activity, bad input, idempotence."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

import ingest.yammer_export as yammer_export
from errors import BadInputError, IngestError
from ingest.export_zip import is_unsafe
from ingest.runner import read_cursor, run_source
from ingest.yammer_csv import decode_state
from ingest.yammer_export import YammerExportSource
from store import message_activity
from store.identity import Identity
from store.message_activity import rebuild_message_activity
from store.models import Account, DailyActivity, Group, IngestRun, Message, Person, RefreshQueue
from tests.conftest import BACKENDS, TEST_HASH_KEY
from tests.yammer_fixtures import (
    BODY,
    GROUPS,
    MESSAGES_NEW,
    USERS,
    csv_bytes,
    export_zip,
    group,
    message,
    user,
    write_zip,
)

ROOT = Path(__file__).resolve().parent.parent
ID = Identity(TEST_HASH_KEY.encode())
ANA, BOB, CARL, DORA, EVE = (
    "1111111111111111", "2000000000000002", "3000000000000003", "4000000000000004",
    "5000000000000005",
)
FRANK, GUS, BOT = "6000000000000006", "7000000000000007", "9000000000000009"
T1, T4 = "2000337749565441", "2000337749565444"
KEY = {
    "ana": ID.person_key("Ana@Example.com"),
    "bob": ID.person_key("bob@example.com"),
    "frank": ID.person_key("frank@example.com"),
    "gus": ID.account_key("yammer", GUS),
}


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute)


def users(style: str = "iso") -> list[dict[str, str]]:
    return [
        user(ANA, " Ana@Example.com ", joined=at(1, 8), style=style),
        user(BOB, "bob@example.com", joined=at(1, 9), style=style),
        user(CARL, "carl@example.com", "soft_delete", style=style),
        user(DORA, "dora@example.com", "soft_delete", joined=at(10, 9, month=1),
             suspended=at(2, 10), style=style),
        user(EVE, "eve@example.com", "soft_delete", joined=at(10, 9, month=1),
             suspended=at(1, 9, month=2), deleted=at(2, 10), style=style),
    ]


def messages(style: str = "iso") -> list[dict[str, str]]:
    return [
        message(T1, T1, ANA, at(2, 9), email="ana@example.com", style=style),
        message("2000337749565442", T1, BOB, at(2, 10), email="bob@example.com", style=style),
        message("2000337749565443", T1, ANA, at(2, 11), style=style),  # email blank: via account
        message(T4, T4, BOB, at(2, 23, 30), email="bob@example.com", style=style),
        message("2000337749565445", T4, FRANK, at(3, 1), email="frank@example.com", style=style),
        message("2000337749565446", "2000337749565446", ANA, at(3, 8), style=style,
                deleted_at="2026-03-04T08:00:00Z"),
        message("2000337749565447", "2000337749565447", GUS, at(3, 9), style=style),
        message("2000337749565448", T1, BOT, at(3, 10), sender_type="bot", style=style),
        message("2000337749565449", T1, BOB, at(3, 11), message_type="system", style=style),
    ]


def groups() -> list[dict[str, str]]:
    return [group("5259393", "All Company"), group("5259394", "Claims Club", private="TRUE")]


def ingest(engine, settings, path: Path):
    return run_source(engine, settings, YammerExportSource(settings, file=path))


def activity(engine) -> dict[tuple[str, str], tuple[int, int]]:
    names = {v: k for k, v in KEY.items()}
    with engine.connect() as conn:
        rows = conn.execute(
            select(DailyActivity.person_key, DailyActivity.day, DailyActivity.posts,
                   DailyActivity.replies, DailyActivity.reactions, DailyActivity.reads)
            .where(DailyActivity.source == "yammer_export")
        ).all()
    assert all(r.reactions == 0 and r.reads == 0 for r in rows)
    return {(names[r.person_key], r.day.isoformat()): (r.posts, r.replies) for r in rows}


def snapshot(engine) -> dict[str, list[tuple]]:
    tables = {
        "people": select(Person.person_key, Person.email, Person.display_name, Person.matched),
        "accounts": select(*(c for c in Account.__table__.c if c.name != "updated_at")),
        "messages": select(Message.__table__),
        "groups": select(Group.__table__),
        "activity": select(DailyActivity.__table__),
    }
    with engine.connect() as conn:
        return {name: sorted(tuple(r) for r in conn.execute(q)) for name, q in tables.items()}


def runs(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(IngestRun.__table__).order_by(IngestRun.id)).all()


EXPECTED_UTC = {
    ("ana", "2026-03-02"): (1, 1),
    ("bob", "2026-03-02"): (1, 1),
    ("frank", "2026-03-03"): (0, 1),
    ("ana", "2026-03-03"): (1, 0),  # deleted later, still counts on the day it was posted
    ("gus", "2026-03-03"): (1, 0),
}


@BACKENDS
@pytest.mark.parametrize(
    ("layout", "style"), [("new", "iso"), ("old", "slash"), ("new", "slash"), ("old", "iso")]
)
def test_small_export_hand_checked(engine, settings, tmp_path, monkeypatch, layout, style):
    monkeypatch.setattr(yammer_export, "CHUNK", 3)  # several chunks per file
    path = export_zip(
        tmp_path / "export.zip", users=users(style), messages=messages(style), groups=groups(),
        layout=layout,
    )
    [result] = ingest(engine, settings, path)
    assert (result.status, result.rows_read, result.rows_skipped) == ("success", 16, 0)
    assert activity(engine) == EXPECTED_UTC
    with engine.connect() as conn:
        accounts = {a.account_id: a for a in conn.execute(select(Account.__table__))}
        msgs = {m.message_id: m for m in conn.execute(select(Message.__table__))}
        group_rows = conn.execute(select(Group.__table__).order_by(Group.group_id)).all()
        people = conn.execute(select(Person.__table__)).all()
    assert {a: (r.state, r.has_user_record) for a, r in accounts.items()} == {
        ANA: ("active", True), BOB: ("active", True), CARL: ("pending", True),
        DORA: ("suspended", True), EVE: ("deleted", True), FRANK: (None, False),
        GUS: (None, False),
    }
    assert accounts[ANA].person_key == KEY["ana"]  # email trimmed and lower-cased
    assert accounts[ANA].joined_at == at(1, 8)
    assert (accounts[EVE].suspended_at, accounts[EVE].deleted_at) == (at(1, 9, month=2), at(2, 10))
    assert (accounts[ANA].department, accounts[ANA].location) == ("Claims", "Zurich")
    assert accounts[FRANK].person_key == KEY["frank"]
    assert accounts[GUS].person_key == KEY["gus"]  # no email anywhere: keyed by account id
    assert len(people) == 7 and all(p.email is None and p.display_name is None for p in people)
    assert len(msgs) == 9
    starter = msgs[T1]
    assert (starter.thread_id, starter.is_thread_starter, starter.person_key) == (
        T1, True, KEY["ana"]
    )
    assert msgs["2000337749565443"].person_key == KEY["ana"]  # resolved via the account
    assert msgs["2000337749565442"].replied_to_id == T1
    assert msgs["2000337749565442"].is_thread_starter is False
    assert msgs[T4].created_at == at(2, 23, 30)
    assert msgs["2000337749565446"].deleted_at == at(4, 8)
    bot = msgs["2000337749565448"]
    assert (bot.sender_type, bot.person_key, bot.sender_account_id) == ("bot", None, BOT)
    assert msgs["2000337749565449"].message_type == "system"
    assert msgs[T1].in_private_group is False and msgs[T1].group_id == "5259393"
    assert [(g.group_id, g.name, g.private, g.external) for g in group_rows] == [
        ("5259393", "All Company", False, False), ("5259394", "Claims Club", True, False)
    ]
    assert read_cursor(engine, "yammer-export") is None  # a file never moves the cursor


@BACKENDS
def test_time_zone_moves_late_message_to_next_local_day(engine, settings, tmp_path):
    settings.timezone = "Europe/Berlin"
    path = export_zip(tmp_path / "e.zip", users=users(), messages=messages(), groups=groups())
    ingest(engine, settings, path)
    expected = dict(EXPECTED_UTC)
    expected[("bob", "2026-03-02")] = (0, 1)  # 23:30 UTC is 00:30 on 3 March in Berlin
    expected[("bob", "2026-03-03")] = (1, 0)
    assert activity(engine) == expected


@BACKENDS
def test_time_zone_lone_late_message_queues_its_local_day(engine, settings, tmp_path):
    settings.timezone = "Europe/Berlin"
    path = export_zip(tmp_path / "late.zip", messages=[
        message(T4, T4, BOB, at(2, 23, 30), email="bob@example.com"),
    ])
    ingest(engine, settings, path)
    assert activity(engine) == {("bob", "2026-03-03"): (1, 0)}
    with engine.connect() as conn:
        assert conn.execute(select(RefreshQueue.day_from, RefreshQueue.day_to)).all() == [
            (dt.date(2026, 3, 3), dt.date(2026, 3, 3))
        ]


@BACKENDS
def test_refresh_queue_from_user_dates_then_message_days(engine, settings, tmp_path):
    path = export_zip(tmp_path / "e.zip", users=users(), messages=messages(), groups=groups())
    ingest(engine, settings, path)
    ingest(engine, settings, path)  # same users again: only the message days are touched
    later = export_zip(
        tmp_path / "later.zip",
        users=[user(BOB, "bob@example.com", "soft_delete", joined=at(1, 9), suspended=at(5, 9))],
    )
    ingest(engine, settings, later)
    with engine.connect() as conn:
        queue = conn.execute(
            select(RefreshQueue.day_from, RefreshQueue.day_to).order_by(RefreshQueue.id)
        ).all()
    assert [(a.isoformat(), b and b.isoformat()) for a, b in queue] == [
        ("2026-01-10", None),  # earliest join among the new users (dora, eve)
        ("2026-03-02", "2026-03-03"),
        ("2026-03-01", None),  # bob suspended on 5 March: from his (unchanged) join day
    ]


@BACKENDS
def test_same_export_twice_gives_identical_store(engine, settings, tmp_path):
    path = export_zip(tmp_path / "e.zip", users=users(), messages=messages(), groups=groups())
    ingest(engine, settings, path)
    first = snapshot(engine)
    ingest(engine, settings, path)
    assert snapshot(engine) == first
    assert [r.status for r in runs(engine)] == ["success", "success"]


@BACKENDS
def test_overlapping_exports_never_double_count(engine, settings, tmp_path):
    all_messages = messages()
    one = export_zip(tmp_path / "1.zip", users=users(), messages=all_messages[:5])
    redelivered = dict(all_messages[3], deleted_at="2026-03-04T09:00:00Z")  # edited: re-sent
    two = export_zip(tmp_path / "2.zip", messages=[all_messages[2], redelivered, *all_messages[4:]])
    ingest(engine, settings, one)
    ingest(engine, settings, two)
    assert activity(engine) == EXPECTED_UTC
    with engine.connect() as conn:
        assert conn.scalar(select(Message.deleted_at).where(Message.message_id == T4)) == at(4, 9)


@BACKENDS
def test_redelivered_messages_are_found_whatever_the_ids_lengths(engine, settings, tmp_path):
    """On SQLite a batch's stored ids are found by one scan of its id range, unless the range
    holds more stored ids than the batch has ("9" sorts after "105"): then id by id."""
    looked_up: list[list[str]] = []

    def spy(conn, cursor, statement, parameters, context, many):  # noqa: ARG001
        if "json_each" in statement and "FROM messages" in statement:
            looked_up.append(sorted(json.loads(parameters[-1])))

    event.listen(engine, "before_cursor_execute", spy)
    posts = [message(str(i), str(i), ANA, at(2, 9)) for i in range(100, 110)]
    ingest(engine, settings, export_zip(tmp_path / "1.zip", users=users(), messages=posts))
    narrow = [*posts[8:], *(message(i, i, ANA, at(3, 9)) for i in ("110", "111"))]
    ingest(engine, settings, export_zip(tmp_path / "2.zip", messages=narrow))
    wide = [message("9", "9", BOB, at(3, 10)), message("105", "105", ANA, at(4, 9))]  # moved day
    ingest(engine, settings, export_zip(tmp_path / "3.zip", messages=wide))
    assert activity(engine) == {
        ("ana", "2026-03-02"): (9, 0), ("ana", "2026-03-03"): (2, 0),
        ("ana", "2026-03-04"): (1, 0), ("bob", "2026-03-03"): (1, 0),
    }
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Message)) == 13
    if engine.dialect.name == "sqlite":  # ids looked up one by one (none for the first export)
        assert looked_up == [["108", "109"], ["105", "9"]]


@BACKENDS
def test_senders_with_stored_accounts_need_no_key_lookup(engine, settings, tmp_path):
    """A later export's senders found among the stored accounts are found with their people
    (one join), so the run's key checks look none of them up; new senders are made."""
    people_lookups: list[str] = []

    def spy(conn, cursor, statement, parameters, context, many):  # noqa: ARG001
        if statement.lstrip().startswith("SELECT people.person_key"):
            people_lookups.append(statement)

    ingest(engine, settings, export_zip(tmp_path / "users.zip", users=users()))
    event.listen(engine, "before_cursor_execute", spy)
    [result] = ingest(engine, settings, export_zip(tmp_path / "msgs.zip", messages=messages()))
    assert (result.status, result.rows_read) == ("success", 9)
    assert people_lookups == []
    assert activity(engine) == EXPECTED_UTC
    with engine.connect() as conn:
        keys = dict(conn.execute(select(Message.message_id, Message.person_key)).all())
    assert keys["2000337749565443"] == KEY["ana"]  # via Ana's stored account
    assert keys["2000337749565447"] == KEY["gus"]  # a sender first seen here


@BACKENDS
def test_a_sender_the_file_never_named_fails_the_run(engine, settings, tmp_path, monkeypatch):
    """Were a parser to leave a new sender out of every batch, the run stops rather than
    store that sender's messages without a person."""
    from ingest import yammer_csv

    parse = yammer_csv.parse_messages
    monkeypatch.setattr(yammer_csv, "parse_messages",
                        lambda cells, named=(): parse(cells, {FRANK}))
    with pytest.raises(IngestError, match=f"sender {FRANK}: not named by its file"):
        ingest(engine, settings, export_zip(tmp_path / "m.zip", messages=messages()))
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Message)) == 0


@BACKENDS
def test_duplicate_ids_in_one_file_last_wins(engine, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(yammer_export, "CHUNK", 2)  # the duplicates straddle a chunk boundary
    path = export_zip(
        tmp_path / "dup.zip",
        users=[user(ANA, "ana@example.com", joined=at(1, 8)), user(BOB, "bob@example.com"),
               user(ANA, "ana@example.com", joined=at(1, 8), department="Sales")],
        messages=[message(T1, T1, ANA, at(2, 9)), message(T4, T4, BOB, at(2, 10)),
                  message(T1, T1, ANA, at(2, 9), deleted_at="2026-03-05T00:00:00Z")],
    )
    [result] = ingest(engine, settings, path)
    assert result.rows_read == 6
    with engine.connect() as conn:
        assert conn.scalar(select(Account.department).where(Account.account_id == ANA)) == "Sales"
        assert conn.scalar(select(Message.deleted_at).where(Message.message_id == T1)) == at(5, 0)
        assert conn.scalar(select(Message.message_id).where(Message.message_id == T1)) == T1
    assert activity(engine) == {("ana", "2026-03-02"): (1, 0), ("bob", "2026-03-02"): (1, 0)}


@BACKENDS
def test_unparseable_timestamps_are_skipped_and_counted(engine, settings, tmp_path):
    path = export_zip(
        tmp_path / "ts.zip",
        users=[user(ANA, "ana@example.com", joined_at="last Tuesday"),
               user(BOB, "bob@example.com", joined=at(1, 9))],
        messages=[message(T1, T1, BOB, "2026-13-45 25:00"), message(T4, T4, BOB, at(2, 10)),
                  message("2000337749565450", T4, BOB, "null")],
    )
    [result] = ingest(engine, settings, path)
    assert (result.status, result.rows_read, result.rows_skipped) == ("success", 5, 3)
    assert any("last Tuesday" in w for w in result.warnings)
    assert any("2026-13-45" in w for w in result.warnings)
    with engine.connect() as conn:
        assert list(conn.scalars(select(Message.message_id))) == [T4]
        assert list(conn.scalars(select(Account.account_id))) == [BOB]
    [run] = runs(engine)
    assert (run.status, run.rows_skipped) == ("success", 3)


@BACKENDS
def test_bom_crlf_multiline_quoted_body(engine, settings, tmp_path):
    body = 'Line one, with "quotes"\r\nline two\nid,thread_id,sender_id\r\n' + BODY
    rows = [message(T1, T1, ANA, at(2, 9), body=body, html_body=f"<p>{body}</p>"),
            message(T4, T4, ANA, at(2, 10), body=body)]
    path = write_zip(
        tmp_path / "bom.zip",
        {"Users.csv": csv_bytes(USERS, [user(ANA, "ana@example.com", joined=at(1, 8))],
                                bom=True, crlf=True),
         "Messages.csv": csv_bytes(MESSAGES_NEW, rows, bom=True, crlf=True)},
    )
    [result] = ingest(engine, settings, path)
    assert (result.rows_read, result.rows_skipped) == (3, 0)
    assert activity(engine) == {("ana", "2026-03-02"): (2, 0)}


@BACKENDS
def test_cp1252_bytes(engine, settings, tmp_path):
    row = user(ANA, "ana@example.com", joined=at(1, 8), department="Département Forêt",
               location="Zürich", name="Zoë Ünal")
    path = write_zip(tmp_path / "cp.zip",
                     {"Users.csv": csv_bytes(USERS, [row], encoding="cp1252")})
    ingest(engine, settings, path)
    with engine.connect() as conn:
        account = conn.execute(select(Account.__table__)).one()
    assert (account.department, account.location) == ("Département Forêt", "Zürich")


@BACKENDS
def test_groups_and_users_in_network_folders(engine, settings, tmp_path):
    path = write_zip(tmp_path / "nets.zip", {
        "107/Users.csv": csv_bytes(USERS, [user(ANA, "ana@example.com", joined=at(1, 8))]),
        "107/Groups.csv": csv_bytes(GROUPS, [group("1", "Home")]),
        "2201/Groups.csv": csv_bytes(GROUPS, [group("2", "External", external="true")]),
        "2201/Files.csv": b"id,file_id\n1,2\n",
    })
    [result] = ingest(engine, settings, path)
    assert result.rows_read == 3
    with engine.connect() as conn:
        assert conn.execute(select(Group.group_id, Group.external).order_by(Group.group_id)).all() \
            == [("1", False), ("2", True)]


@BACKENDS
def test_missing_required_column_names_it_and_writes_nothing(engine, settings, tmp_path):
    header = [c for c in MESSAGES_NEW if c != "sender_id"]
    path = write_zip(tmp_path / "bad.zip", {
        "Users.csv": csv_bytes(USERS, users()),
        "Messages.csv": csv_bytes(header, messages()),
    })
    with pytest.raises(IngestError, match=r"bad\.zip/Messages\.csv: missing required.*sender_id"):
        ingest(engine, settings, path)
    assert snapshot(engine) == {k: [] for k in ("people", "accounts", "messages", "groups",
                                                "activity")}
    [run] = runs(engine)
    assert run.status == "failed" and "sender_id" in run.error and run.rows_written == 0


@BACKENDS
def test_empty_member_fails_header_only_is_fine(engine, settings, tmp_path):
    empty = write_zip(tmp_path / "empty.zip", {"Messages.csv": b""})
    with pytest.raises(IngestError, match=r"Messages\.csv: empty file"):
        ingest(engine, settings, empty)
    header_only = write_zip(tmp_path / "h.zip", {"Messages.csv": csv_bytes(MESSAGES_NEW, [])})
    [result] = ingest(engine, settings, header_only)
    assert (result.status, result.rows_read) == ("success", 0)
    assert [r.status for r in runs(engine)] == ["failed", "success"]


def _corrupt_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("Messages.csv")
    start = info.header_offset + 30 + len(info.filename) + 10
    data[start:start + 40] = b"\x00" * 40
    path.write_bytes(bytes(data))


@BACKENDS
@pytest.mark.parametrize("damage", ["truncated", "corrupt", "zero-bytes", "not-a-zip"])
def test_damaged_zip_is_bad_input_naming_the_file(engine, settings, tmp_path, damage):
    path = export_zip(tmp_path / "broken.zip", users=users(), messages=messages())
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "corrupt":
        _corrupt_middle(path)
    elif damage == "zero-bytes":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"<html>Service Unavailable</html>")
    with pytest.raises(IngestError, match=r"broken\.zip: (not a ZIP|corrupt ZIP)") as caught:
        ingest(engine, settings, path)
    assert isinstance(caught.value.__cause__, BadInputError)
    assert snapshot(engine)["people"] == []
    assert runs(engine)[0].status == "failed"


@BACKENDS
@pytest.mark.parametrize("entry", ["../../evil.csv", "/etc/cron.d/evil", "net/../../x/Users.csv",
                                   "C:\\Windows\\evil.csv", "..\\evil.csv"])
def test_zip_slip_entry_refused_before_anything_is_written(engine, settings, tmp_path, entry):
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Users.csv", csv_bytes(USERS, users()))
        archive.writestr(zipfile.ZipInfo(entry), b"id,email,state\n1,x@example.com,active\n")
    with pytest.raises(IngestError, match="unsafe path in ZIP entry"):
        ingest(engine, settings, path)
    assert snapshot(engine)["accounts"] == []
    assert not (tmp_path.parent / "evil.csv").exists()


def test_unsafe_names():
    assert [is_unsafe(n) for n in ["Users.csv", "107/Users.csv", "a..b.csv", "x/../y"]] == [
        False, False, False, True,
    ]


def test_zip_without_export_files_is_bad_input(tmp_path, settings, engine):
    path = write_zip(tmp_path / "other.zip", {"Files.csv": b"id\n1\n", "Admins.csv": b"id\n1\n"})
    with pytest.raises(IngestError, match="none of Users.csv, Groups.csv, Messages.csv"):
        ingest(engine, settings, path)


def test_body_never_stored(engine, settings, tmp_path):
    """SQLite only: the database files are scanned byte by byte for the body and identities."""
    path = export_zip(tmp_path / "e.zip", users=users(), messages=messages(), groups=groups())
    ingest(engine, settings, path)
    engine.dispose()
    db = Path(settings.database.url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"2000337749565441" in stored and b"5259393" in stored  # the scan sees the store
    for secret in (b"Zebra-7731", b"quarterly numbers", b"example.com", b"Person 111"):
        assert secret not in stored


def test_decode_state():
    j, s, d = at(1, 1), at(2, 1), at(3, 1)
    assert decode_state("active", j, None, None) == "active"
    assert decode_state("soft_delete", None, None, None) == "pending"
    assert decode_state("soft_delete", j, s, None) == "suspended"
    assert decode_state("soft_delete", j, s, d) == "deleted"
    assert decode_state("soft_delete", j, None, None) == "suspended"


def test_cli_bad_zip_prints_one_line_and_exits_2(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: 'sqlite:///{tmp_path / 'cli.db'}'}}\ntimezone: UTC\n"
        f"privacy: {{min_group_size: 5, hash_key_file: '{tmp_path / 'hash.key'}'}}\n"
    )
    bad = tmp_path / "BAD.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    env = {**os.environ, "UPTAKE_HASH_KEY": TEST_HASH_KEY}
    env.pop("UPTAKE_DATABASE_URL", None)
    app = [sys.executable, str(ROOT / "app.py"), "--config", str(config)]
    init = subprocess.run([*app, "init"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    done = subprocess.run([*app, "ingest", "yammer-export", "--file", str(bad)], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "BAD.zip" in lines[0] and "not a ZIP" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def recounted(engine, settings) -> list[tuple]:
    """The message facts as a recount of every stored message gives them (rolled back)."""
    query = select(DailyActivity.__table__).where(DailyActivity.source == "yammer_export")
    with engine.connect() as conn, conn.begin() as tx:
        rebuild_message_activity(conn, settings.zone)
        rows = sorted(tuple(r) for r in conn.execute(query))
        tx.rollback()
    return rows


def message_facts(engine) -> list[tuple]:
    query = select(DailyActivity.__table__).where(DailyActivity.source == "yammer_export")
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(query))


@BACKENDS
@pytest.mark.parametrize("tally_rows", [1, 10_000])
def test_redelivered_changed_messages_keep_facts_exact(
    engine, settings, tmp_path, monkeypatch, tally_rows
):
    """Facts are kept up to date by counting what each load changes, never recounting: after
    re-deliveries that move a message to another day, another sender, another kind, facts
    equal a recount of the stored messages, in a zone with a DST change (Paris, 29 March)."""
    monkeypatch.setattr(message_activity, "TALLY_ROWS", tally_rows)  # 1: flush every batch
    monkeypatch.setattr(yammer_export, "CHUNK", 3)
    settings.timezone = "Europe/Paris"
    t = [f"20003377495657{i:02d}" for i in range(8)]
    first = [
        message(t[0], t[0], ANA, at(28, 22, 30), email="ana@example.com"),  # 23:30 CET, 28th
        message(t[1], t[0], BOB, at(28, 23, 30), email="bob@example.com"),  # 00:30 CET, 29th
        message(t[2], t[0], ANA, at(29, 21, 59)),  # 23:59 CEST, 29th
        message(t[3], t[3], BOB, at(29, 22, 0), email="bob@example.com"),  # 00:00 CEST, 30th
        message(t[4], t[3], ANA, at(30, 9)),
    ]
    ingest(engine, settings, export_zip(tmp_path / "1.zip", users=users(), messages=first))
    assert activity(engine) == {
        ("ana", "2026-03-28"): (1, 0), ("bob", "2026-03-29"): (0, 1),
        ("ana", "2026-03-29"): (0, 1), ("bob", "2026-03-30"): (1, 0),
        ("ana", "2026-03-30"): (0, 1),
    }
    assert message_facts(engine) == recounted(engine, settings)
    second = [
        message(t[1], t[0], ANA, at(28, 23, 30)),  # now Ana's: Bob's 29th is left empty
        message(t[2], t[0], ANA, at(29, 22, 1)),  # a minute later: the 30th
        message(t[3], t[3], BOB, at(29, 22, 0), message_type="system"),  # no longer counted
        message(t[4], t[4], ANA, at(30, 9)),  # a reply turned thread starter
        message(t[5], t[5], BOB, at(30, 10), email="bob@example.com"),  # new
        message(t[5], t[5], BOB, at(30, 10), email="bob@example.com"),  # repeated in the file
        message(t[6], t[5], BOT, at(30, 11), sender_type="bot"),  # a bot: never counted
    ]
    ingest(engine, settings, export_zip(tmp_path / "2.zip", messages=second))
    assert activity(engine) == {
        ("ana", "2026-03-28"): (1, 0), ("ana", "2026-03-29"): (0, 1),
        ("ana", "2026-03-30"): (1, 1), ("bob", "2026-03-30"): (1, 0),
    }
    assert message_facts(engine) == recounted(engine, settings)
    ingest(engine, settings, export_zip(tmp_path / "2.zip", messages=second))  # again: no change
    assert message_facts(engine) == recounted(engine, settings)
    with engine.connect() as conn:
        spans = conn.execute(select(RefreshQueue.day_from, RefreshQueue.day_to)).all()
    for day in (dt.date(2026, 3, 28), dt.date(2026, 3, 29), dt.date(2026, 3, 30)):
        assert any(lo <= day and (hi is None or day <= hi) for lo, hi in spans), day


@BACKENDS
def test_reingesting_purged_messages_never_counts_them_twice(engine, settings, tmp_path):
    """Retention purges messages and keeps their facts; an export holding them again must not
    add them on top: days older than the retention cutoff are recounted."""
    from store.erase import purge_old_messages

    settings.privacy.retention_days = 30  # every message here (March 2026) is older
    path = export_zip(tmp_path / "e.zip", users=users(), messages=messages(), groups=groups())
    ingest(engine, settings, path)
    assert activity(engine) == EXPECTED_UTC
    assert purge_old_messages(engine, settings) == len(messages())
    ingest(engine, settings, path)
    assert activity(engine) == EXPECTED_UTC
