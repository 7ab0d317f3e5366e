"""The `graph-yammer-activity` ingester: getYammerActivityUserDetail(date=D) day reports."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urljoin

import requests
from sqlalchemy import Connection, Table, delete, select

from errors import BadInputError, RetriableSourceError
from ingest.csvfile import decode_stream, read_rows
from ingest.graph_auth import fetch_graph_token
from ingest.http import download, fetch, make_session
from ingest.runner import Window, Writer
from settings import Settings
from store.identity import CONCEALED
from store.models import Account, DailyActivity, Person

log = logging.getLogger(__name__)

SOURCE = "graph_yammer_activity"  # daily_activity.source
PLATFORM = "graph"
PERMISSION = "Reports.Read.All"
UPN, NAME = "User Principal Name", "Display Name"
POSTED, READ, LIKED = "Posted Count", "Read Count", "Liked Count"
REQUIRED = (UPN, POSTED, READ, LIKED)
DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
CHUNK_ROWS = 50_000
REDIRECTS = (301, 302, 303, 307, 308)
ZERO = ("0", "0", "0")
FACT_COLUMNS = ("source", "person_key", "day", "posts", "replies", "reactions", "reads")
CONCEALED_WARNING = (
    "{n} user(s) have concealed names (32-hex User Principal Name): they are ingested as "
    "unmatched people, and department/region joins are impossible for them until an admin "
    "turns off 'Display concealed user, group, and site names in all reports' (Microsoft 365 "
    "admin center → Settings → Org settings → Services → Reports)"
)


class GraphActivitySource:
    """Per-user Yammer activity of one day per window, from report CSVs or the Graph API."""

    name = "graph-yammer-activity"

    def __init__(
        self,
        settings: Settings,
        path: str | Path | None = None,
        day: dt.date | str | None = None,
        *,
        session: requests.Session | None = None,
        today: dt.date | None = None,
    ):
        self.settings = settings
        self.path = Path(path) if path else None
        self.day = dt.date.fromisoformat(day) if isinstance(day, str) else day
        self.today = today
        self._session = session
        self._token: str | None = None
        self._cursor: dt.date | None = None
        self._lost: str | None = None
        self._keys: dict[str, tuple[str, bool]] = {}  # UPN → (person key, concealed)
        self._stored = KnownKeys()

    def windows(self, cursor: str | None) -> Iterator[Window]:
        """One window per report day: the given file(s), or every API day still due."""
        # A generator, so that a bad path or cursor fails inside the runner and is logged.
        self._cursor = _parse_cursor(cursor)
        self._stored.forget()
        days = self._file_days() if self.path is not None else self._api_days()
        for day, where in days:
            target = str(where) if where else f"date={day}"
            yield Window(target=target, start=str(day), end=str(day), payload=(day, where))

    def ingest(self, window: Window, writer: Writer) -> str | None:
        """Replace the source's facts of day D with one report; the cursor becomes D."""
        day, path = window.payload
        if path is not None:
            load_report(path, day, writer, path.name, self._keys, self._stored)
            self._cursor = max(day, self._cursor) if self._cursor else day
            return self._cursor.isoformat()
        if self._lost:
            writer.warn(self._lost)
            self._lost = None
        with tempfile.TemporaryDirectory(prefix="uptake-graph-") as tmp:
            report = self._fetch_report(day, Path(tmp) / f"yammer-activity-{day}.csv")
            load_report(
                report, day, writer, f"getYammerActivityUserDetail(date={day})", self._keys,
                self._stored,
            )
        self._cursor = max(day, self._cursor) if self._cursor else day
        return self._cursor.isoformat()

    def _file_days(self) -> list[tuple[dt.date, Path | None]]:
        assert self.path is not None
        if self.path.is_dir():
            if self.day is not None:
                raise BadInputError(f"{self.path}: --date applies to one file, not a directory")
            files = sorted(self.path.glob("*.csv"))
            if not files:
                raise BadInputError(f"{self.path}: no *.csv report files in the directory")
            dated = sorted((_day_in_name(p), p.name, p) for p in files)
            return [(day, path) for day, _, path in dated]
        if not self.path.is_file():
            raise BadInputError(f"{self.path}: no such file or directory")
        return [(self.day or _day_in_name(self.path), self.path)]

    def _api_days(self) -> list[tuple[dt.date, Path | None]]:
        today = self.today or dt.datetime.now(dt.UTC).date()
        first = today - dt.timedelta(days=self.settings.sources.graph_yammer_activity.lookback_days)
        if self.day is not None:  # one day on request (e.g. to re-fetch it)
            if not first <= self.day < today:
                raise BadInputError(
                    f"graph-yammer-activity: --date {self.day} is outside the days the report "
                    f"API keeps ({first}..{today - dt.timedelta(days=1)})"
                )
            return [(self.day, None)]
        start = self._cursor + dt.timedelta(days=1) if self._cursor else first
        if start < first:
            lost = (first - start).days
            self._lost = (
                f"{lost} days lost ({start}..{first - dt.timedelta(days=1)}): the Graph report "
                "API keeps only ~28 days; schedule this source at least daily"
            )
            log.warning("graph-yammer-activity: %s", self._lost)
            start = first
        count = (today - start).days  # up to yesterday (UTC)
        return [(start + dt.timedelta(days=i), None) for i in range(max(count, 0))]

    def _fetch_report(self, day: dt.date, dest: Path) -> Path:
        """Ask Graph for the day's report and download it from the pre-authenticated URL."""
        session = self._session or make_session(self.settings)
        self._session = session
        if self._token is None:
            self._token = fetch_graph_token(self.settings, session)
        base = self.settings.sources.graph_yammer_activity.base_url.rstrip("/")
        url = f"{base}/reports/getYammerActivityUserDetail(date={day.isoformat()})"
        response = fetch(
            session, "GET", url, settings=self.settings, token=self._token,
            allow_redirects=False, permission_hint=PERMISSION,
        )
        with response:
            if response.status_code not in REDIRECTS:
                dest.write_bytes(response.content)
                return dest
            location = response.headers.get("Location")
        if not location:
            raise RetriableSourceError(f"{url}: redirect without a Location header")
        # The download URL is pre-authenticated: sending our bearer token there would leak it.
        return download(session, urljoin(url, location), dest, settings=self.settings)


