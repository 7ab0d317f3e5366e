"""Access control: roles, password hashes, the three modes, and enforcement on the server."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dashboards import auth
from dashboards.auth import Authenticator, Denied, User, role_allows, user_line
from dashboards.server import create_dash_app, serve
from errors import ConfigError
from settings import Settings
from tests.dash_client import call

PASSWORDS = {"erin": "exec-pass-1", "hana": "hr-pass-22", "cole": "comms-pass-3",
             "ada": "admin-pass-4"}
ROLES = {"erin": "executive", "hana": "hr", "cole": "comms", "ada": "admin"}


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer PBKDF2 rounds keep the tests quick; the algorithm is unchanged."""
    monkeypatch.setattr(auth, "ITERATIONS", 1_000)


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.txt"
    lines = ["# user:role:salt:hash", ""]
    lines += [user_line(name, ROLES[name], password) for name, password in PASSWORDS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def basic(name: str, password: str | None = None) -> dict[str, str]:
    token = f"{name}:{password or PASSWORDS[name]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(token).decode()}


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        ("executive", "executive", True), ("executive", "hr", False),
        ("hr", "executive", True), ("hr", "hr", True), ("hr", "comms", False),
        ("comms", "hr", True), ("comms", "admin", False), ("admin", "comms", True),
        ("admin", "admin", True), ("root", "executive", False), ("admin", "owner", False),
    ],
)
def test_roles_nest(role: str, required: str, allowed: bool) -> None:
    assert role_allows(role, required) is allowed


def test_user_line_verifies_only_its_own_password() -> None:
    name, role, salt, digest = user_line("alice", "hr", "correct horse").split(":")
    record = auth.UserRecord(name, role, salt, digest)
    assert (name, role, len(salt), len(digest)) == ("alice", "hr", 32, 64)
    assert auth.verify_password(record, "correct horse")
    assert not auth.verify_password(record, "correct horsf")
    assert user_line("alice", "hr", "correct horse").split(":")[2] != salt  # a fresh salt


def test_users_file_problems_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    good = user_line("ok", "hr", "password1")
    path.write_text(f"{good}\nbad:line\nzed:owner:00:00\nxy:hr:nothex:00\n")
    with pytest.raises(ConfigError) as caught:
        auth.read_users_file(path)
    assert caught.value.problems == [
        f"auth.users_file: {path}:2: expected user:role:salt:hash",
        f"auth.users_file: {path}:3: unknown role 'owner'",
        f"auth.users_file: {path}:4: salt and hash must be hex",
    ]


