"""Messages.csv read by pandas' C reader or by `csv`: the same store, counts and warnings."""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

import ingest.yammer_export as yammer_export
from errors import IngestError
from ingest import yammer_csv
from ingest.csvfile import Utf8Checked
from ingest.read_ahead import read_ahead
from ingest.runner import run_source
from ingest.yammer_export import YammerExportSource
from store.engine import write_transaction
from store.models import Account, Message
from tests.conftest import BACKENDS
from tests.test_yammer_export import snapshot
from tests.yammer_fixtures import MESSAGES_NEW, USERS, csv_bytes, message, user, write_zip

ANA, BOB = "1111111111111111", "2000000000000002"
IDS = [f"20003377495654{i:02d}" for i in range(10)]


def _at(hour: int) -> dt.datetime:
    return dt.datetime(2026, 3, 2, hour)


def _messages_csv(*records: dict[str, str], encoding: str = "utf-8") -> bytes:
    return csv_bytes(MESSAGES_NEW, records, encoding=encoding)


REGULAR = [
    message(IDS[0], IDS[0], ANA, _at(9), email="ana@example.com"),
    message(IDS[1], IDS[0], BOB, _at(10), email="bob@example.com",
            body='Line one, "quoted"\r\nline two,\nid,thread_id'),
    message(IDS[2], IDS[2], ANA, _at(11)),
    message(IDS[3], IDS[2], "", _at(12), email="carl@example.com"),  # no sender id: by email
    message(IDS[4], IDS[4], BOB, _at(13), sender_type="bot"),
]


def _lines(data: bytes, at: int, *extra: bytes) -> bytes:
    """`extra` lines inserted before record `at` (records are one line each here)."""
    lines = data.split(b"\n")
    return b"\n".join([*lines[:at + 1], *extra, *lines[at + 1:]])


def _simple() -> bytes:  # one line per record: no line breaks in bodies
    return _messages_csv(*[message(i, IDS[0], ANA, _at(9 + n)) for n, i in enumerate(IDS[:6])])


CASES = {
    "regular": _messages_csv(*REGULAR),
    "regular, CRLF and BOM": b"\xef\xbb\xbf" + csv_bytes(MESSAGES_NEW, REGULAR, crlf=True),
    "cp1252": _messages_csv(message(IDS[0], IDS[0], ANA, _at(9), sender_name="Zoë Ünal"),
                            encoding="cp1252"),
    "bad ids and timestamps": _messages_csv(
        message(IDS[0], IDS[0], ANA, "2026-13-45 25:00"),
        message(IDS[1], "", ANA, _at(10)),
        message("9" * 65, IDS[0], ANA, _at(10)),
        message(IDS[2], IDS[2], ANA, "null"),
        message(IDS[3], IDS[3], ANA, _at(11), deleted_at="yesterday"),
        message(IDS[4], IDS[4], ANA, _at(12)),
    ),
    "blank, whitespace and lone-quote lines": _lines(
        _simple(), 2, b"", b"   ", b"\t", b'""', b",,,"
    ),
    "short and long records": _lines(
        _simple(), 3, f"{IDS[7]},,,{IDS[7]}".encode(), (",".join([IDS[8]] * 40)).encode()
    ),
    "unterminated quote at the end": _simple() + f'{IDS[9]},"never closed\n'.encode(),
    "duplicate ids": _messages_csv(
        message(IDS[0], IDS[0], ANA, _at(9)), message(IDS[1], IDS[1], BOB, _at(9)),
        message(IDS[0], IDS[0], ANA, _at(9), deleted_at="2026-03-05T00:00:00Z"),
    ),
}


def _ingest(engine, settings, path: Path):
    [result] = run_source(engine, settings, YammerExportSource(settings, file=path))
    return (result.status, result.rows_read, result.rows_written, result.rows_skipped,
            result.warnings)


