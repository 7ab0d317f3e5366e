"""The one code path of every ingester: fetch → parse → upsert + cursor, in one transaction."""

from __future__ import annotations

import datetime as dt
import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Engine, Table, bindparam, select, update

from errors import IngestError, UptakeError
from ingest.progress import Progress
from settings import Settings
from store.engine import is_sqlite, write_transaction
from store.fact_insert import Counts, insert_facts
from store.id_lists import among_ids, ids_param
from store.identity import Identity
from store.locks import hold_lock, renew
from store.models import DailyActivity, Erasure, IngestRun, IngestState, Person, RefreshQueue
from store.upsert import insert_columns, insert_rows, upsert

MAX_WARNINGS = 50
GC_THRESHOLD = 100_000  # allocations between collections of the youngest generation
_gc_lock = threading.Lock()
_gc_default: list[int] = []
_raised = 0  # windows running with the raised threshold
PEOPLE = cast(Table, Person.__table__)
FACTS = cast(Table, DailyActivity.__table__)
# Built once, the run log's statements cost a sixth of building them per run (≈ 0.4 ms each):
# a Graph import runs one window per day.
_RUNS = cast(Table, IngestRun.__table__)
_START_RUN = _RUNS.insert()
_FINISH_RUN = _RUNS.update().where(_RUNS.c.id == bindparam("run_id"))
_QUEUE_REFRESH = cast(Table, RefreshQueue.__table__).insert()
_ERASED = select(Erasure.person_key)


@dataclass(frozen=True)
class Window:
    """One unit of work, committed as one run: a file, or one API window."""

    target: str
    start: str | None = None
    end: str | None = None
    payload: Any = None


@dataclass
class RunResult:
    """What one run did."""

    source: str
    target: str
    status: str
    rows_read: int = 0
    rows_written: int = 0
    rows_skipped: int = 0
    duration_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


class Source(Protocol):
    """An ingester: says which windows are due and ingests one window through a Writer.

    One that sets `writer_checks_keys = True` writes every person key through its Writer, which
    checks them itself: its runs on SQLite skip the store's per-row foreign-key checks."""

    name: str

    def windows(self, cursor: str | None) -> Iterable[Window]:
        """The windows to run now, oldest first, given the stored cursor."""
        ...

    def ingest(self, window: Window, writer: Writer) -> str | None:
        """Read one window and write it; return the new cursor (None leaves it unchanged)."""
        ...


