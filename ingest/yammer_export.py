"""The `yammer-export` source: Network Data Export ZIPs, from a file or day by day from the API."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import pandas as pd
import requests
from sqlalchemy import Table, bindparam, func, select, update

from errors import FatalSourceError, IngestError, SkippableRecord, UptakeError
from ingest import yammer_csv as ycsv
from ingest.csvfile import Utf8Checked, decode_stream, read_rows
from ingest.export_zip import ZIP_ERRORS, base_name, read_export, verify_member, verify_rest
from ingest.read_ahead import ReadAhead, can_read_ahead, read_ahead
from ingest.runner import Window, Writer
from settings import Settings
from store.dates import time_text, utc_instants
from store.erase import retention_cutoff
from store.id_lists import among_ids, ids_param
from store.message_activity import (
    COUNTED_COLUMNS,
    MessageTally,
    local_days,
    note_counted_zone,
    rebuild_message_activity,
)
from store.message_activity import SOURCE as EXPORT_ACTIVITY
from store.models import Account, DailyActivity, Group, Message, Person

CHUNK = 20_000
LOOKUP = 5_000
AHEAD_BYTES = 8 << 20  # a Messages.csv this large (uncompressed) is parsed by a reader process
AHEAD_FIRST = 500  # records in a reader's first batch (then a quarter more each, up to CHUNK)
REBUILD_SPAN_DAYS = 14
ACTIVITY_SOURCES = (EXPORT_ACTIVITY, "graph_yammer_activity")
PERMISSION = "a verified admin's token (Yammer access_as_user via an Entra app)"
USER_FACTS = ("person_key", "has_user_record", "state", "joined_at", "suspended_at", "deleted_at",
              "department")
T = TypeVar("T")
ACCOUNTS = cast(Table, Account.__table__)
GROUPS = cast(Table, Group.__table__)
MESSAGES = cast(Table, Message.__table__)
MESSAGE_COLUMNS = tuple(c.name for c in MESSAGES.columns)
STORED_COLUMNS = ("message_id", *COUNTED_COLUMNS)
TIME_COLUMNS = ("created_at", "deleted_at")  # parsed batches hold these as time_text
# batches of Messages.csv: (batch, skipped records as (index, reason), records read)
Parsed = Generator[tuple[ycsv.MessageBatch, list[tuple[int, str]], int], None, None]


class YammerExportSource:
    """Viva Engage Network Data Export: one ZIP file, or one API window per day from the cursor."""

    name = "yammer-export"
    writer_checks_keys = True  # its person keys are written or checked through its Writer

    def __init__(
        self,
        settings: Settings,
        file: str | Path | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ):
        self.settings = settings
        self.config = settings.sources.yammer_export
        self.file = Path(file) if file else None
        self.since = since
        self.until = until
        self._session: requests.Session | None = None

    def windows(self, cursor: str | None) -> list[Window]:
        """The file, or each day from the cursor (else --since, else `start`) to --until."""
        if self.file is not None:
            return [Window(target=str(self.file), payload=self.file)]
        first = self._first_day(cursor)
        last = self.until or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
        return [
            Window(target=f"api {d.isoformat()}", start=_stamp(d), end=_stamp(_next(d)), payload=d)
            for d in days
        ]

    def ingest(self, window: Window, writer: Writer) -> str | None:
        """Load one ZIP; an API window also downloads it first and returns the next day to pull."""
        if isinstance(window.payload, Path):
            ExportLoad(writer).run(window.payload)
            return None
        day: dt.date = window.payload
        path = self.fetch_export(day)
        ExportLoad(writer).run(path)
        if not self.config.keep_downloads:
            path.unlink(missing_ok=True)
        return _next(day).isoformat()

    def fetch_export(self, day: dt.date) -> Path:
        """Stream one day's export (CSV files only) to the download folder."""
        from ingest.http import download, make_session

        token = self.settings.secret(self.config.token_env)
        if not token:
            raise FatalSourceError(
                f"yammer-export: no API token: set the environment variable "
                f"{self.config.token_env} to {PERMISSION}"
            )
        if self._session is None:
            self._session = make_session(self.settings)
        return download(
            self._session,
            f"{self.config.base_url.rstrip('/')}/api/v1/export",
            Path(self.config.download_dir) / f"export-{day.isoformat()}.zip",
            settings=self.settings,
            token=token,
            params={"since": _stamp(day), "until": _stamp(_next(day)), "include": "csv"},
            permission_hint=PERMISSION,
        )

    def _first_day(self, cursor: str | None) -> dt.date:
        text = cursor or (self.since.isoformat() if self.since else None) or self.config.start
        if not text:
            raise UptakeError(
                "yammer-export: nothing says where to start: pass --since YYYY-MM-DD "
                "(or set sources.yammer_export.start)"
            )
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise UptakeError(f"yammer-export: start day {text!r} is not YYYY-MM-DD") from None