def _zip(tmp_path: Path, name: str, messages_csv: bytes) -> Path:
    users = csv_bytes(USERS, [user(ANA, "ana@example.com"), user(BOB, "bob@example.com")])
    return write_zip(tmp_path / name, {"Users.csv": users, "Messages.csv": messages_csv})


def _csv_only(source, c, width, sizes, header=None):
    return 0
    yield  # a generator that parsed nothing: `csv` reads every record


def _clear(engine) -> None:
    with write_transaction(engine) as conn:
        for table in ("daily_activity", "messages", "groups", "accounts", "people"):
            conn.exec_driver_sql(f"DELETE FROM {table}")


@BACKENDS
@pytest.mark.parametrize("chunk", [2, 20_000])
@pytest.mark.parametrize("case", list(CASES))
def test_pandas_and_csv_paths_store_the_same(engine, settings, tmp_path, monkeypatch, case, chunk):
    monkeypatch.setattr(yammer_export, "CHUNK", chunk)
    path = _zip(tmp_path, "m.zip", CASES[case])
    fast = _ingest(engine, settings, path), snapshot(engine)
    _clear(engine)
    monkeypatch.setattr(yammer_export, "_pandas_chunks", _csv_only)
    assert (_ingest(engine, settings, path), snapshot(engine)) == fast


@BACKENDS
def test_a_regular_file_is_read_by_pandas_alone(engine, settings, tmp_path, monkeypatch):
    def no_csv(*args):
        raise AssertionError("read by csv")

    monkeypatch.setattr(yammer_csv, "padded", no_csv)
    monkeypatch.setattr(yammer_export, "CHUNK", 2)
    path = _zip(tmp_path, "m.zip", CASES["regular"])
    # Users.csv (always read by csv) left out: senders become accounts of their own
    monkeypatch.setattr(yammer_export.ExportLoad, "save_users", lambda self, *args: None)
    assert _ingest(engine, settings, path)[:4] == ("success", 5, 5 + 2, 0)
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Message.message_id, Message.thread_id)).all())
    assert stored == {IDS[0]: IDS[0], IDS[1]: IDS[0], IDS[2]: IDS[2], IDS[3]: IDS[2],
                      IDS[4]: IDS[4]}


