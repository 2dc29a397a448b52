"""主动关爱 care calls: the schedule, campaigns, the caller's list and recording a call.

- **Schedule**: ``server.care_calls.schedule`` (the ``care-calls`` job).
- **Campaigns**: a supervisor calls every active resident of a community (or all of theirs)
  with given care tags, e.g. before a heat wave or a holiday.
- **The list**: open tasks due by today, soonest first, then by risk (a rule that raises the
  resident's alarms counts 3, each care tag 1).
- **A call**: closes its task (answered: every call due to the resident). *Concern*: a visit
  task within ``CONCERN_VISIT_DAYS``. *No answer*: a retry today; when the resident's call
  before it went unanswered too, either an urgent visit task or a P2 welfare-check alert
  (``Settings.care_call_missed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from server.alerts.context import resident_context
from server.alerts.model import Actor, AlertType, Priority
from server.alerts.service import raise_alert
from server.care_calls.inputs import CallIn, CampaignIn
from server.care_calls.model import CONCERN_VISIT_DAYS, Call, Called, CallKind, CallTask, Outcome
from server.care_calls.schedule import open_task
from server.directory.care_rules import list_rules, plan_for
from server.directory.records import check_region, fetch, one, writing
from server.errors import Invalid
from server.scope import Scope
from server.visits.model import TaskKind
from server.visits.tasks import add_task

Missed = Literal["visit", "alert"]


def start_campaign(conn: psycopg.Connection[Any], scope: Scope, actor: Actor,
                   body: CampaignIn, today: date | None = None) -> tuple[int, int]:
    """A campaign and its calls: (campaign id, residents to call)."""
    due = body.due_on or today or date.today()
    tags = [t.value for t in body.tags]
    with writing(conn):
        if body.region_id is not None:
            check_region(conn, scope, body.region_id)
        row = conn.execute(
            "INSERT INTO care_call_campaigns (name, reason, region_id, tags, due_on, created_by) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (body.name, body.reason.value, body.region_id, tags, due, actor.id)).fetchone()
        assert row is not None
        campaign = int(row[0])
        where = Scope((body.region_id,)) if body.region_id is not None else scope
        residents = conn.execute(sql.SQL(
            "SELECT r.id FROM residents r JOIN homes h ON h.id = r.home_id WHERE "
            "r.status = 'active' AND h.active AND r.care_tags @> %s::text[] AND {} AND {}"
        ).format(where.where("h.region_id"), scope.where("h.region_id")), (tags,)).fetchall()
        for (rid,) in residents:
            open_task(conn, rid, CallKind.CAMPAIGN, due, campaign)
        conn.execute("UPDATE care_call_campaigns SET residents = %s WHERE id = %s",
                     (len(residents), campaign))
    return campaign, len(residents)


_TASKS = """
SELECT t.id, t.resident_id, r.name AS resident, r.phone, h.address, r.care_tags, t.kind,
       c.name AS campaign, t.due_on, t.status, l.outcome AS last_outcome,
       l.called_at AS last_called_at, r.birth_date
FROM care_call_tasks t JOIN residents r ON r.id = t.resident_id JOIN homes h ON h.id = r.home_id
LEFT JOIN care_call_campaigns c ON c.id = t.campaign_id
LEFT JOIN LATERAL (SELECT outcome, called_at FROM care_calls WHERE resident_id = r.id
                   ORDER BY called_at DESC, id DESC LIMIT 1) l ON true
