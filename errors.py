"""Typed errors shared by every layer; the CLI and the pages translate them at the edges."""

from __future__ import annotations


class UptakeError(Exception):
    """An expected failure, shown to the user as one clear line."""


class ConfigError(UptakeError):
    """The configuration file or an environment override is invalid."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class StoreError(UptakeError):
    """The store is missing, not initialised, or on an older migration."""


class IngestError(UptakeError):
    """An ingest run failed; nothing it read was committed."""


class BadInputError(IngestError):
    """An input file or response is unreadable (corrupt, truncated, missing a column)."""


class FatalSourceError(IngestError):
    """The source refused us (bad credentials, missing permission): retrying will not help."""


class RetriableSourceError(IngestError):
    """The source failed transiently and retries were exhausted: try again at the next run."""


class SkippableRecord(Exception):
    """One input record cannot be used; it is counted, logged and skipped."""


class MetricError(UptakeError):
    """A metric request is invalid (unknown metric or attribute, bad date range)."""