class Writer:
    """What a source may do inside its run's transaction; counts everything it is told."""

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        identity: Identity,
        result: RunResult,
        progress: Progress,
        checks_keys: bool = False,
    ):
        self.conn = conn
        self.settings = settings
        self.identity = identity
        self.result = result
        self.progress = progress
        self.checks_keys = checks_keys
        self.erased: set[str] = set(conn.scalars(_ERASED))
        self._people: set[str] = set()
        self._present: set[str] = set()  # person keys known to be in `people`
        self.touched: list[tuple[dt.date, dt.date | None]] = []
        self.committed: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the run's transaction has committed (never after a rollback)."""
        self.committed.append(callback)

    def touch(self, day_from: dt.date, day_to: dt.date | None = None) -> None:
        """Mark local days whose facts changed (`day_to` None: every later day too) for refresh."""
        self.touched.append((day_from, day_to))

    def read(self, n: int = 1) -> None:
        """Count n input records read."""
        self.result.rows_read += n
        self.progress.update(self.result.rows_read)

    def skip(self, reason: str) -> None:
        """Count one skipped record; the first few reasons become warnings."""
        self.result.rows_skipped += 1
        if self.result.rows_skipped <= 5:
            self.warn(f"skipped a record: {reason}")

    def warn(self, message: str) -> None:
        """Record a warning on the run (shown on the data health page)."""
        if message not in self.result.warnings and len(self.result.warnings) < MAX_WARNINGS:
            self.result.warnings.append(message)

    def save_people(self, people: Sequence[dict[str, Any]]) -> None:
        """Insert new people (`person_key`; optional `email`, `display_name`, `matched`)."""
        now = _utcnow()
        fresh = [
            {"email": None, "display_name": None, "matched": True, "created_at": now, **p}
            for p in people
            if p["person_key"] not in self._people and p["person_key"] not in self.erased
        ]
        if not fresh:
            return
        refresh = () if self.identity.pseudonymise else ("email", "display_name")
        upsert(self.conn, PEOPLE, fresh, update=refresh)
        self._people.update(p["person_key"] for p in fresh)
        self._present.update(p["person_key"] for p in fresh)

    def upsert(
        self,
        table: Table,
        rows: Sequence[dict[str, Any]] | Sequence[Sequence[Any]],
        keys: Sequence[str] | None = None,
        update: Sequence[str] | None = None,
        *,
        columns: Sequence[str] | None = None,
        texts: Sequence[str] = (),
    ) -> int:
        """Upsert rows (dropping erased people's rows, nulling references to them); counts them.

        Rows are dicts, or tuples in the order of `columns`; `texts` as in `insert_columns`.
        """
        if self.erased:
            rows = self._forget(rows, columns)
        self._check_people(table, _person_keys(rows, columns))
        written = upsert(self.conn, table, rows, keys, update, columns=columns, texts=texts)
        self.result.rows_written += written
        return written

    def insert(
        self,
        table: Table,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        texts: Sequence[str] = (),
    ) -> int:
        """Plain INSERT of new, unique tuples (erased people dropped as in `upsert`); counts."""
        if self.erased:
            rows = self._forget(rows, columns)
        self._check_people(table, _person_keys(rows, columns))
        written = insert_rows(self.conn, table, columns, rows, texts)
        self.result.rows_written += written
        return written

    def insert_columns(
        self, table: Table, columns: Mapping[str, Sequence[Any]], texts: Sequence[str] = ()
    ) -> int:
        """`insert` for rows given column by column; columns in `texts` hold timestamps as
        `store.dates.time_text` (`store.upsert.insert_columns`)."""
        if self.erased:
            rows = list(zip(*columns.values(), strict=True))
            return self.insert(table, list(columns), rows, texts)
        self._check_people(table, columns.get("person_key", ()))
        written = insert_columns(self.conn, table, columns, texts)
        self.result.rows_written += written
        return written

    def insert_facts(
        self,
        source: str,
        days: Sequence[dt.date],
        keys: Sequence[str],
        counts: Mapping[str, Counts],
    ) -> int:
        """`store.fact_insert.insert_facts` of new daily_activity rows (erased people dropped);
        counts them."""
        if self.erased and not self.erased.isdisjoint(keys):
            kept = [i for i, key in enumerate(keys) if key not in self.erased]
            days, keys = [days[i] for i in kept], [keys[i] for i in kept]
            counts = {c: [values[i] for i in kept] for c, values in counts.items()}
        self._check_people(FACTS, keys)
        written = insert_facts(self.conn, source, days, keys, counts)
        self.result.rows_written += written
        return written

    def check_people(self, keys: Iterable[str | None]) -> None:
        """With `checks_keys`, fail unless every key is in `people`: the foreign-key check the
        store skips in such a run, made here once per distinct key instead of once per row."""
        if not self.checks_keys:
            return
        new = set(keys) - self._present
        new.discard(None)
        missing = new - self.stored_people(cast(set[str], new))
        if missing:
            raise IngestError(
                f"{len(missing)} person key(s) written but not in people, e.g. "
                f"{str(min(missing, key=str))[:12]}… (foreign key)"
            )

    def note_present(self, keys: Iterable[str]) -> None:
        """Keys the caller has just read from `people` (e.g. joined): no lookup of their own."""
        self._present.update(keys)

    def stored_people(self, keys: Iterable[str]) -> set[str]:
        """Those of `keys` in `people` (this run's own included); each key is looked up once."""
        wanted = set(keys)
        unknown = sorted(wanted - self._present)
        if unknown:
            dialect = self.conn.dialect.name
            self._present.update(self.conn.scalars(
                select(Person.person_key).where(among_ids(PEOPLE.c.person_key, dialect)),
                {"ids": ids_param(unknown, dialect)},
            ))
        return wanted & self._present

    def _check_people(self, table: Table, keys: Iterable[str | None]) -> None:
        if self.checks_keys and "person_key" in table.c and table.c.person_key.foreign_keys:
            self.check_people(keys)

    def _forget(self, rows: Sequence[Any], columns: Sequence[str] | None) -> list[Any]:
        if columns is None:
            return [
                _forget_references(r, self.erased)
                for r in rows
                if r.get("person_key") not in self.erased
            ]
        at = list(columns).index("person_key") if "person_key" in columns else None
        return [
            _forget_in_tuple(r, self.erased)
            for r in rows
            if at is None or r[at] not in self.erased
        ]


