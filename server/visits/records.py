"""Recording a visit at the door, and a resident's visits.

A visit closes its task: *done* when the elder was at home, *not at home* otherwise — which
schedules a second attempt ``SECOND_ATTEMPT_DAYS`` later, counted in the same month; a second
attempt that finds nobody either raises the follow-up "not reached" (call the contacts). A
follow-up flag makes a follow-up task with the flag's priority, due within its days. All of
it in one transaction: the visit is never stored without the tasks it makes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from server.alerts.model import Actor
from server.directory.records import fetch, one, writing
from server.errors import Invalid
from server.scope import Scope
from server.visits.model import (
    SECOND_ATTEMPT_DAYS,
    FollowUp,
    Recorded,
    TaskKind,
    TaskStatus,
    Visit,
    VisitIn,
)
from server.visits.tasks import add_task, get_task

VISIT_COLUMNS = ("id, task_id, resident_id, visitor, visitor_kind, arrived_at, at_home, met, "
                 "health, living, mood, safety, needs, follow_up, follow_up_note, photo_url, "
                 "recorded_at")


def record_visit(conn: psycopg.Connection[Any], scope: Scope, actor: Actor, body: VisitIn,
                 today: date | None = None) -> Recorded:
    """Store a visit, close its task, and make the tasks it calls for."""
    arrived = body.arrived_at or datetime.now(UTC)
    today = today or date.today()
    with writing(conn):
        one(conn, sql.SQL("SELECT r.id FROM residents r JOIN homes h ON h.id = r.home_id "
                          "WHERE r.id = %s AND {}").format(scope.where("h.region_id")),
            (body.resident_id,), f"no resident {body.resident_id}", "resident_id")
        task = None
        if body.task_id is not None:
            task = get_task(conn, scope, body.task_id, lock=True)
            if task["resident_id"] != body.resident_id:
                raise Invalid(f"task {body.task_id} is for another resident", field="task_id")
            if task["status"] != TaskStatus.OPEN:
                raise Invalid(f"task {body.task_id} is {task['status']} already", field="task_id")
        row = conn.execute(
            "INSERT INTO visits (task_id, resident_id, visitor_id, visitor, visitor_kind, "
            "arrived_at, at_home, met, health, living, mood, safety, needs, follow_up, "
            "follow_up_note, photo_url) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s) RETURNING id",
            (body.task_id, body.resident_id, actor.id, actor.name, body.visitor_kind.value,
             arrived, body.at_home, body.met, body.health, body.living, body.mood,
             body.safety, body.needs, body.follow_up.value if body.follow_up else None,
             body.follow_up_note, body.photo_url)).fetchone()
        assert row is not None
        visit_id = int(row[0])
        second = None
        follow_up = body.follow_up
        if task is not None:
            status = TaskStatus.DONE if body.at_home else TaskStatus.NOT_HOME
            conn.execute("UPDATE visit_tasks SET status = %s, closed_at = now() WHERE id = %s",
                         (status.value, task["id"]))
            if not body.at_home and task["kind"] == TaskKind.SECOND_ATTEMPT:
                follow_up = follow_up or FollowUp.NOT_REACHED
            elif not body.at_home:
                second = add_task(conn, body.resident_id, TaskKind.SECOND_ATTEMPT,
                                  today + timedelta(days=SECOND_ATTEMPT_DAYS),
                                  priority=min(task["priority"], 2), reason="not_home",
                                  month=task["month"], parent_id=task["id"],
                                  assignee_id=task["assignee_id"])
        made = None
        if follow_up is not None:
            made = add_task(conn, body.resident_id, TaskKind.FOLLOW_UP,
                            today + timedelta(days=follow_up.within_days),
                            priority=follow_up.priority, reason=follow_up.value,
                            note=body.follow_up_note, parent_id=task["id"] if task else None)
        return Recorded(visit_id, made, second)


def resident_visits(conn: psycopg.Connection[Any], resident_id: int,
                    limit: int = 100) -> list[Visit]:
    """A resident's visits, newest first (the caller checked the scope)."""
    return fetch(conn, Visit, sql.SQL(
        f"SELECT {VISIT_COLUMNS} FROM visits WHERE resident_id = %s "
        "ORDER BY arrived_at DESC, id DESC LIMIT %s"), (resident_id, limit))
