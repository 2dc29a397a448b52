"""The server's runtime (what runs besides HTTP) reaches nothing of the API, even indirectly:
the API depends on the runtime's parts, never the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def source(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def server_imports(module: str) -> set[str]:
    """The ``server`` modules that ``module`` imports (``from a import b``: ``a``, and ``a.b``
    when that is a module)."""
    path = source(module)
    assert path is not None, module
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] == "server" and source(n)}
    return found


def reached_from(module: str) -> dict[str, set[str]]:
    """Every server module ``module`` imports, directly or not, with its importers."""
    importers: dict[str, set[str]] = {}
    todo, seen = [module], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for imported in server_imports(current):
            importers.setdefault(imported, set()).add(current)
            todo.append(imported)
    return importers


def test_the_runtime_reaches_nothing_of_the_api() -> None:
    reached = reached_from("server.runtime")
    assert {"server.jobs", "server.fanout", "server.alerts.notify"} <= set(reached)
    api = {m: sorted(by) for m, by in reached.items() if m.split(".")[:2] == ["server", "api"]}
    assert not api, f"reached from server.runtime (module: its importers): {api}"
