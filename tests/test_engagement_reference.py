"""The CLI's engagement CSV against an independent, naive computation from the raw export files.

This mirrors the outside check: random small organisations written in the platforms' real
formats (Yammer export ZIPs with overlapping windows, Graph daily CSVs, HR roster snapshots),
ingested through the CLI, then compared cell by cell with a straightforward loop over people and
days that reads the generated files' ground truth — not the store.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import app
from tests.conftest import BACKENDS, TEST_HASH_KEY

ZONE = "Europe/London"
START = dt.date(2026, 3, 22)  # the clocks go forward on 29 March 2026
END = dt.date(2026, 4, 5)
K = 3
DEPTS = ["Claims", "IT", "Sales", "Tiny"]

USER_COLS = [
    "id", "name", "email", "job_title", "location", "department", "api_url", "deleted_by_id",
    "deleted_by_type", "joined_at", "deleted_at", "suspended_by_id", "suspended_by_type",
    "suspended_at", "guid", "state",
]
MSG_COLS = [
    "id", "replied_to_id", "parent_id", "thread_id", "conversation_id", "group_id", "group_name",
    "participants", "in_private_group", "in_private_conversation", "sender_id", "sender_type",
    "sender_name", "sender_email", "body", "delegate_id", "api_url", "attachments",
    "deleted_by_id", "deleted_by_type", "created_at", "deleted_at", "title", "html_body",
    "message_type", "gdpr_delete_url",
]
GRAPH_HEADER = (
    "Report Refresh Date,User Principal Name,Display Name,User State,State Change Date,"
    "Last Activity Date,Posted Count,Read Count,Liked Count,Assigned Products,Report Period"
)


@dataclass
class User:
    email: str
    yammer_id: str | None  # None: never in Users.csv
    profile_department: str = ""
    joined: dt.datetime | None = None
    suspended: dt.datetime | None = None
    deleted: dt.datetime | None = None


@dataclass
class Org:
    users: list[User]
    messages: list[dict] = field(default_factory=list)  # email, created (UTC), starter, kind
    graph: dict[tuple[str, dt.date], tuple[int, int, int]] = field(default_factory=dict)
    snapshots: dict[dt.date, dict[str, str]] = field(default_factory=dict)  # as_of → email→dept


def _stamp(rng: random.Random, when: dt.datetime | None) -> str:
    if when is None:
        return ""
    if rng.random() < 0.5:
        return when.strftime("%Y/%m/%d %H:%M:%S +0000")
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(rng: random.Random, day: dt.date) -> dt.datetime:
    hour = rng.choice([0, 0, 1, 12, 22, 23, 23])  # crowd the local midnight
    return dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)))


def build_org(seed: int) -> Org:
    """A random organisation with pending, suspended, deleted and activity-only people."""
    rng = random.Random(seed)
    days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
    users = []
    for i in range(36):
        email = f"Person{i}@Example.com " if i % 7 == 0 else f"person{i}@example.com"
        user = User(email=email, yammer_id=str(2000337749565441 + i))
        user.profile_department = rng.choice(DEPTS + ["", ""])
        roll = rng.random()
        if roll < 0.1:
            pass  # pending: invited, never joined
        else:
            user.joined = _utc(rng, rng.choice([START - dt.timedelta(days=30)] + days[:10]))
            if roll > 0.85:
                user.suspended = _utc(rng, rng.choice(days))
            elif roll > 0.8:
                user.deleted = _utc(rng, rng.choice(days))
        users.append(user)
    for i in range(4):  # senders with no user record, and Graph-only people
        users.append(User(email=f"loose{i}@example.com", yammer_id=None))
    org = Org(users)
    senders = [u for u in users if u.yammer_id or u.email.startswith("loose0")]
    for _ in range(160):
        user = rng.choice(senders)
        org.messages.append(
            {"email": user.email, "created": _utc(rng, rng.choice(days)),
             "starter": rng.random() < 0.4, "kind": "user"}
        )
    for _ in range(6):
        org.messages.append(
            {"email": "bot@example.com", "created": _utc(rng, rng.choice(days)), "starter": True,
             "kind": "bot"}
        )
    graph_days = days[::2]
    for day in graph_days:
        for user in users:
            if rng.random() < 0.3:
                org.graph[(user.email, day)] = (
                    rng.choice([0, 0, 1]), rng.choice([0, 2, 5]), rng.choice([0, 0, 1, 3])
                )
    for as_of in (START - dt.timedelta(days=40), dt.date(2026, 3, 30)):
        roster = {}
        for user in users:
            if rng.random() < 0.8:
                roster[user.email] = rng.choice(DEPTS[:3]) if rng.random() > 0.06 else "Tiny"
        org.snapshots[as_of] = roster
    return org


def write_files(org: Org, folder: Path) -> dict[str, list[Path]]:
    """The organisation in real formats: two overlapping export ZIPs, Graph CSVs, rosters."""
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    ids = {u.email: u.yammer_id for u in org.users if u.yammer_id}
    messages = []
    threads: list[str] = []
    for n, m in enumerate(sorted(org.messages, key=lambda m: m["created"])):
        mid = str(3000000000000000 + n)
        starter = m["starter"] or not threads
        thread = mid if starter else rng.choice(threads)
        if starter:
            threads.append(mid)
        sender_id = ids.get(m["email"], str(9000 + n))
        messages.append({
            "id": mid, "replied_to_id": "" if starter else thread, "parent_id": "",
            "thread_id": thread, "group_id": "5259393", "group_name": "All Company",
            "in_private_group": "false", "in_private_conversation": "false",
            "sender_id": sender_id, "sender_type": "user" if m["kind"] == "user" else "bot",
            "sender_name": "Someone", "sender_email": m["email"].strip(),
            "body": "Secret body,\nline two", "created_at": _stamp(rng, m["created"]),
            "deleted_at": _stamp(rng, m["created"] + dt.timedelta(hours=1))
            if rng.random() < 0.1 else "",
            "message_type": "update",
        })
    users = []
    for u in org.users:
        if not u.yammer_id:
            continue
        state = "active" if u.joined and not (u.suspended or u.deleted) else "soft_delete"
        users.append({
            "id": u.yammer_id, "name": "N", "email": u.email, "department": u.profile_department,
            "joined_at": _stamp(rng, u.joined), "suspended_at": _stamp(rng, u.suspended),
            "deleted_at": _stamp(rng, u.deleted), "state": state,
        })
    half = len(messages) // 2
    zips = []
    for name, part in (("a", messages[: half + 20]), ("b", messages[half:])):
        path = folder / f"export-{name}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("Users.csv", _csv(USER_COLS, users))
            archive.writestr("Messages.csv", _csv(MSG_COLS, part))
            archive.writestr("log.txt", "export log")
        zips.append(path)
    graph_dir = folder / "graph"
    graph_dir.mkdir()
    by_day: dict[dt.date, list[str]] = {}
    for (email, day), (posted, read, liked) in org.graph.items():
        by_day.setdefault(day, []).append(
            f"{day},{email.strip()},Name,Active,,{day},{posted},{read},{liked},PRODUCT,1"
        )
    for day, rows in by_day.items():
        text = "\ufeff" + GRAPH_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n"
        (graph_dir / f"YammerActivityUserDetail_{day}.csv").write_text(text, encoding="utf-8")
    rosters = []
    for as_of, roster in org.snapshots.items():
        path = folder / f"roster-{as_of}.csv"
        lines = ["email,department,region,country,manager_email,hire_date,termination_date"]
        lines += [f"{email.strip()},{dept},UK,GB,,," for email, dept in roster.items()]
        path.write_text("\n".join(lines) + "\n")
        rosters.append(path)
    return {"zips": zips, "graph": [graph_dir], "rosters": rosters}


def _csv(columns: list[str], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return "\ufeff" + buffer.getvalue()


def expected_rows(org: Org, by: str) -> list[list[str]]:
    """Naive loops over days and people, straight from design.md's definitions."""
    zone = ZoneInfo(ZONE)

    def local(when: dt.datetime) -> dt.date:
        return when.replace(tzinfo=dt.UTC).astimezone(zone).date()

    def norm(email: str) -> str:
        return email.strip().lower()

    engaged_days: dict[str, set[dt.date]] = {}
    active_days: dict[str, set[dt.date]] = {}
    for m in org.messages:
        if m["kind"] == "user":
            engaged_days.setdefault(norm(m["email"]), set()).add(local(m["created"]))
    for (email, day), (posted, read, liked) in org.graph.items():
        if posted or liked:
            engaged_days.setdefault(norm(email), set()).add(day)
        if posted or liked or read:
            active_days.setdefault(norm(email), set()).add(day)
    for email, days in engaged_days.items():
        active_days.setdefault(email, set()).update(days)
    recorded = {norm(u.email): u for u in org.users if u.yammer_id}
    people = sorted({norm(u.email) for u in org.users} | set(active_days))
    snapshots = sorted(org.snapshots)

    def member(email: str, day: dt.date) -> bool:
        user = recorded.get(email)
        if user is None:
            seen = active_days.get(email)
            return bool(seen) and min(seen) <= day
        if user.joined is None or local(user.joined) > day:
            return False
        for end in (user.suspended, user.deleted):
            if end is not None and local(end) <= day:
                return False
        return True

    def group(email: str, day: dt.date) -> str:
        if by == "all":
            return "All"
        in_effect = max([s for s in snapshots if s <= day], default=snapshots[0])
        roster = {norm(e): d for e, d in org.snapshots[in_effect].items()}
        if roster.get(email):
            return roster[email]
        user = recorded.get(email)
        if user is not None and user.profile_department.strip():
            return user.profile_department.strip()
        return "Unknown"

    out = []
    day = START
    while day <= END:
        groups: dict[str, list[int]] = {}
        for email in people:
            if not member(email, day):
                continue
            counts = groups.setdefault(group(email, day), [0, 0, 0])
            counts[0] += 1
            counts[1] += day in engaged_days.get(email, set())
            counts[2] += day in active_days.get(email, set())
        hidden = {g for g, c in groups.items() if c[0] < K}
        if len(hidden) == 1 and len(groups) > 1:
            others = sorted((c[0], g) for g, c in groups.items() if g not in hidden)
            hidden.add(others[0][1])
        for name in sorted(groups):
            members, engaged, active = groups[name]
            if name in hidden:
                out.append([day.isoformat(), name, str(members), "", "", "", "true"])
            else:
                out.append([day.isoformat(), name, str(members), str(engaged), str(active),
                            f"{engaged / members:.4f}", "false"])
        day += dt.timedelta(days=1)
    return out