class KnownKeys:
    """People and Graph accounts already stored, kept across one run's windows.

    A window's additions join only once its transaction has committed, so a rolled-back
    window never leaves keys here that the store does not hold.
    """

    def __init__(self) -> None:
        self.people: set[str] | None = None
        self.accounts: set[str] | None = None

    def load(self, conn: Connection) -> tuple[set[str], set[str]]:
        """The stored keys (read from the store the first time)."""
        if self.people is None or self.accounts is None:
            self.people = _column_set(conn, select(Person.person_key))
            self.accounts = _column_set(conn, select(Account.person_key).distinct())
        return self.people, self.accounts

    def forget(self) -> None:
        """Read the store again next time (a new run: others may have written meanwhile)."""
        self.people = self.accounts = None

    def add(self, people: set[str], accounts: set[str]) -> None:
        """Keys that a committed window stored."""
        if self.people is not None and self.accounts is not None:
            self.people |= people
            self.accounts |= accounts


def load_report(
    path: Path,
    day: dt.date,
    writer: Writer,
    name: str,
    keys: dict[str, tuple[str, bool]],
    stored: KnownKeys | None = None,
) -> None:
    """Write one day's report: people, insert-only accounts, and non-zero activity facts."""
    conn = writer.conn
    stored = stored or KnownKeys()
    known, with_account = stored.load(conn)
    new_people: set[str] = set()
    new_accounts: set[str] = set()
    sent: set[str] = set()  # fact keys already inserted from this file
    conn.execute(delete(DailyActivity).where(DailyActivity.source == SOURCE,
                                             DailyActivity.day == day))
    keep_names = not writer.identity.pseudonymise
    concealed = 0
    now = _utcnow()
    with open(path, "rb") as raw:
        header, rows = read_rows(decode_stream(raw), name, REQUIRED)
        col = {h: i for i, h in enumerate(header)}
        i_upn, i_posted, i_read, i_liked = (col[c] for c in REQUIRED)
        i_name = col.get(NAME)
        width = max(i_upn, i_posted, i_read, i_liked) + 1
        for chunk in _chunks(rows):
            writer.read(len(chunk))
            people: list[dict[str, Any]] = []
            accounts: list[dict[str, Any]] = []
            facts: dict[str, tuple[Any, ...]] = {}
            for row in chunk:
                if len(row) < width:
                    writer.skip(f"{name}: short row ({len(row)} fields)")
                    continue
                upn = row[i_upn].strip()
                if not upn:
                    writer.skip(f"{name}: blank {UPN}")
                    continue
                counts = row[i_posted], row[i_read], row[i_liked]
                active = None
                if counts != ZERO:
                    try:
                        posted, read, liked = _count(counts[0]), _count(counts[1]), _count(
                            counts[2]
                        )
                    except ValueError:
                        writer.skip(f"{name}: bad count for one user")
                        continue
                    if posted or read or liked:
                        active = (posted, liked, read)
                hit = keys.get(upn)
                if hit is None:
                    hit = _key(writer, upn)
                    keys[upn] = hit
                key, hidden = hit
                if hidden:
                    concealed += 1
                if key not in known and key not in new_people:
                    new_people.add(key)
                    person: dict[str, Any] = {"person_key": key, "matched": not hidden}
                    if keep_names and not hidden:
                        person["email"] = upn.lower()
                        shown = row[i_name].strip()[:200] if i_name is not None else ""
                        person["display_name"] = shown or None
                    people.append(person)
                if key not in with_account and key not in new_accounts:
                    new_accounts.add(key)
                    accounts.append(_account(key, now))
                if active is not None:
                    facts[key] = (SOURCE, key, day, active[0], 0, active[1], active[2])
            writer.save_people(people)
            writer.upsert(_table(Account), accounts, update=())
            _write_facts(writer, facts, sent)
    if concealed:
        writer.warn(CONCEALED_WARNING.format(n=concealed))
    writer.touch(day, day)
    writer.after_commit(lambda: stored.add(new_people, new_accounts))


