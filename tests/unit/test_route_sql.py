"""Routes hold no SQL: they parse, authorise and shape responses; the services and queries
execute. A lint over the source (ast): no call of ``.execute(``, ``.executemany(``,
``.copy(``, ``.cursor(`` or ``sql.SQL(``, and no string that reads as a statement."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Route modules that must not execute SQL (add each module as it is converted).
ROUTE_MODULES = (
    "server/api/alerts_routes.py",
    "server/api/live.py",
)
# (module, class or function) that may still hold SQL until it moves out of its route module.
# Entries that no longer exist are harmless; delete them when they move.
PENDING: set[tuple[str, str]] = set()  # (module, function) allowed to hold SQL for now

DB_CALLS = frozenset({"execute", "executemany", "copy", "cursor"})
STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|COPY|LISTEN|NOTIFY)\s")


def sql_in(source: str, pending: frozenset[str] = frozenset()) -> list[str]:
    """Where ``source`` executes or spells SQL: ``"line: what"`` for each place, skipping the
    top-level classes and functions named in ``pending``."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) \
                and node.name in pending:
            continue
        for sub in ast.walk(node):
            found += _offence(sub)
    return found


def _offence(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        name = node.func.attr
        if name in DB_CALLS:
            return [f"{node.lineno}: .{name}("]
        if name == "SQL" and isinstance(node.func.value, ast.Name) \
                and node.func.value.id == "sql":
            return [f"{node.lineno}: sql.SQL("]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "SQL":
        return [f"{node.lineno}: SQL("]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            and STATEMENT.match(node.value):
        return [f"{node.lineno}: SQL text {node.value.strip()[:40]!r}"]
    return []


@pytest.mark.parametrize("module", ROUTE_MODULES)
def test_route_modules_execute_no_sql(module: str) -> None:
    pending = frozenset(name for mod, name in PENDING if mod == module)
    found = sql_in((ROOT / module).read_text(encoding="utf-8"), pending)
    assert found == [], f"{module} holds SQL (move it to a service or a query module): {found}"


def test_the_lint_finds_each_kind_of_sql() -> None:
    source = '''
def visible(conn, user, alert_id):
    conn.execute(f"SELECT 1 FROM alerts a WHERE a.id = %s AND {where}", [alert_id])

def dispatch(conn):
    with conn.cursor() as cur:
        cur.copy("COPY x FROM STDIN")
    q = sql.SQL("LISTEN {}")
    text = "UPDATE dispatches SET status = %s"

class Fanout:
    def run(self, conn):
        conn.execute("LISTEN x")
'''
    found = sql_in(source, frozenset({"Fanout"}))
    assert sorted(int(f.split(":")[0]) for f in found) == [3, 3, 6, 7, 7, 8, 8, 9]
    assert sql_in(source) != found, "a pending name is skipped, and only then"
