"""Uptake's command line (`uptake …` or `python app.py …`) and the Dash app factory."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from errors import ConfigError, UptakeError

EXIT_BAD_INPUT = 2


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _month(text: str) -> str:
    try:
        dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a month (YYYY-MM): {text!r}") from None
    return text


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line (its default is also 2, but prints usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"uptake: error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    """The CLI of design.md."""
    parser = _Parser(prog="uptake",
                     description="Adoption analytics for enterprise social networks.")
    parser.add_argument("--config", default=None, help="config file (default ./config.yaml)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("init", help="create or upgrade the store (Alembic)")

    demo = sub.add_parser("demo", help="write a demo organisation in real export formats")
    demo.add_argument("--members", type=int, default=None)
    demo.add_argument("--days", type=int, default=None)
    demo.add_argument("--seed", type=int, default=None)
    demo.add_argument("--out", default=None)
    demo.add_argument("--no-ingest", action="store_true")
    demo.add_argument(
        "--if-empty", action="store_true", help="do nothing when the store already has activity"
    )

    ingest = sub.add_parser("ingest", help="ingest one source")
    isub = ingest.add_subparsers(dest="source", required=True, parser_class=_Parser)
    yam = isub.add_parser("yammer-export", help="a Network Data Export ZIP, or the export API")
    yam.add_argument("--file", default=None)
    yam.add_argument("--since", type=_date, default=None)
    yam.add_argument("--until", type=_date, default=None)
    graph = isub.add_parser("graph-yammer-activity", help="getYammerActivityUserDetail reports")
    graph.add_argument("--file", default=None)
    graph.add_argument("--date", type=_date, default=None)
    roster = isub.add_parser("hr-roster", help="an HR roster snapshot CSV")
    roster.add_argument("--file", required=True)
    roster.add_argument("--as-of", type=_date, default=None)

    refresh = sub.add_parser("refresh", help="recompute materialised metrics")
    refresh.add_argument("--full", action="store_true", help="rebuild everything")
    refresh.add_argument(
        "--recount-messages", action="store_true",
        help="rebuild everything and recount message-derived activity from the stored "
             "messages (a repair: ingest keeps it exact; a zone change recounts by itself)",
    )

    metrics = sub.add_parser("metrics", help="print a metric")
    metrics.add_argument("metric", help="metric name, or `list`")
    metrics.add_argument("--by", default="all", help="HR attribute to break down by, or `all`")
    metrics.add_argument("--start", type=_date, default=None)
    metrics.add_argument("--end", type=_date, default=None)
    metrics.add_argument("--grain", choices=["day", "week", "month"], default=None)
    metrics.add_argument("--format", choices=["table", "csv", "json"], default="table")

    serve = sub.add_parser("serve", help="serve the dashboard (no scheduler inside)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)

    sub.add_parser("scheduler", help="run the ingest scheduler in this process")

    forget = sub.add_parser("forget", help="erase one person everywhere (right to erasure)")
    forget.add_argument("email")

    report = sub.add_parser("report", help="write a report")
    rsub = report.add_subparsers(dest="report", required=True, parser_class=_Parser)
    monthly = rsub.add_parser("monthly", help="the executive summary of one month")
    monthly.add_argument("--month", type=_month, required=True)
    monthly.add_argument("--out", required=True, help="FILE.html or FILE.pdf")
    return parser


def _engine(settings: Any, require: bool = True) -> Any:
    from store.engine import make_engine
    from store.migrate import require_current

    engine = make_engine(settings.database.url, echo=settings.database.echo)
    if require:
        require_current(engine)
    return engine


def cmd_init(settings: Any, args: argparse.Namespace) -> int:
    from store.migrate import upgrade

    before, after = upgrade(_engine(settings, require=False))
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    print(f"store {state} migration {after}")
    return 0


def cmd_demo(settings: Any, args: argparse.Namespace) -> int:
    from demo.run import run_demo

    run_demo(
        settings,
        members=args.members or settings.demo.members,
        days=args.days or settings.demo.days,
        seed=settings.demo.seed if args.seed is None else args.seed,
        out=args.out or settings.demo.out,
        ingest=not args.no_ingest,
        if_empty=args.if_empty,
    )
    return 0


def cmd_ingest(settings: Any, args: argparse.Namespace) -> int:
    from ingest.registry import make_source
    from ingest.runner import run_source

    engine = _engine(settings)
    source = make_source(settings, args.source, vars(args))
    results = run_source(engine, settings, source)
    for r in results:
        print(
            f"{r.source} {r.target}: read {r.rows_read:,}, wrote {r.rows_written:,}, "
            f"skipped {r.rows_skipped:,} in {r.duration_s:.1f}s"
        )
        for warning in r.warnings:
            print(f"  warning: {warning}", file=sys.stderr)
    if not results:
        print(f"{source.name}: nothing to ingest (up to date)")
    return 0


def cmd_refresh(settings: Any, args: argparse.Namespace) -> int:
    from metrics.refresh import refresh

    summary = refresh(_engine(settings), settings, full=args.full,
                      recount=args.recount_messages)
    print(summary)
    return 0


def cmd_metrics(settings: Any, args: argparse.Namespace) -> int:
    from metrics.cli import print_catalogue, run_metric_command

    if args.metric == "list":  # the declarations: no store needed
        return print_catalogue(args.format, sys.stdout)
    return run_metric_command(_engine(settings), settings, args, sys.stdout)


def cmd_serve(settings: Any, args: argparse.Namespace) -> int:
    from dashboards.server import serve

    serve(settings, host=args.host, port=args.port)
    return 0


def cmd_scheduler(settings: Any, args: argparse.Namespace) -> int:
    from ingest.scheduler import run_scheduler

    run_scheduler(settings, _engine(settings))
    return 0


def cmd_forget(settings: Any, args: argparse.Namespace) -> int:
    from store.erase import forget
    from store.identity import Identity

    identity = Identity(settings.hash_key(), settings.privacy.pseudonymise)
    removed = forget(_engine(settings), identity, args.email)
    print(f"erased one person: {removed} rows removed; the erasure is recorded (without the email)")
    return 0


def cmd_report(settings: Any, args: argparse.Namespace) -> int:
    from dashboards.report import write_monthly_report

    path = write_monthly_report(_engine(settings), settings, args.month, args.out)
    print(f"wrote {path}")
    return 0


COMMANDS: dict[str, Callable[[Any, argparse.Namespace], int]] = {
    "init": cmd_init,
    "demo": cmd_demo,
    "ingest": cmd_ingest,
    "refresh": cmd_refresh,
    "metrics": cmd_metrics,
    "serve": cmd_serve,
    "scheduler": cmd_scheduler,
    "forget": cmd_forget,
    "report": cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one CLI command; expected failures print one line and exit 2, never a traceback."""
    from settings import load_settings

    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        return COMMANDS[args.command](settings, args)
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"uptake: config: {problem}\n")
        return EXIT_BAD_INPUT
    except UptakeError as exc:
        sys.stderr.write(f"uptake: error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("uptake: interrupted; nothing half-written was committed\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the edge: one line, not a traceback
        if os.environ.get("UPTAKE_DEBUG"):
            raise
        sys.stderr.write(f"uptake: internal error: {exc.__class__.__name__}: {exc}\n")
        return 1


def create_app(settings: Any) -> Any:
    """The Dash app (for gunicorn: `gunicorn 'app:server()'`)."""
    from dashboards.server import create_dash_app

    return create_dash_app(settings)


def server() -> Any:
    """The Flask server of the Dash app, configured from ./config.yaml (gunicorn entry point)."""
    from settings import load_settings

    return create_app(load_settings(os.environ.get("UPTAKE_CONFIG"))).server


if __name__ == "__main__":
    sys.exit(main())