@BACKENDS
def test_lines_csv_drops_or_counts_after_a_chunk_read_by_pandas(
    engine, settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(yammer_export, "CHUNK", 2)  # records 1-2 by pandas, the rest by csv
    path = _zip(tmp_path, "m.zip", CASES["blank, whitespace and lone-quote lines"])
    status, read, _, skipped, warnings = _ingest(engine, settings, path)
    # the blank line and the `""` line are no records; "   ", tab and ",,," are, without an id
    assert (status, read, skipped) == ("success", 2 + 9, 3)  # 2 Users.csv records
    assert [w for w in warnings if "record" in w] == [
        f"skipped a record: m.zip/Messages.csv record {n}: no message id" for n in (3, 4, 5)
    ]
    with engine.connect() as conn:
        assert sorted(conn.scalars(select(Message.message_id))) == IDS[:6]


@BACKENDS
def test_an_erased_sender_s_messages_are_not_stored(engine, settings, tmp_path):
    from store.erase import forget
    from store.identity import Identity

    path = _zip(tmp_path, "m.zip", CASES["regular"])
    _ingest(engine, settings, path)
    identity = Identity(settings.hash_key(), settings.privacy.pseudonymise)
    assert forget(engine, identity, "ana@example.com") > 0
    status, read, _, skipped, _ = _ingest(engine, settings, path)
    assert (status, read, skipped) == ("success", 2 + 5, 0)
    with engine.connect() as conn:
        stored = sorted(conn.scalars(select(Message.message_id)))
    assert stored == [IDS[1], IDS[3], IDS[4]]  # bob's, carl's (by email) and the bot's


@BACKENDS
@pytest.mark.parametrize("case", list(CASES))
def test_a_reader_process_stores_what_reading_in_process_stores(
    engine, settings, tmp_path, monkeypatch, case
):
    """Large files are parsed by a forked reader: same rows, counts, skips and warnings."""
    path = _zip(tmp_path, "m.zip", CASES[case])
    monkeypatch.setattr(yammer_export, "CHUNK", 2)  # several batches; the fork inherits it
    monkeypatch.setattr(yammer_export, "AHEAD_BYTES", 1 << 60)
    here = _ingest(engine, settings, path), snapshot(engine)
    _clear(engine)
    started = []

    def counted(*args):
        started.append(args[1:])
        return read_ahead(*args)

    monkeypatch.setattr(yammer_export, "AHEAD_BYTES", 0)
    monkeypatch.setattr(yammer_export, "AHEAD_FIRST", 2)  # the same batches as in-process
    monkeypatch.setattr(yammer_export, "read_ahead", counted)
    # whatever threads earlier tests of this process left behind
    monkeypatch.setattr(yammer_export, "can_read_ahead", lambda: True)
    assert (_ingest(engine, settings, path), snapshot(engine)) == here
    assert started == [(str(path), "Messages.csv", "m.zip/Messages.csv")]


@BACKENDS
def test_a_reader_s_error_fails_the_run_and_writes_nothing(engine, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(yammer_export, "AHEAD_BYTES", 0)
    monkeypatch.setattr(yammer_export, "can_read_ahead", lambda: True)
    path = _zip(tmp_path, "m.zip", csv_bytes(["id", "thread_id", "created_at"], []))
    with pytest.raises(IngestError, match=r"m.zip/Messages.csv: .*sender_id"):
        _ingest(engine, settings, path)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Message)) == 0
        assert conn.scalar(select(func.count()).select_from(Account)) == 0


def test_a_reader_s_first_batches_grow_to_the_chunk_size(monkeypatch):
    monkeypatch.setattr(yammer_export, "CHUNK", 8)
    ids = [f"2000337749566{i:03d}" for i in range(40)]
    raw = io.BytesIO(_messages_csv(*[message(i, ids[0], ANA, _at(9)) for i in ids]))
    chunks = list(yammer_export.message_columns("m.csv", raw, first=4))
    assert [len(c["id"]) for c in chunks] == [4, 5, 6, 7, 8, 8, 2]  # a quarter more each
    assert [i for c in chunks for i in c["id"]] == ids


@BACKENDS
def test_a_failed_write_stops_the_reader_at_once(engine, settings, tmp_path, monkeypatch):
    """The writer fails on the first batch: the reader is closed before the error leaves."""
    closed = []

    def watched(*args):
        try:
            yield from read_ahead(*args)
        finally:
            closed.append(True)

    def fail(self, batch):
        assert not closed
        raise RuntimeError("disk full")

    left = []
    save = yammer_export.ExportLoad.save_messages

    def save_messages(self, *args):
        try:
            save(self, *args)
        finally:
            left.append(list(closed))  # as the error leaves: not later, when it is collected

    monkeypatch.setattr(yammer_export, "AHEAD_BYTES", 0)
    monkeypatch.setattr(yammer_export, "can_read_ahead", lambda: True)
    monkeypatch.setattr(yammer_export, "read_ahead", watched)
    monkeypatch.setattr(yammer_export.ExportLoad, "_save_message_batch", fail)
    monkeypatch.setattr(yammer_export.ExportLoad, "save_messages", save_messages)
    with pytest.raises(IngestError, match="disk full"):
        _ingest(engine, settings, _zip(tmp_path, "m.zip", CASES["regular"]))
    assert left == [[True]]


