"""Visit tasks: the month's plan made from the care rules, the task lists (a visitor's own, a
supervisor's overdue list, a resident's), and assigning a task to a visitor.

The plan: each active resident whose care rules give a visit interval of N days gets
``max(1, round(30 / N))`` visits in a month at or under 30 days (monthly → 1, fortnightly → 2,
weekly → 4), due on evenly spaced days of the month; a longer interval (quarterly) gives one
visit in a month when the last visit at home, or the start of the service, is N days ago by
the month's end. Making a month's plan again adds only what is missing (one plan task per
resident and due day), so the daily job and a supervisor's button may both run it.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql

from server.alerts.model import Actor, Role
from server.auth.users import get_user
from server.directory.care_rules import list_rules, plan_for
from server.directory.records import fetch, one, writing
from server.errors import Invalid, NotFound
from server.scope import Scope
from server.visits.model import TaskKind, TaskStatus, VisitTask

MONTH_DAYS = 30

TASK_COLUMNS = (
    "t.id, t.resident_id, r.name AS resident, h.address, h.grid, r.care_tags, t.kind, t.month, "
    "t.due_on, t.priority, t.reason, t.note, t.assignee_id, u.display_name AS assignee, "
    "t.status, t.parent_id, t.created_at, t.closed_at")
TASK_FROM = ("visit_tasks t JOIN residents r ON r.id = t.resident_id "
             "JOIN homes h ON h.id = r.home_id LEFT JOIN users u ON u.id = t.assignee_id")


def first_of(day: date) -> date:
    return day.replace(day=1)


def due_days(month: date, every: int, last_visit: date | None, since: date) -> list[date]:
    """The days of ``month`` a resident visited every ``every`` days is due."""
    length = calendar.monthrange(month.year, month.month)[1]
    end = month.replace(day=length)
    if every <= MONTH_DAYS:
        n = max(1, round(MONTH_DAYS / every))
        return [month + timedelta(days=(length * (i + 1)) // n - 1) for i in range(n)]
    due = (last_visit or since) + timedelta(days=every)
    return [max(month, min(due, end))] if due <= end else []


def make_plan(conn: psycopg.Connection[Any], month: date) -> int:
    """Add the month's missing plan tasks for every active resident; how many were added."""
    month = first_of(month)
    rules = list_rules(conn)
    residents = conn.execute(
        "SELECT r.id, r.care_tags, r.birth_date, r.created_at::date, "
        "(SELECT max(v.arrived_at)::date FROM visits v WHERE v.resident_id = r.id AND v.at_home "
        " AND v.arrived_at < %s) FROM residents r JOIN homes h ON h.id = r.home_id "
        "WHERE r.status NOT IN ('moved', 'deceased') AND h.active", (month,)).fetchall()
    rows = []
    for rid, tags, born, since, last in residents:
        every = plan_for(tags, born, rules, month).visit_every_days
        if every is None:
            continue
        rows += [(rid, month, day) for day in due_days(month, every, last, since)]
    added = 0
    with writing(conn), conn.cursor() as cur:
        for row in rows:
            cur.execute("INSERT INTO visit_tasks (resident_id, kind, month, due_on, reason) "
                        "VALUES (%s, 'plan', %s, %s, 'care_rules') "
                        "ON CONFLICT (resident_id, due_on) WHERE kind = 'plan' DO NOTHING", row)
            added += cur.rowcount
    return added


def add_task(conn: psycopg.Connection[Any], resident_id: int, kind: TaskKind, due_on: date,
             *, priority: int = 3, reason: str = "", note: str = "", month: date | None = None,
             parent_id: int | None = None, assignee_id: int | None = None) -> int:
    """One task (inside the caller's transaction)."""
    row = conn.execute(
        "INSERT INTO visit_tasks (resident_id, kind, month, due_on, priority, reason, note, "
        "parent_id, assignee_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (resident_id, kind.value, first_of(month or due_on), due_on, priority, reason, note,
         parent_id, assignee_id)).fetchone()
    assert row is not None
    return int(row[0])


def _listed(scope: Scope, conds: list[sql.Composable]) -> sql.Composed:
    return sql.SQL("SELECT {} FROM {} WHERE {} AND {} ORDER BY t.status <> 'open', t.due_on, "
                   "t.priority, t.id LIMIT 500").format(
        sql.SQL(TASK_COLUMNS), sql.SQL(TASK_FROM), scope.where("h.region_id"),
        sql.SQL(" AND ").join(conds) if conds else sql.SQL("TRUE"))


