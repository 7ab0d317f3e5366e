"""Integer-coded facts every metric reads: activity, members, attribution, optional messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, String, and_, cast, func, or_, select

from metrics import activity_cache, roster_cache
from metrics.attribution import Attribution, clean_values, in_snapshots
from metrics.calendar import (
    FOREVER,
    as_datetime64,
    day_number,
    from_day_number,
    local_day_numbers,
    parse_days,
)
from metrics.factload import (
    ActivityRead,
    MessageRead,
    read_people,
    rows_frame,
    sqlite_attributes,
    sqlite_messages,
)
from metrics.heap import release_free_memory
from metrics.membership import Membership
from metrics.person_days import KINDS, person_days
from metrics.roster_cache import RosterChanges
from settings import Settings
from store.models import (
    Account,
    DailyActivity,
    Message,
    PersonAttribute,
    RosterSnapshot,
)
from store.roster import ABSENT
from store.roster import fingerprint as roster_fingerprint

T = TypeVar("T")


@dataclass
class Facts:
    """What metrics compute from: person-day activity (MAX over sources), membership, roster."""

    zone: ZoneInfo
    start: dt.date
    end: dt.date
    person_keys: np.ndarray
    activity: pd.DataFrame
    # the messages, or what reads them at their first use (load_facts' defer_messages)
    message_rows: pd.DataFrame | DeferredMessages
    membership: Membership
    attribution: Attribution
    first_activity: pd.DataFrame = field(  # pid, first: first day with any activity, all time
        default_factory=lambda: pd.DataFrame({"pid": [], "first": []}, dtype=np.int64)
    )
    roster: str = ""  # the fingerprint of the roster attributed (store.roster.fingerprint)
    # the roster's fingerprint and changes as read from the store (None: from the cache)
    roster_read: tuple[str, RosterChanges] | None = field(default=None, repr=False)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)  # derived arrays

    @property
    def messages(self) -> pd.DataFrame:
        """Counted messages: thread_id, pid, created_at, day, is_starter (read on first use
        when deferred)."""
        if isinstance(self.message_rows, DeferredMessages):
            self.message_rows = self.message_rows()
        return self.message_rows

    def close(self) -> None:
        """Stop a deferred message read that was never used (its reader and its file)."""
        if isinstance(self.message_rows, DeferredMessages):
            self.message_rows.close()

    @contextmanager
    def scoped_cache(self) -> Iterator[None]:
        """Drop, at the end, what was cached meanwhile: the next computation's peak memory
        should not carry it."""
        before = set(self.cache)
        try:
            yield
        finally:
            for key in set(self.cache) - before:
                del self.cache[key]

    def cached(self, key: Any, produce: Callable[[], T]) -> T:
        """`produce()`, computed once per key and kept: what every breakdown needs alike."""
        if key not in self.cache:
            self.cache[key] = produce()
        return self.cache[key]  # type: ignore[no-any-return]

    def member_mask(self, pids: np.ndarray, days: np.ndarray) -> np.ndarray:
        """True where the person is a member on the day (days: datetime64 or day numbers)."""
        return self.membership.mask(pids, _numbers(days))

    def group_of(self, attribute: str, pids: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Group labels of (pid, day) pairs per design.md attribution ('All' for 'all')."""
        return self.attribution.labels_of(attribute, np.asarray(pids), _numbers(days))

    def group_codes(
        self, attribute: str, pids: np.ndarray, days: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(label index per pair, labels): the vectorised form of group_of."""
        matrix, labels = self.attribution.codes(attribute)
        snaps = self.attribution.snapshot_index(_numbers(days))
        return matrix[snaps, np.asarray(pids)], labels

    def attributes(self) -> list[str]:
        """'all' plus every attribute a breakdown can use."""
        return self.attribution.attributes()

    def activity_days(self, rows: slice = slice(None)) -> np.ndarray:
        """Day numbers of the activity rows (or of those in `rows`)."""
        return _numbers(self.activity["day"].to_numpy()[rows])


def _numbers(days: np.ndarray) -> np.ndarray:
    days = np.asarray(days)
    if np.issubdtype(days.dtype, np.datetime64):
        return days.astype("datetime64[D]").view(np.int64)
    return days.astype(np.int64, copy=False)


def load_facts(
    engine: Engine,
    settings: Settings,
    start: dt.date | None = None,
    end: dt.date | None = None,
    with_messages: bool = False,
    first_activity: pd.DataFrame | None = None,
    complete_from: dt.date | None = None,
    cached: bool = False,
    defer_messages: bool = False,
) -> Facts:
    """Load the facts of local days [start, end] (default: every day with data).

    `first_activity` (person_key, first: day number) may supply first active days before
    `complete_from` (else `start`) known from a cache, instead of scanning earlier activity.
    With `complete_from`, activity of days before it holds only the rows that engage (posts,
    replies or reactions): enough for rolling windows and the funnel, not for active or reads.
    With `cached`, the roster's changes (metrics/roster_cache.py) and the engaging rows of
    days before `complete_from` (metrics/activity_cache.py) come from what the last refresh
    kept, where it holds them. With `defer_messages`, messages are read at their first use
    (on SQLite a reader process reads them meanwhile), and the caller closes the facts.
    """
    zone = settings.zone
    with engine.connect() as conn:
        index, to_pid = read_people(conn)
        keys = index.to_numpy()
        span = data_range(conn, zone)
        today = dt.datetime.now(zone).date()
        start = start or (span[0] if span else today)
        end = end or (span[1] if span else today)
        before = (complete_from - dt.timedelta(days=1)) if complete_from else start
        kept = (activity_cache.covering(conn, settings.timezone, start, before)
                if cached and complete_from is not None and complete_from > start else None)
        reading = (ActivityRead(conn, index, start, end, complete_from, to_pid) if kept is None
                   else ActivityRead(conn, index, before + dt.timedelta(days=1), end,
                                     to_pid=to_pid))
        read_ahead = with_messages and conn.dialect.name == "sqlite"
        # Messages wanted later (deferred) are begun once the activity is read, when reader
        # processes read it: meanwhile they hold both cores.
        later = defer_messages and reading.in_processes
        sent = MessageRead(conn, *_message_bounds(start, end)) if read_ahead and not later else None
        messages: pd.DataFrame | DeferredMessages | None = None
        try:
            accounts = _load_accounts(conn, index, zone)
            roster = roster_fingerprint(conn)
            attribution, roster_read = _load_attribution(conn, index, accounts, start, end,
                                                         roster, cached, to_pid)
            recent = (activity_cache.rows(conn, index, kept, start, before)
                      if kept is not None else None)
            if kept is not None and recent is None:  # dropped meanwhile (a forget): read them
                recent = ActivityRead(conn, index, start, before, complete_from,
                                      to_pid).result()
            activity = activity_frame(_with(recent, reading.result))
            if read_ahead and later:
                sent = MessageRead(conn, *_message_bounds(start, end))
            firsts = _first_activity(conn, index, activity, complete_from or start,
                                     first_activity)
            recorded = accounts[accounts["has_user_record"]]
            membership = Membership.build(recorded, firsts)
            if with_messages and defer_messages:
                messages = DeferredMessages(engine, index, zone, start, end, sent, to_pid)
            elif with_messages:
                messages = _load_messages(conn, index, zone, start, end, sent, to_pid)
            else:
                messages = _no_messages()
        finally:
            reading.close()
            if sent is not None and not isinstance(messages, DeferredMessages):
                sent.close()
    return Facts(zone, start, end, keys, activity, messages, membership, attribution, firsts,
                 roster, roster_read)


class DeferredMessages:
    """`_load_messages` of load_facts' days, done when first called (in a connection of its
    own); a reader process begun by load_facts reads them meanwhile."""

    def __init__(self, engine: Engine, index: pd.Index, zone: ZoneInfo, start: dt.date,
                 end: dt.date, reading: MessageRead | None, to_pid: np.ndarray | None):
        self.engine, self.index, self.zone = engine, index, zone
        self.start, self.end, self.reading, self.to_pid = start, end, reading, to_pid

    def __call__(self) -> pd.DataFrame:
        try:
            with self.engine.connect() as conn:
                return _load_messages(conn, self.index, self.zone, self.start, self.end,
                                      self.reading, self.to_pid)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader, if any (safe to call again)."""
        if self.reading is not None:
            self.reading.close()


