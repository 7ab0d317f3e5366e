"""`make bench`: run every benchmark module at each scale; print a table and save JSON results.

A benchmark module is any `benchmarks/*_bench.py` exposing `run(scale, workdir) -> list[dict]`.
Modules run in a fixed order (ingest first: it leaves a demo store in the shared per-scale
`workdir` that later modules may reuse), then any others alphabetically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import pkgutil
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ORDER = ("ingest", "metrics", "pages")
DEFAULT_SCALES = (6800, 100_000)

Bench = Callable[[int, Path], list[dict[str, Any]]]


def discover(only: Sequence[str] | None = None) -> list[tuple[str, Bench]]:
    """The benchmark modules present (name without `_bench`), in running order."""
    found = []
    for info in pkgutil.iter_modules([str(HERE)]):
        if not info.name.endswith("_bench"):
            continue
        name = info.name.removesuffix("_bench")
        if only and name not in only:
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        bench = getattr(module, "run", None)
        if callable(bench):
            found.append((name, bench))
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda item: (rank.get(item[0], len(ORDER)), item[0]))


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table over the union of the rows' keys (in first-seen order)."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def run_all(
    scales: Sequence[int], workdir: Path, only: Sequence[str] | None = None, keep: bool = False
) -> list[dict[str, Any]]:
    """Run each discovered module at each scale; a failing module becomes an `error` row."""
    benches = discover(only)
    if not benches:
        raise SystemExit(f"no benchmark modules found{' for ' + ','.join(only) if only else ''}")
    results: list[dict[str, Any]] = []
    for scale in scales:
        folder = workdir / str(scale)
        if not keep:  # --keep reuses what an earlier run kept (e.g. the ingest store for pages)
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        for name, bench in benches:
            print(f"== {name} at {scale:,} members …", flush=True)
            started = time.perf_counter()
            try:
                rows = bench(scale, folder)
            except Exception as exc:  # noqa: BLE001 - one failing module must not hide the others
                traceback.print_exc(file=sys.stderr)
                rows = [{"bench": name, "scale": scale, "error": f"{type(exc).__name__}: {exc}"}]
            print(format_table(rows), f"\n({name}: {time.perf_counter() - started:.1f}s)\n",
                  flush=True)
            results += rows
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    return results


def save(results: list[dict[str, Any]], started: dt.datetime, scales: Sequence[int]) -> Path:
    """Write the results as JSON under benchmarks/results/."""
    folder = HERE / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    payload = {
        "started": started.isoformat(timespec="seconds"),
        "scales": list(scales),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "results": results,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: `python -m benchmarks.run [--scales 6800,100000] [--only ingest]`."""
    parser = argparse.ArgumentParser(description="Uptake benchmarks (ingest, metrics, pages).")
    parser.add_argument("--scales", default=",".join(str(s) for s in DEFAULT_SCALES),
                        help="comma-separated member counts (default 6800,100000)")
    parser.add_argument("--only", default=None, help="comma-separated modules, e.g. ingest")
    parser.add_argument("--workdir", type=Path, default=Path("data/bench"),
                        help="scratch folder (one subfolder per scale)")
    parser.add_argument("--keep", action="store_true", help="keep generated files and stores")
    args = parser.parse_args(argv)
    try:
        scales = [int(s.replace("_", "")) for s in args.scales.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--scales must be comma-separated integers, not {args.scales!r}")
    only = [s.strip() for s in args.only.split(",")] if args.only else None
    started = dt.datetime.now(dt.UTC)
    results = run_all(scales, args.workdir, only, args.keep)
    print("== all results")
    print(format_table(results))
    print(f"\nsaved {save(results, started, scales)}")
    return 1 if any("error" in r or r.get("ok") is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