def list_tasks(conn: psycopg.Connection[Any], scope: Scope, actor: Actor, *,
               status: TaskStatus | None = TaskStatus.OPEN, overdue: bool = False,
               mine: bool = False, tags: Sequence[str] = (),
               today: date | None = None) -> list[VisitTask]:
    """Tasks in scope: open ones by default; ``overdue``: open and due before today; ``mine``:
    assigned to the actor (a visitor sees their own and the unassigned ones of their regions,
    whatever ``mine`` says); ``tags``: residents with every one of these care tags."""
    conds: list[sql.Composable] = []
    params: list[Any] = []
    if tags:
        conds.append(sql.SQL("r.care_tags @> %s::text[]"))
        params.append(list(tags))
    if status is not None:
        conds.append(sql.SQL("t.status = %s"))
        params.append(status.value)
    if overdue:
        conds.append(sql.SQL("t.status = 'open' AND t.due_on < %s"))
        params.append(today or date.today())
    if actor.role == Role.VISITOR:
        conds.append(sql.SQL("(t.assignee_id = %s OR t.assignee_id IS NULL)"))
        params.append(actor.id)
    elif mine:
        conds.append(sql.SQL("t.assignee_id = %s"))
        params.append(actor.id)
    return fetch(conn, VisitTask, _listed(scope, conds), params)


def resident_tasks(conn: psycopg.Connection[Any], scope: Scope,
                   resident_id: int) -> list[VisitTask]:
    """A resident's tasks, open first."""
    return fetch(conn, VisitTask, _listed(scope, [sql.SQL("t.resident_id = %s")]),
                 [resident_id])


def get_task(conn: psycopg.Connection[Any], scope: Scope, task_id: int, *,
             lock: bool = False) -> dict[str, Any]:
    """One task in scope (NotFound otherwise), with its resident's region."""
    return one(conn, sql.SQL(
        "SELECT t.*, h.region_id FROM visit_tasks t JOIN residents r ON r.id = t.resident_id "
        "JOIN homes h ON h.id = r.home_id WHERE t.id = %s AND {}{}").format(
        scope.where("h.region_id"), sql.SQL(" FOR UPDATE OF t" if lock else "")),
        (task_id,), f"no visit task {task_id}")


def assign(conn: psycopg.Connection[Any], scope: Scope, task_id: int,
           user_id: int | None) -> None:
    """Give an open task to a visitor (or any staff member) who works in its region."""
    with writing(conn):
        task = get_task(conn, scope, task_id, lock=True)
        if task["status"] != TaskStatus.OPEN:
            raise Invalid(f"task {task_id} is {task['status']}, not open", field="task_id")
        if user_id is not None:
            user = get_user(conn, user_id)
            if user is None:
                raise NotFound(f"no active user {user_id}", field="user_id")
            if not Scope.of(user).covers(conn, task["region_id"]):
                raise Invalid(f"user {user_id} does not work in this task's region",
                              field="user_id")
        conn.execute("UPDATE visit_tasks SET assignee_id = %s WHERE id = %s",
                     (user_id, task_id))


@dataclass(frozen=True, slots=True)
class Visitor:
    """Someone a supervisor may give a visit task: a visitor, or the service's own staff."""

    id: int
    name: str
    role: str
    regions: list[int]  # empty: every region


def visitors(conn: psycopg.Connection[Any], scope: Scope) -> list[Visitor]:
    """Active visitors, operators and supervisors who work in the caller's regions (or
    everywhere), visitors first."""
    return fetch(conn, Visitor, sql.SQL(
        "SELECT u.id, u.display_name AS name, u.role, coalesce(array_agg(ur.region_id) FILTER "
        "(WHERE ur.region_id IS NOT NULL), '{{}}') AS regions FROM users u "
        "LEFT JOIN user_regions ur ON ur.user_id = u.id WHERE u.active AND u.role IN "
        "('visitor', 'operator', 'supervisor') GROUP BY u.id HAVING "
        "count(ur.region_id) = 0 OR bool_or({}) ORDER BY u.role <> 'visitor', u.display_name"
    ).format(scope.where("ur.region_id")))