@BACKENDS
def test_a_large_messages_file_starts_parsing_while_the_zip_is_checked(
    engine, settings, tmp_path, monkeypatch
):
    """The reader is forked before the ZIP is checked; its batches are taken after."""
    events: list[str] = []
    check = yammer_export.read_export

    def reader(*args):
        events.append("reader started")
        return read_ahead(*args)

    def read_export(path, handlers, streamed=()):
        events.append(f"zip checked but {', '.join(streamed)}")
        return check(path, handlers, streamed)

    monkeypatch.setattr(yammer_export, "AHEAD_BYTES", 0)
    monkeypatch.setattr(yammer_export, "can_read_ahead", lambda: True)
    monkeypatch.setattr(yammer_export, "read_ahead", reader)
    monkeypatch.setattr(yammer_export, "read_export", read_export)
    status, read, *_ = _ingest(engine, settings, _zip(tmp_path, "m.zip", CASES["regular"]))
    assert (status, read) == ("success", 2 + len(REGULAR))
    assert events == ["reader started", "zip checked but Messages.csv"]  # the reader checks it


@BACKENDS
def test_a_corrupt_zip_stops_the_early_reader_and_writes_nothing(
    engine, settings, tmp_path, monkeypatch
):
    """A Messages.csv read ahead is checked by its reader: its damage is the run's error."""
    from tests.test_yammer_export import _corrupt_middle

    readers = []

    def reader(*args):
        readers.append(read_ahead(*args))
        return readers[-1]

    monkeypatch.setattr(yammer_export, "AHEAD_BYTES", 0)
    monkeypatch.setattr(yammer_export, "can_read_ahead", lambda: True)
    monkeypatch.setattr(yammer_export, "read_ahead", reader)
    path = _zip(tmp_path, "m.zip", CASES["regular"])
    _corrupt_middle(path)
    with pytest.raises(
        IngestError, match=r"^yammer-export .*m\.zip: m\.zip/Messages\.csv: corrupt ZIP entry "
    ):
        _ingest(engine, settings, path)
    assert len(readers) == 1 and not readers[0]._child.is_alive()  # stopped, not left running
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Message)) == 0
        assert conn.scalar(select(func.count()).select_from(Account)) == 0


@BACKENDS
@pytest.mark.parametrize("ahead", [True, False])
def test_a_wrong_messages_crc_fails_the_run_and_keeps_nothing(
    engine, settings, tmp_path, monkeypatch, ahead
):
    """Intact data under a wrong CRC. Read ahead, the mismatch shows only at the file's end,
    after the first batches were written, and the run still keeps none of them (nor the
    users); read here, the check up front refuses the ZIP before any row."""
    monkeypatch.setattr(yammer_export, "AHEAD_BYTES", 0)
    monkeypatch.setattr(yammer_export, "can_read_ahead", lambda: ahead)
    written = []
    save = yammer_export.ExportLoad._save_messages

    def counting(self, columns):
        written.append(len(columns["message_id"]))
        return save(self, columns)

    monkeypatch.setattr(yammer_export.ExportLoad, "_save_messages", counting)
    many = [message(f"30000000{n:08d}", f"30000000{n:08d}", ANA, _at(9)) for n in range(4_000)]
    path = _zip(tmp_path, "m.zip", _messages_csv(*many))  # first batches: 500, 1,000 …
    _wrong_crc(path, "Messages.csv")
    member = r"m\.zip/Messages\.csv: corrupt ZIP entry \(Bad CRC-32" if ahead else (
        r"m\.zip: corrupt ZIP entry 'Messages\.csv' \(CRC mismatch\)")
    with pytest.raises(IngestError, match=rf"^yammer-export .*m\.zip: {member}"):
        _ingest(engine, settings, path)
    assert (sum(written) > 0) == ahead  # written, then rolled back
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Message)) == 0
        assert conn.scalar(select(func.count()).select_from(Account)) == 0