def test_hash_password_command_prints_a_working_line(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert auth.main(["hash-password", "bob", "comms", "--password-stdin"]) == 0
    name, role, salt, digest = capsys.readouterr().out.strip().split(":")
    assert (name, role) == ("bob", "comms")
    assert auth.verify_password(auth.UserRecord(name, role, salt, digest), "s3cret-pass")


def test_short_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert auth.main(["hash-password", "bob", "comms", "--password-stdin"]) == 2


def test_mode_none_refuses_a_public_address(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="only allowed on 127.0.0.1/localhost"):
        auth.check_binding(settings, "0.0.0.0")
    auth.check_binding(settings, "127.0.0.1")
    auth.check_binding(settings, "localhost")
    settings.auth.allow_unauthenticated_remote = True
    auth.check_binding(settings, "0.0.0.0")


def test_serve_refuses_a_public_address_before_starting(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="auth.mode"):
        serve(settings, host="0.0.0.0", port=1)


def test_mode_none_serves_local_clients_only(settings: Settings) -> None:
    authenticator = Authenticator(settings)
    assert authenticator.identify("127.0.0.1", {}) == User("local", "admin")
    assert authenticator.identify("10.1.2.3", {}) == Denied(
        403, "unauthenticated access is only allowed from this machine"
    )


def test_basic_mode(settings: Settings, users_file: Path) -> None:
    settings.auth.mode = "basic"
    settings.auth.users_file = str(users_file)
    authenticator = Authenticator(settings)
    assert authenticator.identify("10.0.0.9", basic("hana")) == User("hana", "hr")
    assert authenticator.identify("10.0.0.9", basic("hana")) == User("hana", "hr")  # cached
    assert authenticator.identify("10.0.0.9", basic("hana", "wrong")).status == 401
    assert authenticator.identify("10.0.0.9", basic("nobody", "x")).status == 401
    assert authenticator.identify("10.0.0.9", {}).status == 401
    assert authenticator.identify("10.0.0.9", {"Authorization": "Basic !!"}).status == 401
    users_file.write_text(user_line("erin", "executive", PASSWORDS["erin"]) + "\n# hana left\n")
    assert authenticator.identify("10.0.0.9", basic("hana")).status == 401  # removed at once
    assert authenticator.identify("10.0.0.9", basic("erin")) == User("erin", "executive")


def test_basic_mode_needs_a_users_file(settings: Settings) -> None:
    settings.auth.mode = "basic"
    with pytest.raises(ConfigError, match="auth.users_file: required"):
        auth.check_binding(settings, "127.0.0.1")


def test_header_mode_trusts_only_the_proxy(settings: Settings) -> None:
    settings.auth.mode = "header"
    settings.auth.trusted_proxies = ["10.8.0.0/24", "::1"]
    authenticator = Authenticator(settings)
    headers = {"X-Forwarded-User": "kim", "X-Forwarded-Role": "hr, comms"}
    assert authenticator.identify("10.8.0.5", headers) == User("kim", "comms")
    assert authenticator.identify("::1", headers) == User("kim", "comms")
    assert authenticator.identify("10.9.0.5", headers) == Denied(
        403, "requests must come through the trusted proxy"
    )
    assert authenticator.identify("10.8.0.5", {"X-Forwarded-Role": "hr"}).status == 401
    assert authenticator.identify(
        "10.8.0.5", {"X-Forwarded-User": "kim", "X-Forwarded-Role": "owner"}
    ).status == 403


def test_header_mode_rejects_a_bad_proxy_entry(settings: Settings) -> None:
    settings.auth.mode = "header"
    settings.auth.trusted_proxies = ["not-an-address"]
    with pytest.raises(ConfigError, match="auth.trusted_proxies"):
        Authenticator(settings)


@pytest.fixture
def basic_app(settings: Settings, engine: Engine, users_file: Path):  # type: ignore[no-untyped-def]
    settings.auth.mode = "basic"
    settings.auth.users_file = str(users_file)
    return create_dash_app(settings, engine)


@pytest.mark.parametrize(
    ("user", "path", "status"),
    [
        ("erin", "/executive", 200), ("erin", "/about", 200), ("erin", "/departments", 403),
        ("erin", "/regions", 403), ("erin", "/listening", 403), ("erin", "/health", 403),
        ("hana", "/departments", 200), ("hana", "/regions/", 200), ("hana", "/listening", 403),
        ("cole", "/", 200), ("cole", "/collaboration", 200), ("cole", "/health", 403),
        ("ada", "/health", 200), ("ada", "/", 200),
    ],
)
def test_pages_are_enforced_on_the_server(basic_app, user: str, path: str, status: int) -> None:
    response = basic_app.server.test_client().get(path, headers=basic(user))
    assert response.status_code == status
    if status == 403:
        assert f"the {ROLES[user]} role cannot open this page" in response.get_data(as_text=True)


def test_home_sends_a_user_to_their_first_page(basic_app) -> None:
    client = basic_app.server.test_client()
    assert client.get("/", headers=basic("erin")).headers["Location"] == "/executive"
    assert client.get("/", headers=basic("hana")).headers["Location"] == "/departments"
    assert client.get("/").status_code == 401
    assert client.get("/").headers["WWW-Authenticate"].startswith("Basic")


def test_callbacks_are_enforced_on_the_server(basic_app) -> None:
    client = basic_app.server.test_client()
    ok = call(client, "health-sources.children", headers=basic("ada"))
    assert ok.status_code == 200
    assert "health-sources" in ok.get_json()["response"]
    refused = call(client, "health-sources.children", headers=basic("cole"))
    assert refused.status_code == 403
    assert call(client, "app-freshness.children", {"_pages_location": "/"},
                headers=basic("erin")).status_code == 200


def test_the_page_router_is_enforced(basic_app) -> None:
    client = basic_app.server.test_client()
    route = {"_pages_location.pathname": "/health", "_pages_location.search": ""}
    assert call(client, "_pages_content.children", route, headers=basic("hana")).status_code == 403
    answer = call(client, "_pages_content.children", route, headers=basic("ada"))
    assert answer.status_code == 200
    assert "health-sources" in answer.get_data(as_text=True)


def test_navigation_lists_only_allowed_pages(basic_app) -> None:
    client = basic_app.server.test_client()
    executive = client.get("/_dash-layout", headers=basic("erin")).get_data(as_text=True)
    admin = client.get("/_dash-layout", headers=basic("ada")).get_data(as_text=True)
    assert "Executive summary" in executive and "About this data" in executive
    assert "Departments" not in executive and "Data health" not in executive
    assert "Departments" in admin and "Data health" in admin


def test_header_mode_through_the_app(settings: Settings, engine: Engine) -> None:
    settings.auth.mode = "header"
    settings.auth.trusted_proxies = ["10.8.0.1"]
    client = create_dash_app(settings, engine).server.test_client()
    headers = {"X-Forwarded-User": "kim", "X-Forwarded-Role": "hr"}
    proxy = {"REMOTE_ADDR": "10.8.0.1"}
    assert client.get("/departments", headers=headers, environ_base=proxy).status_code == 200
    assert client.get("/listening", headers=headers, environ_base=proxy).status_code == 403
    direct = client.get("/departments", headers=headers, environ_base={"REMOTE_ADDR": "10.8.0.2"})
    assert direct.status_code == 403


def test_secret_key_and_debug_come_from_settings(settings: Settings, engine: Engine) -> None:
    settings._environ = {**settings._environ, "UPTAKE_SECRET_KEY": "fixed-key-for-test"}
    app = create_dash_app(settings, engine)
    assert app.server.secret_key == "fixed-key-for-test"
    assert settings.dashboard.debug is False
    response = app.server.test_client().get("/about")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_random_secret_key_when_unset(settings: Settings, engine: Engine) -> None:
    first = create_dash_app(settings, engine).server.secret_key
    second = create_dash_app(settings, engine).server.secret_key
    assert first and second and first != second and len(first) == 64
