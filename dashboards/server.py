"""The Dash app factory: pages, access control, the shell (navigation and freshness banner)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from pathlib import Path
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, html
from sqlalchemy import Engine

from dashboards import _context
from dashboards._access import install_guard
from dashboards._components import error_alert, freshness_banner
from dashboards._context import Context, context, current_user
from dashboards._panels import failure_message
from dashboards.auth import Authenticator, check_binding, role_allows
from dashboards.pages import page_modules
from settings import Settings
from store.engine import make_engine

log = logging.getLogger(__name__)
ASSETS = Path(__file__).parent / "assets"


def create_dash_app(settings: Settings, engine: Engine | None = None) -> Dash:
    """The dashboard for `settings` (its Flask server is `.server`, the gunicorn entry point)."""
    check_binding(settings, settings.dashboard.host)
    authenticator = Authenticator(settings)
    engine = engine or make_engine(settings.database.url, echo=settings.database.echo)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        title="Uptake",
        update_title=None,
        serve_locally=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    server = app.server
    server.secret_key = _secret_key(settings)
    server.config["SESSION_COOKIE_HTTPONLY"] = True
    server.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    _context.install(server, Context(settings, engine))
    modules = page_modules()
    for module in modules:
        page = module.PAGE
        dash.register_page(
            module.__name__, path=page.path, name=page.title, title=f"{page.title} · Uptake",
            order=page.order, layout=module.layout, description=page.audience,
        )
        module.register(app)
    install_guard(server, authenticator, [module.PAGE for module in modules])
    app.layout = shell
    app.callback(Output("app-freshness", "children"), Input("_pages_location", "pathname"))(
        update_freshness
    )
    return app


def _secret_key(settings: Settings) -> str:
    key = settings.secret(settings.dashboard.secret_key_env)
    if key:
        return key
    log.warning(
        "%s is not set: using a random per-process secret key (sessions end on restart and "
        "differ between workers)", settings.dashboard.secret_key_env,
    )
    return secrets.token_hex(32)


def shell() -> html.Div:
    """The frame around every page: navigation limited to the user's role, banner, content."""
    user = current_user()
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in dash.page_registry.values()
        if role_allows(user.role, _role_of(page["module"]))
    ]
    navbar = dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Uptake", href="/", className="fw-bold"),
                dbc.Nav(links, navbar=True, className="me-auto flex-wrap"),
                html.Span(f"{user.name} · {user.role}", className="navbar-text small"),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3 d-print-none",
    )
    return html.Div(
        [
            navbar,
            dbc.Container(
                [html.Div(id="app-freshness", className="d-print-none"), dash.page_container],
                fluid=True,
                className="pb-5",
            ),
        ]
    )


def _role_of(module_name: str) -> str:
    module = next((m for m in page_modules() if m.__name__ == module_name), None)
    return module.PAGE.role if module is not None else "admin"


def update_freshness(_pathname: Any) -> Any:
    """The freshness banner shown above every page."""
    try:
        from metrics.health import compute_freshness
        from metrics.read import read_freshness

        engine = context().engine
        metrics = read_freshness(engine)
        return freshness_banner(
            compute_freshness(engine), dt.date.today(), metrics.get("refreshed_at"),
            int(metrics.get("pending_changes") or 0),
        )
    except Exception as exc:  # noqa: BLE001 - the edge: an alert, never a traceback
        return error_alert(failure_message(exc))


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the dashboard with Flask's server (use gunicorn in production; see README)."""
    from store.migrate import require_current

    host = host or settings.dashboard.host
    port = port or settings.dashboard.port
    check_binding(settings, host)
    engine = make_engine(settings.database.url, echo=settings.database.echo)
    require_current(engine)
    app = create_dash_app(settings, engine)
    print(f"Uptake dashboard on http://{host}:{port}/ (auth: {settings.auth.mode})", flush=True)
    app.run(host=host, port=port, debug=settings.dashboard.debug)