def _with(
    recent: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    read: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`read`, with the kept rows of earlier days before its own (when there are)."""
    if recent is None:
        return read

    def both() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pid, day, counts = read()
        return (np.concatenate([recent[0], pid]), np.concatenate([recent[1], day]),
                np.concatenate([recent[2], counts]))

    return both


def data_range(conn: Connection, zone: ZoneInfo) -> tuple[dt.date, dt.date] | None:
    """First and last local day with data: activity, or a member joining/leaving."""
    # min and max apart: each alone is one index probe, together a full scan (SQLite).
    lo = conn.scalar(select(func.min(DailyActivity.day)))
    hi = conn.scalar(select(func.max(DailyActivity.day)))
    firsts = [_as_date(lo)] if lo is not None else []
    lasts = [_as_date(hi)] if hi is not None else []
    row = conn.execute(
        select(
            func.min(Account.joined_at),
            func.max(Account.joined_at),
            func.max(Account.suspended_at),
            func.max(Account.deleted_at),
        ).where(Account.has_user_record.is_(True))
    ).one()
    stamps = pd.Series([row[0], row[1], row[2], row[3]], dtype="object")
    local = local_day_numbers(stamps, zone)
    if local[0] != FOREVER:
        firsts.append(from_day_number(local[0]))
    lasts += [from_day_number(n) for n in local[1:] if n != FOREVER]
    if not firsts or not lasts:
        return None
    return min(firsts), max(lasts)


def load_activity(
    conn: Connection,
    index: pd.Index,
    start: dt.date,
    end: dt.date,
    complete_from: dt.date | None = None,
) -> pd.DataFrame:
    """Person-day activity of [start, end], MAX over sources per kind, sorted by (pid, day);
    before `complete_from`, engaging rows only."""
    return activity_frame(ActivityRead(conn, index, start, end, complete_from).result)


def activity_frame(read: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """The rows `read()` gives (`ActivityRead.result`) as one row per person-day (MAX over
    sources), sorted by (pid, day)."""
    # read here, so that these names hold the only references and `del` frees at once
    pid, days, counts = read()
    release_free_memory()  # the read's chunks, freed: not under the merge's peak
    pid, days, counts = person_days(pid, days, counts)
    if len(pid) == 0:
        return _empty_activity()
    # counts are capped at CAP on load: int16 holds them (whoever sums them widens first)
    frame = pd.DataFrame(counts.astype(np.int16, copy=False), columns=list(KINDS), copy=False)
    frame.insert(0, "day", as_datetime64(days))
    frame.insert(0, "pid", pid.astype(np.int32, copy=False))
    return frame


def _empty_activity() -> pd.DataFrame:
    frame = pd.DataFrame({k: pd.Series(dtype=np.int16) for k in KINDS})
    frame.insert(0, "day", pd.Series(dtype="datetime64[ns]"))
    frame.insert(0, "pid", pd.Series(dtype=np.int32))
    return frame


def _load_accounts(conn: Connection, index: pd.Index, zone: ZoneInfo) -> pd.DataFrame:
    """Accounts with their person's pid and local joined/suspended/deleted day numbers."""
    result = conn.execute(_ACCOUNTS)
    frame = rows_frame(result.cursor.fetchall(), ACCOUNT_COLUMNS)  # driver tuples: text times
    frame["pid"] = index.get_indexer(frame["person_key"])
    frame = frame[frame["pid"] >= 0].copy()
    frame["has_user_record"] = frame["has_user_record"].astype(bool)
    for column, name in (("joined_at", "joined"), ("suspended_at", "suspended"),
                         ("deleted_at", "deleted")):
        frame[name] = local_day_numbers(frame[column], zone)
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], format="ISO8601")
    frame["department"] = clean_values(frame["department"])
    return frame


