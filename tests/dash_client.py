"""Drive a Dash app's callbacks through its Flask test client, as the browser would."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


def dependencies(client: FlaskClient, **kwargs: Any) -> list[dict[str, Any]]:
    """The app's callback declarations (as `/_dash-dependencies` serves them)."""
    response = client.get("/_dash-dependencies", **kwargs)
    assert response.status_code == 200, response.data
    return response.get_json()


def callback_body(
    dep: dict[str, Any], values: dict[str, Any] | None = None, trigger: str | None = None
) -> dict[str, Any]:
    """The JSON body Dash's renderer posts for `dep`; `values` maps 'id' or 'id.prop' to values."""
    values = values or {}

    def value(item: dict[str, Any]) -> Any:
        key = f"{item['id']}.{item['property']}"
        return values.get(key, values.get(item["id"]))

    multi = dep["output"].startswith("..")
    names = dep["output"].strip(".").split("...") if multi else [dep["output"]]
    outputs = [dict(zip(("id", "property"), n.rsplit(".", 1), strict=True)) for n in names]
    inputs = [dict(i, value=value(i)) for i in dep["inputs"]]
    state = [dict(s, value=value(s)) for s in dep["state"]]
    first = inputs[0]
    return {
        "output": dep["output"],
        "outputs": outputs if multi else outputs[0],
        "inputs": inputs,
        "state": state,
        "changedPropIds": [trigger or f"{first['id']}.{first['property']}"],
    }


def find(deps: list[dict[str, Any]], output: str) -> dict[str, Any]:
    """The server-side callback writing `output` ('id.prop'), preferring its first declaration."""
    for dep in deps:
        if dep.get("clientside_function"):
            continue
        names = dep["output"].strip(".").split("...")
        if output in names or any(n.split("@")[0] == output for n in names):
            return dep
    raise AssertionError(f"no callback writes {output}")


def call(
    client: FlaskClient,
    output: str,
    values: dict[str, Any] | None = None,
    trigger: str | None = None,
    **kwargs: Any,
) -> Any:
    """POST one callback request and return the response."""
    dep = find(dependencies(client, **kwargs), output)
    return client.post(
        "/_dash-update-component", json=callback_body(dep, values, trigger), **kwargs
    )
