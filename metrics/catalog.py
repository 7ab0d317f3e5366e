"""The metric catalogue: every metric declared once, with its label, definition and dimensions."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from errors import MetricError

METRIC_MODULES = (
    "metrics.engagement",
    "metrics.trends",
    "metrics.funnel",
    "metrics.listening",
    "metrics.managers",
    "metrics.collaboration",
    "metrics.participation",
)
ANY = "*"


@dataclass(frozen=True)
class Metric:
    """A metric as shown to readers: name, label, plain-language definition, allowed slices."""

    name: str
    label: str
    definition: str
    dimensions: tuple[str, ...] = (ANY,)
    grains: tuple[str, ...] = ("day",)
    unit: str = "count"
    # Optional: read(engine, settings, by, start, end, grain) -> suppressed DataFrame, used by
    # `uptake metrics NAME`; metrics without it are listed but printed through their own module.
    read: Callable[..., Any] | None = None

    def supports(self, dimension: str) -> bool:
        """True when the metric can be broken down by `dimension`."""
        return ANY in self.dimensions or dimension in self.dimensions


_REGISTRY: dict[str, Metric] = {}


def declare(metric: Metric) -> Metric:
    """Register a metric (declaring the same name again replaces it, e.g. on module reload)."""
    _REGISTRY[metric.name] = metric
    return metric


def get(name: str) -> Metric:
    """The metric called `name`; MetricError when unknown."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise MetricError(f"unknown metric {name!r}; known: {known}") from None


def all_metrics() -> list[Metric]:
    """Every declared metric, in name order."""
    _load()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def markdown() -> str:
    """The metric list of the README: one entry per metric, from its declaration."""
    lines = []
    for metric in all_metrics():
        dims = "any HR attribute" if ANY in metric.dimensions else ", ".join(metric.dimensions)
        lines.append(
            f"- **`{metric.name}`** — {metric.label} ({metric.unit}; by {dims}; "
            f"{', '.join(metric.grains)}). {metric.definition}"
        )
    return "\n".join(lines) + "\n"


def _load() -> None:
    for module in METRIC_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a missing dependency inside an existing module is a bug
                raise
