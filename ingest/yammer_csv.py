"""Pure parsers of Network Data Export CSV rows: one CSV row → one store row, never a body."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from itertools import compress
from typing import Any, NamedTuple

import numpy as np

from errors import SkippableRecord
from ingest.timestamps import parse_timestamp
from store.dates import time_text
from store.identity import Identity

PLATFORM = "yammer"
USERS_REQUIRED = ("id", "email", "state")
MESSAGES_REQUIRED = ("id", "thread_id", "sender_id", "created_at")
GROUPS_REQUIRED = ("id", "name")
TRUE = frozenset({"true", "t", "1", "yes"})
FALSE = frozenset({"false", "f", "0", "no"})
MAX_ID = 64
_fromiso = dt.datetime.fromisoformat


def positions(header: Sequence[str], names: Sequence[str]) -> list[int]:
    """Index of each name in the header; an absent column points one past the end (blank)."""
    where: dict[str, int] = {}
    for i, name in enumerate(header):
        where.setdefault(name.strip().lower(), i)
    return [where.get(name, len(header)) for name in names]


def padded(rows: Iterator[list[str]], width: int) -> Iterator[list[str]]:
    """Rows of exactly `width` cells plus one blank cell (where absent columns point)."""
    for row in rows:
        if len(row) != width:
            if not row or row == [""]:
                continue
            row = (row + [""] * width)[:width]
        row.append("")
        yield row


def parse_utc(text: str) -> dt.datetime | None:
    """`parse_timestamp`, with a fast path for the two common UTC forms (`…Z`, `… +0000`)."""
    if not text:
        return None
    if len(text) == 20 and text[19] == "Z":
        core = text[:19]
    elif len(text) == 25 and text.endswith(" +0000"):
        core = text[:19].replace("/", "-")
    else:
        return parse_timestamp(text)
    try:
        return _fromiso(core)
    except ValueError:
        return parse_timestamp(text)


def parse_bool(text: str) -> bool | None:
    """`true`/`false` in any case (also t/f, 1/0, yes/no); blank or anything else is None."""
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    return None


def parse_id(text: str, what: str) -> str:
    """A platform id kept as a string (16-digit Yammer ids overflow floats)."""
    value = text.strip()
    if not value:
        raise SkippableRecord(f"no {what}")
    if len(value) > MAX_ID:
        raise SkippableRecord(f"{what} longer than {MAX_ID} characters")
    return value


class MessageColumns(NamedTuple):
    """Positions of the Messages.csv columns we keep (the body columns are never looked up)."""

    id: int
    thread_id: int
    replied_to_id: int
    group_id: int
    sender_id: int
    sender_type: int
    sender_name: int
    sender_email: int
    message_type: int
    in_private_group: int
    in_private_conversation: int
    created_at: int
    deleted_at: int

    @classmethod
    def of(cls, header: Sequence[str]) -> MessageColumns:
        """Column positions found in `header`."""
        return cls(*positions(header, cls._fields))


def parse_message(row: list[str], c: MessageColumns) -> tuple[dict[str, Any], str, str]:
    """A messages row (person_key still None), the sender's email and the sender's name."""
    mid = parse_id(row[c.id], "message id")
    tid = parse_id(row[c.thread_id], "thread_id")
    created = parse_utc(row[c.created_at])
    if created is None:
        raise SkippableRecord(f"message {mid}: no created_at")
    message = {
        "platform": PLATFORM,
        "message_id": mid,
        "thread_id": tid,
        "replied_to_id": row[c.replied_to_id].strip() or None,
        "group_id": row[c.group_id].strip() or None,
        "sender_account_id": row[c.sender_id].strip() or None,
        "person_key": None,
        "sender_type": row[c.sender_type].strip().lower()[:32] or None,
        "message_type": row[c.message_type].strip().lower()[:32] or None,
        "is_thread_starter": tid == mid,
        "in_private_group": parse_bool(row[c.in_private_group]),
        "in_private_conversation": parse_bool(row[c.in_private_conversation]),
        "created_at": created,
        "deleted_at": parse_utc(row[c.deleted_at]),
    }
    return message, row[c.sender_email].strip(), row[c.sender_name].strip()


class MessageBatch(NamedTuple):
    """Parsed Messages.csv rows column by column (person keys still to resolve)."""

    message_id: list[str]
    thread_id: list[str]
    replied_to_id: list[str | None]
    group_id: list[str | None]
    sender_account_id: list[str | None]
    sender_type: list[str | None]
    message_type: list[str | None]
    is_thread_starter: list[bool]
    in_private_group: list[bool | None]
    in_private_conversation: list[bool | None]
    created_at: list[str]  # naive UTC as store.dates.time_text
    deleted_at: list[str | None]
    senders: dict[str, tuple[str, str]]  # user sender id → its first (email, name), when new
    unlinked: dict[int, tuple[str, str]]  # row of a user sender with an email but no id → them
    unsent: list[int]  # rows whose person is not a sender id's: not a user, or no id


def parse_messages(
    cells: Mapping[str, Sequence[str]], named: Collection[str] = (),
) -> tuple[MessageBatch, list[tuple[int, str]]]:
    """`parse_message` over columns (field → cells); skipped rows as (index, reason). Senders
    in `named` (given in an earlier batch) are left out of the batch's `senders`."""
    # a row any column rejects is parsed again by `parse_message` for its exact reason
    n = len(cells["id"])
    mid = [v.strip() for v in cells["id"]]
    tid = [v.strip() for v in cells["thread_id"]]
    created = export_texts(cells["created_at"])
    if created is None:
        created = _texts(list(map(_utc_or_bad, cells["created_at"])))
    deleted = _texts(list(map(_utc_or_bad, cells["deleted_at"])))
    bad = sorted(
        {i for i, v in enumerate(mid) if not 0 < len(v) <= MAX_ID}
        | {i for i, v in enumerate(tid) if not 0 < len(v) <= MAX_ID}
        | {i for i, v in enumerate(created) if v is None or v is _BAD}
        | {i for i, v in enumerate(deleted) if v is _BAD}
    )
    batch = MessageBatch(
        message_id=mid,
        thread_id=tid,
        replied_to_id=_blank_none(cells["replied_to_id"]),
        group_id=_blank_none(cells["group_id"]),
        sender_account_id=_blank_none(cells["sender_id"]),
        sender_type=_label(cells["sender_type"]),
        message_type=_label(cells["message_type"]),
        is_thread_starter=[t == m for t, m in zip(tid, mid, strict=True)],
        in_private_group=[_BOOLS.get(v.strip().lower()) for v in cells["in_private_group"]],
        in_private_conversation=[
            _BOOLS.get(v.strip().lower()) for v in cells["in_private_conversation"]
        ],
        created_at=created,  # _BAD rows are dropped below
        deleted_at=deleted,
        senders={},
        unlinked={},
        unsent=[],
    )
    emails, names = cells["sender_email"], cells["sender_name"]
    skipped: list[tuple[int, str]] = []
    if bad:
        skipped = [(i, _reason([cells[f][i] for f in MessageColumns._fields])) for i in bad]
        keep = [True] * n
        for i in bad:
            keep[i] = False
        rows = len(_PER_ROW)
        batch = MessageBatch._make([*(list(compress(c, keep)) for c in batch[:rows]),
                                    *batch[rows:]])
        emails, names = list(compress(emails, keep)), list(compress(names, keep))
    return _with_senders(batch, emails, names, named), skipped


