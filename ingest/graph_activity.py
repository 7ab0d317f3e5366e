"""The `graph-yammer-activity` ingester: getYammerActivityUserDetail(date=D) day reports."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, cast
from urllib.parse import urljoin

import numpy as np
import pandas as pd
import requests
from sqlalchemy import Connection, Table, bindparam, delete, select

from errors import BadInputError, RetriableSourceError
from ingest.csvfile import decode_stream, read_rows
from ingest.graph_auth import fetch_graph_token
from ingest.http import download, fetch, make_session
from ingest.read_ahead import ReadAhead, can_read_ahead, read_ahead
from ingest.runner import Window, Writer
from settings import Settings
from store.fact_insert import Counts
from store.identity import CONCEALED, Identity
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
FACT_COUNTS = ("posts", "replies", "reactions", "reads")
FACT_COLUMNS = ("source", "person_key", "day", *FACT_COUNTS)
_CLEAR_DAY = delete(DailyActivity).where(DailyActivity.source == SOURCE,
                                         DailyActivity.day == bindparam("day"))
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
        self._keys = UpnKeys()
        self._stored = KnownKeys()
        self._ahead: ReportsAhead | None = None

    def windows(self, cursor: str | None) -> Iterator[Window]:
        """One window per report day: the given file(s), or every API day still due."""
        # A generator, so that a bad path or cursor fails inside the runner and is logged.
        self._cursor = _parse_cursor(cursor)
        self._stored.forget()
        days = self._file_days() if self.path is not None else self._api_days()
        files = [where for _, where in days if where is not None]
        self._ahead = (
            ReportsAhead(files, not self.settings.privacy.pseudonymise, self._keys)
            if len(files) > 1 and can_read_ahead() else None
        )
        try:
            for day, where in days:
                target = str(where) if where else f"date={day}"
                yield Window(target=target, start=str(day), end=str(day), payload=(day, where))
        finally:
            if self._ahead is not None:
                self._ahead.close()
                self._ahead = None

    def ingest(self, window: Window, writer: Writer) -> str | None:
        """Replace the source's facts of day D with one report; the cursor becomes D."""
        day, path = window.payload
        if path is not None:
            parsed = None
            if self._ahead is not None:
                parsed = self._ahead.take(path, writer.identity)
            load_report(path, day, writer, path.name, self._keys, self._stored, parsed)
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


class ReportsAhead:
    """Report files parsed, and their UPNs' keys looked up, by a forked child process while
    the file before is written; a parse error is raised when its window takes it."""

    def __init__(self, files: list[Path], with_names: bool, keys: UpnKeys):
        self.files = files
        self.with_names = with_names
        self.keys = keys
        self._parsed: ReadAhead[tuple[Path, Parsed]] | None = None
        self._identity: Identity | None = None

    def take(self, path: Path, identity: Identity) -> Parsed:
        """The parse of `path`, the next file in order (the child starts at the first)."""
        if self._parsed is None:  # the identity is known once the first window runs
            at = self.files.index(path)
            self._identity = identity
            self._parsed = read_ahead(
                parse_reports, self.files[at:], self.with_names, self.keys, identity
            )
        done, parsed = next(self._parsed)
        if done != path:
            raise RuntimeError(f"{path.name}: read ahead out of order (got {done.name})")
        self.keys.hidden |= parsed.hidden
        return parsed._replace(identity=self._identity)  # the key itself stays in the child

    def close(self) -> None:
        """Stop the child, however far it got."""
        if self._parsed is not None:
            self._parsed.close()
            self._parsed = None


def parse_reports(
    files: list[Path], with_names: bool, keys: UpnKeys, identity: Identity
) -> Iterator[tuple[Path, Parsed]]:
    """Each file's parse with its keys, in order (in the read-ahead child)."""
    for path in files:
        parsed = parse_report(path, path.name, with_names, keys, identity)
        batch = parsed.batch
        if batch is not None and batch.keys is not None and not with_names:
            # the writer reads a UPN only to store it as a name's email: not sent (they took
            # more than twice as long to unpickle as the rest of the batch)
            batch = batch._replace(upns=[])
        yield path, parsed._replace(batch=batch, identity=None)