def run_source(
    engine: Engine, settings: Settings, source: Source, identity: Identity | None = None
) -> list[RunResult]:
    """Run every due window of `source`, each in its own transaction; stop at the first failure.

    The source's lease (`ingest:<name>`) is held throughout and renewed by each window: a
    second run of the same source raises LockHeld at once. Runs of different sources proceed
    together; on SQLite (one writer) their windows take turns.
    """
    identity = identity or Identity(settings.hash_key(), settings.privacy.pseudonymise)
    results = []
    lease, ttl_s = f"ingest:{source.name}", settings.scheduler.lock_ttl_s
    with hold_lock(engine, lease, ttl_s):
        _abandon_stale_runs(engine, source.name)
        for window in _due_windows(engine, source):
            results.append(run_window(engine, settings, source, window, identity, (lease, ttl_s)))
    return results


def _due_windows(engine: Engine, source: Source) -> Iterator[Window]:
    """The source's due windows; failing to list them still leaves a failed run row."""
    try:
        yield from source.windows(read_cursor(engine, source.name))
    except Exception as exc:
        _record_failure(engine, source.name, Window(target="(due windows)"), exc)
        raise IngestError(f"{source.name}: {_reason(exc)}") from exc


def run_window(
    engine: Engine,
    settings: Settings,
    source: Source,
    window: Window,
    identity: Identity,
    lease: tuple[str, int] | None = None,
) -> RunResult:
    """Ingest one window: everything it read is committed, or nothing is; always logs a run.
    The `(name, ttl_s)` lease held for the run is renewed when the window commits."""
    result = RunResult(source=source.name, target=window.target, status="running")
    run_id = _start_run(engine, source.name, window)
    started = time.perf_counter()
    progress = Progress(f"{source.name} {window.target}")
    try:
        # a source that says its writes need no per-row foreign-key checks (on SQLite they
        # cost as much as a third of a large load) gets a Writer that checks its keys instead
        checks_keys = getattr(source, "writer_checks_keys", False) and is_sqlite(engine)
        with write_transaction(engine, foreign_keys=not checks_keys) as conn, \
                fewer_collections():
            writer = Writer(conn, settings, identity, result, progress, checks_keys)
            cursor = source.ingest(window, writer)
            if cursor is not None:
                _save_cursor(conn, source.name, cursor)
            _queue_refresh(conn, source.name, writer.touched)
            result.status = "success"
            result.duration_s = time.perf_counter() - started
            _finish_run(conn, run_id, result)
            if lease is not None:
                renew(conn, *lease)
    except BaseException as exc:
        result.status = "failed"
        result.error = _reason(exc)
        result.duration_s = time.perf_counter() - started
        try:
            with write_transaction(engine) as conn:
                _finish_run(conn, run_id, result)
        except Exception:  # noqa: BLE001 - the store itself failed; the run stays 'running'
            pass  # and is marked abandoned by the next run; the original error matters more
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise IngestError(f"{source.name} {window.target}: {result.error}") from exc
    finally:
        progress.done()
    for callback in writer.committed:
        callback()
    return result


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often inside the block (nested and threaded uses share one raise)."""
    # A window allocates millions of short-lived tuples: at the default threshold every 700
    # start a collection, and the full ones walk every live object (a tenth of a Messages.csv
    # load went there).
    global _raised
    with _gc_lock:
        if _raised == 0:
            _gc_default[:] = gc.get_threshold()
            gc.set_threshold(max(_gc_default[0], GC_THRESHOLD), *_gc_default[1:])
        _raised += 1
    try:
        yield
    finally:
        with _gc_lock:
            _raised -= 1
            if _raised == 0:
                gc.set_threshold(*_gc_default)


def read_cursor(engine: Engine, source: str) -> str | None:
    """The stored cursor of a source, or None."""
    with engine.connect() as conn:
        return conn.scalar(select(IngestState.cursor).where(IngestState.source == source))


def _save_cursor(conn: Connection, source: str, cursor: str) -> None:
    upsert(
        conn,
        cast(Table, IngestState.__table__),
        [{"source": source, "cursor": cursor, "updated_at": _utcnow()}],
    )


def _queue_refresh(
    conn: Connection, source: str, touched: list[tuple[dt.date, dt.date | None]]
) -> None:
    if not touched:
        return
    open_from = min((a for a, b in touched if b is None), default=None)
    spans = [(a, b) for a, b in touched if b is not None and (open_from is None or b < open_from)]
    rows: list[dict[str, dt.date | None]] = [
        {"day_from": a, "day_to": b} for a, b in _merge(spans)
    ]
    if open_from is not None:
        rows.append({"day_from": open_from, "day_to": None})
    now = _utcnow()
    conn.execute(_QUEUE_REFRESH, [{**r, "source": source, "queued_at": now} for r in rows])


def _merge(spans: list[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    merged: list[tuple[dt.date, dt.date]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _start_run(engine: Engine, source: str, window: Window) -> int:
    with write_transaction(engine) as conn:
        row = conn.execute(_START_RUN, {
            "source": source, "target": window.target[:500], "window_start": window.start,
            "window_end": window.end, "started_at": _utcnow(), "status": "running",
            "rows_read": 0, "rows_written": 0, "rows_skipped": 0,
        })
        key = row.inserted_primary_key
        assert key is not None
        return int(key[0])


def _finish_run(conn: Connection, run_id: int, result: RunResult) -> None:
    conn.execute(_FINISH_RUN, {
        "run_id": run_id,
        "status": result.status,
        "finished_at": _utcnow(),
        "rows_read": result.rows_read,
        "rows_written": result.rows_written if result.status == "success" else 0,
        "rows_skipped": result.rows_skipped,
        "duration_s": round(result.duration_s, 3),
        "error": result.error,
        "warnings": "\n".join(result.warnings) or None,
    })


def _abandon_stale_runs(engine: Engine, source: str) -> None:
    """Runs left 'running' by a killed process (we hold the source's lock, so none is live)."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(IngestRun)
            .where(IngestRun.source == source, IngestRun.status == "running")
            .values(status="abandoned", error="the process ended before the run finished")
        )