class ExportLoad:
    """One export ZIP's Users, Groups and Messages, written through one run's Writer."""

    def __init__(self, writer: Writer):
        self.writer = writer
        self.conn = writer.conn
        self.identity = writer.identity
        self.zone = writer.settings.zone
        self.sender_keys: dict[str, str] = {}
        self.days: set[dt.date] = set()  # days whose message facts change
        self.recount: set[dt.date] = set()  # of those, days whose facts are counted again
        self.tally = MessageTally(self.conn, self.zone)
        # Retention purges messages but keeps their facts: a message older than the cutoff
        # may be one purged before, whose count is in the facts already; its day is recounted.
        retention = writer.settings.privacy.retention_days
        self.purged_before = (  # as time_text, as a batch's created_at
            None if retention is None
            else time_text(retention_cutoff(writer.settings, retention, _utcnow()))
        )
        self.users_from: dt.date | None = None
        self.ahead: tuple[str, ReadAhead[Any]] | None = None  # (member, its reader) started early
        self.counted = False  # message facts were counted (in self.zone) by this load
        self.path: Path | None = None
        self.dialect = self.conn.dialect.name
        self.stored_query = select(*(MESSAGES.c[c] for c in STORED_COLUMNS)).where(
            Message.platform == ycsv.PLATFORM, among_ids(MESSAGES.c.message_id, self.dialect)
        )
        # SQLite compares ids as bytes, in Python's order: a batch's stored ids lie in its range
        self.near_query = None if self.dialect != "sqlite" else (
            select(Message.message_id)
            .where(Message.platform == ycsv.PLATFORM,
                   Message.message_id.between(bindparam("lo"), bindparam("hi")))
            .limit(bindparam("most"))
        )
        # joined to people: the keys found are known present, and need no check of their own
        self.sender_query = (
            select(Account.account_id, Account.person_key)
            .join(Person, Person.person_key == Account.person_key)
            .where(Account.platform == ycsv.PLATFORM,
                   among_ids(ACCOUNTS.c.account_id, self.dialect))
        )

    def run(self, path: Path) -> None:
        """Read the ZIP (Users, Groups, then Messages), then derive daily activity."""
        self.path = path
        # A large Messages.csv starts parsing in its reader process while this one checks the
        # ZIP and writes Users and Groups; its batches are taken only after that. Its CRC is
        # checked by that reader, which reads it whole anyway, not here before: a mismatch
        # fails the run before it commits, so nothing of it is kept either way.
        self.ahead = _messages_ahead(path)
        try:
            read_export(
                path,
                {
                    "Users.csv": self.save_users,
                    "Groups.csv": self.save_groups,
                    "Messages.csv": self.save_messages,
                },
                streamed=() if self.ahead is None else (self.ahead[0],),
            )
        finally:
            if self.ahead is not None:
                self.ahead[1].close()
        self.finish()

    def save_users(self, name: str, raw: IO[bytes], _: zipfile.ZipInfo) -> None:
        """Users.csv → people and accounts (with state and join/suspend/delete dates)."""
        header, rows = self._rows(name, raw, ycsv.USERS_REQUIRED)
        parse = partial(ycsv.parse_user, c=ycsv.UserColumns.of(header), identity=self.identity)
        for chunk in self._chunks(name, rows, parse):
            self._save_user_chunk(chunk)

    def save_groups(self, name: str, raw: IO[bytes], _: zipfile.ZipInfo) -> None:
        """Groups.csv → groups."""
        header, rows = self._rows(name, raw, ycsv.GROUPS_REQUIRED)
        parse = partial(ycsv.parse_group, c=ycsv.GroupColumns.of(header))
        for chunk in self._chunks(name, rows, parse):
            self.writer.upsert(GROUPS, chunk)

    def save_messages(self, name: str, raw: IO[bytes], member: zipfile.ZipInfo) -> None:
        """Messages.csv → messages (upserted on id, so re-delivered messages never count twice).

        A large file is parsed a batch ahead by a reader process while this one writes."""
        large = member.file_size >= AHEAD_BYTES
        batches: Iterator[tuple[ycsv.MessageBatch, list[tuple[int, str]], int]]
        if self.ahead is not None and self.ahead[0] == member.filename:
            batches = self.ahead[1]
        elif self.path is not None and large and can_read_ahead():
            batches = read_ahead(parsed_member, str(self.path), member.filename, name)
        else:
            batches = parsed_messages(name, raw)
        done = 0
        with contextlib.closing(batches):  # a failed write stops the reader at once
            for batch, skipped, records in batches:
                for at, reason in skipped:
                    self.writer.skip(f"{name} record {done + at + 1}: {reason}")
                done += records
                self.writer.read(records)
                self._save_message_batch(batch)

    def finish(self) -> None:
        """Bring message-derived daily activity up to date, and queue the days for refresh."""
        if self.users_from is not None:
            self.writer.touch(self.users_from, None)
        self.tally.flush()
        for span in _spans(sorted(self.recount), REBUILD_SPAN_DAYS):
            rebuild_message_activity(self.conn, self.zone, days=span)
        if self.counted or self.recount:
            note_counted_zone(self.conn, self.zone)
        for day in sorted(self.days | self.recount):
            self.writer.touch(day, day)

    def _rows(
        self, name: str, raw: IO[bytes], required: Sequence[str]
    ) -> tuple[list[str], Iterator[list[str]]]:
        header, rows = read_rows(decode_stream(raw), name, required)
        return header, ycsv.padded(rows, len(header))

    def _chunks(
        self, name: str, rows: Iterator[list[str]], parse: Callable[[list[str]], T]
    ) -> Iterator[list[T]]:
        chunk: list[T] = []
        counted = n = 0
        for n, row in enumerate(rows, 1):  # noqa: B007 - n is read after the loop
            try:
                chunk.append(parse(row))
            except SkippableRecord as exc:
                self.writer.skip(f"{name} record {n}: {exc}")
            if len(chunk) >= CHUNK:
                self.writer.read(n - counted)
                counted = n
                yield chunk
                chunk = []
        self.writer.read(n - counted)
        if chunk:
            yield chunk

    def _save_message_batch(self, batch: ycsv.MessageBatch) -> None:
        known = self.sender_keys
        if not batch.senders.keys() <= known.keys():
            self._resolve_senders(
                {sid: who for sid, who in batch.senders.items() if sid not in known}
            )
        key_of = cast(Callable[[str | None], str | None], known.get)  # None: no sender id
        keys = list(map(key_of, batch.sender_account_id))
        for i in batch.unsent:
            keys[i] = None
        if keys.count(None) != len(batch.unsent):  # never store a user's message unattributed
            sid = next(batch.sender_account_id[i] for i, key in enumerate(keys)
                       if key is None and i not in batch.unsent)
            raise IngestError(f"sender {sid}: not named by its file before this message")
        unlinked: list[dict[str, Any]] = []
        for i, (email, sender_name) in batch.unlinked.items():
            person = self._person(self.identity.person_key(email), email, sender_name)
            keys[i] = person["person_key"]
            unlinked.append(person)
        self.writer.save_people(unlinked)
        columns = {**batch._asdict(), "platform": [ycsv.PLATFORM] * len(keys), "person_key": keys}
        self._save_messages({c: columns[c] for c in MESSAGE_COLUMNS})
        self._note_days(batch.created_at)
        if self.purged_before is not None:
            old = [t for t in batch.created_at if t < self.purged_before]
            self._note_days(old, self.recount)

    def _save_messages(self, columns: dict[str, list[Any]]) -> None:
        """Plain INSERT for ids not stored yet (twice as fast on SQLite), upsert for the rest;
        the tally counts the rows written and uncounts the stored rows they replace."""
        ids, keys = columns["message_id"], columns["person_key"]
        self.counted = True
        erased = self.writer.erased
        kept = [i for i, key in enumerate(keys) if key not in erased] if erased else range(len(ids))
        last = dict(zip([ids[i] for i in kept], kept, strict=True))  # a repeated id: last wins
        stored = self._stored(list(last))
        fresh = [i for mid, i in last.items() if mid not in stored] if stored else [*last.values()]
        if len(fresh) == len(ids):  # every row new and once: the columns as they are
            self.writer.insert_columns(MESSAGES, columns, TIME_COLUMNS)
            self.tally.add(columns)
        else:
            written = _pick(columns, list(last.values()))
            self.writer.insert_columns(MESSAGES, _pick(columns, fresh), TIME_COLUMNS)
            self.tally.add(written)
        if stored:
            again = _pick(columns, [i for mid, i in last.items() if mid in stored])
            rows = list(zip(*again.values(), strict=True))
            self.writer.upsert(MESSAGES, rows, columns=MESSAGE_COLUMNS, texts=TIME_COLUMNS)
            replaced = dict(zip(COUNTED_COLUMNS, zip(*stored.values(), strict=True), strict=True))
            self.tally.add(replaced, sign=-1)
            self._note_days(list(replaced["created_at"]))  # a message may have moved day

    def _stored(self, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """Stored messages among `ids`: id → their COUNTED_COLUMNS."""
        stored: dict[str, tuple[Any, ...]] = {}
        if self.near_query is not None and ids:
            # one range scan of the key finds the few stored ids of a new batch (a lookup per
            # id cost 0.8 µs); a range wider than the batch is looked up id by id
            near = self.conn.scalars(
                self.near_query, {"lo": min(ids), "hi": max(ids), "most": len(ids) + 1}
            ).all()
            if len(near) <= len(ids):
                wanted = set(ids)
                ids = [mid for mid in near if mid in wanted]
        for part in _batches(ids, LOOKUP):
            found = self.conn.execute(self.stored_query, {"ids": ids_param(part, self.dialect)})
            stored.update((mid, tuple(rest)) for mid, *rest in found)
        return stored

    def _resolve_senders(self, senders: dict[str, tuple[str, str]]) -> None:
        """Sender id → person key: a stored Yammer account, else the email, else the id."""
        for part in _batches(list(senders), LOOKUP):
            found = dict(self.conn.execute(
                self.sender_query, {"ids": ids_param(part, self.dialect)}
            ).all())
            self.sender_keys.update(found)
            self.writer.note_present(found.values())
        people, accounts = [], []
        now = _utcnow()
        for sid, (email, sender_name) in senders.items():
            if sid in self.sender_keys:
                continue
            key = (
                self.identity.person_key(email)
                if email
                else self.identity.account_key(ycsv.PLATFORM, sid)
            )
            self.sender_keys[sid] = key
            people.append(self._person(key, email, sender_name))
            accounts.append(
                {"platform": ycsv.PLATFORM, "account_id": sid, "person_key": key,
                 "has_user_record": False, "updated_at": now}
            )
        self.writer.save_people(people)
        self.writer.upsert(ACCOUNTS, accounts, update=())

    def _person(self, key: str, email: str, name: str) -> dict[str, Any]:
        plain = not self.identity.pseudonymise
        return {
            "person_key": key,
            "email": self.identity.email_to_store(email) if email else None,
            "display_name": (name[:200] or None) if plain else None,
        }

    def _save_user_chunk(self, parsed: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        latest = {account["account_id"]: (account, person) for account, person in parsed}
        now = _utcnow()
        accounts = [{**account, "updated_at": now} for account, _ in latest.values()]
        before = self._stored_accounts(list(latest))
        known_people = sorted(self.writer.stored_people(
            a["person_key"] for a in accounts
            if a["account_id"] not in before or not before[a["account_id"]]["has_user_record"]
        ))
        first_active = self._first_active_days(known_people)
        for account in accounts:
            old = before.get(account["account_id"])
            if old is None or any(account[f] != old[f] for f in USER_FACTS):
                self._touch_user(account, old, first_active.get(account["person_key"]))
        self.writer.save_people([person for _, person in latest.values()])
        self.writer.upsert(ACCOUNTS, accounts)
        for account in accounts:
            old = before.get(account["account_id"])
            if old is not None and old["person_key"] != account["person_key"]:
                self._repoint(account["account_id"], account["person_key"])
            self.sender_keys[account["account_id"]] = account["person_key"]

    def _stored_accounts(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        stored: dict[str, dict[str, Any]] = {}
        for part in _batches(ids, LOOKUP):
            rows = self.conn.execute(
                select(Account.account_id, *(getattr(Account, f) for f in USER_FACTS)).where(
                    Account.platform == ycsv.PLATFORM, Account.account_id.in_(part)
                )
            )
            stored.update({r.account_id: dict(r._mapping) for r in rows})
        return stored

    def _first_active_days(self, keys: list[str]) -> dict[str, dt.date]:
        """First activity day of people who may have been members by activity until now."""
        first: dict[str, dt.date] = {}
        for part in _batches(keys, LOOKUP):
            rows = self.conn.execute(
                select(DailyActivity.person_key, func.min(DailyActivity.day))
                .where(
                    DailyActivity.source.in_(ACTIVITY_SOURCES),
                    DailyActivity.person_key.in_(part),
                )
                .group_by(DailyActivity.person_key)
            )
            first.update(dict(rows.all()))
        return first

    def _touch_user(
        self, new: dict[str, Any], old: dict[str, Any] | None, first_active: dt.date | None
    ) -> None:
        facts = [new, old] if old else [new]
        times = [f[k] for f in facts for k in ("joined_at", "suspended_at", "deleted_at") if f[k]]
        days = [self._local_day(t) for t in times]
        if first_active is not None:
            days.append(first_active)
        if days:
            day = min(days)
            self.users_from = day if self.users_from is None else min(self.users_from, day)

    def _repoint(self, account_id: str, key: str) -> None:
        """Messages of an account whose person changed move to the new person."""
        moved = (
            (Message.platform == ycsv.PLATFORM)
            & (Message.sender_account_id == account_id)
            & (Message.person_key != key)
        )
        created = list(self.conn.scalars(select(Message.created_at).where(moved)))
        if created:
            self.conn.execute(update(Message).where(moved).values(person_key=key))
            self._note_days(created, self.recount)

    def _note_days(
        self, created: list[dt.datetime] | list[str], days: set[dt.date] | None = None
    ) -> None:
        if created:
            stamps = pd.Series(utc_instants(created)).dt.floor("15min").drop_duplicates()
            (self.days if days is None else days).update(local_days(stamps, self.zone))

    def _local_day(self, utc: dt.datetime) -> dt.date:
        return utc.replace(tzinfo=dt.UTC).astimezone(self.zone).date()


def _messages_ahead(path: Path) -> tuple[str, ReadAhead[Any]] | None:
    """The ZIP's one large Messages.csv and a reader already parsing it, or None (no such
    member, no reader possible, or a ZIP that `read_export` will refuse with its reason)."""
    if not can_read_ahead():
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            found = [i for i in archive.infolist()
                     if not i.is_dir() and base_name(i.filename) == "Messages.csv"]
    except (*ZIP_ERRORS, OSError):
        return None
    if len(found) != 1 or found[0].file_size < AHEAD_BYTES:
        return None
    member = found[0].filename
    return member, read_ahead(parsed_member, str(path), member, f"{path.name}/{member}")


def parsed_messages(
    name: str, raw: IO[bytes], first: int | None = None
) -> Parsed:
    """Messages.csv as parsed batches: (batch, skipped (index, reason), records read). A
    sender's email and name come with the first batch that names the sender only: the writer
    has resolved every sender of a batch before it takes the next."""
    named: set[str] = set()
    for cells in message_columns(name, raw, first):
        batch, skipped = ycsv.parse_messages(cells, named)
        named.update(batch.senders)
        yield batch, skipped, len(cells["id"])


def parsed_member(
    path: str, member: str, name: str
) -> Parsed:
    """`parsed_messages` of one ZIP member, opened here (in a reader process), read to its end
    so that its CRC is checked; a corrupt member fails as such, whatever the parser met."""
    with zipfile.ZipFile(path) as archive, archive.open(member) as raw:
        try:
            # small batches first: the writer waits only for the first
            yield from parsed_messages(name, raw, AHEAD_FIRST)
            verify_rest(raw)
        except ZIP_ERRORS:
            raise
        except Exception:
            verify_member(archive, member)
            raise


def message_columns(
    name: str, raw: IO[bytes], first: int | None = None
) -> Iterator[dict[str, list[str]]]:
    """Messages.csv in chunks of CHUNK records (growing from `first` records, when given),
    `MessageColumns` field → cells (blank if absent)."""
    # pandas' C reader parses while every record has an id; at the first chunk that has not
    # (a blank line, which `csv` would drop) or that pandas rejects (a record longer than the
    # first, a decoding error), `csv` reads the file again and goes on after the records done.
    text = decode_stream(raw)
    header, _ = read_rows(text, name, ycsv.MESSAGES_REQUIRED)
    c = ycsv.MessageColumns.of(header)
    done: int | None = 0
    if raw.seekable():
        sizes = itertools.chain(_growing(first, CHUNK), itertools.repeat(CHUNK))
        if text.encoding == "utf-8-sig":  # pandas decodes UTF-8 itself, in C: bytes from the top
            raw.seek(0)
            done = yield from _pandas_chunks(Utf8Checked(raw), c, len(header), sizes, header=0)
        else:
            done = yield from _pandas_chunks(text, c, len(header), sizes)
    if done is None:
        return
    raw.seek(0)
    header, rows = read_rows(decode_stream(raw), name, ycsv.MESSAGES_REQUIRED)
    records = ycsv.padded(rows, len(header))
    for _ in itertools.islice(records, done):
        pass
    while part := list(itertools.islice(records, CHUNK)):
        yield {field: [row[at] for row in part] for field, at in c._asdict().items()}


def _pandas_chunks(
    source: io.TextIOBase | io.RawIOBase,
    c: ycsv.MessageColumns,
    width: int,
    sizes: Iterator[int],
    header: int | None = None,
) -> Generator[dict[str, list[str]], None, int | None]:
    """Chunks parsed by pandas from text after the header, or from UTF-8 bytes whose first
    record (`header=0`) is the header; returns None when all were, else the records done."""
    # from bytes, pandas' C reader decodes each cell it keeps; from text it encodes all
    # of the text back to UTF-8 first, after Python decoded it (0.5 s of the demo's 4 s read)
    used = sorted({at for at in c if at < width})
    done = 0
    try:
        reader = pd.read_csv(
            source, header=header, names=None if header is None else list(range(width)),
            usecols=used, dtype=object, engine="c", iterator=True, encoding="utf-8",
            keep_default_na=False, na_filter=False, skip_blank_lines=False,
        )
        for size in sizes:
            try:
                frame = reader.get_chunk(size)
            except StopIteration:
                break
            n = len(frame)
            cells = {field: frame[at].tolist() if at < width else [""] * n
                     for field, at in c._asdict().items()}
            if not all(v.strip() for v in cells["id"]):
                return done
            yield cells
            done += n
    except (ValueError, OverflowError, UnicodeDecodeError):  # pandas' errors are ValueErrors
        return done
    return None


def _growing(first: int | None, limit: int) -> Iterator[int]:
    """first, then a quarter more each time, while below limit (nothing when first is None)."""
    # a reader parses a batch in about 0.6 of the time its writer takes to store it: with
    # batches that doubled, the writer waited for each next one (1.4–1.6 s of the demo's
    # 7–8 s step; 0.8–0.9 s, mostly for each file's first batch, with a quarter more)
    size = first
    while size is not None and size < limit:
        yield size
        size = max(size + 1, size * 5 // 4)


def _pick(columns: dict[str, list[Any]], at: list[int]) -> dict[str, list[Any]]:
    return {c: [values[i] for i in at] for c, values in columns.items()}


def _spans(days: list[dt.date], width: int) -> Iterator[list[dt.date]]:
    """Sorted days in groups spanning fewer than `width` days (bounds each rebuild's memory)."""
    group: list[dt.date] = []
    for day in days:
        if group and (day - group[0]).days >= width:
            yield group
            group = []
        group.append(day)
    if group:
        yield group


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _next(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)


def _stamp(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00+00:00"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