WHERE t.status = 'open' AND t.due_on <= %s AND r.care_tags @> %s::text[] AND {}
"""


def call_list(conn: psycopg.Connection[Any], scope: Scope, until: date | None = None,
              tags: Sequence[str] = ()) -> list[CallTask]:
    """Open calls due by ``until`` (today) to residents with every one of ``tags``, soonest
    first, the riskiest first among equals."""
    rules = list_rules(conn)
    with conn.cursor() as cur:
        rows = cur.execute(sql.SQL(_TASKS).format(scope.where("h.region_id")),
                           (until or date.today(), list(tags))).fetchall()
        names = [d.name for d in cur.description or ()]
    tasks = []
    for row in rows:
        data = dict(zip(names, row, strict=True))
        born = data.pop("birth_date")
        plan = plan_for(data["care_tags"], born, rules)
        tasks.append(CallTask(**data, risk=3 * plan.raise_priority + len(plan.tags)))
    return sorted(tasks, key=lambda t: (t.due_on, -t.risk, t.id))


def record_call(conn: psycopg.Connection[Any], scope: Scope, actor: Actor, body: CallIn,
                missed: Missed = "visit", today: date | None = None) -> Called:
    """Store a call, close its task, and start what its outcome calls for."""
    today = today or date.today()
    with writing(conn):
        one(conn, sql.SQL("SELECT r.id FROM residents r JOIN homes h ON h.id = r.home_id "
                          "WHERE r.id = %s AND {} FOR UPDATE OF r").format(
            scope.where("h.region_id")), (body.resident_id,), f"no resident {body.resident_id}",
            "resident_id")
        if body.task_id is not None:
            task = one(conn, sql.SQL("SELECT resident_id, status FROM care_call_tasks WHERE "
                                     "id = %s FOR UPDATE").format(), (body.task_id,),
                       f"no call task {body.task_id}", "task_id")
            if task["resident_id"] != body.resident_id or task["status"] != "open":
                raise Invalid(f"task {body.task_id} is not an open call to this resident",
                              field="task_id")
            conn.execute("UPDATE care_call_tasks SET status = 'done', closed_at = now() "
                         "WHERE id = %s", (body.task_id,))
        before = conn.execute("SELECT outcome FROM care_calls WHERE resident_id = %s "
                              "ORDER BY called_at DESC, id DESC LIMIT 1",
                              (body.resident_id,)).fetchone()
        row = conn.execute(
            "INSERT INTO care_calls (task_id, resident_id, caller_id, caller, outcome, notes, "
            "concern, next_on) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (body.task_id, body.resident_id, actor.id, actor.name, body.outcome.value,
             body.notes, body.concern, body.next_on)).fetchone()
        assert row is not None
        called = Called(int(row[0]))
        if body.outcome != Outcome.NO_ANSWER:  # one call answers every call that was due
            conn.execute("UPDATE care_call_tasks SET status = 'done', closed_at = now() WHERE "
                         "resident_id = %s AND status = 'open' AND due_on <= %s",
                         (body.resident_id, today))
        if body.outcome == Outcome.CONCERN:
            called = Called(called.call_id, visit_task=add_task(
                conn, body.resident_id, TaskKind.FOLLOW_UP,
                today + timedelta(days=CONCERN_VISIT_DAYS), priority=2, reason="call_concern",
                note=body.concern or body.notes))
        elif body.outcome == Outcome.NO_ANSWER:
            if before is not None and before[0] == Outcome.NO_ANSWER:
                called = _missed_twice(conn, called, body.resident_id, missed, today)
            else:
                called = Called(called.call_id, retry_task=open_task(
                    conn, body.resident_id, CallKind.RETRY, today))
        if body.next_on is not None and body.outcome != Outcome.NO_ANSWER:
            conn.execute("DELETE FROM care_call_tasks WHERE resident_id = %s AND kind = 'next' "
                         "AND status = 'open'", (body.resident_id,))
            called = Called(called.call_id, called.visit_task, called.alert_id,
                            called.retry_task,
                            open_task(conn, body.resident_id, CallKind.NEXT, body.next_on))
    return called


def _missed_twice(conn: psycopg.Connection[Any], called: Called, resident_id: int,
                  missed: Missed, today: date) -> Called:
    """Two calls in a row unanswered: someone goes to the door, or the queue gets an alert."""
    if missed == "alert":
        ctx = resident_context(conn, resident_id)
        alert = raise_alert(conn, AlertType.WELFARE_CHECK, Priority.P2, ctx,
                            {"reason": "care_calls_unanswered", "call": called.call_id}).alert
        return Called(called.call_id, alert_id=alert.id)
    task = add_task(conn, resident_id, TaskKind.FOLLOW_UP, today + timedelta(days=1),
                    priority=1, reason="calls_missed", note="两次关爱电话无人接听")
    return Called(called.call_id, visit_task=task)


def resident_calls(conn: psycopg.Connection[Any], resident_id: int,
                   limit: int = 100) -> list[Call]:
    """A resident's calls, newest first (the caller checked the scope)."""
    return fetch(conn, Call, sql.SQL(
        "SELECT id, task_id, resident_id, caller, called_at, outcome, notes, concern, next_on "
        "FROM care_calls WHERE resident_id = %s ORDER BY called_at DESC, id DESC LIMIT %s"),
        (resident_id, limit))
