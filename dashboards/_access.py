"""Server-side access control: every page route, callback and download checks the user's role."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import flask

from dashboards.auth import ROLES, Authenticator, Denied, role_allows
from dashboards.pages import Page

CALLBACK_PATH = "/_dash-update-component"
ROUTER_OUTPUT = "_pages_content"
ROUTER_LOCATION = "_pages_location"
SHELL_PREFIX = "app"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def page_for_path(pages: Sequence[Page], path: str) -> Page | None:
    """The page served at `path` (a trailing slash is ignored), or None."""
    wanted = path.rstrip("/") or "/"
    return next((page for page in pages if page.path == wanted), None)


def output_ids(body: dict[str, Any]) -> list[Any]:
    """The component ids a callback request writes to."""
    outputs = body.get("outputs") or []
    if isinstance(outputs, dict):
        outputs = [outputs]
    ids: list[Any] = []
    for item in outputs:
        for output in item if isinstance(item, list) else [item]:
            if isinstance(output, dict) and "id" in output:
                ids.append(output["id"])
    return ids


def _router_pathname(items: Iterable[Any]) -> str | None:
    for item in items:
        if isinstance(item, list):
            found = _router_pathname(item)
            if found is not None:
                return found
        elif isinstance(item, dict) and item.get("id") == ROUTER_LOCATION:
            if item.get("property") == "pathname":
                return str(item.get("value") or "/")
    return None


def callback_role(pages: Sequence[Page], body: dict[str, Any]) -> str | None:
    """The role a callback request needs: that of the page owning its outputs (unknown: admin)."""
    by_name = {page.name: page for page in pages}
    needed: list[str] = []
    for component in output_ids(body):
        if component == ROUTER_OUTPUT:
            page = page_for_path(pages, _router_pathname(body.get("inputs") or []) or "/")
            if page is not None:
                needed.append(page.role)
            continue
        prefix = component.get("page") if isinstance(component, dict) else None
        if prefix is None and isinstance(component, str):
            prefix = component.split("-", 1)[0]
        if prefix == SHELL_PREFIX or (isinstance(component, str) and component.startswith("_")):
            continue
        page = by_name.get(str(prefix))
        needed.append(page.role if page is not None else "admin")
    return max(needed, key=ROLES.index) if needed else None


def request_role(pages: Sequence[Page]) -> str | None:
    """The role the current request needs, or None when any signed-in user may make it."""
    request = flask.request
    if request.path == CALLBACK_PATH:
        return callback_role(pages, request.get_json(silent=True) or {})
    if request.path.startswith(("/_dash-", "/assets/", "/_favicon", "/_reload-hash")):
        return None
    page = page_for_path(pages, request.path)
    return page.role if page is not None else None


def refuse(denied: Denied) -> flask.Response:
    """A plain 401/403 response (401 asks a browser for basic-auth credentials)."""
    response = flask.Response(f"{denied.status}: {denied.reason}\n", status=denied.status)
    response.mimetype = "text/plain"
    if denied.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Uptake", charset="UTF-8"'
    return response


def install_guard(server: flask.Flask, authenticator: Authenticator, pages: Sequence[Page]) -> None:
    """Check identity and role before every request; add defensive headers after it."""

    @server.before_request
    def _guard() -> flask.Response | None:
        request = flask.request
        verdict = authenticator.identify(request.remote_addr, request.headers)
        if isinstance(verdict, Denied):
            return refuse(verdict)
        flask.g.uptake_user = verdict
        required = request_role(pages)
        if required is None or role_allows(verdict.role, required):
            return None
        if request.path == "/":
            allowed = [page for page in pages if role_allows(verdict.role, page.role)]
            if allowed:
                return flask.redirect(allowed[0].path)
        return refuse(Denied(403, f"the {verdict.role} role cannot open this page"))

    @server.after_request
    def _headers(response: flask.Response) -> flask.Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