ACCOUNT_COLUMNS = ["platform", "person_key", "has_user_record", "joined_at", "suspended_at",
                   "deleted_at", "department", "updated_at"]
_ACCOUNTS = select(
    Account.platform,
    Account.person_key,
    Account.has_user_record,
    cast(Account.joined_at, String),  # text: parsed per column by pandas, not per row
    cast(Account.suspended_at, String),
    cast(Account.deleted_at, String),
    Account.department,
    cast(Account.updated_at, String),
)


def _first_activity(
    conn: Connection,
    index: pd.Index,
    activity: pd.DataFrame,
    start: dt.date,
    known: pd.DataFrame | None,
) -> pd.DataFrame:
    """First local day with any activity per pid, all time (pid, first)."""
    pids = activity["pid"].to_numpy(np.int64)
    days = _numbers(activity["day"].to_numpy())
    # sorted by (pid, day): each person's first row holds their first day
    starts = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1]]) if len(pids) else pids
    loaded = pd.DataFrame({"pid": pids[starts], "first": days[starts]})
    if known is None:
        known = _earlier_first_activity(conn, start)
    other = pd.DataFrame(
        {"pid": index.get_indexer(known["person_key"]).astype(np.int64),
         "first": known["first"].to_numpy(dtype=np.int64)}
    )
    both = pd.concat([other[other["pid"] >= 0], loaded])
    return both.groupby("pid", as_index=False)["first"].min()


