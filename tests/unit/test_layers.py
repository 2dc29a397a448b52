"""The project's floors: each package imports only the ones below it (read from the source).

kernel ← hardware, analytics ← firmware_sim, gateway, server ← pinganling (the app). Tests and
benchmarks may import anything; nothing imports the app or the tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kernel", "hardware", "analytics", "firmware_sim", "gateway", "server", "pinganling")
ALLOWED: dict[str, set[str]] = {
    "kernel": set(),
    "hardware": {"kernel"},
    "analytics": {"kernel"},
    "firmware_sim": {"kernel", "hardware", "analytics"},
    "gateway": {"kernel", "hardware", "analytics"},
    "server": {"kernel", "hardware", "analytics"},
    "pinganling": {"kernel", "hardware", "analytics", "firmware_sim", "gateway", "server"},
}


def project_imports(path: Path) -> set[str]:
    """Top-level project packages a module imports (``import x.y``, ``from x.y import z``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {n.split(".")[0] for n in names} & {*PACKAGES, "tests"}
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_floors_below_it(package: str) -> None:
    wrong = {}
    for path in modules(package):
        beyond = project_imports(path) - ALLOWED[package] - {package}
        if beyond:
            wrong[str(path.relative_to(ROOT))] = sorted(beyond)
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}: {wrong}"


def test_the_rule_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom server.app import create_app\nimport gateway.cli as g\n"
                      "from . import sibling\n")
    assert project_imports(module) == {"server", "gateway"}