@BACKENDS
def test_a_corrupt_member_read_ahead_fails_as_corrupt_whatever_the_parser_met(
    engine, settings, tmp_path, monkeypatch
):
    """Damage can also garble what the parser reads (here the header): the reason given is
    the damage, not a missing column."""
    monkeypatch.setattr(yammer_export, "AHEAD_BYTES", 0)
    monkeypatch.setattr(yammer_export, "can_read_ahead", lambda: True)
    garbled = b"identifier,thread\n" + b"1,1\n" * 600_000  # > 1 MiB: the header is read first
    path = _zip(tmp_path, "m.zip", garbled)
    _wrong_crc(path, "Messages.csv")
    with pytest.raises(IngestError, match=r"Messages\.csv: corrupt ZIP entry \(Bad CRC-32"):
        _ingest(engine, settings, path)


@BACKENDS
@pytest.mark.parametrize("where", ["body", "sender_name", "cut at the end"])
def test_a_byte_not_utf8_after_the_first_mib_fails_the_run_whatever_its_column(
    engine, settings, tmp_path, where
):
    """The first MiB says UTF-8; a later byte that is not fails the run, in a column pandas
    keeps or in one it never decodes (a body), as `csv` fails on it."""
    many = [message(f"30000000{n:08d}", f"30000000{n:08d}", ANA, _at(9)) for n in range(3_000)]
    data = _messages_csv(*many)
    assert len(data) > 1 << 20
    if where == "cut at the end":
        data += "é".encode()[:1]
    else:
        bad = message(IDS[9], IDS[9], BOB, _at(10), **{where: "caf?"})
        data += _messages_csv(bad).split(b"\n", 1)[1].replace(b"caf?", b"caf\xe9")  # cp1252
    path = _zip(tmp_path, "m.zip", data)
    with pytest.raises(IngestError, match=r"Messages\.csv: unreadable CSV near line \d+ \(.*utf-8"):
        _ingest(engine, settings, path)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Message)) == 0


def _wrong_crc(path: Path, member: str) -> None:
    """Flip the stored CRC-32 of `member` (local header and central directory), data intact."""
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo(member).CRC
    stored = struct.pack("<I", crc)
    data = path.read_bytes()
    assert data.count(stored) == 2
    path.write_bytes(data.replace(stored, struct.pack("<I", crc ^ 1)))


def test_a_column_of_export_times_reads_as_each_cell_reads_alone():
    """`export_texts` (a column at once) gives what parsing each cell gives, or None: then
    each cell is parsed alone, and a bad one is skipped with its reason as before."""
    from ingest.yammer_csv import _texts, _utc_or_bad, export_texts

    def alone(cells: list[str]) -> list:
        return _texts(list(map(_utc_or_bad, cells)))

    good = ["2026-03-29T00:59:59Z", "2024/02/29 23:59:59 +0000", "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z", "2026-03-02 09:00:00 +0000", "2026/03-02 09:00:00 +0000"]
    assert export_texts(good) == alone(good) == [
        "2026-03-29 00:59:59.000000", "2024-02-29 23:59:59.000000",
        "0001-01-01 00:00:00.000000", "9999-12-31 23:59:59.000000",
        "2026-03-02 09:00:00.000000", "2026-03-02 09:00:00.000000",
    ]
    for odd in (
        [], ["2026-03-02T09:00:00Z", ""],  # a blank cell
        ["2026-03-02T09:00:00Z2026-03-02T09:00:00Z", ""],  # joined, they would look right
        ["2026-02-29T09:00:00Z"], ["2026-13-01T09:00:00Z"], ["2026-03-02T24:00:00Z"],
        ["2026-03-02T09:00:60Z"], ["0000-03-02T09:00:00Z"], ["+026-03-02T09:00:00Z"],
        ["٢٠٢٦-03-02T09:00:00Z"],  # digits, but not ASCII ones
        ["2026-03-02T09:00:00.5Z"], ["2026-03-02T09:00:00+01:00"], [" 2026-03-02T09:00:00Z"],
        ["2026-03-02 09:00:00Z"], ["2026/03/02T09:00:00 +0000"], ["2026/03/02 09:00:00 +0100"],
    ):
        assert export_texts(odd) is None, odd
    assert alone(["2026-03-02T09:00:00.5Z", "2026-03-02T09:00:00+01:00"]) == [
        "2026-03-02 09:00:00.500000", "2026-03-02 08:00:00.000000"]  # the cell-by-cell path