def _earlier_first_activity(conn: Connection, start: dt.date) -> pd.DataFrame:
    """(person_key, first) over activity before `start` (a scan: refresh passes a cache)."""
    any_count = or_(*[getattr(DailyActivity, k) > 0 for k in KINDS])
    earliest = conn.scalar(select(func.min(DailyActivity.day)).where(any_count))
    if earliest is None or _as_date(earliest) >= start:
        return pd.DataFrame({"person_key": pd.Series(dtype=object), "first": []})
    rows = conn.execute(
        select(DailyActivity.person_key, cast(func.min(DailyActivity.day), String))
        .where(DailyActivity.day < start, any_count)
        .group_by(DailyActivity.person_key)
    ).all()
    earlier = rows_frame(rows, ["person_key", "first"])
    earlier["first"] = parse_days(earlier["first"])
    return earlier


def _load_attribution(
    conn: Connection,
    index: pd.Index,
    accounts: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    roster: str,
    cached: bool,
    to_pid: np.ndarray | None = None,
) -> tuple[Attribution, tuple[str, RosterChanges] | None]:
    """The roster snapshots in effect on some day of [start, end], as codes; and the roster's
    changes with its fingerprint `roster` when they were read from the store (not `cached`
    there)."""
    as_of = [day_number(_as_date(d)) for d in conn.scalars(
        select(RosterSnapshot.as_of).order_by(RosterSnapshot.as_of)
    )]
    every = np.array(as_of, dtype=np.int64)
    snapshots = in_effect(every, day_number(start), day_number(end))
    changes = roster_cache.load(conn, roster) if cached else None
    read = None
    if changes is None:
        stored = _attribute_names(conn)
        frame, values = _attribute_rows(conn, index, every, stored, to_pid)
        changes = RosterChanges.of(index.to_numpy(), every, frame, stored, values)
        # the fingerprint was read first: a roster saved since has another (its ingested_at
        # is later), so these rows are never taken for that roster's
        read = (roster, changes)
    names = tuple(n for n in changes.names if n != ABSENT)
    # a snapshot's state is built from the changes of every snapshot up to it
    upto = int(np.searchsorted(every, snapshots[-1])) + 1 if len(snapshots) else 0
    frame = in_snapshots(changes.frame(index, every[:upto]), _position(changes.names, ABSENT),
                         upto, upto - len(snapshots))
    frame["attr"] = _position_map(changes.names, names)[frame["attr"].to_numpy()]
    profile = accounts[(accounts["platform"] == "yammer") & accounts["department"].notna()]
    profile = profile.sort_values(
        ["has_user_record", "updated_at"], ascending=[False, False], kind="mergesort"
    ).drop_duplicates("pid")
    department = np.full(len(index), None, dtype=object)
    department[profile["pid"].to_numpy()] = profile["department"].to_numpy()
    attribution = Attribution(len(index), snapshots, frame, department, names, changes.values)
    return attribution, read


def in_effect(as_of: np.ndarray, first: int, last: int) -> np.ndarray:
    """The sorted snapshot days in effect on some day of [first, last]: the latest on or
    before `first` (the first snapshot when none is), then every later one up to `last`.

    Days of [first, last] attribute to the same snapshot as with every snapshot loaded.
    """
    lo = max(int(np.searchsorted(as_of, first, side="right")) - 1, 0)
    hi = max(int(np.searchsorted(as_of, last, side="right")), lo + 1)
    return as_of[lo:hi]


def _position(names: tuple[str, ...], name: str) -> int:
    return names.index(name) if name in names else -1


def _position_map(stored: tuple[str, ...], names: tuple[str, ...]) -> np.ndarray:
    """Position in `names` of each stored name (-1: not there)."""
    return np.array([_position(names, n) for n in stored] or [-1], dtype=np.int16)


def _attribute_names(conn: Connection) -> tuple[str, ...]:
    """Every attribute name in the roster, one index probe each (not a scan of its rows)."""
    names: list[str] = []
    name = conn.scalar(select(func.min(PersonAttribute.attribute)))
    while name is not None:
        names.append(name)
        name = conn.scalar(
            select(func.min(PersonAttribute.attribute)).where(PersonAttribute.attribute > name)
        )
    return tuple(names)


