"""Settings: strict keys, every problem at once, environment overrides, secrets by name."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from errors import ConfigError
from settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def _fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}", field
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _fields(field.annotation, f"{prefix}{name}.")


def test_every_field_is_documented_and_shipped_config_loads():
    undocumented = [path for path, field in _fields(Settings) if not field.description]
    assert undocumented == []
    shipped = load_settings(ROOT / "config.yaml", environ={})
    assert shipped.database.url == "sqlite:///data/uptake.db"
    text = (ROOT / "config.yaml").read_text()
    for path, _ in _fields(Settings):
        assert f"{path.split('.')[-1]}:" in text, f"{path} missing from config.yaml"


def test_minimal_config_is_valid(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "database: {url: 'sqlite:///x.db'}\ntimezone: Europe/London\nprivacy: {min_group_size: 7}\n"
    )
    s = load_settings(cfg, environ={})
    assert (s.database.url, s.timezone, s.privacy.min_group_size) == (
        "sqlite:///x.db", "Europe/London", 7)
    assert s.privacy.pseudonymise is True and s.dashboard.port == 8050


def test_every_problem_reported_with_dotted_path(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "timezone: Mars/Olympus\nprivacy: {min_group_size: 2, colour: red}\n"
        "dashboard: {port: many}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    problems = err.value.problems
    assert any(p.startswith("timezone:") and "Mars/Olympus" in p for p in problems)
    assert any(p.startswith("privacy.min_group_size:") for p in problems)
    assert "privacy.colour: unknown key" in problems
    assert any(p.startswith("dashboard.port:") for p in problems)
    assert len(problems) == 4


def test_a_roster_attribute_name_cannot_take_the_absence_mark(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources: {hr_roster: {columns: {email: mail, '~absent': gone}}}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert err.value.problems == [
        "sources.hr_roster.columns: attribute names cannot start with '~': ~absent"]


def test_environment_overrides():
    environ = {
        "UPTAKE_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "UPTAKE_TIMEZONE": "Europe/Paris",
        "UPTAKE_PRIVACY__MIN_GROUP_SIZE": "9",
        "UPTAKE_SOURCES__GRAPH_YAMMER_ACTIVITY__LOOKBACK_DAYS": "20",
        "UPTAKE_HASH_KEY": "not-a-setting",
        "UPTAKE_TEST_POSTGRES_URL": "ignored",
    }
    s = load_settings(None, environ=environ)
    assert s.database.url == "postgresql+psycopg://u@h/db"
    assert s.timezone == "Europe/Paris"
    assert s.privacy.min_group_size == 9
    assert s.sources.graph_yammer_activity.lookback_days == 20
    assert s.secret("UPTAKE_HASH_KEY") == "not-a-setting"


def test_bad_override_is_a_config_error():
    with pytest.raises(ConfigError, match="privacy.min_group_size"):
        load_settings(None, environ={"UPTAKE_PRIVACY__MIN_GROUP_SIZE": "1"})


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_hash_key_file_created_once_with_mode_0600(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"privacy: {{hash_key_file: '{tmp_path / 'k' / 'hash.key'}'}}\n")
    s = load_settings(cfg, environ={})
    key = s.hash_key()
    path = tmp_path / "k" / "hash.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 64 and s.hash_key() == key
    assert load_settings(cfg, environ={"UPTAKE_HASH_KEY": "abc"}).hash_key() == b"abc"


def test_cli_bad_config_exits_2_with_every_problem(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("timezone: Nowhere/Land\nbogus: 1\n")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--config", str(cfg), "init"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in proc.stderr
    assert any("timezone:" in line for line in lines)
    assert any("bogus: unknown key" in line for line in lines)
