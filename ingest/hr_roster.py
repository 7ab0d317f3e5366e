"""The `hr-roster` ingester: one HR snapshot CSV, in effect from its as-of date."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from errors import BadInputError, SkippableRecord
from ingest.csvfile import decode_stream, read_rows
from ingest.runner import Window, Writer
from ingest.timestamps import parse_date
from settings import Settings
from store.identity import normalise_email
from store.models import Account, DailyActivity, RosterSnapshot
from store.roster import save_snapshot

EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
DATE_ATTRIBUTES = ("hire_date", "termination_date")
CONTROL = ("email", "manager_email", "as_of")  # mapped columns that are not stored as attributes
MAX_VALUE = 200


class RosterSource:
    """An HR roster snapshot CSV, columns mapped by `sources.hr_roster.columns`."""

    name = "hr-roster"

    def __init__(
        self,
        settings: Settings,
        file: str | Path,
        as_of: dt.date | str | None = None,
        today: dt.date | None = None,
    ):
        self.settings = settings
        self.file = Path(file)
        self.as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
        self.today = today
        self.columns = dict(settings.sources.hr_roster.columns)
        self._has_manager = False

    def windows(self, cursor: str | None) -> Iterable[Window]:
        """One window: the file."""
        day = self.as_of.isoformat() if self.as_of else None
        return [Window(target=str(self.file), start=day, end=day)]

    def ingest(self, window: Window, writer: Writer) -> str | None:
        """Read the snapshot and replace the stored one with the same as-of date."""
        name = self.file.name
        if "email" not in self.columns:
            raise BadInputError(f"{name}: sources.hr_roster.columns has no `email` entry")
        if not self.file.is_file():
            raise BadInputError(f"{self.file}: roster file not found")
        with open(self.file, "rb") as raw:
            header, rows = read_rows(decode_stream(raw), name, [self.columns["email"]])
            people, file_as_of = self._parse(header, rows, writer, name)
        as_of = self.as_of or file_as_of or self._today()
        self._save(writer, people, as_of)
        return None

    def _parse(
        self, header: list[str], rows: Iterator[list[str]], writer: Writer, name: str
    ) -> tuple[dict[str, dict[str, Any]], dt.date | None]:
        """Rows by normalised email (last wins), and the file's one as_of value if it has one."""
        index = {c: i for i, c in enumerate(header)}
        mapped = {a: index[c] for a, c in self.columns.items() if c in index}
        self._has_manager = "manager_email" in mapped
        for attribute, column in self.columns.items():
            if attribute not in mapped:
                writer.warn(f"{name}: column {column!r} (for {attribute}) is not in the file")
        as_of_col = index.get(self.columns.get("as_of", "as_of"))
        as_of_values: set[str] = set()
        people: dict[str, dict[str, Any]] = {}
        duplicates = 0
        for row in rows:
            writer.read()
            if as_of_col is not None and as_of_col < len(row) and row[as_of_col].strip():
                as_of_values.add(row[as_of_col].strip())
            try:
                email, values = self._parse_row(row, mapped)
            except SkippableRecord as exc:
                writer.skip(f"{name}: {exc}")
                continue
            if email in people:
                duplicates += 1
            people[email] = values
        if duplicates:
            writer.warn(f"{name}: {duplicates} duplicate email row(s); the last row of each wins")
        return people, self._file_as_of(as_of_values, name)

    def _parse_row(self, row: list[str], mapped: dict[str, int]) -> tuple[str, dict[str, Any]]:
        cells = {a: row[i].strip() if i < len(row) else "" for a, i in mapped.items()}
        email = normalise_email(cells.get("email", ""))
        if not email:
            raise SkippableRecord("blank email")
        if not EMAIL.match(email):
            raise SkippableRecord("invalid email")
        manager = normalise_email(cells.get("manager_email", ""))
        values: dict[str, Any] = {"manager_email": manager if EMAIL.match(manager) else None}
        for attribute, cell in cells.items():
            if attribute in CONTROL:
                continue
            if attribute in DATE_ATTRIBUTES:
                day = parse_date(cell)
                values[attribute] = day.isoformat() if day else None
            else:
                values[attribute] = cell[:MAX_VALUE] or None
        return email, values

    def _file_as_of(self, values: set[str], name: str) -> dt.date | None:
        if self.as_of is not None or not values:
            return None
        if len(values) > 1:
            shown = ", ".join(sorted(values)[:3])
            raise BadInputError(
                f"{name}: the as_of column holds several dates ({shown}); expected one"
            )
        try:
            return parse_date(values.pop())
        except SkippableRecord as exc:
            raise BadInputError(f"{name}: as_of column: {exc}") from None

    def _today(self) -> dt.date:
        return self.today or dt.datetime.now(self.settings.zone).date()

    def _save(self, writer: Writer, people: dict[str, dict[str, Any]], as_of: dt.date) -> None:
        """Replace the snapshot `as_of`: people first, then the snapshot's changes."""
        identity = writer.identity
        keys = {email: identity.person_key(email) for email in people}
        writer.save_people(
            [{"person_key": key, "email": identity.email_to_store(e)} for e, key in keys.items()]
        )
        manager_of = {
            e: keys.get(v["manager_email"]) or identity.person_key(v["manager_email"])
            for e, v in people.items()
            if v["manager_email"] and v["manager_email"] != e
        }
        managers = set(manager_of.values())
        erased = writer.erased
        state: dict[str, dict[str, str | None]] = {}
        for email, values in people.items():
            key = keys[email]
            if key in erased:
                continue
            attributes = {k: v for k, v in values.items() if k != "manager_email"}
            if self._has_manager:
                manager = manager_of.get(email)
                attributes["manager"] = None if manager in erased else manager
            attributes["is_manager"] = "true" if key in managers else "false"
            state[key] = attributes
        writer.result.rows_written += save_snapshot(writer.conn, as_of, state, _utcnow())
        writer.touch(*self._governed(writer.conn, as_of))

    @staticmethod
    def _governed(conn: Connection, as_of: dt.date) -> tuple[dt.date, dt.date | None]:
        """The days this snapshot decides: up to the next snapshot; from the start if first."""
        snapshot = RosterSnapshot.as_of
        later = conn.scalar(select(func.min(snapshot)).where(snapshot > as_of))
        earlier = conn.scalar(select(func.max(snapshot)).where(snapshot < as_of))
        start = as_of
        if earlier is None:
            first_fact = conn.scalar(select(func.min(DailyActivity.day)))
            first_join = conn.scalar(select(func.min(Account.joined_at)))
            candidates = [as_of, first_fact]
            if first_join is not None:
                # joined_at is UTC; its local day can be one earlier than its UTC date
                candidates.append(_as_date(first_join) - dt.timedelta(days=1))
            start = min(_as_date(c) for c in candidates if c is not None)
        end = later - dt.timedelta(days=1) if later is not None else None
        return start, end


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):  # SQLite aggregates can come back as text
        return dt.date.fromisoformat(value[:10])
    return value


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
