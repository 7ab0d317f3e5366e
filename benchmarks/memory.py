"""Peak memory of the running process, as Linux counts it for this process alone."""

from __future__ import annotations

from pathlib import Path


def high_water_kb() -> int:
    """This process's peak resident memory (VmHWM), in kB."""
    # Not ru_maxrss: Linux carries it over fork and exec, so a child of a large parent would
    # report the parent's size.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0