def _with_senders(
    batch: MessageBatch, emails: Sequence[str], names: Sequence[str], named: Collection[str]
) -> MessageBatch:
    """The batch's senders (but those `named`), unlinked and unsent, from its rows' sender
    emails and names."""
    # a sender's email and name once per file, not once per message: the writer needs them
    # only for senders it has not met, and they were a fifth of what a batch pickled even
    # once per batch
    senders, unlinked, unsent = batch.senders, batch.unlinked, batch.unsent
    for i, (sid, kind) in enumerate(zip(batch.sender_account_id, batch.sender_type,
                                        strict=True)):
        if not is_user_sender(kind):
            unsent.append(i)
        elif sid is None:
            unsent.append(i)
            if email := emails[i].strip():
                unlinked[i] = (email, names[i].strip())
        elif sid not in senders and sid not in named:
            senders[sid] = (emails[i].strip(), names[i].strip())
    return batch


_BAD = object()  # an unparseable timestamp
_EXPORT_FORMS = {  # width → the form, repeated (parse_utc's two fast forms)
    20: re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)+"),
    25: re.compile(r"(?:[0-9]{4}[-/][0-9]{2}[-/][0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \+0000)+"),
}
_YEAR_ONE = np.datetime64("0001-01-01T00:00:00", "s")
_NO_MICROSECONDS = np.frombuffer(b".000000", dtype=np.uint8)
_IN_ORDER = MessageColumns(*range(len(MessageColumns._fields)))
_PER_ROW = MessageBatch._fields[:MessageBatch._fields.index("senders")]  # one value a row
_BOOLS: dict[str, bool] = {**dict.fromkeys(TRUE, True), **dict.fromkeys(FALSE, False)}


def _utc_or_bad(text: str) -> dt.datetime | None | object:
    try:
        return parse_utc(text)
    except SkippableRecord:
        return _BAD


