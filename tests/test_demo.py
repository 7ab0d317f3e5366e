"""The demo organisation: real file formats, determinism, realism, and ingestion end to end."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

from demo.run import DemoFiles, run_demo, write_demo
from settings import Settings
from store.models import Account, DailyActivity, IngestRun, Message, Person, PersonAttribute
from tests.conftest import BACKENDS

END = dt.date(2026, 4, 14)  # launch 14 February
MEMBERS, DAYS, SEED = 300, 60, 7

MESSAGES_HEADER = [
    "id", "replied_to_id", "parent_id", "thread_id", "conversation_id", "group_id", "group_name",
    "participants", "in_private_group", "in_private_conversation", "sender_id", "sender_type",
    "sender_name", "sender_email", "body", "delegate_id", "api_url", "attachments",
    "deleted_by_id", "deleted_by_type", "created_at", "deleted_at", "title", "html_body",
    "message_type", "gdpr_delete_url",
]
USERS_HEADER = [
    "id", "name", "email", "job_title", "location", "department", "api_url", "deleted_by_id",
    "deleted_by_type", "joined_at", "deleted_at", "suspended_by_id", "suspended_by_type",
    "suspended_at", "guid", "state", "office_user_id",
]
GROUPS_HEADER = [
    "id", "name", "description", "private", "moderated", "api_url", "created_by_id",
    "created_by_type", "created_at", "updated_at", "deleted", "external", "office_group_id",
]
GRAPH_HEADER = (
    "Report Refresh Date,User Principal Name,Display Name,User State,State Change Date,"
    "Last Activity Date,Posted Count,Read Count,Liked Count,Assigned Products,Report Period"
)
ROSTER_HEADER = [
    "email", "department", "region", "country", "manager_email", "hire_date",
    "termination_date", "as_of",
]


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    """A small organisation written once for the module."""
    return write_demo(MEMBERS, DAYS, END, SEED, tmp_path_factory.mktemp("demo"), say=_quiet)


def _zip_csv(path: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(path) as zf:
        text = zf.read(name).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _graph(demo: DemoFiles) -> dict[dt.date, list[dict[str, str]]]:
    out = {}
    for path in demo.graph_files:
        day = dt.date.fromisoformat(path.stem.split("_")[-1])
        out[day] = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"), newline="")))
    return out


def _messages(demo: DemoFiles) -> dict[str, dict[str, str]]:
    """Every message once (the last delivery wins, as an upsert on id would keep)."""
    return {m["id"]: m for p in demo.exports for m in _zip_csv(p, "Messages.csv")}


def _when(text: str) -> dt.datetime:
    if text.endswith("Z"):
        return dt.datetime.fromisoformat(text[:-1])
    return dt.datetime.strptime(text, "%Y/%m/%d %H:%M:%S +0000")


def test_files_use_the_documented_formats(demo: DemoFiles) -> None:
    assert len(demo.graph_files) == DAYS
    assert [p.name for p in demo.rosters] == [
        "hr_roster_2026-02-14.csv", "hr_roster_2026-03-01.csv", "hr_roster_2026-04-01.csv"
    ]
    assert [p.name for p in demo.exports] == [
        "export-2026-02-14_2026-03-01.zip", "export-2026-02-28_2026-04-01.zip",
        "export-2026-03-31_2026-04-15.zip",
    ]
    for path in demo.exports:
        with zipfile.ZipFile(path) as zf:
            assert zf.namelist() == ["Users.csv", "Groups.csv", "Messages.csv", "log.txt",
                                     "request.txt"]
            raw = zf.read("Messages.csv")
            assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
            for name, header in (("Users.csv", USERS_HEADER), ("Groups.csv", GROUPS_HEADER),
                                 ("Messages.csv", MESSAGES_HEADER)):
                first = zf.read(name).decode("utf-8-sig").split("\r\n", 1)[0]
                assert first.split(",") == header
            assert "include=csv" in zf.read("request.txt").decode()
    graph = demo.graph_files[10].read_bytes()
    assert graph.startswith(b"\xef\xbb\xbf" + GRAPH_HEADER.encode() + b"\r\n")
    assert demo.graph_files[10].name == "YammerActivityUserDetail_2026-02-24.csv"
    with demo.rosters[1].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ROSTER_HEADER
    assert {r[-1] for r in rows[1:]} == {"2026-03-01"}


def test_messages_are_realistic_csv(demo: DemoFiles) -> None:
    messages = _messages(demo)
    stamps = [m["created_at"] for m in messages.values()]
    assert any(s.endswith("Z") for s in stamps) and any(s.endswith(" +0000") for s in stamps)
    assert all(len(i) == 16 for i in messages)
    assert any("\n" in m["body"] for m in messages.values())  # quoted multi-line bodies
    assert any(m["deleted_at"] for m in messages.values())
    assert any(m["in_private_conversation"] == "true" and m["participants"].count("user:") == 2
               for m in messages.values())
    assert any(m["message_type"] == "system" for m in messages.values())
    for m in messages.values():
        if m["thread_id"] != m["id"]:
            starter = messages[m["thread_id"]]
            assert _when(starter["created_at"]) < _when(m["created_at"])
            assert m["replied_to_id"] == m["thread_id"]


def test_overlapping_windows_redeliver_the_shared_day(demo: DemoFiles) -> None:
    first = {m["id"] for m in _zip_csv(demo.exports[0], "Messages.csv")}
    second = {m["id"] for m in _zip_csv(demo.exports[1], "Messages.csv")}
    shared = first & second
    assert shared
    for m in _zip_csv(demo.exports[1], "Messages.csv"):
        if m["id"] in shared:
            assert _when(m["created_at"]).date() == dt.date(2026, 2, 28) or m["deleted_at"]


def test_same_seed_and_end_give_identical_bytes(demo: DemoFiles, tmp_path: Path) -> None:
    again = write_demo(MEMBERS, DAYS, END, SEED, tmp_path / "again", say=_quiet)
    mine = sorted(p.relative_to(demo.out) for p in demo.out.rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(again.out) for p in again.out.rglob("*") if p.is_file())
    assert mine == theirs and len(mine) == 3 + 3 + DAYS
    for rel in mine:
        assert (demo.out / rel).read_bytes() == (again.out / rel).read_bytes(), rel
    other = write_demo(MEMBERS, DAYS, END, SEED + 1, tmp_path / "other", say=_quiet)
    assert other.exports[1].read_bytes() != demo.exports[1].read_bytes()


def test_user_states_cover_pending_suspended_and_deleted(demo: DemoFiles) -> None:
    latest = {u["id"]: u for p in demo.exports for u in _zip_csv(p, "Users.csv")}
    states = Counter()
    for u in latest.values():
        if u["deleted_at"]:
            states["deleted"] += 1
        elif u["suspended_at"]:
            states["suspended"] += 1
        elif u["state"] == "soft_delete" and not u["joined_at"]:
            states["pending"] += 1
        elif u["state"] == "active" and u["joined_at"]:
            states["active"] += 1
    assert states["pending"] >= 3 and states["suspended"] >= 1 and states["deleted"] >= 1
    assert states["active"] == MEMBERS - 2  # two activity-only senders have no user record
    joined = sorted(_when(u["joined_at"]).date() for u in latest.values() if u["joined_at"])
    launch = END - dt.timedelta(days=DAYS - 1)
    assert joined[0] == launch
    assert joined[len(joined) // 2] < launch + dt.timedelta(days=10)  # front-loaded
    senders = {m["sender_email"] for m in _messages(demo).values()}
    assert len(senders - {u["email"] for u in latest.values()}) == 2


def test_roster_has_small_groups_managers_and_moves(demo: DemoFiles) -> None:
    snapshots = []
    for path in demo.rosters:
        with path.open(encoding="utf-8", newline="") as handle:
            snapshots.append({r["email"].lower(): r for r in csv.DictReader(handle)})
    last = snapshots[-1]
    departments = Counter(r["department"] for r in last.values())
    assert departments["Executive Office"] == 4 and departments["Internal Audit"] == 3
    assert departments["Claims"] > departments["Legal"] > 0
    assert Counter(r["region"] for r in last.values())["Asia"] == 4
    managers = {r["manager_email"].lower() for r in last.values() if r["manager_email"]}
    assert managers <= set(last)
    assert 0.08 < len(managers) / len(last) < 0.2  # about one manager per 8 people
    moved = [e for e in snapshots[0] if e in last
             and snapshots[0][e]["department"] != last[e]["department"]]
    assert 0 < len(moved) < 0.06 * len(last)
    assert len(last) > MEMBERS  # the workforce is larger than the membership


def test_graph_counts_match_the_messages(demo: DemoFiles) -> None:
    posted: Counter[tuple[dt.date, str]] = Counter()
    for m in _messages(demo).values():
        if m["message_type"] != "system":
            posted[(_when(m["created_at"]).date(), m["sender_email"])] += 1
    graph = _graph(demo)
    seen = Counter()
    for day, rows in graph.items():
        for r in rows:
            seen[(day, r["User Principal Name"])] = int(r["Posted Count"])
            if int(r["Posted Count"]) or int(r["Liked Count"]):
                assert int(r["Read Count"]) >= 1
                assert r["Last Activity Date"] == day.isoformat()
    assert +seen == +posted
    assert len(graph[END]) == MEMBERS


def test_activity_mix_and_conversations(demo: DemoFiles) -> None:
    messages = _messages(demo)
    counted = [m for m in messages.values() if m["message_type"] != "system"]
    posts = sum(m["thread_id"] == m["id"] for m in counted)
    replies = len(counted) - posts
    likes = sum(int(r["Liked Count"]) for rows in _graph(demo).values() for r in rows)
    assert likes > replies > posts > 0
    by_other = [m["sender_id"] != messages[m["thread_id"]]["sender_id"]
                for m in counted if m["thread_id"] != m["id"]]
    assert np.mean(by_other) > 0.9
    with demo.rosters[-1].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    managers = {r["manager_email"].lower() for r in rows if r["manager_email"]}
    department = {r["email"].lower(): r["department"] for r in rows}
    mix = defaultdict(Counter)
    cross = []
    for m in counted:
        role = "manager" if m["sender_email"] in managers else "other"
        mix[role]["post" if m["thread_id"] == m["id"] else "reply"] += 1
        if m["thread_id"] != m["id"]:
            starter = messages[m["thread_id"]]["sender_email"]
            cross.append(department.get(m["sender_email"]) != department.get(starter))
    ratio = {role: c["reply"] / c["post"] for role, c in mix.items()}
    assert ratio["manager"] > 1.5 * ratio["other"]
    assert 0.1 < np.mean(cross) < 0.6


def test_weekday_engaged_share_rises_and_weekends_are_quiet(demo: DemoFiles) -> None:
    share = {}
    for day, rows in _graph(demo).items():
        engaged = sum(1 for r in rows if int(r["Posted Count"]) or int(r["Liked Count"]))
        share[day] = engaged / len(rows)
    weekdays = [s for d, s in sorted(share.items()) if d.weekday() < 5]
    weekends = [s for d, s in sorted(share.items()) if d.weekday() >= 5]
    assert np.mean(weekdays[-10:]) > np.mean(weekdays[:10]) + 0.1
    assert np.mean(weekends) < 0.5 * np.mean(weekdays)
    assert demo.summary.engaged.tolist() == [
        round(share[END - dt.timedelta(days=DAYS - 1 - t)] * demo.summary.members[t])
        for t in range(DAYS)
    ]


def test_a_year_reaches_more_than_half_engaged_on_weekdays(tmp_path: Path) -> None:
    year = write_demo(500, 365, END, SEED, tmp_path / "year", say=_quiet)
    shares = []
    for path in year.graph_files[-28:]:
        day = dt.date.fromisoformat(path.stem.split("_")[-1])
        if day.weekday() < 5:
            rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"), newline="")))
            engaged = sum(1 for r in rows if int(r["Posted Count"]) or int(r["Liked Count"]))
            shares.append(engaged / len(rows))
    assert np.median(shares) > 0.5
    assert year.summary.weekday_share() == pytest.approx(np.median(shares))
    first_month = year.summary.engaged[:28] / year.summary.members[:28]
    assert np.median(first_month[year.summary.weekday[:28]]) < 0.35  # adoption takes time


def test_too_few_members_is_a_clear_error(tmp_path: Path) -> None:
    from errors import UptakeError

    with pytest.raises(UptakeError, match="at least 50"):
        write_demo(20, 30, END, SEED, tmp_path, say=_quiet)


@BACKENDS
def test_run_demo_ingests_through_the_real_ingesters(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    said: list[str] = []
    files = run_demo(settings, members=120, days=21, seed=3, out=tmp_path / "demo",
                     end=END, say=said.append)
    assert files is not None
    graph_rows = [r for rows in _graph(files).values() for r in rows]
    emails = set()
    for path in files.rosters:
        with path.open(encoding="utf-8", newline="") as handle:
            emails |= {r["email"].lower() for r in csv.DictReader(handle)}
    users = {u["id"]: u for p in files.exports for u in _zip_csv(p, "Users.csv")}
    messages = _messages(files)
    with engine.connect() as conn:
        def count(model, *where):  # type: ignore[no-untyped-def]
            return conn.scalar(select(func.count()).select_from(model).where(*where))

        assert count(IngestRun, IngestRun.status != "success") == 0
        assert count(IngestRun) == len(files.rosters) + len(files.exports) + 21
        assert count(Person) == len(emails | {m["sender_email"] for m in messages.values()})
        assert count(Person, Person.email.is_not(None)) == 0  # pseudonymised
        assert count(Account, Account.has_user_record.is_(True)) == len(users)
        assert count(Message) == len(messages)
        active_rows = sum(1 for r in graph_rows
                          if r["Posted Count"] != "0" or r["Liked Count"] != "0"
                          or r["Read Count"] != "0")
        assert count(DailyActivity, DailyActivity.source == "graph_yammer_activity") == active_rows
        assert count(DailyActivity, DailyActivity.source == "yammer_export") == len(
            {(m["sender_email"], _when(m["created_at"]).date()) for m in messages.values()
             if m["message_type"] != "system"}
        )
        assert count(PersonAttribute, PersonAttribute.attribute == "department") > 120
    assert any("store ready" in line for line in said)

    again: list[str] = []
    assert run_demo(settings, members=120, days=21, seed=3, out=tmp_path / "demo", end=END,
                    if_empty=True, say=again.append) is None
    assert again == [again[0]] and "nothing to do" in again[0]


def test_demo_body_text_never_reaches_the_store(settings: Settings, tmp_path: Path) -> None:
    files = run_demo(settings, members=60, days=10, seed=5, out=tmp_path / "demo", end=END,
                     say=_quiet)
    assert files is not None
    database = Path(settings.database.url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert b"policyholder" not in stored and b"five-star" not in stored
    bodies = [m["body"] for m in _messages(files).values()]
    assert any("policyholder" in b or "five-star" in b for b in bodies)
