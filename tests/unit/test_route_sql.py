"""Routes only parse, authorise, call a service and shape the response: no module of
``server/api/`` runs SQL (read from the source).

Running SQL is: calling ``.execute``, ``.executemany``, ``.copy``, ``.cursor`` or
``.transaction`` on anything, composing with ``psycopg.sql`` (``sql.SQL(…)`` and the like), or
holding a string literal (f-string parts too) that starts with an SQL statement.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[2] / "server" / "api"
CALLS = {"execute", "executemany", "copy", "cursor", "transaction"}
STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|COPY)\s")
# Modules that still run SQL, each with the work that takes it out. Empty once it is done.
EXCEPTIONS = {
    "alerts_routes.py": "alert actions and reads move into the alert service (issue 9)",
    "live.py": "the feed's region check and summaries move into the alert service (issue 9)",
}


def sql_in(source: str) -> list[str]:
    """Where ``source`` runs SQL: ``line: what`` for each place."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
            if node.func.attr in CALLS:
                found.append(f"{node.lineno}: .{node.func.attr}(")
            elif isinstance(target, ast.Name) and target.id == "sql":
                found.append(f"{node.lineno}: sql.{node.func.attr}(")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and STATEMENT.match(node.value):
            found.append(f"{node.lineno}: {node.value.split()[0]} …")
    return sorted(found, key=lambda f: int(f.split(":")[0]))


def api_modules() -> list[str]:
    return sorted(p.name for p in API.glob("*.py"))


@pytest.mark.parametrize("module", [m for m in api_modules() if m not in EXCEPTIONS])
def test_an_api_module_runs_no_sql(module: str) -> None:
    assert sql_in((API / module).read_text()) == [], \
        f"server/api/{module} runs SQL: move it into a service (server/directory/, …)"


@pytest.mark.parametrize("module", sorted(EXCEPTIONS))
def test_an_exception_is_still_needed(module: str) -> None:
    assert (API / module).exists(), f"server/api/{module} is gone: remove it from EXCEPTIONS"
    assert sql_in((API / module).read_text()), \
        f"server/api/{module} runs no SQL any more: remove it from EXCEPTIONS"


def test_the_scan_finds_every_kind_of_sql() -> None:
    source = '''
def route(conn, where):
    """Update the home; select who sees it."""  # prose, not SQL
    conn.execute("SELECT 1")
    rows = conn.cursor().fetchall()
    with conn.transaction():
        pass
    conn.copy(sql.SQL("COPY t FROM STDIN"))
    query = f"DELETE FROM homes WHERE {where}"
    return "WITH t AS (SELECT 1) SELECT * FROM t", "select is a word", "UPDATED"
'''
    assert sql_in(source) == ["4: .execute(", "4: SELECT …", "5: .cursor(", "6: .transaction(",
                              "8: .copy(", "8: sql.SQL(", "8: COPY …", "9: DELETE …",
                              "10: WITH …"]


def test_the_api_package_is_scanned() -> None:
    assert {"directory_routes.py", "charts_routes.py", "reports_routes.py", "auth_routes.py",
            "deps.py", "live.py", "alerts_routes.py"} <= set(api_modules())