def _record_failure(engine: Engine, source: str, window: Window, exc: BaseException) -> None:
    run_id = _start_run(engine, source, window)
    result = RunResult(source=source, target=window.target, status="failed", error=_reason(exc))
    with write_transaction(engine) as conn:
        _finish_run(conn, run_id, result)


def _person_keys(rows: Sequence[Any], columns: Sequence[str] | None) -> Iterator[str | None]:
    """The `person_key` of each row (dicts, or tuples in the order of `columns`)."""
    if columns is None:
        return (r.get("person_key") for r in rows)
    if "person_key" not in columns:
        return iter(())
    at = list(columns).index("person_key")
    return (r[at] for r in rows)


def _forget_references(row: dict[str, Any], erased: set[str]) -> dict[str, Any]:
    """The row with any value naming an erased person (e.g. a `manager` attribute) set to None."""
    if not any(isinstance(v, str) and v in erased for v in row.values()):
        return row
    return {k: None if isinstance(v, str) and v in erased else v for k, v in row.items()}


def _forget_in_tuple(row: Sequence[Any], erased: set[str]) -> Sequence[Any]:
    """`_forget_references` for a tuple row."""
    if not any(isinstance(v, str) and v in erased for v in row):
        return row
    return tuple(None if isinstance(v, str) and v in erased else v for v in row)


def _reason(exc: BaseException) -> str:
    """One line: the run log and the CLI show exactly this."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = str(exc) if isinstance(exc, UptakeError) else f"{exc.__class__.__name__}: {exc}"
    return " ".join(text.split())[:500] or exc.__class__.__name__


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
