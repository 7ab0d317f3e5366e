"""A hand-computed organisation in Europe/London, ingested through the real ingesters.

Days 2025-03-28 (Fri) … 2025-03-31 (Mon); clocks go forward on Sunday 2025-03-30 at 01:00 UTC.
Roster: snapshot 2025-03-01 (s6 in Sales), snapshot 2025-03-30 (s6 moves to Ops).

            members               engaged        active
day         Sales  Ops  All       Sales Ops All  Sales Ops All
2025-03-28  7      6    13        3     0   3    3     0   3
2025-03-29  6      7    13        2     1   3    2     1   3
2025-03-30  5      10   15        1     3   4    1     4   5
2025-03-31  5      9    14        0     2   2    0     3   3
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine

from ingest.graph_activity import GraphActivitySource
from ingest.hr_roster import RosterSource
from ingest.runner import run_source
from ingest.yammer_export import YammerExportSource
from settings import Settings
from tests.yammer_fixtures import export_zip, message, user

ZONE = "Europe/London"
JAN = dt.datetime(2025, 1, 10, 9, 0)
GRAPH_HEADER = (
    "Report Refresh Date,User Principal Name,Display Name,User State,State Change Date,"
    "Last Activity Date,Posted Count,Read Count,Liked Count,Assigned Products,Report Period"
)
SALES = [f"s{i}" for i in range(1, 7)]
OPS = [f"o{i}" for i in range(1, 7)]

EXPECTED_DEPARTMENT_CSV = """\
day,group,members,engaged,active,engaged_share,suppressed
2025-03-28,Ops,6,0,0,0.0000,false
2025-03-28,Sales,7,3,3,0.4286,false
2025-03-29,Ops,7,1,1,0.1429,false
2025-03-29,Sales,6,2,2,0.3333,false
2025-03-30,Ops,10,3,4,0.3000,false
2025-03-30,Sales,5,1,1,0.2000,false
2025-03-31,Ops,9,2,3,0.2222,false
2025-03-31,Sales,5,0,0,0.0000,false
"""
EXPECTED_ALL_CSV = """\
day,group,members,engaged,active,engaged_share,suppressed
2025-03-28,All,13,3,3,0.2308,false
2025-03-29,All,13,3,3,0.2308,false
2025-03-30,All,15,4,5,0.2667,false
2025-03-31,All,14,2,3,0.1429,false
"""


def email(name: str) -> str:
    """The email of a fixture person."""
    return f"{name}@example.com"


def _users() -> list[dict[str, str]]:
    rows = [user(f"1{n[1:]}", email(n), joined=JAN) for n in SALES]
    rows += [user(f"2{n[1:]}", email(n), joined=JAN) for n in OPS[:5]]
    rows.append(user("26", email("o6"), joined=dt.datetime(2025, 3, 29, 23, 30)))  # local 29th
    rows.append(user("31", email("p1"), "soft_delete"))  # pending: invited, never joined
    rows.append(user("41", email("x1"), "soft_delete", joined=JAN,
                     suspended=dt.datetime(2025, 3, 30, 23, 30)))  # local 31st (BST)
    rows.append(user("51", email("d1"), "soft_delete", joined=JAN,
                     deleted=dt.datetime(2025, 3, 29, 12, 0)))
    return rows


def _messages() -> list[dict[str, str]]:
    ids = {u["email"].split("@")[0]: u["id"] for u in _users()}

    def msg(mid: str, thread: str, who: str, at: dt.datetime, **extra: str) -> dict[str, str]:
        return message(mid, thread, ids.get(who, f"9{mid}"), at, email=email(who), **extra)

    return [
        msg("101", "101", "s1", dt.datetime(2025, 3, 28, 9, 0)),
        msg("102", "101", "s2", dt.datetime(2025, 3, 28, 23, 30)),  # GMT: still the 28th
        msg("103", "103", "s3", dt.datetime(2025, 3, 29, 23, 30)),  # last Saturday: the 29th
        msg("104", "104", "o1", dt.datetime(2025, 3, 30, 23, 30)),  # BST: the 31st
        msg("105", "101", "o2", dt.datetime(2025, 3, 30, 0, 30)),  # before the switch: 30th
        msg("106", "106", "s6", dt.datetime(2025, 3, 31, 10, 0)),  # s6 now in Ops
        msg("107", "103", "s6", dt.datetime(2025, 3, 29, 10, 0)),  # s6 still in Sales
        msg("108", "108", "p1", dt.datetime(2025, 3, 30, 10, 0)),  # pending: not a member
        msg("109", "106", "x1", dt.datetime(2025, 3, 31, 8, 0)),  # suspended that local day
        msg("110", "101", "d1", dt.datetime(2025, 3, 28, 12, 0)),  # deleted the next day
        msg("111", "111", "s4", dt.datetime(2025, 3, 30, 9, 0), message_type="system"),
        msg("112", "112", "s5", dt.datetime(2025, 3, 30, 9, 0), sender_type="bot"),
        msg("113", "113", "o3", dt.datetime(2025, 3, 29, 12, 0),
            deleted_at="2025-04-02T08:00:00Z"),  # deleted later: still counts
        msg("114", "114", "u1", dt.datetime(2025, 3, 30, 12, 0)),  # no user record
    ]


def _graph_reports() -> dict[str, list[tuple[str, int, int, int]]]:
    """Per day: (person, posted, read, liked)."""
    return {
        "2025-03-28": [("s1", 1, 2, 0)],  # the same post the export saw: not double counted
        "2025-03-30": [("s1", 1, 5, 0), ("g1", 0, 3, 0), ("o4", 0, 0, 2)],
        "2025-03-31": [("o5", 0, 4, 0)],
    }


def _roster(moved: bool) -> str:
    people = [(n, "Sales") for n in SALES] + [(n, "Ops") for n in OPS]
    people += [("x1", "Ops"), ("d1", "Sales"), ("g1", "Ops"), ("p1", "Sales"), ("u1", "Ops")]
    lines = ["email,department,region,country,manager_email,hire_date,termination_date"]
    for name, dept in people:
        if moved and name == "s6":
            dept = "Ops"
        lines.append(f"{email(name)},{dept},EMEA,GB,,2020-01-01,")
    return "\n".join(lines) + "\n"


def build(engine: Engine, settings: Settings, folder: Path) -> None:
    """Write the export ZIP, Graph reports and two roster snapshots, and ingest them all."""
    folder.mkdir(parents=True, exist_ok=True)
    for as_of, moved in (("2025-03-01", False), ("2025-03-30", True)):
        path = folder / f"roster-{as_of}.csv"
        path.write_text(_roster(moved))
        run_source(engine, settings, RosterSource(settings, path, as_of=as_of))
    zipped = export_zip(folder / "export.zip", users=_users(), messages=_messages())
    run_source(engine, settings, YammerExportSource(settings, file=zipped))
    reports = folder / "graph"
    reports.mkdir(exist_ok=True)
    for day, rows in _graph_reports().items():
        lines = [GRAPH_HEADER] + [
            f"{day},{email(who)},{who},,,{day},{posted},{read},{liked},MICROSOFT 365 E5,1"
            for who, posted, read, liked in rows
        ]
        (reports / f"YammerActivityUserDetail{day}.csv").write_text("\r\n".join(lines) + "\r\n")
    if _graph_reports():
        run_source(engine, settings, GraphActivitySource(settings, path=reports))