class KnownKeys:
    """People and Graph accounts already stored, kept across one run's windows.

    A window's additions join only once its transaction has committed, so a rolled-back
    window never leaves keys here that the store does not hold.
    """

    def __init__(self) -> None:
        self.people: set[str] | None = None
        self.accounts: set[str] | None = None
        self.settled: set[str] = set()  # keys with a person and an account: nothing to add

    def load(self, conn: Connection) -> tuple[set[str], set[str]]:
        """The stored keys (read from the store the first time)."""
        if self.people is None or self.accounts is None:
            self.people = _column_set(conn, select(Person.person_key))
            self.accounts = _column_set(conn, select(Account.person_key).distinct())
            self.settled = self.people & self.accounts
        return self.people, self.accounts

    def forget(self) -> None:
        """Read the store again next time (a new run: others may have written meanwhile)."""
        self.people = self.accounts = None
        self.settled = set()

    def add(self, people: set[str], accounts: set[str]) -> None:
        """Keys that a committed window stored."""
        if self.people is not None and self.accounts is not None:
            self.people |= people
            self.accounts |= accounts
            self.settled.update(k for k in people | accounts
                                if k in self.people and k in self.accounts)


class Columns(NamedTuple):
    """Positions of the report columns we read; `width` is the fewest fields a row needs."""

    upn: int
    posted: int
    read: int
    liked: int
    name: int | None
    width: int

    @classmethod
    def of(cls, header: list[str]) -> Columns:
        """Positions in `header` (of a repeated name, the last one)."""
        col = {h: i for i, h in enumerate(header)}
        upn, posted, read, liked = (col[c] for c in REQUIRED)
        return cls(upn, posted, read, liked, col.get(NAME), max(upn, posted, read, liked) + 1)


class Batch(NamedTuple):
    """Checked rows: stripped UPNs, name cells, and the counts of the active rows only."""

    upns: list[str]  # empty when `keys` are given and no names are kept (`parse_reports`)
    names: list[str] | None  # raw Display Name cells; None without that column
    active: list[int]  # positions of the rows with a non-zero count
    posted: np.ndarray  # int64
    liked: np.ndarray
    read: np.ndarray
    keys: list[str] | None = None  # the person key of each UPN, when already looked up

    @property
    def rows(self) -> int:
        """The rows of the batch."""
        return len(self.keys) if self.keys is not None else len(self.upns)


class Parsed(NamedTuple):
    """A report's column positions and, when every row is regular, all its rows checked."""

    cols: Columns
    batch: Batch | None  # None: read the file row by row
    with_names: bool
    identity: Identity | None = None  # the identity that made `batch.keys`
    hidden: frozenset[str] = frozenset()  # the keys of `batch.keys` that are concealed names


def load_report(
    path: Path,
    day: dt.date,
    writer: Writer,
    name: str,
    keys: UpnKeys,
    stored: KnownKeys | None = None,
    parsed: Parsed | None = None,
) -> None:
    """Write one day's report: people, insert-only accounts, and non-zero activity facts."""
    load = DayLoad(writer, day, keys, stored or KnownKeys())
    writer.conn.execute(_CLEAR_DAY, {"day": day})
    for batch in _batches(path, name, writer, parsed):
        load.add(batch)
    if load.concealed:
        writer.warn(CONCEALED_WARNING.format(n=len(load.concealed)))
    writer.touch(day, day)
    writer.after_commit(load.committed)


def parse_report(
    path: Path,
    name: str,
    with_names: bool,
    keys: UpnKeys | None = None,
    identity: Identity | None = None,
) -> Parsed:
    """Read and check a report file, and look its UPNs' keys up when given `keys` and
    `identity`; needs no store, so it can run ahead in a thread."""
    with open(path, "rb") as raw:
        text = decode_stream(raw)
        header, _ = read_rows(text, name, REQUIRED)
        cols = Columns.of(header)
        if not with_names:  # display names are never stored: not read either
            cols = cols._replace(name=None)
        columns = _regular_frame(text, cols)
    if columns is None:
        return Parsed(cols, None, with_names)
    batch = _frame_batch(columns, cols)
    if keys is None or identity is None:
        return Parsed(cols, batch, with_names)
    row_keys = keys.of(batch.upns, identity)
    hidden = frozenset(keys.hidden.intersection(row_keys)) if keys.hidden else frozenset()
    return Parsed(cols, batch._replace(keys=row_keys), with_names, identity, hidden)