def _uptake(config: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    status = app.main(["--config", str(config), *args])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


@BACKENDS
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engagement_csv_matches_reference(database_url, tmp_path, monkeypatch, capsys, seed):
    monkeypatch.setenv("UPTAKE_HASH_KEY", TEST_HASH_KEY)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {{url: '{database_url}'}}\ntimezone: {ZONE}\n"
        f"privacy: {{min_group_size: {K}}}\n"
    )
    org = build_org(seed)
    files = write_files(org, tmp_path / "files")
    _uptake(config, "init", capsys=capsys)
    for roster in files["rosters"]:
        _uptake(config, "ingest", "hr-roster", "--file", str(roster),
                "--as-of", roster.stem.removeprefix("roster-"), capsys=capsys)
    for archive in files["zips"]:
        _uptake(config, "ingest", "yammer-export", "--file", str(archive), capsys=capsys)
    _uptake(config, "ingest", "graph-yammer-activity", "--file", str(files["graph"][0]),
            capsys=capsys)
    for by in ("all", "department"):
        out = _uptake(config, "metrics", "engagement", "--by", by, "--start", str(START),
                      "--end", str(END), "--format", "csv", capsys=capsys)
        rows = list(csv.reader(io.StringIO(out)))
        assert rows[0] == ["day", "group", "members", "engaged", "active", "engaged_share",
                           "suppressed"]
        expected = expected_rows(org, by)
        assert rows[1:] == expected, f"by={by}"
