"""The one place that knows dialect upsert syntax; batches are deduplicated first.

Rows reach the driver's `executemany` as plain tuples, through a statement compiled once per
(dialect, table, columns, conflict clause): SQLAlchemy's per-row parameter handling costs more
than SQLite's own insert. Column types are still converted by SQLAlchemy's bind processors, so
stored values are exactly those the Core path would store. A plain INSERT on SQLite takes
ROWS_PER_STATEMENT rows per statement.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, DateTime, Dialect, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from store.dates import time_text

CHUNK = 5000
ROWS_PER_STATEMENT = 250  # a plain SQLite INSERT's rows per statement (CHUNK is a multiple)
_ONE_ROW = re.compile(r"\(\?(?:, \?)*\)")
Row = Sequence[Any]
_SAMPLE_TIMES = (
    dt.datetime(2026, 3, 1, 9, 30, 5, 123), dt.datetime(1, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
)


def dedupe(rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Keep the last row for each key, in first-seen order."""
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        latest[tuple(row[k] for k in keys)] = row
    return list(latest.values())


def dedupe_tuples(rows: Iterable[Row], positions: Sequence[int]) -> list[Row]:
    """`dedupe` for tuples: the key is the values at `positions`."""
    if len(positions) == 1:
        at = positions[0]
        return list({row[at]: row for row in rows}.values())
    pick = _picker(positions)
    return list({pick(row): row for row in rows}.values())


def upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[dict[str, Any]] | Iterable[Row],
    keys: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
    *,
    columns: Sequence[str] | None = None,
    add: Sequence[str] = (),
    texts: Sequence[str] = (),
) -> int:
    """Insert rows, updating `update` columns (default: all non-key) on key conflicts.

    Rows are dicts, or tuples in the order of `columns`. The last row of each key wins.
    `update=()` inserts only new keys and leaves existing rows alone. Columns in `add` (of
    `update`) get the row's value added to the stored one instead; then no key may repeat.
    Columns in `texts` hold timestamps as `store.dates.time_text` (see `insert_columns`).
    Returns rows sent.
    """
    keys = tuple(keys or (c.name for c in table.primary_key.columns))
    if add:
        rows = list(rows)  # type: ignore[assignment]  # counted: a repeated key would lose its add
    if columns is None:
        batch_dicts = dedupe(rows, keys)  # type: ignore[arg-type]
        if not batch_dicts:
            return 0
        columns = tuple(batch_dicts[0])
        batch: list[Row] = [tuple(r[c] for c in columns) for r in batch_dicts]
    else:
        columns = tuple(columns)
        batch = dedupe_tuples(rows, [columns.index(k) for k in keys])  # type: ignore[arg-type]
        if not batch:
            return 0
    if add and len(batch) != len(rows):  # type: ignore[arg-type]  # a list when `add`
        raise ValueError(f"{table.name}: a key repeats in rows whose values are added")
    if update is None:
        update = [c for c in columns if c not in keys]
    plan = _plan(conn.dialect, table, columns, keys, tuple(update), tuple(add), tuple(texts))
    return plan.send(conn, batch)


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    texts: Sequence[str] = (),
) -> int:
    """Plain INSERT of tuples in the order of `columns`, for rows known to be new and unique."""
    if not rows:
        return 0
    return _plan(conn.dialect, table, tuple(columns), None, (), (), tuple(texts)).send(conn, rows)


def insert_columns(
    conn: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    texts: Sequence[str] = (),
) -> int:
    """`insert_rows` for rows given column by column (equal lengths): no tuple per row to build.

    Columns in `texts` hold timestamps (or None) as `store.dates.time_text`, sent unconverted:
    SQLite stores that very text, PostgreSQL parses it (a reader process sends text, which
    crosses its pipe far cheaper than datetime objects)."""
    names = tuple(columns)
    cells = [list(values) for values in columns.values()]
    n = len(cells[0]) if cells else 0
    if not n:
        return 0
    if any(len(values) != n for values in cells):
        raise ValueError(f"{table.name}: columns of different lengths")
    plan = _plan(conn.dialect, table, names, None, (), (), tuple(texts))
    return plan.send_columns(conn, cells, n)


