"""`uptake metrics …`: print any metric as a table, CSV or JSON — always suppressed."""

from __future__ import annotations

import argparse
import csv
import json
import math
from typing import Any, TextIO

import pandas as pd
from sqlalchemy import Engine

from errors import MetricError
from metrics import catalog
from metrics.read import data_span, read_engagement, read_metric, read_trends
from metrics.trends import GRAINS
from settings import Settings

ENGAGEMENT_CSV = ["day", "group", "members", "engaged", "active", "engaged_share", "suppressed"]
TREND_COLUMNS = {
    "wau": ["members", "wau"],
    "mau": ["members", "mau"],
    "stickiness": ["members", "mau", "stickiness"],
    "trends": ["members", "engaged", "engaged_share", "engaged_share_prev", "change_prev",
               "engaged_share_year", "change_year", "engaged_7d_avg", "wau", "mau",
               "stickiness", "target", "progress"],
}
INTEGER = {"members", "engaged", "active", "workforce", "wau", "mau", "people", "threads",
           "replies", "answered", "new", "returning", "resurrected", "dormant", "offset",
           "replied", "authors", "known", "cross", "starters", "repliers", "reactors", "readers",
           "inactive", "observers", "responders", "broadcasters", "catalysts", "engagers",
           "posts", "reactions", "reads"}
DECIMALS = 4


def run_metric_command(engine: Engine, settings: Settings, args: argparse.Namespace,
                       out: TextIO) -> int:
    """Print `args.metric` (or the list of metrics) in `args.format`; returns the exit status."""
    name = args.metric
    fmt = getattr(args, "format", "table") or "table"
    if name == "list":
        return print_catalogue(fmt, out)
    metric = catalog.get(name)
    grain = getattr(args, "grain", None) or metric.grains[0]
    if grain not in metric.grains:
        raise MetricError(f"{name} has no {grain!r} grain; it has: {', '.join(metric.grains)}")
    by, start, end = args.by or "all", args.start, args.end
    if start and end and end < start:
        raise MetricError(f"end {end} is before start {start}")
    if name == "engagement":
        frame = read_engagement(engine, settings, by, start, end, grain)
        if grain == "day":
            frame = frame[ENGAGEMENT_CSV]
        else:
            frame = frame[["period", "group", "members", "min_members", "engaged", "active",
                           "engaged_share", "suppressed"]]
    elif name in TREND_COLUMNS:
        frame = read_trends(engine, settings, by, start, end, grain)
        key = "day" if grain == "day" else "period"
        frame = frame[[key, "group", *TREND_COLUMNS[name], "suppressed"]]
    else:
        frame = read_metric(engine, settings, name, by, start, end, grain)
    if frame.empty:
        _explain(engine, settings, name, start, end)
    _write(frame, fmt, out)
    return 0


def print_catalogue(fmt: str, out: TextIO) -> int:
    """Print every declared metric (name, label, definition, dimensions); needs no store."""
    _write(_catalogue(), fmt, out)
    return 0


def _catalogue() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "name": m.name,
                "label": m.label,
                "unit": m.unit,
                "dimensions": "any" if catalog.ANY in m.dimensions else ",".join(m.dimensions),
                "grains": ",".join(m.grains),
                "definition": m.definition,
            }
            for m in catalog.all_metrics()
        ]
    )


def _explain(engine: Engine, settings: Settings, name: str, start: Any, end: Any) -> None:
    import sys

    span = data_span(engine, settings)
    if span is None:
        reason = "the store holds no activity or members yet: ingest data first"
    else:
        reason = f"data covers {span[0]} to {span[1]}"
    asked = f" between {start or '…'} and {end or '…'}" if start or end else ""
    sys.stderr.write(f"uptake: {name}: no rows{asked}; {reason}\n")


def _cell(column: str, value: Any) -> Any:
    """A JSON/CSV-ready value: missing → None, counts → int, ratios → 4 decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    if isinstance(value, (int, float)) or hasattr(value, "dtype"):
        number = float(value)
        if column in INTEGER or column.startswith("min_") or column.endswith("_count"):
            return int(round(number)) if number == round(number) else round(number, DECIMALS)
        return round(number, DECIMALS)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = list(frame.columns)
    return [
        {c: _cell(c, v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{DECIMALS}f}"
    return str(value)


def _write(frame: pd.DataFrame, fmt: str, out: TextIO) -> None:
    records = _records(frame)
    columns = list(frame.columns)
    if fmt == "json":
        json.dump(records, out, indent=1)
        out.write("\n")
        return
    rows = [[_text(r[c]) for c in columns] for r in records]
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
    if not rows:
        out.write("(no rows)\n")


__all__ = ["run_metric_command", "GRAINS"]
