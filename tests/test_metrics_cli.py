"""`uptake metrics …` through the real entry point: formats, exit statuses, one-line errors."""

from __future__ import annotations

import csv
import io
import json

import pytest

import app
from store.engine import make_engine
from store.migrate import alembic_config
from tests import engagement_org as org
from tests.conftest import BACKENDS, TEST_HASH_KEY

RANGE = ["--start", "2025-03-28", "--end", "2025-03-31"]


@pytest.fixture
def config(engine, settings, database_url, tmp_path, monkeypatch):
    """A minimal config (database, timezone, k) over the London organisation."""
    settings.timezone = org.ZONE
    org.build(engine, settings, tmp_path / "org")
    monkeypatch.setenv("UPTAKE_HASH_KEY", TEST_HASH_KEY)
    return write_config(tmp_path, database_url, k=5)


def write_config(tmp_path, url: str, k: int):
    path = tmp_path / f"cli-{k}.yaml"
    path.write_text(
        f"database: {{url: '{url}'}}\ntimezone: {org.ZONE}\nprivacy: {{min_group_size: {k}}}\n"
    )
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        status = app.main(list(argv))
    except SystemExit as exc:  # argparse errors exit from the parser
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@BACKENDS
def test_csv_json_and_table(config, capsys):
    status, out, err = run(capsys, "--config", config, "metrics", "engagement", "--by",
                           "department", *RANGE, "--format", "csv")
    assert (status, out, err) == (0, org.EXPECTED_DEPARTMENT_CSV, "")
    status, out, _ = run(capsys, "--config", config, "metrics", "engagement", *RANGE,
                         "--format", "json")
    rows = json.loads(out)
    assert rows[2] == {"day": "2025-03-30", "group": "All", "members": 15, "engaged": 4,
                       "active": 5, "engaged_share": 0.2667, "suppressed": False}
    status, out, _ = run(capsys, "--config", config, "metrics", "engagement", *RANGE)
    lines = out.splitlines()
    assert lines[0].split() == ["day", "group", "members", "engaged", "active", "engaged_share",
                                "suppressed"]
    assert lines[3].split() == ["2025-03-30", "All", "15", "4", "5", "0.2667", "false"]


@BACKENDS
def test_every_group_below_k_is_shown_suppressed(config, tmp_path, database_url, capsys):
    strict = write_config(tmp_path, database_url, k=11)
    status, out, _ = run(capsys, "--config", strict, "metrics", "engagement", "--by",
                         "department", *RANGE, "--format", "csv")
    assert status == 0
    rows = out.splitlines()[1:]
    assert len(rows) == 8 and all(r.endswith(",,,,true") for r in rows)
    assert rows[0] == "2025-03-28,Ops,6,,,,true"


@BACKENDS
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["metrics", "engagement", "--by", "team"], "unknown attribute 'team'"),
        (["metrics", "happiness"], "unknown metric 'happiness'"),
        (["metrics", "engagement", "--start", "2025-03-31", "--end", "2025-03-28"],
         "before start"),
        (["metrics", "engagement", "--start", "31/03/2025"], "not a date"),
        (["metrics", "engagement", "--grain", "hour"], "invalid choice"),
        (["metrics", "listening", "--grain", "day"], "no 'day' grain"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(config, capsys, argv, message):
    status, out, err = run(capsys, "--config", config, *argv)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


@BACKENDS
def test_a_range_without_data_is_empty_and_explained(config, capsys):
    status, out, err = run(capsys, "--config", config, "metrics", "engagement", "--start",
                           "2026-01-01", "--end", "2026-01-31", "--format", "csv")
    assert status == 0
    assert out == "day,group,members,engaged,active,engaged_share,suppressed\n"
    assert "no rows between 2026-01-01 and 2026-01-31; data covers 2025-01-10 to 2025-03-31" in err


@BACKENDS
def test_uninitialised_and_old_stores_are_refused(database_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UPTAKE_HASH_KEY", TEST_HASH_KEY)
    config = write_config(tmp_path, database_url, k=5)
    status, _, err = run(capsys, "--config", config, "metrics", "engagement")
    assert status == 2 and "not initialised: run `uptake init`" in err
    from alembic import command

    engine = make_engine(database_url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    status, _, err = run(capsys, "--config", config, "metrics", "engagement")
    assert status == 2 and "is on migration 0001" in err and len(err.splitlines()) == 1


@BACKENDS
def test_metrics_list_names_every_metric_with_its_definition(config, capsys):
    status, out, _ = run(capsys, "--config", config, "metrics", "list", "--format", "json")
    listed = {m["name"]: m for m in json.loads(out)}
    assert status == 0
    assert {"engagement", "wau", "mau", "stickiness", "trends"} <= set(listed)
    assert listed["engagement"]["grains"] == "day,week,month"
    assert "divided by members" in listed["engagement"]["definition"]


def test_metrics_list_needs_no_store(tmp_path, capsys):
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'never-initialised.db'}", k=5)
    status, out, err = run(capsys, "--config", config, "metrics", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and err == ""
    assert "engagement" in {row["name"] for row in rows}
    status, _, err = run(capsys, "--config", config, "metrics", "engagement")
    assert status == 2 and "not initialised" in err  # a metric itself still needs the store


@BACKENDS
def test_every_catalogued_metric_prints_and_withholds_small_groups(config, capsys):
    from metrics import catalog
    from metrics.materialise import implementation

    for metric in catalog.all_metrics():
        for by in ("all", "department"):
            status, out, err = run(capsys, "--config", config, "metrics", metric.name, "--by", by,
                                   "--format", "json")
            assert status == 0, (metric.name, err)
            rows = json.loads(out)
            if metric.name in ("engagement", "wau", "mau", "stickiness", "trends"):
                size = "members"
            else:
                size = implementation(metric.name)[1]["size"]
            for row in rows:
                if row.get(size) is not None and row[size] < 5:
                    assert row["suppressed"] is True, (metric.name, row)


def test_the_readme_lists_every_metric_as_declared():
    from pathlib import Path

    from metrics import catalog

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    listed = readme.split("<!-- metrics:start")[1].split("-->", 1)[1].split("<!-- metrics:end")[0]
    assert listed.strip() == catalog.markdown().strip()
    assert all(f"**`{m.name}`**" in listed for m in catalog.all_metrics())


@BACKENDS
def test_counts_print_as_whole_numbers_in_every_metric(config, capsys):
    from metrics import catalog

    counts = {"members", "min_members", "engaged", "active", "workforce", "wau", "mau", "people",
              "threads", "replies", "answered", "replied", "authors", "known", "cross", "new",
              "returning", "resurrected", "dormant", "offset", "starters", "repliers", "reactors",
              "readers", "inactive", "observers", "responders", "broadcasters", "catalysts",
              "engagers"}
    for metric in catalog.all_metrics():
        status, out, _ = run(capsys, "--config", config, "metrics", metric.name, "--format", "csv")
        assert status == 0
        rows = list(csv.DictReader(io.StringIO(out)))
        for row in rows:
            for column, value in row.items():
                if column in counts and value:
                    assert value.isdigit(), (metric.name, column, value)
