"""Yammer Network Data Export ZIPs of the demo year: one per calendar month, one-day overlap."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from demo.activity import DAY_S, DM, DM_REPLY_KIND, SYSTEM, MessageLog
from demo.bodies import Bodies, build_bodies
from demo.communities import Communities
from demo.organisation import HAS_USER_RECORD, NEVER, PENDING, Organisation

MESSAGE_COLUMNS = (
    "id", "replied_to_id", "parent_id", "thread_id", "conversation_id", "group_id", "group_name",
    "participants", "in_private_group", "in_private_conversation", "sender_id", "sender_type",
    "sender_name", "sender_email", "body", "delegate_id", "api_url", "attachments",
    "deleted_by_id", "deleted_by_type", "created_at", "deleted_at", "title", "html_body",
    "message_type", "gdpr_delete_url",
)
USER_COLUMNS = (
    "id", "name", "email", "job_title", "location", "department", "api_url", "deleted_by_id",
    "deleted_by_type", "joined_at", "deleted_at", "suspended_by_id", "suspended_by_type",
    "suspended_at", "guid", "state", "office_user_id",
)
GROUP_COLUMNS = (
    "id", "name", "description", "private", "moderated", "api_url", "created_by_id",
    "created_by_type", "created_at", "updated_at", "deleted", "external", "office_group_id",
)
API = "https://www.yammer.com/api/v1"
CHUNK = 50_000
SUSPEND_SECOND, DELETE_SECOND = 17 * 3600 + 1800, 18 * 3600


@dataclass(frozen=True)
class ExportWindow:
    """Days [since, until) of one export; `since` repeats the previous window's last day."""

    since: int
    until: int


def export_windows(org: Organisation) -> list[ExportWindow]:
    """One window per calendar month (the first from launch), each overlapping one day back."""
    starts = [int(d) for d in org.snapshot_days] + [org.days]
    return [ExportWindow(max(0, a - 1), b) for a, b in zip(starts, starts[1:], strict=False)]


def write_exports(
    org: Organisation, groups: Communities, log: MessageLog, out: Path, seed: int,
    split: bool = False,
) -> list[Path]:
    """Write the export ZIPs under `out`; with `split`, users and messages go to separate ZIPs."""
    out.mkdir(parents=True, exist_ok=True)
    writer = _ExportWriter(org, groups, log, seed)
    paths = []
    for k, window in enumerate(export_windows(org)):
        stem = f"{org.day(window.since).isoformat()}_{org.day(window.until).isoformat()}"
        parts = {
            "Users.csv": [[_line(r) for r in writer.user_rows(window, k == 0)]],
            "Groups.csv": [[_line(r) for r in writer.group_rows(window)]],
        }
        messages = writer.message_rows(window)
        if split:
            paths.append(_zip(out / f"users-{stem}.zip", org, window, parts))
            only = {"Messages.csv": messages}
            paths.append(_zip(out / f"messages-{stem}.zip", org, window, only))
        else:
            paths.append(_zip(out / f"export-{stem}.zip", org, window,
                              {**parts, "Messages.csv": messages}))
    return paths