def _batches(
    path: Path, name: str, writer: Writer, parsed: Parsed | None
) -> Iterator[Batch]:
    """The report's rows in checked batches: parsed by pandas when regular, else row by row."""
    with_names = not writer.identity.pseudonymise
    if parsed is not None and parsed.batch is not None and parsed.identity is not writer.identity:
        parsed = None  # keys made with another identity are not this writer's: read again
    if parsed is None or parsed.with_names != with_names:
        parsed = parse_report(path, name, with_names)
    if parsed.batch is not None:
        writer.read(parsed.batch.rows)
        yield parsed.batch
        return
    with open(path, "rb") as raw:  # irregular: again from the top, row by row
        _, rows = read_rows(decode_stream(raw), name, REQUIRED)
        for chunk in _chunks(rows):
            writer.read(len(chunk))
            yield _row_batch(chunk, parsed.cols, writer, name)


def _regular_frame(text: io.TextIOBase, cols: Columns) -> dict[int, list[str]] | None:
    """The used columns of the rows after the header, when `csv` would read them alike."""
    # None sends the file row by row: a decoding error, a NUL, a row pandas rejects (more
    # fields than the first), a blank UPN or a count that is not plain digits — so a short
    # row, whose missing cells pandas fills with "", is never taken for a whole one.
    try:
        rest = text.read()
    except UnicodeDecodeError:
        return None
    if "\x00" in rest:
        return None
    used = sorted({cols.upn, cols.posted, cols.read, cols.liked, *_name_col(cols)})
    if not rest:
        return {c: [] for c in used}
    try:
        frame = pd.read_csv(
            io.StringIO(rest), header=None, usecols=used, dtype=object, engine="c",
            keep_default_na=False, na_filter=False, skip_blank_lines=False,
        )
    except (ValueError, OverflowError):  # pandas' parser errors are ValueErrors
        return None
    columns = {c: frame[c].tolist() for c in used}
    columns[cols.upn] = [upn.strip() for upn in columns[cols.upn]]
    if not all(columns[cols.upn]):
        return None
    if not all(_digits(columns[c]) for c in (cols.posted, cols.read, cols.liked)):
        return None
    return columns


def _name_col(cols: Columns) -> list[int]:
    return [] if cols.name is None else [cols.name]


def _digits(cells: list[str]) -> bool:
    """Every cell is 1 to 18 ASCII digits: what `int` reads alike and int64 holds."""
    joined = "".join(cells)
    return (
        all(cells) and max(map(len, cells), default=0) <= 18
        and joined.isascii() and (joined.isdigit() or not joined)
    )


def _counts_of(cells: list[str]) -> np.ndarray:
    """Cells `_digits` passed as int64, parsed by numpy from one text (twice as fast as from
    the list)."""
    if not cells:
        return np.zeros(0, dtype=np.int64)
    values = np.fromstring(",".join(cells), dtype=np.int64, sep=",")
    if len(values) != len(cells):  # cannot happen to plain digits; never a short column
        raise ValueError("a count column did not parse whole")
    return values


def _frame_batch(columns: dict[int, list[str]], cols: Columns) -> Batch:
    """Regular rows as one batch, each count column converted at once."""
    posted, read, liked = (_counts_of(columns[c]) for c in (cols.posted, cols.read, cols.liked))
    active = np.flatnonzero(posted + read + liked)  # counts are non-negative
    return Batch(
        upns=columns[cols.upn],
        names=None if cols.name is None else columns[cols.name],
        active=active.tolist(),
        posted=posted[active],
        liked=liked[active],
        read=read[active],
    )


def _row_batch(chunk: list[list[str]], cols: Columns, writer: Writer, name: str) -> Batch:
    """Check rows one by one: short rows, blank UPNs and bad counts are skipped and counted."""
    upns: list[str] = []
    names: list[str] | None = None if cols.name is None else []
    active: list[int] = []
    posts: list[int] = []
    likes: list[int] = []
    reads: list[int] = []
    for row in chunk:
        if len(row) < cols.width:
            writer.skip(f"{name}: short row ({len(row)} fields)")
            continue
        upn = row[cols.upn].strip()
        if not upn:
            writer.skip(f"{name}: blank {UPN}")
            continue
        counts = row[cols.posted], row[cols.read], row[cols.liked]
        if counts != ZERO:
            try:
                posted, read, liked = _count(counts[0]), _count(counts[1]), _count(counts[2])
            except ValueError:
                writer.skip(f"{name}: bad count for one user")
                continue
            if posted or read or liked:
                active.append(len(upns))
                posts.append(posted)
                likes.append(liked)
                reads.append(read)
        upns.append(upn)
        if names is not None:
            names.append(row[cast(int, cols.name)])
    posts_, likes_, reads_ = (np.array(v, dtype=np.int64) for v in (posts, likes, reads))
    return Batch(upns, names, active, posts_, likes_, reads_)


