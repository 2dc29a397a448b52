"""Routes hold no SQL: they parse, authorise, call a service and shape responses; the services
(``server/directory/``, ``server/alerts/``, ``server/charts.py``, ``server/reports.py``,
``server/auth/``) execute. A lint over the source (ast) of every module of ``server/api/``: no
call of ``.execute(``, ``.executemany(``, ``.copy(``, ``.cursor(`` or ``.transaction(``, nothing
composed with ``psycopg.sql`` (``sql.SQL(``, ``sql.Identifier(`` …), and no string that reads as
a statement."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Every module of the API: the route modules, deps.py, live.py, and any added later.
ROUTE_MODULES = tuple(sorted(str(p.relative_to(ROOT)) for p in (ROOT / "server/api").glob("*.py")))
# (module, class or function) that may still hold SQL until it moves out of its route module.
# Entries that no longer exist are harmless; delete them when they move.
PENDING: set[tuple[str, str]] = set()  # (module, function) allowed to hold SQL for now

DB_CALLS = frozenset({"execute", "executemany", "copy", "cursor", "transaction"})
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
        if isinstance(node.func.value, ast.Name) and node.func.value.id == "sql":
            return [f"{node.lineno}: sql.{name}("]
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


def test_every_route_module_is_checked() -> None:
    assert {f"server/api/{m}.py" for m in (
        "alerts_routes", "auth_routes", "charts_routes", "directory_routes", "reports_routes",
        "deps", "live")} <= set(ROUTE_MODULES)


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


def test_the_lint_finds_transactions_and_any_composition_but_not_prose() -> None:
    source = '''
def add(conn, where):
    """Update the home; select who sees it."""
    with conn.transaction():
        conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier("homes")))
    return "select is a word", "UPDATED", f"WITH t AS (SELECT 1) {where}"
'''
    assert sorted(sql_in(source)) == [
        "4: .transaction(", "5: .execute(", "5: SQL text 'DELETE FROM {}'",
        "5: sql.Identifier(", "5: sql.SQL(", "6: SQL text 'WITH t AS (SELECT 1)'"]
