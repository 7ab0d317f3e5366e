"""Build small Network Data Export ZIPs in the real layouts (formats.md §1) for tests."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

MESSAGES_NEW = (
    "id,replied_to_id,parent_id,thread_id,conversation_id,group_id,group_name,participants,"
    "in_private_group,in_private_conversation,sender_id,sender_type,sender_name,sender_email,"
    "body,delegate_id,api_url,attachments,deleted_by_id,deleted_by_type,created_at,deleted_at,"
    "title,html_body,message_type,gdpr_delete_url"
).split(",")
MESSAGES_OLD = [c for c in MESSAGES_NEW if c != "parent_id"]
USERS = (
    "id,name,email,job_title,location,department,api_url,deleted_by_id,deleted_by_type,joined_at,"
    "deleted_at,suspended_by_id,suspended_by_type,suspended_at,guid,state,office_user_id"
).split(",")
GROUPS = (
    "id,name,description,private,moderated,api_url,created_by_id,created_by_type,created_at,"
    "updated_at,deleted,external,office_group_id"
).split(",")
BODY = "Secret body text: quarterly numbers Zebra-7731"


def stamp(value: dt.datetime | None, style: str = "iso") -> str:
    """A UTC timestamp as the export writes it: `iso` (…Z) or `slash` (YYYY/MM/DD … +0000)."""
    if value is None:
        return ""
    if style == "slash":
        return value.strftime("%Y/%m/%d %H:%M:%S +0000")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def message(
    mid: str,
    thread: str,
    sender: str,
    created: dt.datetime | str,
    *,
    email: str = "",
    style: str = "iso",
    **extra: str,
) -> dict[str, str]:
    """One Messages.csv record with realistic filler (body, html_body, api_url …)."""
    row = {
        "id": mid,
        "replied_to_id": "" if mid == thread else thread,
        "parent_id": "" if mid == thread else thread,
        "thread_id": thread,
        "group_id": "5259393",
        "group_name": "All Company",
        "participants": "",
        "in_private_group": "false",
        "in_private_conversation": "false",
        "sender_id": sender,
        "sender_type": "user",
        "sender_name": f"Name {sender}",
        "sender_email": email,
        "body": BODY,
        "api_url": f"https://www.yammer.com/api/v1/messages/{mid}",
        "attachments": "uploadedfile:1336132263936",
        "created_at": created if isinstance(created, str) else stamp(created, style),
        "title": "",
        "html_body": f"<p>{BODY}</p>",
        "message_type": "update",
        "gdpr_delete_url": f"https://www.yammer.com/api/v1/gdpr/{mid}",
    }
    row.update(extra)
    return row


def user(
    uid: str,
    email: str,
    state: str = "active",
    *,
    joined: dt.datetime | None = None,
    suspended: dt.datetime | None = None,
    deleted: dt.datetime | None = None,
    style: str = "iso",
    **extra: str,
) -> dict[str, str]:
    """One Users.csv record."""
    row = {
        "id": uid,
        "name": f"Person {uid}",
        "email": email,
        "job_title": "Analyst",
        "location": "Zurich",
        "department": "Claims",
        "api_url": f"https://www.yammer.com/api/v1/users/{uid}",
        "joined_at": stamp(joined, style),
        "suspended_at": stamp(suspended, style),
        "deleted_at": stamp(deleted, style),
        "guid": f"guid-{uid}",
        "state": state,
    }
    row.update(extra)
    return row


def group(gid: str, name: str, **extra: str) -> dict[str, str]:
    """One Groups.csv record."""
    row = {
        "id": gid,
        "name": name,
        "description": "A community",
        "private": "False",
        "moderated": "false",
        "created_at": "2025-01-01T08:00:00Z",
        "updated_at": "2025-01-02T08:00:00Z",
        "deleted": "false",
        "external": "FALSE",
    }
    row.update(extra)
    return row


def csv_bytes(
    header: Sequence[str],
    rows: Iterable[Mapping[str, str]],
    *,
    bom: bool = False,
    crlf: bool = False,
    encoding: str = "utf-8",
) -> bytes:
    """A CSV file's bytes, quoted like the export (cells with commas/newlines in quotes)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(col, "") for col in header])
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def write_zip(path: Path, files: Mapping[str, bytes]) -> Path:
    """A ZIP holding `files` (name → bytes), with the export's log.txt and request.txt."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("log.txt", "Export completed\n")
        archive.writestr("request.txt", "since=2026-03-01T00:00:00+00:00\n")
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def export_zip(
    path: Path,
    *,
    users: Iterable[Mapping[str, str]] = (),
    messages: Iterable[Mapping[str, str]] = (),
    groups: Iterable[Mapping[str, str]] = (),
    layout: str = "new",
) -> Path:
    """A network data export ZIP with Users.csv, Groups.csv, Messages.csv (and Files.csv)."""
    header = MESSAGES_NEW if layout == "new" else MESSAGES_OLD
    return write_zip(
        path,
        {
            "Users.csv": csv_bytes(USERS, users),
            "Groups.csv": csv_bytes(GROUPS, groups),
            "Messages.csv": csv_bytes(header, messages),
            "Files.csv": b"id,file_id,name\n1,2,deck.pptx\n",
        },
    )
