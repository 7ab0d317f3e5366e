"""Who is asking, and may they: the three auth modes, roles and the users file.

Roles nest: ``executive`` ⊂ ``hr`` ⊂ ``comms`` ⊂ ``admin``. Basic-auth passwords are stored as
``user:role:salt:hash`` lines (PBKDF2-SHA256, hex) and compared in constant time; create a line
with ``python -m dashboards.auth hash-password USER ROLE``.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import hmac
import ipaddress
import os
import secrets
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from errors import ConfigError
from settings import Settings

ROLES = ("executive", "hr", "comms", "admin")
ITERATIONS = 600_000
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class User:
    """An authenticated person and their role."""

    name: str
    role: str


@dataclass(frozen=True)
class Denied:
    """A refused request: 401 asks for credentials, 403 refuses outright."""

    status: int
    reason: str


@dataclass(frozen=True)
class UserRecord:
    """One line of the users file."""

    name: str
    role: str
    salt: str
    digest: str


def role_allows(role: str, required: str) -> bool:
    """True when `role` includes `required` (roles nest: executive ⊂ hr ⊂ comms ⊂ admin)."""
    if role not in ROLES or required not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(required)


def hash_password(password: str, salt: str | None = None) -> tuple[str, str]:
    """Return (salt, digest) in hex for `password`, with a new random salt unless given one."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), ITERATIONS)
    return salt, digest.hex()


def user_line(name: str, role: str, password: str) -> str:
    """A `user:role:salt:hash` line for the users file."""
    if not name or ":" in name:
        raise ValueError("a user name must be non-empty and contain no ':'")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    salt, digest = hash_password(password)
    return f"{name}:{role}:{salt}:{digest}"


def verify_password(record: UserRecord, password: str) -> bool:
    """Check `password` against a users-file record in constant time."""
    _, digest = hash_password(password, record.salt)
    return hmac.compare_digest(digest, record.digest)


def read_users_file(path: str | Path) -> dict[str, UserRecord]:
    """Parse a users file; blank lines and `#` comments are ignored."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"auth.users_file: cannot read {source} ({exc.strerror})"]) from None
    users: dict[str, UserRecord] = {}
    problems = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 4 or not all(parts):
            problems.append(f"auth.users_file: {source}:{number}: expected user:role:salt:hash")
            continue
        name, role, salt, digest = parts
        if role not in ROLES:
            problems.append(f"auth.users_file: {source}:{number}: unknown role {role!r}")
            continue
        try:
            bytes.fromhex(salt)
            bytes.fromhex(digest)
        except ValueError:
            problems.append(f"auth.users_file: {source}:{number}: salt and hash must be hex")
            continue
        users[name] = UserRecord(name, role, salt, digest)
    if problems:
        raise ConfigError(problems)
    return users


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    if not host:
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(settings: Settings, host: str) -> None:
    """Refuse to serve without authentication on a non-loopback address unless overridden."""
    auth = settings.auth
    if auth.mode == "none" and not is_loopback(host) and not auth.allow_unauthenticated_remote:
        raise ConfigError(
            [
                f"auth.mode: 'none' serves everyone as admin, so it is only allowed on "
                f"127.0.0.1/localhost (asked to bind {host}); choose basic or header, or set "
                "auth.allow_unauthenticated_remote"
            ]
        )
    if auth.mode == "basic" and not auth.users_file:
        raise ConfigError(["auth.users_file: required when auth.mode is basic"])
    if auth.mode == "header" and not auth.trusted_proxies:
        raise ConfigError(["auth.trusted_proxies: required when auth.mode is header"])


class Authenticator:
    """Turns a request's client address and headers into a User, or a Denied."""

    def __init__(self, settings: Settings):
        self.settings = settings.auth
        self._lock = threading.Lock()
        self._process_key = secrets.token_bytes(32)
        self._verified: dict[bytes, str] = {}
        self._users: dict[str, UserRecord] = {}
        self._users_stamp: tuple[float, int] | None = None
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in self._proxy_entries()]
        if self.settings.mode == "basic":
            self._load_users()

    def _proxy_entries(self) -> list[str]:
        try:
            for entry in self.settings.trusted_proxies:
                ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ConfigError([f"auth.trusted_proxies: {exc}"]) from None
        return list(self.settings.trusted_proxies)

    def _load_users(self) -> None:
        path = Path(self.settings.users_file or "")
        try:
            info = path.stat()
        except OSError:
            raise ConfigError([f"auth.users_file: {path} not found"]) from None
        stamp = (info.st_mtime, info.st_size)
        if stamp != self._users_stamp:
            self._users = read_users_file(path)
            self._verified.clear()  # a removed user or changed password takes effect at once
            self._users_stamp = stamp

    def identify(self, remote_addr: str | None, headers: Mapping[str, str]) -> User | Denied:
        """The user behind a request, or why they are refused."""
        mode = self.settings.mode
        if mode == "none":
            if is_loopback(remote_addr) or self.settings.allow_unauthenticated_remote:
                return User("local", "admin")
            return Denied(403, "unauthenticated access is only allowed from this machine")
        if mode == "basic":
            return self._basic(headers.get("Authorization", ""))
        return self._header(remote_addr, headers)

    def _basic(self, authorization: str) -> User | Denied:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return Denied(401, "sign in required")
        try:
            name, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return Denied(401, "malformed credentials")
        with self._lock:
            self._load_users()
            token = hmac.new(self._process_key, f"{name}\0{password}".encode(), "sha256").digest()
            role = self._verified.get(token)
            if role is not None:
                return User(name, role)
            record = self._users.get(name)
        if record is None:
            hash_password(password, "00" * 16)  # same cost whether or not the user exists
            return Denied(401, "unknown user or wrong password")
        if not verify_password(record, password):
            return Denied(401, "unknown user or wrong password")
        with self._lock:
            self._verified[token] = record.role
        return User(name, record.role)

    def _header(self, remote_addr: str | None, headers: Mapping[str, str]) -> User | Denied:
        try:
            client = ipaddress.ip_address(remote_addr or "")
        except ValueError:
            return Denied(403, "requests must come through the trusted proxy")
        if not any(client in network for network in self._proxies):
            return Denied(403, "requests must come through the trusted proxy")
        name = headers.get(self.settings.header, "").strip()
        if not name:
            return Denied(401, f"the proxy sent no {self.settings.header} header")
        offered = [r.strip().lower() for r in headers.get(self.settings.role_header, "").split(",")]
        known = [r for r in offered if r in ROLES]
        if not known:
            return Denied(403, f"no known role in {self.settings.role_header}")
        return User(name, max(known, key=ROLES.index))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m dashboards.auth hash-password USER ROLE`: print a users-file line."""
    parser = argparse.ArgumentParser(prog="python -m dashboards.auth")
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("hash-password", help="print a user:role:salt:hash line")
    make.add_argument("user")
    make.add_argument("role", choices=ROLES)
    make.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    args = parser.parse_args(argv)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            sys.stderr.write("passwords differ\n")
            return 2
    if len(password) < 8:
        sys.stderr.write("a password needs at least 8 characters\n")
        return 2
    try:
        print(user_line(args.user, args.role, password))
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