class _ExportWriter:
    """Formats the rows of one window's CSVs."""

    def __init__(self, org: Organisation, groups: Communities, log: MessageLog, seed: int):
        self.org, self.groups, self.log = org, groups, log
        pool = build_bodies(org.yammer_id, seed)
        self.texts = Bodies(*(_quote_all(a) for a in (pool.body, pool.html, pool.title,
                                                       pool.attachments)))
        self.group_names = _quote_all(np.array(groups.names, object))
        self.names = _quote_all(org.name)
        self.yid = org.yammer_id.astype(str).astype(object)
        self.admin = self.yid[0]
        self.deleted_rows = np.flatnonzero(log.deleted >= 0)
        self.epoch = np.datetime64(org.launch.isoformat(), "s")

    def times(self, seconds: np.ndarray, slash: np.ndarray) -> np.ndarray:
        """ISO `Z` or `YYYY/MM/DD HH:MM:SS +0000` per row (the platform's two styles)."""
        iso = np.datetime_as_string(self.epoch + seconds.astype("timedelta64[s]"), unit="s")
        return np.array([
            f"{s[:4]}/{s[5:7]}/{s[8:10]} {s[11:]} +0000" if f else s + "Z"
            for s, f in zip(iso.tolist(), slash.tolist(), strict=True)
        ], object)

    def user_rows(self, w: ExportWindow, first: bool) -> list[list[str]]:
        """Users who joined, were suspended or deleted in the window (pending ones once)."""
        org = self.org

        def within(day: np.ndarray) -> np.ndarray:
            return (w.since <= day) & (day < w.until)

        record = np.isin(org.kind, HAS_USER_RECORD)
        pick = record & (within(org.join_day) | within(org.suspend_day) | within(org.delete_day))
        if first:
            pick |= org.kind == PENDING
        who = np.flatnonzero(pick)
        joined = org.join_day[who] < NEVER
        suspended = org.suspend_day[who] < w.until
        deleted = org.delete_day[who] < w.until
        slash = org.yammer_id[who] % 3 == 0
        join_at = self.times(org.join_day[who].astype(np.int64) * DAY_S + org.join_second[who],
                             slash)
        susp_at = self.times(org.suspend_day[who].astype(np.int64) * DAY_S + SUSPEND_SECOND, slash)
        del_at = self.times(org.delete_day[who].astype(np.int64) * DAY_S + DELETE_SECOND, slash)
        dept = np.array(org.department_names, object)[org.department[0, who]]
        location = np.array(org.location_names, object)[org.country[who]]
        location[org.yammer_id[who] % 13 == 0] = ""
        rows = []
        for i, p in enumerate(who.tolist()):
            yid = self.yid[p]
            title = f"Head of {dept[i]}" if org.is_manager[p] else f"{dept[i]} Specialist"
            rows.append([
                yid, org.name[p], org.email[p], title, location[i],
                org.profile_department[p], f"{API}/users/{yid}",
                self.admin if deleted[i] else "", "user" if deleted[i] else "",
                join_at[i] if joined[i] else "", del_at[i] if deleted[i] else "",
                self.admin if suspended[i] else "", "user" if suspended[i] else "",
                susp_at[i] if suspended[i] else "", _guid("guid", yid),
                "soft_delete" if (suspended[i] or deleted[i] or not joined[i]) else "active",
                _guid("office", yid),
            ])
        return rows

    def group_rows(self, w: ExportWindow) -> list[list[str]]:
        """Communities created in the window."""
        g = self.groups
        who = np.flatnonzero((w.since <= g.created_day) & (g.created_day < w.until))
        at = self.times(g.created_day[who].astype(np.int64) * DAY_S + g.created_second[who],
                        np.zeros(len(who), bool))
        return [
            [str(g.ids[i]), g.names[i], g.descriptions[i], _bool(g.private[i]), "false",
             f"{API}/groups/{g.ids[i]}", self.yid[g.creator[i]], "user", at[j], at[j], "false",
             "false", _guid("group", str(g.ids[i]))]
            for j, i in enumerate(who.tolist())
        ]

    def message_rows(self, w: ExportWindow) -> Iterator[list[str]]:
        """Messages sent in the window, plus earlier ones deleted in it (formatted in chunks)."""
        log = self.log
        lo, hi = np.searchsorted(log.created, [w.since * DAY_S, w.until * DAY_S])
        gone = self.deleted_rows[(log.deleted[self.deleted_rows] >= w.since * DAY_S)
                                 & (log.deleted[self.deleted_rows] < w.until * DAY_S)]
        rows = np.union1d(np.arange(lo, hi), gone)
        for start in range(0, len(rows), CHUNK):
            yield self._format_messages(rows[start:start + CHUNK], w)

    def _format_messages(self, rows: np.ndarray, w: ExportWindow) -> list[str]:
        """CSV lines of some messages; text columns come pre-quoted, so a join makes each line."""
        log, org, g = self.log, self.org, self.groups
        ids = log.ids[rows]
        id_s = ids.astype(str).astype(object)
        thread = log.thread[rows]
        reply = log.replied_to[rows] >= 0
        replied = np.where(reply, log.ids[np.maximum(log.replied_to[rows], 0)].astype(str), "")
        kind = log.kind[rows]
        private = np.isin(kind, (DM, DM_REPLY_KIND))
        group = log.group[rows]
        has_group = group >= 0
        gid = np.where(has_group, g.ids[np.maximum(group, 0)].astype(str), "").astype(object)
        gname = np.where(has_group, self.group_names[np.maximum(group, 0)], "")
        private_group = np.where(has_group & g.private[np.maximum(group, 0)], "true", "false")
        starter_sender, starter_recipient = log.sender[thread], log.recipient[thread]
        participants = np.full(len(rows), "", object)
        at = np.flatnonzero(private)
        participants[at] = [
            f'"user:{self.yid[a]},user:{self.yid[b]}"'
            for a, b in zip(starter_sender[at], starter_recipient[at], strict=True)
        ]
        sender = log.sender[rows]
        deleted = (log.deleted[rows] >= 0) & (log.deleted[rows] < w.until * DAY_S)
        slash = (ids // 3) % 2 == 1
        created_at = self.times(log.created[rows], slash)
        deleted_at = np.where(deleted, self.times(np.maximum(log.deleted[rows], 0), slash), "")
        body, html, title, attachments = self.texts.pick(ids)
        thread_s = log.ids[thread].astype(str).astype(object)
        columns = (
            id_s, replied, replied, thread_s, np.where(private, thread_s, ""), gid, gname,
            participants, private_group, np.where(private, "true", "false"), self.yid[sender],
            _const("user", rows), self.names[sender], org.email[sender], body, _const("", rows),
            f"{API}/messages/" + id_s, attachments, np.where(deleted, self.yid[sender], ""),
            np.where(deleted, "user", ""), created_at, deleted_at, title, html,
            np.where(kind == SYSTEM, "system", "update"),
            f"{API}/messages/" + id_s + "/gdpr_delete",
        )
        return [",".join(r) for r in zip(*(c.tolist() for c in columns), strict=True)]


def _const(value: str, rows: np.ndarray) -> np.ndarray:
    return np.full(len(rows), value, object)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _guid(kind: str, key: str) -> str:
    """A stable directory-style GUID for a demo object."""
    return str(uuid.UUID(bytes=hashlib.md5(f"{kind}:{key}".encode()).digest()))


def _zip(
    path: Path, org: Organisation, w: ExportWindow, csvs: dict[str, Iterable[list[str]]]
) -> Path:
    """Write one export ZIP deterministically (fixed entry times, fixed order)."""
    stamp = org.day(min(w.until, org.days - 1)).timetuple()[:3] + (3, 0, 0)
    since = f"{org.day(w.since).isoformat()}T00:00:00+00:00"
    until = f"{(org.launch + dt.timedelta(days=w.until)).isoformat()}T00:00:00+00:00"
    request = f"since={since}\nuntil={until}\ninclude=csv\n"
    log = [f"Export of network data, window {since} to {until}"]
    tmp = path.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, chunks in csvs.items():
            header = {"Users.csv": USER_COLUMNS, "Groups.csv": GROUP_COLUMNS,
                      "Messages.csv": MESSAGE_COLUMNS}[name]
            count = 0
            with _entry(zf, name, stamp) as raw:
                raw.write(("\ufeff" + ",".join(header) + "\r\n").encode())
                for lines in chunks:
                    if lines:
                        raw.write(("\r\n".join(lines) + "\r\n").encode())
                    count += len(lines)
            log.append(f"{name}: {count} rows exported")
        log.append("Errors: none")
        for name, content in (("log.txt", "\r\n".join(log) + "\r\n"), ("request.txt", request)):
            with _entry(zf, name, stamp) as raw:
                raw.write(content.encode())
    tmp.replace(path)
    return path


def _quote(value: str) -> str:
    """One CSV field with minimal quoting (as Python's csv module writes it)."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _quote_all(values: np.ndarray) -> np.ndarray:
    return np.array([_quote(v) for v in values.tolist()], object)


def _line(row: Sequence[str]) -> str:
    return ",".join(_quote(v) for v in row)


def _entry(zf: zipfile.ZipFile, name: str, stamp: tuple[int, ...]) -> IO[bytes]:
    info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info._compresslevel = 1  # type: ignore[attr-defined]  # speed over size for demo files
    return zf.open(info, "w", force_zip64=True)
