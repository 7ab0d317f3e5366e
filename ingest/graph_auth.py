"""A Microsoft Graph bearer token: from an environment variable, or by client credentials."""

from __future__ import annotations

import requests

from errors import FatalSourceError
from ingest.http import fetch
from settings import GraphSettings, Settings

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def fetch_graph_token(settings: Settings, session: requests.Session) -> str:
    """The token to call Graph with; FatalSourceError says which setting or secret is missing."""
    graph: GraphSettings = settings.sources.graph_yammer_activity
    if graph.tenant_id and graph.client_id:
        return _client_credentials(settings, graph, session)
    token = settings.secret(graph.token_env)
    if not token:
        raise FatalSourceError(
            f"graph-yammer-activity: no token: set {graph.token_env}, or configure "
            "sources.graph_yammer_activity.tenant_id and client_id (app with Reports.Read.All)"
        )
    return token


def _client_credentials(settings: Settings, graph: GraphSettings, session: requests.Session) -> str:
    secret = settings.secret(graph.client_secret_env)
    if not secret:
        raise FatalSourceError(
            "graph-yammer-activity: client credentials need the secret in "
            f"{graph.client_secret_env}"
        )
    url = f"{graph.login_url.rstrip('/')}/{graph.tenant_id}/oauth2/v2.0/token"
    hint = f"a valid secret for app {graph.client_id} in tenant {graph.tenant_id}"
    response = fetch(
        session,
        "POST",
        url,
        settings=settings,
        data={
            "grant_type": "client_credentials",
            "client_id": graph.client_id,
            "client_secret": secret,
            "scope": GRAPH_SCOPE,
        },
        permission_hint=hint,
    )
    try:
        token = response.json()["access_token"]
    except (ValueError, KeyError, TypeError):
        raise FatalSourceError(f"{url}: the token response holds no access_token") from None
    return str(token)
