"""Ingest benchmark: the demo organisation at a given scale, each ingester in its own process.

`run(scale, workdir)` generates the demo (members × 365 days) under `workdir/demo`, then ingests
it into a fresh SQLite store `workdir/uptake.db` one file family at a time — HR rosters,
`Users.csv`, `Messages.csv`, Graph daily CSVs — each step in a subprocess whose peak memory is
its own VmHWM plus its largest reader process's. The store and `workdir/config.yaml` are left for
later benchmark modules.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.memory import high_water_kb

ROOT = Path(__file__).resolve().parent.parent
END = dt.date(2026, 6, 30)  # fixed, so every run generates the same files
DAYS, SEED = 365, 42
STORE, CONFIG = "uptake.db", "config.yaml"
HASH_KEY = "benchmark-hash-key"
PEAK_LIMIT_MB = 1536
# step: (what is counted, target rows/s or None)
STEPS: dict[str, tuple[str, int | None]] = {
    "generate": ("files written (Graph rows + messages)", None),
    "roster": ("HR roster rows (all monthly snapshots)", None),
    "users": ("Users.csv + Groups.csv rows", None),
    "messages": ("Messages.csv rows", 100_000),
    "graph": ("Graph daily CSV rows", 250_000),
}


def config_path(workdir: Path) -> Path:
    """The config of the benchmark store (SQLite in `workdir`), written on first use."""
    path = workdir / CONFIG
    if not path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"database: {{url: 'sqlite:///{(workdir / STORE).resolve()}'}}\n"
            "timezone: UTC\n"
            f"privacy: {{min_group_size: 5, hash_key_file: '{(workdir / 'hash.key').resolve()}'}}\n"
        )
    return path


def run(scale: int, workdir: Path) -> list[dict[str, Any]]:
    """Generate and ingest the demo at `scale` members; one result row per step."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path(workdir)
    return [_measure(step, scale, workdir) for step in STEPS]


def _measure(step: str, scale: int, workdir: Path) -> dict[str, Any]:
    """Run one step in a child process; its JSON line plus wall time and peak memory."""
    log = workdir / f"{step}.log"
    out = workdir / f"{step}.json"
    command = [sys.executable, "-m", "benchmarks.ingest_bench", step, "--workdir", str(workdir),
               "--members", str(scale)]
    env = {**os.environ, "UPTAKE_HASH_KEY": HASH_KEY}
    started = time.perf_counter()
    with log.open("wb") as err, out.open("wb") as stdout:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    what, target = STEPS[step]
    row: dict[str, Any] = {"bench": "ingest", "scale": scale, "step": step, "counts": what}
    if child.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return {**row, "error": f"exit {child.returncode}: {tail[0][:300]}", "wall_s": wall}
    result = json.loads(out.read_text().strip().splitlines()[-1])
    # the child's own VmHWM (benchmarks/memory.py): ru_maxrss would include this runner's size
    peak_mb = result.get("peak_mb") or usage.ru_maxrss / 1024  # KiB on Linux
    rate = result["rows"] / result["seconds"] if result["seconds"] else None
    ok = peak_mb < PEAK_LIMIT_MB and (target is None or (rate or 0) >= target)
    return {
        **row, "rows": result["rows"], "seconds": round(result["seconds"], 2),
        "rows_per_s": round(rate) if rate else None, "target_rows_per_s": target,
        "wall_s": round(wall, 2), "peak_mb": round(peak_mb),
        "reader_peak_mb": round(result.get("reader_peak_mb") or 0), "ok": ok,
    }


def _step(step: str, workdir: Path, members: int) -> dict[str, float]:
    """Do one step in this process; returns rows and seconds (imports excluded)."""
    from demo.run import write_demo
    from ingest.registry import make_source
    from ingest.runner import run_source
    from settings import load_settings
    from store.engine import make_engine
    from store.identity import Identity
    from store.migrate import upgrade

    settings = load_settings(config_path(workdir))
    engine = make_engine(settings.database.url)
    demo = workdir / "demo"
    if step == "generate":
        for stale in workdir.glob(STORE + "*"):
            stale.unlink()
        upgrade(engine)
        started = time.perf_counter()
        files = write_demo(members, DAYS, END, SEED, demo, split=True, say=lambda _: None)
        rows = files.messages + int(files.summary.members.sum())
        return {"rows": rows, "seconds": time.perf_counter() - started}
    plan = {
        "roster": ("hr-roster", sorted((demo / "hr").glob("*.csv"))),
        "users": ("yammer-export", sorted((demo / "yammer").glob("users-*.zip"))),
        "messages": ("yammer-export", sorted((demo / "yammer").glob("messages-*.zip"))),
        "graph": ("graph-yammer-activity", [demo / "graph"]),
    }
    name, paths = plan[step]
    identity = Identity(settings.hash_key(), settings.privacy.pseudonymise)
    rows = 0
    started = time.perf_counter()
    for path in paths:
        source = make_source(settings, name, {"file": str(path)})
        rows += sum(r.rows_read for r in run_source(engine, settings, source, identity))
    return {"rows": rows, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point: `python -m benchmarks.ingest_bench STEP --workdir DIR`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=list(STEPS))
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--members", type=int, default=6800)
    args = parser.parse_args(argv)
    result = _step(args.step, args.workdir, args.members)
    # reader processes (forked): the largest one's peak added to this one's, an upper bound
    # (a fork's peak counts the pages it still shares with this process)
    readers_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({**result, "peak_mb": (high_water_kb() + readers_kb) / 1024,
                      "reader_peak_mb": readers_kb / 1024}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
