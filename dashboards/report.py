"""The monthly executive report as one self-contained HTML file (charts inlined), or a PDF."""

from __future__ import annotations

import datetime as dt
import html
import shutil
import subprocess
import tempfile
from pathlib import Path

import plotly.io as pio
from sqlalchemy import Engine

from dashboards._monthly import Kpi, MonthlySummary, build_summary
from errors import UptakeError
from settings import Settings

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
PDF_TIMEOUT_S = 120
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529;
       margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { margin: 0; font-size: 28px; } h2 { font-size: 18px; margin: 24px 0 8px; }
.meta { color: #6c757d; font-size: 13px; margin: 4px 0 16px; }
.sentences { background: #e7f1ff; border-radius: 6px; padding: 12px 16px 12px 32px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
.kpi { border: 1px solid #dee2e6; border-radius: 6px; padding: 10px 12px; break-inside: avoid; }
.kpi .label { color: #6c757d; font-size: 13px; } .kpi .value { font-size: 26px; font-weight: 600; }
.kpi .delta { font-size: 13px; }
.movers { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.chart { border: 1px solid #dee2e6; border-radius: 6px; padding: 8px; break-inside: avoid; }
dl { font-size: 12px; color: #495057; } dt { font-weight: 600; margin-top: 6px; }
footer { margin-top: 24px; font-size: 12px; color: #6c757d; }
@page { size: A4 landscape; margin: 12mm; }
"""


def write_monthly_report(engine: Engine, settings: Settings, month: str, out: str) -> Path:
    """Write the executive summary of `month` ('YYYY-MM') to FILE.html or FILE.pdf."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise UptakeError(f"{out}: the report is written as .html or .pdf")
    summary = build_summary(engine, settings, month)
    document = render_html(summary, settings.privacy.min_group_size, dt.date.today())
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".pdf":
        print_pdf(document, path)
    else:
        path.write_text(document, encoding="utf-8")
    return path


def render_html(summary: MonthlySummary, k: int, today: dt.date) -> str:
    """The report as one HTML document that needs no network to open."""
    e = html.escape
    charts = []
    for number, (title, key) in enumerate((("Daily engaged share", "daily"),
                                           ("Engaged share by month", "monthly"))):
        div = pio.to_html(summary.figures[key], full_html=False,
                          include_plotlyjs=number == 0, config={"displayModeBar": False},
                          default_height=300, div_id=f"chart-{key}")
        charts.append(f'<div class="chart"><h2>{e(title)}</h2>{div}</div>')
    definitions = {kpi.label: kpi.definition for kpi in [*summary.kpis, *summary.listening]}
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Uptake — executive summary, {e(summary.label)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<header><h1>Executive summary — {e(summary.label)}</h1>",
        f'<p class="meta">Generated {today.isoformat()} by Uptake. Groups with fewer than {k} '
        "people are hidden; no individual is shown.</p></header>",
        '<ul class="sentences">' + "".join(f"<li>{e(s)}</li>" for s in summary.sentences)
        + "</ul>",
        "<h2>Headline figures</h2>",
        '<div class="grid">' + "".join(_kpi(kpi) for kpi in summary.kpis) + "</div>",
        '<div class="movers">',
        _movers("Rising departments", summary, rising=True, k=k),
        _movers("Falling departments", summary, rising=False, k=k),
        "</div>",
        "<h2>Listening</h2>",
        '<div class="grid">' + "".join(_kpi(kpi) for kpi in summary.listening) + "</div>",
        '<div class="charts">' + "".join(charts) + "</div>",
        "<h2>Definitions</h2><dl>"
        + "".join(f"<dt>{e(label)}</dt><dd>{e(text)}</dd>" for label, text in definitions.items())
        + "</dl>",
        "<footer>Uptake counts activity per person per day and reports only groups; message "
        "text is never stored.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _kpi(kpi: Kpi) -> str:
    e = html.escape
    return (
        f'<div class="kpi"><div class="label">{e(kpi.label)}</div>'
        f'<div class="value">{e(kpi.show())}</div>'
        f'<div class="delta">{e(kpi.delta(kpi.previous))} on the previous month</div>'
        f'<div class="delta">{e(kpi.delta(kpi.year_ago))} on a year earlier</div></div>'
    )


def _movers(title: str, summary: MonthlySummary, rising: bool, k: int) -> str:
    frame = summary.rising if rising else summary.falling
    e = html.escape
    if frame.empty:
        body = f"<p>None (departments under {k} people are hidden).</p>"
    else:
        body = "<ol>" + "".join(
            f"<li>{e(str(r.group))}: {r.engaged_share:.0%} ({r.change * 100:+.1f} points)</li>"
            for r in frame.itertuples(index=False)
        ) + "</ol>"
    return f"<div><h2>{e(title)}</h2>{body}</div>"


def find_chromium() -> str | None:
    """The Chromium executable, if one is installed."""
    for name in CHROMIUM:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


def print_pdf(document: str, path: Path) -> None:
    """Print the HTML report to PDF with headless Chromium (network off, charts drawn first)."""
    chromium = find_chromium()
    if chromium is None:
        raise UptakeError(f"{path}: writing a PDF needs Chromium (apt-get install chromium); "
                          "write .html instead")
    with tempfile.TemporaryDirectory(prefix="uptake-report-") as folder:
        source = Path(folder) / "report.html"
        source.write_text(document, encoding="utf-8")
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--no-pdf-header-footer",
            f"--user-data-dir={Path(folder) / 'profile'}", "--virtual-time-budget=10000",
            f"--print-to-pdf={path.resolve()}", source.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PDF_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise UptakeError(f"{path}: Chromium did not finish within {PDF_TIMEOUT_S}s") from None
    if done.returncode != 0 or not path.exists() or path.stat().st_size == 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UptakeError(f"{path}: Chromium could not print the report ({reason})")
