"""The dashboard's pages, one module each; every module exposes PAGE, layout(**query), register."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

MODULES = (
    "overview",
    "departments",
    "regions",
    "listening",
    "collaboration",
    "executive",
    "health",
    "about",
)


@dataclass(frozen=True)
class Page:
    """A page's identity: `name` prefixes every component id on it; `role` may open it."""

    name: str
    path: str
    title: str
    role: str
    order: int
    audience: str


def page_modules() -> list[ModuleType]:
    """Every page module, in navigation order."""
    modules = [importlib.import_module(f"dashboards.pages.{name}") for name in MODULES]
    return sorted(modules, key=lambda module: module.PAGE.order)


def all_pages() -> list[Page]:
    """Every page's identity, in navigation order."""
    return [module.PAGE for module in page_modules()]
