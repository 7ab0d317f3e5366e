"""Source names of the CLI and the scheduler, mapped to ingester classes."""

from __future__ import annotations

from typing import Any

from errors import UptakeError
from ingest.runner import Source
from settings import Settings

SOURCES = ("yammer-export", "graph-yammer-activity", "hr-roster")


def make_source(settings: Settings, name: str, options: dict[str, Any] | None = None) -> Source:
    """Build the ingester `name` with CLI options (`file`, `since`, `until`, `date`, `as_of`)."""
    options = options or {}
    if name == "yammer-export":
        from ingest.yammer_export import YammerExportSource

        return YammerExportSource(
            settings,
            file=options.get("file"),
            since=options.get("since"),
            until=options.get("until"),
        )
    if name == "graph-yammer-activity":
        from ingest.graph_activity import GraphActivitySource

        return GraphActivitySource(settings, path=options.get("file"), day=options.get("date"))
    if name == "hr-roster":
        from ingest.hr_roster import RosterSource

        file = options.get("file") or settings.sources.hr_roster.file
        if not file:
            raise UptakeError("hr-roster: no --file given and sources.hr_roster.file is not set")
        return RosterSource(settings, file=file, as_of=options.get("as_of"))
    raise UptakeError(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
