"""Progress lines for long runs, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints `label: N rows` at most twice a second on a terminal; silent otherwise."""

    def __init__(self, label: str, stream=None, interval_s: float = 0.5):  # type: ignore[no-untyped-def]
        self.label = label
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False

    def update(self, rows: int) -> None:
        """Report that `rows` records have been read so far."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self._shown = True
            self.stream.write(f"\r{self.label}: {rows:,} rows")
            self.stream.flush()

    def done(self) -> None:
        """End the progress line."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
