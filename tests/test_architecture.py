"""Imports flow one way (design.md): dashboards → metrics → store, ingest → store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package → packages of ours it must never import
FORBIDDEN = {
    "store": {"ingest", "metrics", "dashboards"},
    "metrics": {"ingest", "dashboards"},
    "ingest": {"metrics", "dashboards"},
    "dashboards": {"ingest"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {file: names for file, names in wrong.items() if names} == {}


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from ingest.graph_activity import SOURCE\n")
    assert imported_packages(module) == {"os", "ingest"}