class UpnKeys:
    """UPN → person key, kept across one run's windows, and the keys of concealed names."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.hidden: set[str] = set()

    def of(self, upns: list[str], identity: Identity) -> list[str]:
        """The key of each UPN (each distinct new UPN hashed once)."""
        keys = self.keys
        for upn in set(upns).difference(keys):
            if CONCEALED.match(upn):
                keys[upn] = identity.concealed_key(upn)
                self.hidden.add(keys[upn])
            else:
                keys[upn] = identity.person_key(upn)
        return list(map(keys.__getitem__, upns))


class DayLoad:
    """One report day's writes: new people and accounts, and its facts, batch by batch."""

    def __init__(self, writer: Writer, day: dt.date, keys: UpnKeys, stored: KnownKeys):
        self.writer = writer
        self.day = day
        self.keys = keys
        self.stored = stored
        self.known, self.with_account = stored.load(writer.conn)
        self.new_people: set[str] = set()
        self.new_accounts: set[str] = set()
        self.sent: set[str] = set()  # fact keys already inserted from this file
        self.concealed: set[str] = set()
        self.now = _utcnow()

    def add(self, batch: Batch) -> None:
        """Write one batch: people and accounts first seen, then the facts (last row wins)."""
        row_keys = batch.keys if batch.keys is not None else self.keys.of(
            batch.upns, self.writer.identity
        )
        distinct = set(row_keys)
        self.concealed |= distinct & self.keys.hidden
        if not distinct <= self.stored.settled:  # one pass, where most days need no more
            self.writer.save_people(self._people(batch, row_keys, distinct))
            self.writer.upsert(_table(Account), self._accounts(row_keys, distinct), update=())
        # key → its last active row in the batch: a later row of the same person wins
        last = dict(zip([row_keys[i] for i in batch.active], range(len(batch.active)),
                        strict=True))
        _write_facts(self.writer, self.day, batch, last, self.sent)

    def committed(self) -> None:
        """The keys this day stored join those known (its transaction has committed)."""
        self.stored.add(self.new_people, self.new_accounts)

    def _people(
        self, batch: Batch, row_keys: list[str], distinct: set[str]
    ) -> list[dict[str, Any]]:
        unseen = distinct - self.known - self.new_people
        if not unseen:
            return []
        keep_names = not self.writer.identity.pseudonymise
        people = []
        for i, key in enumerate(row_keys):
            if key not in unseen:
                continue
            unseen.discard(key)
            hidden = key in self.keys.hidden
            person: dict[str, Any] = {"person_key": key, "matched": not hidden}
            if keep_names and not hidden:
                person["email"] = batch.upns[i].lower()
                shown = batch.names[i].strip()[:200] if batch.names is not None else ""
                person["display_name"] = shown or None
            people.append(person)
        self.new_people.update(p["person_key"] for p in people)
        return people

    def _accounts(self, row_keys: list[str], distinct: set[str]) -> list[dict[str, Any]]:
        unseen = distinct - self.with_account - self.new_accounts
        if not unseen:
            return []
        fresh = [key for key in dict.fromkeys(row_keys) if key in unseen]  # first-seen order
        self.new_accounts.update(fresh)
        return [_account(key, self.now) for key in fresh]


def _write_facts(
    writer: Writer, day: dt.date, batch: Batch, last: dict[str, int], sent: set[str]
) -> None:
    """INSERT facts of people new to this file (the day was cleared); upsert repeats."""
    fresh = [k for k in last if k not in sent] if sent else list(last)
    writer.insert_facts(SOURCE, [day] * len(fresh), fresh, _counts(batch, [last[k] for k in fresh]))
    again = [k for k in last if k in sent] if sent else []
    if again:
        counts = _counts(batch, [last[k] for k in again])
        rows = list(zip([SOURCE] * len(again), again, [day] * len(again),
                        *(list(map(int, counts[c])) for c in FACT_COUNTS), strict=True))
        writer.upsert(_table(DailyActivity), rows, columns=FACT_COLUMNS)
    sent.update(last)


def _counts(batch: Batch, at: list[int]) -> dict[str, Counts]:
    """The counts of the active rows at `at`, by fact column."""
    rows = np.asarray(at, dtype=np.intp)
    return {"posts": batch.posted[rows], "replies": np.zeros(len(rows), dtype=np.int64),
            "reactions": batch.liked[rows], "reads": batch.read[rows]}


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
