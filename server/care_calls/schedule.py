"""The care-call schedule (the ``care-calls`` job): every active resident whose care rules give
a call interval has one open ``schedule`` call, due that many days after their last answered
call (at once when they have none); a resident back from hospital (their status changed from
in hospital within ``AFTER_HOSPITAL_DAYS``) is called daily instead. A resident who has a call
due already (a retry, a campaign) gets nothing more: one call at a time."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg

from server.care_calls.model import AFTER_HOSPITAL_DAYS, CallKind
from server.directory.care_rules import list_rules, plan_for
from server.directory.records import writing


def open_task(conn: psycopg.Connection[Any], resident_id: int, kind: CallKind, due: date,
               campaign_id: int | None = None) -> int | None:
    """An open task (None: the resident has an open one of this kind already)."""
    row = conn.execute(
        "INSERT INTO care_call_tasks (resident_id, kind, due_on, campaign_id) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (resident_id, kind.value, due, campaign_id)).fetchone()
    return None if row is None else int(row[0])


def make_schedule(conn: psycopg.Connection[Any], today: date | None = None) -> int:
    """Open the calls the care rules and hospital stays ask for; how many were opened."""
    today = today or date.today()
    rules = list_rules(conn)
    rows = conn.execute(
        "SELECT r.id, r.care_tags, r.birth_date, (SELECT max(c.called_at)::date FROM care_calls c "
        " WHERE c.resident_id = r.id AND c.outcome <> 'no_answer'), EXISTS (SELECT 1 FROM "
        " directory_audit a WHERE a.entity = 'resident' AND a.entity_id = r.id AND "
        " a.changes->'status'->>0 = 'in_hospital' AND a.ts > %s::date - %s), "
        "EXISTS (SELECT 1 FROM care_call_tasks t WHERE t.resident_id = r.id AND "
        " t.status = 'open' AND t.due_on <= %s) "
        "FROM residents r JOIN homes h ON h.id = r.home_id "
        "WHERE r.status = 'active' AND h.active",
        (today, AFTER_HOSPITAL_DAYS, today)).fetchall()
    opened = 0
    with writing(conn):
        for rid, tags, born, last, home_from_hospital, busy in rows:
            if busy:  # a call is due already (a retry, a campaign…): one call at a time
                continue
            every = plan_for(tags, born, rules, today).call_every_days
            if home_from_hospital and last != today:
                opened += open_task(conn, rid, CallKind.AFTER_HOSPITAL, today) is not None
            elif every is not None:
                due = today if last is None else max(today, last + timedelta(days=every))
                opened += open_task(conn, rid, CallKind.SCHEDULE, due) is not None
    return opened