def _attribute_rows(
    conn: Connection,
    index: pd.Index,
    as_of: np.ndarray,
    attributes: tuple[str, ...],
    to_pid: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The stored roster changes (store/roster.py) of the snapshots `as_of` (the first ones)
    as codes — pid, attr (position in `attributes`), snap (index into `as_of`), value
    (position in the returned values; -1 when blank) — and the values (cleaned).

    On SQLite as numbers only; elsewhere as text, a batch at a time. Either way rows become
    codes a batch at a time: a string per cell of a large roster would cost GBs.
    """
    if not len(as_of):
        return _attribute_frame(*(np.zeros(0) for _ in range(4))), np.zeros(0, dtype=object)
    upto = from_day_number(int(as_of[-1]))
    coded = (sqlite_attributes(conn, index, attributes, upto, to_pid)
             if conn.dialect.name == "sqlite" else None)
    if coded is not None:  # values as codes already: the distinct ones are cleaned once
        pid, code, days, value, texts = coded
        which, cleaned = pd.factorize(clean_values(pd.Series(texts, dtype=object)),
                                      use_na_sentinel=True)
        return (_attribute_frame(pid, code, np.searchsorted(as_of, days), which[value]),
                np.asarray(cleaned, dtype=object))
    values: dict[Any, int] = {}
    parts: list[tuple[np.ndarray, ...]] = []
    batches = _coded(_attribute_batches(conn, upto), index, attributes)
    for pid, code, days, cells in batches:
        parts.append((pid, code, np.searchsorted(as_of, days),
                      _global_codes(clean_values(pd.Series(cells, dtype=object)), values)))
    columns = (np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(4))
    return _attribute_frame(*columns), np.array(list(values), dtype=object)


def _attribute_frame(
    pid: np.ndarray, code: np.ndarray, snap: np.ndarray, value: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame({"pid": pid.astype(np.int32), "attr": code.astype(np.int16),
                         "snap": snap.astype(np.int16), "value": value.astype(np.int32)})


def _coded(
    batches: Iterator[tuple[Any, Any, np.ndarray, Any]], index: pd.Index, names: tuple[str, ...]
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, Any]]:
    """Batches of person keys and attribute names as (pid, name position, days, values);
    people not in `index` left out."""
    for keys, attributes, days, cells in batches:
        pid = index.get_indexer(np.asarray(keys, dtype=object)).astype(np.int64)
        keep = pid >= 0
        code = pd.Index(names).get_indexer(np.asarray(attributes, dtype=object))
        yield pid[keep], code[keep], np.asarray(days)[keep], np.asarray(cells, dtype=object)[keep]


def _attribute_batches(
    conn: Connection, upto: dt.date
) -> Iterator[tuple[Any, Any, np.ndarray, Any]]:
    """(person keys, attribute names, valid_from day numbers, values) of the rows up to `upto`,
    the driver's tuples a chunk at a time."""
    result = conn.execute(select(
        PersonAttribute.person_key, PersonAttribute.attribute,
        cast(PersonAttribute.valid_from, String), PersonAttribute.value,
    ).where(PersonAttribute.valid_from <= upto))
    while rows := result.cursor.fetchmany(ATTRIBUTE_CHUNK):
        keys, names, days, cells = zip(*rows, strict=True)
        yield keys, names, parse_days(np.asarray(days, dtype=object)), cells
    result.close()


ATTRIBUTE_CHUNK = 500_000


def _global_codes(column: pd.Series, seen: dict[Any, int]) -> np.ndarray:
    """Codes of `column` in the run-wide `seen` numbering (missing values: -1)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    mapped = np.array([seen.setdefault(u, len(seen)) for u in uniques], dtype=np.int64)
    return np.where(codes >= 0, mapped[codes] if len(mapped) else -1, -1)



def _unstarted(threads: pd.Series, is_starter: np.ndarray) -> set[str]:
    """Thread ids (as stored: text) that have replies here but no starter."""
    if threads.dtype.kind == "i":  # read as numbers: sets of millions of ints, not strings
        ids = threads.to_numpy()
        return {str(t) for t in np.setdiff1d(ids[~is_starter], ids[is_starter])}
    started = {str(t) for t in threads[is_starter]}
    return {str(t) for t in threads[~is_starter].dropna()} - started


def _message_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Naive-UTC times around local days [start, end], whatever the zone's offset."""
    return (dt.datetime.combine(start - dt.timedelta(days=1), dt.time()),
            dt.datetime.combine(end + dt.timedelta(days=2), dt.time()))


def _load_messages(
    conn: Connection,
    index: pd.Index,
    zone: ZoneInfo,
    start: dt.date,
    end: dt.date,
    reading: MessageRead | None = None,
    to_pid: np.ndarray | None = None,
) -> pd.DataFrame:
    """User messages of local days [start, end], plus the earlier starters of their threads
    (a reply's thread may have started before `start`; metrics keep days in their own range).

    Read in chunks, each narrowed to numbers at once: millions of rows never exist as objects.
    """
    lo, hi = _message_bounds(start, end)
    first, last = day_number(start), day_number(end)
    numbers = (sqlite_messages(conn, index, lo, hi, reading, to_pid)
               if conn.dialect.name == "sqlite" else None)
    if numbers is not None:  # SQLite turned every row into numbers: no object per value
        numbers["day"] = local_day_numbers(numbers["created_at"], zone)
        parts = [numbers[(numbers["day"] >= first) & (numbers["day"] <= last)]]
    else:
        result = conn.execute(
            _MESSAGES.where(and_(Message.created_at >= lo, Message.created_at < hi))
        )
        cursor = result.cursor  # the driver's tuples: SQLAlchemy's per-row work costs more
        parts = [
            part[(part["day"] >= first) & (part["day"] <= last)]
            for rows in iter(lambda: cursor.fetchmany(MESSAGE_CHUNK), [])
            if len(part := _message_frame(rows, index, zone))
        ]
        result.close()
    if not parts or not sum(map(len, parts)):
        return _no_messages()
    frame = pd.concat(parts, ignore_index=True)
    # thread ids as stored (text), also when read as numbers
    missing = sorted(_unstarted(frame["thread_id"], frame["is_starter"].to_numpy(dtype=bool)))
    platforms = message_platforms(conn) if missing else []
    for chunk in range(0, len(missing), 500):
        # a starter's id is its thread's: found by the key (platform, message_id)
        older = _message_frame(conn.execute(_MESSAGES.where(
            Message.platform.in_(platforms), Message.message_id.in_(missing[chunk:chunk + 500]),
            Message.is_thread_starter.is_(True),
        )).all(), index, zone)
        if len(older):
            frame = pd.concat([older, frame], ignore_index=True)
    threads = pd.to_numeric(frame["thread_id"], errors="coerce")
    if threads.notna().all():  # platform ids are digits: 8 bytes each instead of a string
        frame["thread_id"] = threads.astype(np.int64)
    frame["day"] = as_datetime64(frame["day"].to_numpy())
    columns = ["thread_id", "pid", "created_at", "day", "is_starter"]
    return frame[columns].sort_values("created_at", kind="mergesort").reset_index(drop=True)


def _message_frame(rows: Any, index: pd.Index, zone: ZoneInfo) -> pd.DataFrame:
    """Message rows as thread_id, pid, created_at (UTC), day (local day number), is_starter."""
    frame = rows_frame(rows, MESSAGE_COLUMNS)
    if frame.empty:
        return frame
    frame["pid"] = index.get_indexer(frame.pop("person_key").fillna("")).astype(np.int32)
    frame["created_at"] = pd.to_datetime(frame["created_at"], format="ISO8601")
    frame["day"] = local_day_numbers(frame["created_at"], zone)
    frame["is_starter"] = frame["is_starter"].astype(bool)
    return frame


MESSAGE_CHUNK = 250_000
MESSAGE_COLUMNS = ["thread_id", "person_key", "created_at", "is_starter"]
_MESSAGES = select(
    Message.thread_id,
    Message.person_key,
    cast(Message.created_at, String),  # text: parsed per chunk by pandas, not per row
    Message.is_thread_starter,
).where(
    or_(Message.sender_type.is_(None), Message.sender_type == "user"),
    or_(Message.message_type.is_(None), Message.message_type != "system"),
)


def message_platforms(conn: Connection) -> list[str]:
    """The platforms of the stored messages, one key seek each (not a scan of millions)."""
    found: list[str] = []
    while (after := conn.scalar(
        select(func.min(Message.platform)).where(Message.platform > found[-1])
        if found else select(func.min(Message.platform))
    )) is not None:
        found.append(after)
    return found


def _no_messages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "thread_id": pd.Series(dtype=object),
            "pid": pd.Series(dtype=np.int32),
            "created_at": pd.Series(dtype="datetime64[ns]"),
            "day": pd.Series(dtype="datetime64[ns]"),
            "is_starter": pd.Series(dtype=bool),
        }
    )


def _as_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