def test_a_batch_names_each_sender_once_and_the_rows_of_others():
    cells = {field: [] for field in yammer_csv.MessageColumns._fields}
    rows = [  # (id, sender id, type, email, name)
        (IDS[0], ANA, "user", " ana@example.com ", " Ana "),
        ("", ANA, "user", "skipped@example.com", "Skipped"),  # no id: skipped, not counted
        (IDS[1], ANA, "User", "other@example.com", "Other"),  # Ana's first email and name stay
        (IDS[2], BOB, "", "bob@example.com", "Bob"),  # blank type: a user
        (IDS[3], "", "user", "carl@example.com", "Carl"),  # no id: the person by email
        (IDS[4], "", "user", " ", "Nobody"),  # no id, no email: no person
        (IDS[5], "9000000000000009", "bot", "bot@example.com", "Bot"),  # not a user
    ]
    for mid, sid, kind, email, name in rows:
        for field, value in {"id": mid, "thread_id": mid or IDS[9], "sender_id": sid,
                             "sender_type": kind, "sender_email": email, "sender_name": name,
                             "created_at": "2026-03-02T09:00:00Z"}.items():
            cells[field].append(value)
        for field in cells:
            if len(cells[field]) < len(cells["id"]):
                cells[field].append("")
    batch, skipped = yammer_csv.parse_messages(cells)
    assert [at for at, _ in skipped] == [1]
    assert batch.message_id == IDS[:6]
    assert batch.senders == {ANA: ("ana@example.com", "Ana"), BOB: ("bob@example.com", "Bob")}
    assert batch.unlinked == {3: ("carl@example.com", "Carl")}
    assert batch.unsent == [3, 4, 5]
    later, _ = yammer_csv.parse_messages(cells, named={ANA})  # named in an earlier batch
    assert later.senders == {BOB: ("bob@example.com", "Bob")}
    assert later.sender_account_id == batch.sender_account_id and later.unsent == [3, 4, 5]


def test_a_file_names_each_sender_in_its_first_batch_only(monkeypatch):
    monkeypatch.setattr(yammer_export, "CHUNK", 2)
    data = _messages_csv(*REGULAR, message(IDS[5], IDS[5], BOB, _at(14), email="b2@example.com"))
    batches = [b for b, _, _ in yammer_export.parsed_messages("m.csv", io.BytesIO(data))]
    assert [b.message_id for b in batches] == [IDS[0:2], IDS[2:4], IDS[4:6]]
    assert [b.senders for b in batches] == [
        {ANA: ("ana@example.com", f"Name {ANA}"), BOB: ("bob@example.com", f"Name {BOB}")},
        {}, {}]  # Bob's later email is not his first
    assert [b.sender_account_id for b in batches][2] == [BOB, BOB]


@pytest.mark.parametrize("data", [
    "id,name\n1,café\n".encode(),  # "é" split across two reads (14 bytes, then 4)
    b"id,name\n1,caf\xc3\xa9\xff\n",  # a byte no UTF-8 holds
    b"id,name\n1,caf\xe9\n",  # cp1252: a lead byte without its continuation
    b"id,name\n1,caf\xc3",  # a character cut short at the end
])
def test_utf8_checked_passes_every_byte_and_raises_where_decoding_would(data):
    checked, got = Utf8Checked(io.BytesIO(data)), b""
    try:
        got += checked.read(14)
        while chunk := checked.read(4):
            got += chunk
        buffer = bytearray(4)
        assert checked.readinto(buffer) == 0  # the end, by either call
    except UnicodeDecodeError:
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        return
    assert got == data
    data.decode("utf-8")
