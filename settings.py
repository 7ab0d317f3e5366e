"""Typed settings: the only reader of config.yaml and of UPTAKE_* environment variables."""

from __future__ import annotations

import os
import secrets as _secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from errors import ConfigError

ENV_PREFIX = "UPTAKE_"


class Section(BaseModel):
    """A strict block of settings: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatabaseSettings(Section):
    url: str = Field(
        "sqlite:///data/uptake.db",
        description="SQLAlchemy URL of the store; SQLite (embedded) or postgresql+psycopg://…",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")


class PrivacySettings(Section):
    min_group_size: int = Field(
        5, ge=3, description="Minimum group size k: smaller groups are suppressed (never below 3)."
    )
    pseudonymise: bool = Field(
        True, description="Store people as keyed hashes only; no raw email or name is kept."
    )
    hash_key_env: str = Field(
        "UPTAKE_HASH_KEY", description="Environment variable holding the pseudonymisation key."
    )
    hash_key_file: str = Field(
        "data/hash.key",
        description="Key file created once (mode 0600) when the environment variable is unset.",
    )
    retention_days: int | None = Field(
        None, ge=28, description="Purge raw messages older than this many days (None keeps all)."
    )


class HttpSettings(Section):
    timeout_s: float = Field(30.0, gt=0, description="Timeout of every HTTP request, seconds.")
    max_retries: int = Field(5, ge=0, description="Retries on 429, 5xx and connection errors.")
    backoff_s: float = Field(1.0, ge=0, description="First backoff wait; doubles each retry.")
    max_wait_s: float = Field(
        120.0, gt=0, description="Cap on any single wait, including a server's Retry-After."
    )


class YammerExportSettings(Section):
    enabled: bool = Field(True, description="Pull the Network Data Export on schedule.")
    base_url: str = Field("https://www.yammer.com", description="Export API host.")
    token_env: str = Field(
        "UPTAKE_YAMMER_TOKEN", description="Environment variable with a verified admin's token."
    )
    schedule: str = Field("15 2 * * *", description="Cron schedule (UTC) of the scheduled pull.")
    start: str | None = Field(
        None, description="First day (YYYY-MM-DD) to pull when no cursor is stored yet."
    )
    download_dir: str = Field("data/exports", description="Where downloaded ZIPs are kept.")
    keep_downloads: bool = Field(False, description="Keep ZIPs after a successful ingest.")


class GraphSettings(Section):
    enabled: bool = Field(True, description="Pull getYammerActivityUserDetail on schedule.")
    base_url: str = Field("https://graph.microsoft.com/v1.0", description="Graph API root.")
    token_env: str = Field(
        "UPTAKE_GRAPH_TOKEN", description="Environment variable with a Graph bearer token."
    )
    tenant_id: str | None = Field(
        None, description="Entra tenant for client-credential tokens (instead of token_env)."
    )
    client_id: str | None = Field(None, description="Entra app (client) id.")
    client_secret_env: str = Field(
        "UPTAKE_GRAPH_CLIENT_SECRET", description="Environment variable with the client secret."
    )
    login_url: str = Field(
        "https://login.microsoftonline.com", description="Entra token endpoint host."
    )
    schedule: str = Field("30 6 * * *", description="Cron schedule (UTC) of the daily pull.")
    lookback_days: int = Field(
        27, ge=1, le=28, description="Days the report API still keeps; older days are lost."
    )


class RosterSettings(Section):
    enabled: bool = Field(False, description="Ingest the roster file on schedule.")
    file: str | None = Field(None, description="Roster CSV dropped by HR (for the scheduler).")
    schedule: str = Field("0 5 * * *", description="Cron schedule (UTC) of the roster ingest.")
    columns: dict[str, str] = Field(
        default_factory=lambda: {
            "email": "email",
            "department": "department",
            "region": "region",
            "country": "country",
            "manager_email": "manager_email",
            "hire_date": "hire_date",
            "termination_date": "termination_date",
        },
        description=(
            "Roster attribute → CSV column name; extra entries become attributes "
            "(names not starting with ~)."
        ),
    )

    @field_validator("columns")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(name for name in value if name.startswith("~"))
        if reserved:  # store/roster.py marks absences with such a name
            raise ValueError(f"attribute names cannot start with '~': {', '.join(reserved)}")
        return value


class SourcesSettings(Section):
    yammer_export: YammerExportSettings = Field(
        default_factory=YammerExportSettings, description="Viva Engage network data export."
    )
    graph_yammer_activity: GraphSettings = Field(
        default_factory=GraphSettings, description="Microsoft Graph Yammer activity reports."
    )
    hr_roster: RosterSettings = Field(
        default_factory=RosterSettings, description="HR roster snapshots."
    )


class SchedulerSettings(Section):
    misfire_grace_time_s: int = Field(
        3600, ge=1, description="A job that missed its time still runs within this many seconds."
    )
    lock_ttl_s: int = Field(
        6 * 3600, ge=60, description="A job lock older than this is considered abandoned."
    )
    refresh_after_ingest: bool = Field(True, description="Run `refresh` after each ingest job.")


class MetricsSettings(Section):
    target_engaged_share: float = Field(
        0.5, gt=0, le=1, description="Target daily engaged share drawn on the trend charts."
    )


class DashboardSettings(Section):
    host: str = Field("127.0.0.1", description="Address the dashboard binds to.")
    port: int = Field(8050, ge=1, le=65535, description="Port the dashboard listens on.")
    debug: bool = Field(False, description="Dash debug mode (development only).")
    secret_key_env: str = Field(
        "UPTAKE_SECRET_KEY", description="Environment variable with the Flask secret key."
    )


class AuthSettings(Section):
    mode: Literal["none", "basic", "header"] = Field(
        "none", description="none (127.0.0.1 only), basic (users file) or header (reverse proxy)."
    )
    users_file: str | None = Field(
        None, description="Basic auth: file of `user:role:salt:hash` lines (see README)."
    )
    header: str = Field("X-Forwarded-User", description="Header mode: identity header name.")
    role_header: str = Field("X-Forwarded-Role", description="Header mode: role header name.")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="Header mode: proxy addresses whose headers we trust."
    )
    allow_unauthenticated_remote: bool = Field(
        False, description="Allow mode none on a non-loopback address (not recommended)."
    )


class DemoSettings(Section):
    members: int = Field(6800, ge=10, description="Members of the demo organisation.")
    days: int = Field(365, ge=7, description="Days of demo activity from launch.")
    seed: int = Field(42, description="Random seed; the same seed gives the same organisation.")
    out: str = Field("data/demo", description="Where the demo export files are written.")
    end: str | None = Field(
        None, description="Last demo day (YYYY-MM-DD); None means yesterday (UTC)."
    )


class Settings(Section):
    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings, description="The SQL store."
    )
    timezone: str = Field("UTC", description="IANA time zone that defines a calendar day.")
    privacy: PrivacySettings = Field(
        default_factory=PrivacySettings, description="Pseudonymisation and suppression."
    )
    http: HttpSettings = Field(default_factory=HttpSettings, description="HTTP client behaviour.")
    sources: SourcesSettings = Field(
        default_factory=SourcesSettings, description="Ingest sources."
    )
    scheduler: SchedulerSettings = Field(
        default_factory=SchedulerSettings, description="The ingest scheduler."
    )
    metrics: MetricsSettings = Field(
        default_factory=MetricsSettings, description="Metric targets."
    )
    dashboard: DashboardSettings = Field(
        default_factory=DashboardSettings, description="The web dashboard."
    )
    auth: AuthSettings = Field(default_factory=AuthSettings, description="Access control.")
    demo: DemoSettings = Field(default_factory=DemoSettings, description="Demo organisation.")

    _environ: dict[str, str] = {}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    def secret(self, env_name: str) -> str | None:
        """Return the secret held by environment variable `env_name`, or None."""
        value = self._environ.get(env_name)
        return value or None

    def hash_key(self) -> bytes:
        """Return the pseudonymisation key, creating the key file once when none is supplied."""
        supplied = self.secret(self.privacy.hash_key_env)
        if supplied:
            return supplied.encode()
        path = Path(self.privacy.hash_key_file)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(_secrets.token_hex(32))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        return path.read_text().strip().encode()


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    """Overlay UPTAKE_SECTION_KEY / UPTAKE_SECTION__SUB__KEY variables onto the raw config."""
    sections = {name for name, f in Settings.model_fields.items() if _is_section(f.annotation)}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        if "__" in rest:
            path = rest.split("__")
        elif rest in Settings.model_fields and rest not in sections:
            path = [rest]
        else:
            head, _, tail = rest.partition("_")
            if head not in sections or not tail:
                continue  # a secret or another tool's variable, not a setting
            model = Settings.model_fields[head].annotation
            if tail not in model.model_fields:  # type: ignore[union-attr]
                continue
            path = [head, tail]
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[path[-1]] = yaml.safe_load(value) if value.strip() else value


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _problems(error: ValidationError) -> list[str]:
    out = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "value_error":  # our validators' own words, without pydantic's prefix
            message = message.removeprefix("Value error, ")
        out.append(f"{path}: {message}")
    return out


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load and validate config.yaml (default ./config.yaml) plus UPTAKE_* overrides."""
    environ = dict(os.environ if environ is None else environ)
    explicit = path is not None
    config_path = Path(path) if path is not None else Path("config.yaml")
    data: Any = {}
    if config_path.exists():
        try:
            data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problem = f"{config_path}: not valid YAML ({exc.__class__.__name__})"
            raise ConfigError([problem]) from None
        if not isinstance(data, dict):
            raise ConfigError([f"{config_path}: the top level must be a mapping"])
    elif explicit:
        raise ConfigError([f"{config_path}: file not found"])
    _apply_env(data, environ)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None
    settings._environ = environ
    return settings
