"""Graph getYammerActivityUserDetail daily CSVs and monthly HR roster snapshots of the demo."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

from demo.activity import DayFacts
from demo.organisation import NEVER, Organisation

GRAPH_HEADER = (
    "Report Refresh Date,User Principal Name,Display Name,User State,State Change Date,"
    "Last Activity Date,Posted Count,Read Count,Liked Count,Assigned Products,Report Period"
)
PRODUCTS = "MICROSOFT 365 E3"
ROSTER_COLUMNS = (
    "email", "department", "region", "country", "manager_email", "hire_date",
    "termination_date", "as_of",
)


def graph_file_name(day: dt.date) -> str:
    """The report file of one day (the ingester reads the date from the name)."""
    return f"YammerActivityUserDetail_{day.isoformat()}.csv"


class GraphReportWriter:
    """Writes one getYammerActivityUserDetail(date=D) CSV per simulated day (BOM, CRLF)."""

    def __init__(self, org: Organisation, out: Path):
        self.org = org
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.who = "," + org.email + "," + org.name + ",,,"
        # index -1 (never active) picks the trailing empty string
        self.dates = np.array([org.day(t).isoformat() for t in range(org.days)] + [""], object)
        self.written: list[Path] = []

    def __call__(self, facts: DayFacts) -> None:
        day = self.org.day(facts.t)
        refresh = (day + dt.timedelta(days=1)).isoformat()
        lines = (
            refresh + self.who[facts.people] + self.dates[facts.last_active] + ","
            + _text(facts.posted) + "," + _text(facts.read) + "," + _text(facts.liked)
            + f",{PRODUCTS},1"
        )
        path = self.out / graph_file_name(day)
        body = "\r\n".join([GRAPH_HEADER, *lines.tolist()]) + "\r\n"
        path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
        self.written.append(path)


def write_rosters(org: Organisation, out: Path) -> list[Path]:
    """One HR roster CSV per snapshot: everyone employed from `as_of` until the next one."""
    out.mkdir(parents=True, exist_ok=True)
    email = org.email.copy()
    shouty = (np.arange(org.size) % 37) == 5  # HR systems keep the case people typed
    email[shouty] = [e.split("@")[0].title() + "@" + e.split("@")[1] for e in email[shouty]]
    hire = _dates(org, org.hire_day)
    term = _dates(org, org.term_day)
    region = np.array(org.region_names, object)[org.country]
    country = np.array(org.country_names, object)[org.country]
    bounds = list(org.snapshot_days) + [org.days]
    paths = []
    for s, (start, nxt) in enumerate(zip(bounds, bounds[1:], strict=False)):
        as_of = org.day(start).isoformat()
        who = np.flatnonzero((org.hire_day <= nxt) & (org.term_day > start))
        dept = np.array(org.department_names, object)[org.department[s, who]]
        boss = org.manager[s, who]
        manager = np.where(boss >= 0, email[np.maximum(boss, 0)], "")
        path = out / f"hr_roster_{as_of}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(ROSTER_COLUMNS)
            writer.writerows(zip(
                email[who], dept, region[who], country[who], manager, hire[who], term[who],
                [as_of] * len(who), strict=True,
            ))
        paths.append(path)
    return paths


def _text(values: np.ndarray) -> np.ndarray:
    return values.astype(str).astype(object)


def _dates(org: Organisation, days: np.ndarray) -> np.ndarray:
    """ISO dates of day indices (blank for NEVER)."""
    epoch = np.datetime64(org.launch.isoformat(), "D")
    text = np.datetime_as_string(epoch + np.where(days < NEVER, days, 0).astype("timedelta64[D]"))
    return np.where(days < NEVER, text, "").astype(object)