def _write_facts(writer: Writer, facts: dict[str, tuple[Any, ...]], sent: set[str]) -> None:
    """INSERT facts of people new to this file (the day was cleared); upsert repeats."""
    fresh = [facts[k] for k in sorted(facts) if k not in sent]  # key order: B-tree pages once
    again = [row for k, row in facts.items() if k in sent]
    writer.insert(_table(DailyActivity), FACT_COLUMNS, fresh)
    if again:
        writer.upsert(_table(DailyActivity), again, columns=FACT_COLUMNS)
    sent.update(facts)


def _key(writer: Writer, upn: str) -> tuple[str, bool]:
    if CONCEALED.match(upn):
        return writer.identity.concealed_key(upn), True
    return writer.identity.person_key(upn), False


def _account(key: str, now: dt.datetime) -> dict[str, Any]:
    return {"platform": PLATFORM, "account_id": key, "person_key": key, "has_user_record": False,
            "state": None, "updated_at": now}


def _count(text: str) -> int:
    """A non-negative count; blank means none."""
    if not text:
        return 0
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _chunks(rows: Iterator[list[str]]) -> Iterator[list[list[str]]]:
    while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
        yield chunk


def _column_set(conn: Connection, query: Any) -> set[str]:
    """One column as a set, through the driver: a whole table's keys, without row objects."""
    sql = str(query.compile(dialect=conn.dialect))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()


def _day_in_name(path: Path) -> dt.date:
    match = DATE_IN_NAME.search(path.name)
    try:
        return dt.date.fromisoformat(match.group(1)) if match else _no_day(path)
    except ValueError:
        return _no_day(path)


def _no_day(path: Path) -> dt.date:
    raise BadInputError(f"{path.name}: no YYYY-MM-DD date in the file name; pass --date")


def _parse_cursor(cursor: str | None) -> dt.date | None:
    if not cursor:
        return None
    try:
        return dt.date.fromisoformat(cursor)
    except ValueError:
        raise BadInputError(f"graph-yammer-activity: cursor {cursor!r} is not a date") from None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)