@dataclass(frozen=True)
class _Plan:
    """A compiled statement and how to turn caller tuples into driver parameters."""

    sql: str
    order: tuple[int, ...]  # caller column index of each driver parameter
    names: tuple[str, ...] | None  # parameter names for named paramstyles, else None
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    defaults: tuple[Any, ...]  # scalar column defaults appended after the caller's columns
    values: str | None = None  # a plain SQLite INSERT's "(?, …)": sent many rows a statement

    def send(self, conn: Connection, rows: Sequence[Row]) -> int:
        """Execute for every row through the DBAPI cursor of `conn` (its open transaction)."""
        chunks = (rows[start:start + CHUNK] for start in range(0, len(rows), CHUNK))
        self._execute(conn, ([list(c) for c in zip(*chunk, strict=True)] for chunk in chunks))
        return len(rows)

    def send_columns(self, conn: Connection, cells: list[list[Any]], n: int) -> int:
        """`send` for rows given as `n` values per caller column."""
        chunks = ([c[start:start + CHUNK] for c in cells] for start in range(0, n, CHUNK))
        self._execute(conn, chunks)
        return n

    def _execute(self, conn: Connection, chunks: Iterable[list[list[Any]]]) -> None:
        """Execute each chunk of the caller's columns, statement by statement."""
        driver_error = conn.dialect.loaded_dbapi.Error
        per = self._rows_per_statement(conn)
        cursor = conn.connection.cursor()
        try:
            for cells in chunks:
                for sql, params in self._statements(cells, per):
                    cursor.executemany(sql, params)
        except driver_error as exc:  # raised as SQLAlchemy raises it on the Core path
            raise DBAPIError.instance(
                self.sql, None, exc, driver_error, dialect=conn.dialect, ismulti=True
            ) from exc
        finally:
            cursor.close()

    def _statements(self, cells: list[list[Any]], per: int) -> Iterator[tuple[str, list[Any]]]:
        """A chunk's rows as (statement, parameters): one row a statement, or (`per` > 1)
        `per` rows a statement, then the rest one by one."""
        if per == 1:
            yield self.sql, self._arranged(cells)
            return
        # no tuple per row: one flat list, filled column by column with slice assignment
        ordered = self._ordered(cells)
        width, n = len(ordered), len(cells[0])
        flat: list[Any] = [None] * (n * width)
        for at, column in enumerate(ordered):
            flat[at::width] = column
        step, whole = width * per, n // per * per * width
        if whole:
            yield (_values_sql(self.sql, self.values, per),
                   [flat[at:at + step] for at in range(0, whole, step)])
        if whole < len(flat):
            yield self.sql, [flat[at:at + width] for at in range(whole, len(flat), width)]

    def _rows_per_statement(self, conn: Connection) -> int:
        # one statement per ROWS_PER_STATEMENT rows: the driver's per-row step and reset,
        # not SQLite's insert, were a quarter of inserting the demo's messages
        if self.values is None or not self.order:
            return 1
        driver: Any = conn.connection.driver_connection
        limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return min(ROWS_PER_STATEMENT, limit // len(self.order))

    def _arranged(self, cells: list[list[Any]]) -> list[Any]:
        """Driver parameters from the caller's columns: defaults added, values converted."""
        tuples = zip(*self._ordered(cells), strict=False)
        if self.names is None:
            return list(tuples)
        return [dict(zip(self.names, values, strict=True)) for values in tuples]

    def _ordered(self, cells: list[list[Any]]) -> list[list[Any]]:
        """The driver's columns, in parameter order: defaults added, values converted."""
        n = len(cells[0]) if cells else 0
        cells = cells + [[value] * n for value in self.defaults]
        for at, process in self.processors:
            cells[at] = _processed(process, cells[at])
        return [cells[i] for i in self.order]


@functools.lru_cache(maxsize=256)
def _plan(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...] | None,
    update: tuple[str, ...],
    add: tuple[str, ...] = (),
    texts: tuple[str, ...] = (),
) -> _Plan:
    """Compile once: (keys None) plain INSERT, else INSERT … ON CONFLICT (keys) DO …
    (`add` columns: stored value + the row's; `texts` columns: no conversion)."""
    missing = [c for c in table.columns if c.name not in columns and c.default is not None]
    if any(not c.default.is_scalar for c in missing):  # type: ignore[union-attr]
        raise TypeError(f"{table.name}: pass every column whose default is not a constant")
    names = columns + tuple(c.name for c in missing)
    insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table)
    if keys is not None and update:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c: table.c[c] + stmt.excluded[c] if c in add else stmt.excluded[c]
                  for c in update},
        )
    elif keys is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    if compiled.insert_prefetch:
        raise TypeError(f"{table.name}: columns with defaults the fast path cannot compute")
    bind_names = list(compiled.positiontup or compiled.bind_names.values())
    order = tuple(names.index(n) for n in bind_names)
    processors = []
    for i, name in enumerate(names):
        column_type = table.c[name].type
        if name in texts:
            if not isinstance(column_type, DateTime):
                raise TypeError(f"{table.name}.{name}: only timestamps are given as text")
            continue
        process: Callable[[Any], Any] | None = column_type.dialect_impl(
            dialect
        ).bind_processor(dialect)
        if process is not None and isinstance(column_type, DateTime):
            process = _iso_when_same(process)
        if process is not None:
            processors.append((i, process))
    escaped = getattr(compiled, "escaped_bind_names", {}) or {}
    sql = str(compiled)
    head, _, values = sql.rpartition(" VALUES ")
    plain = keys is None and dialect.name == "sqlite" and dialect.positional
    return _Plan(
        sql=sql,
        values=values if plain and head and _ONE_ROW.fullmatch(values) else None,
        order=order,
        names=None if dialect.positional else tuple(escaped.get(n, n) for n in bind_names),
        processors=tuple(processors),
        defaults=tuple(c.default.arg for c in missing),  # type: ignore[union-attr]
    )


def _iso_when_same(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process`, or a faster equal one for naive datetimes when it writes them as
    `store.dates.time_text` (the text `texts` columns are sent as)."""
    # SQLite's DATETIME processor fills a format string from seven attributes; the C method
    # gives the same text in a third of the time.
    try:
        same = all(process(v) == time_text(v) for v in _SAMPLE_TIMES)
    except (TypeError, ValueError):
        same = False
    if not same:
        return process

    def fast(value: Any) -> Any:
        if type(value) is dt.datetime and value.tzinfo is None:
            return time_text(value)
        return process(value)

    return fast


@functools.lru_cache(maxsize=64)
def _values_sql(sql: str, values: str | None, rows: int) -> str:
    """`sql` (ending in `values`, one row's placeholders) for `rows` rows at once."""
    assert values is not None and sql.endswith(values)
    return sql[: len(sql) - len(values)] + ", ".join([values] * rows)


def _processed(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """`process` over values, once per distinct value when they repeat (a file's one day)."""
    distinct = set(values)
    if len(distinct) * 4 > len(values):
        return list(map(process, values))
    done = {v: process(v) for v in distinct}
    return list(map(done.__getitem__, values))


def _picker(positions: Sequence[int]) -> Callable[[Row], tuple[Any, ...]]:
    def pick(row: Row) -> tuple[Any, ...]:
        return tuple(row[i] for i in positions)

    return pick