def export_texts(cells: Sequence[str]) -> list[str] | None:
    """`time_text` of every cell when each is a valid time in one of the export's two UTC
    forms (`YYYY-MM-DDTHH:MM:SSZ`, `YYYY/MM/DD HH:MM:SS +0000`), else None (a column at a
    time: a regex pass per form over its cells joined, numpy's checks of the dates)."""
    # per cell, fromisoformat and isoformat were a quarter of a reader's parsing; slicing
    # each cell in Python was still 0.45 s of the demo's 479,486, against 0.17 s in numpy
    counted = 0
    for width, form in _EXPORT_FORMS.items():
        same = [c for c in cells if len(c) == width]  # equal widths: the matches align
        if same and not form.fullmatch("".join(same)):
            return None
        counted += len(same)
    if not cells or counted != len(cells):
        return None
    # the cells' bytes side by side: the date and time are their first 19, whatever the form
    core = np.array(cells, dtype="S25").view(np.uint8).reshape(len(cells), 25)[:, :19].copy()
    core[:, [4, 7]] = ord("-")
    core[:, 10] = ord("T")
    try:
        seconds = core.view("S19").ravel().astype("datetime64[s]")
    except ValueError:  # month 13, 30 February, 24:00, …
        return None
    if seconds.min() < _YEAR_ONE:  # numpy knows a year 0; datetime does not
        return None
    text = np.empty((len(cells), 26), dtype=np.uint8)  # YYYY-MM-DD HH:MM:SS.000000
    text[:, :19] = core
    text[:, 10] = ord(" ")
    text[:, 19:] = _NO_MICROSECONDS
    joined = text.tobytes().decode("ascii")
    return [joined[at:at + 26] for at in range(0, len(joined), 26)]


def _texts(times: list[Any]) -> list[Any]:
    # text pickles ~15× faster than datetimes (a reader's pipe), and SQLite stores it as it is
    return [time_text(t) if type(t) is dt.datetime else t for t in times]


def _blank_none(cells: Sequence[str]) -> list[str | None]:
    return [v.strip() or None for v in cells]


def _label(cells: Sequence[str]) -> list[str | None]:
    return [v.strip().lower()[:32] or None for v in cells]


def _reason(row: list[str]) -> str:
    try:
        parse_message(row, _IN_ORDER)
    except SkippableRecord as exc:
        return str(exc)
    raise AssertionError(f"parse_messages rejected a row parse_message accepts: {row[0]!r}")


def is_user_sender(sender_type: str | None) -> bool:
    """True when the sender is a user (`sender_type` user or blank)."""
    return sender_type in (None, "user")


class UserColumns(NamedTuple):
    """Positions of the Users.csv columns we keep."""

    id: int
    name: int
    email: int
    state: int
    location: int
    department: int
    joined_at: int
    suspended_at: int
    deleted_at: int

    @classmethod
    def of(cls, header: Sequence[str]) -> UserColumns:
        """Column positions found in `header`."""
        return cls(*positions(header, cls._fields))


def decode_state(
    state: str,
    joined: dt.datetime | None,
    suspended: dt.datetime | None,
    deleted: dt.datetime | None,
) -> str:
    """active | pending | suspended | deleted, from the overloaded `state` and the dates."""
    if state == "active":
        return "active"
    if deleted is not None:
        return "deleted"
    if suspended is not None:
        return "suspended"
    if joined is None:
        return "pending"
    # soft_delete after joining but without a date: no longer a member; when is unknown
    return "suspended" if state == "soft_delete" else "active"


def parse_user(
    row: list[str], c: UserColumns, identity: Identity
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An accounts row (without updated_at) and the people row of its owner."""
    account_id = parse_id(row[c.id], "user id")
    email = row[c.email].strip()
    name = row[c.name].strip()
    joined = parse_timestamp(row[c.joined_at])
    suspended = parse_timestamp(row[c.suspended_at])
    deleted = parse_timestamp(row[c.deleted_at])
    state = row[c.state].strip().lower()
    if email:
        key = identity.person_key(email)
        stored_email = identity.email_to_store(email)
    else:
        key = identity.account_key(PLATFORM, account_id)
        stored_email = None
    account = {
        "platform": PLATFORM,
        "account_id": account_id,
        "person_key": key,
        "has_user_record": True,
        "state": decode_state(state, joined, suspended, deleted),
        "joined_at": joined,
        "suspended_at": suspended,
        "deleted_at": deleted,
        "department": row[c.department].strip()[:200] or None,
        "location": row[c.location].strip()[:200] or None,
    }
    person = {
        "person_key": key,
        "email": stored_email,
        "display_name": None if identity.pseudonymise else (name[:200] or None),
    }
    return account, person


class GroupColumns(NamedTuple):
    """Positions of the Groups.csv columns we keep (never the description)."""

    id: int
    name: int
    private: int
    external: int
    deleted: int
    created_at: int
    updated_at: int

    @classmethod
    def of(cls, header: Sequence[str]) -> GroupColumns:
        """Column positions found in `header`."""
        return cls(*positions(header, cls._fields))


def parse_group(row: list[str], c: GroupColumns) -> dict[str, Any]:
    """A groups row."""
    return {
        "platform": PLATFORM,
        "group_id": parse_id(row[c.id], "group id"),
        "name": row[c.name].strip()[:300] or None,
        "private": parse_bool(row[c.private]),
        "external": parse_bool(row[c.external]),
        "deleted": parse_bool(row[c.deleted]),
        "created_at": parse_timestamp(row[c.created_at]),
        "updated_at": parse_timestamp(row[c.updated_at]),
    }
