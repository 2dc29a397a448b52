"""A month of simulated history for the demo: the previous calendar month and this month so far.

Made through the services as the console would make it — alerts raised, escalated, claimed,
dispatched and resolved (``server.alerts.service``), the visit plans (``server.visits``) with
most visits recorded (some nobody at home and a second attempt, a few follow-ups), the care-call
schedule day by day with calls of every outcome (``server.care_calls``), a campaign — and then
moved back in time with SQL to when they happened (the alerts' audit trail is append-only
and keeps the time the demo wrote it). Deterministic (a seeded ``random``); made once:
the campaign ``MARK`` says the history is there.

Everything runs inside the caller's transaction, so ``now()`` is one instant: rows a step just
wrote carry it, and are found by it to be backdated.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg

from server import care_calls, visits
from server.alerts import service
from server.alerts.context import gateway_context, resident_context
from server.alerts.model import Actor, AlertType, DispatchKind, Outcome, Priority, Role
from server.care_calls import CallIn, CampaignIn, CampaignReason
from server.care_calls import Outcome as CallOutcome
from server.directory import CareTag
from server.scope import Scope
from server.visits import FollowUp, VisitIn, VisitorKind

MARK = "寒潮关爱（演示）"  # the history's campaign: present means seeded
SEED = 12
EVERYWHERE = Scope.everywhere()

# (type, priority, share, outcomes with weights, dispatch for a genuine one)
ALERTS: tuple[tuple[AlertType, Priority, int, tuple[tuple[Outcome, int], ...]], ...] = (
    (AlertType.PANIC, Priority.P1, 40, ((Outcome.ACCIDENTAL, 40), (Outcome.GENUINE, 25),
                                        (Outcome.RESOLVED_BY_PHONE, 20),
                                        (Outcome.FALSE_ALARM, 15))),
    (AlertType.FALL, Priority.P1, 15, ((Outcome.GENUINE, 50), (Outcome.FALSE_ALARM, 30),
                                       (Outcome.RESOLVED_BY_PHONE, 20))),
    (AlertType.INACTIVITY, Priority.P2, 15, ((Outcome.RESOLVED_BY_PHONE, 70),
                                             (Outcome.GENUINE, 30))),
    (AlertType.LOW_BATTERY, Priority.P3, 20, ((Outcome.TECHNICAL, 100),)),
    (AlertType.GATEWAY_OFFLINE, Priority.P3, 10, ((Outcome.CLEARED, 100),)),
)
NOTES = {Outcome.ACCIDENTAL: "老人说不小心碰到了按钮，一切正常",
         Outcome.GENUINE: "老人需要帮助，已通知家属上门",
         Outcome.RESOLVED_BY_PHONE: "电话联系上老人，情况已处理",
         Outcome.FALSE_ALARM: "设备误报，已安排检查",
         Outcome.TECHNICAL: "已通知安装员更换电池"}
HEALTH = ("精神不错，血压平稳", "腿脚不便，能自理", "感冒刚好", "睡眠不太好", "按时服药")
LIVING = ("家中整洁", "冰箱食物充足", "暖气正常", "家里有些杂乱", "子女每周来看望")
MOOD = ("心情不错", "有点孤单，聊了很久", "开朗", "念叨孩子")


def seed(conn: psycopg.Connection[Any], logins: dict[str, dict[str, str]],
         today: date | None = None) -> bool:
    """Seed the history once (in the caller's transaction); False when it was there already."""
    if conn.execute("SELECT 1 FROM care_call_campaigns WHERE name = %s", (MARK,)).fetchone():
        return False
    today = today or date.today()
    start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    rnd = random.Random(SEED)
    with conn.transaction():  # one now() throughout (a savepoint in the caller's transaction)
        people = {key: _actor(conn, entry["username"]) for key, entry in logins.items()}
        _backdate_residents(conn, rnd, start)
        _calls(conn, rnd, start, today, people["operator"], people["supervisor"])
        _visits(conn, rnd, start, today, people)
        _alerts(conn, rnd, start, today, people["operator"])
    return True


def _actor(conn: psycopg.Connection[Any], username: str) -> Actor:
    row = conn.execute("SELECT id, display_name, role FROM users WHERE username = %s",
                       (username,)).fetchone()
    assert row is not None, username
    return Actor(int(row[0]), str(row[1]), Role(row[2]))


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    """``day`` at a local time, as an aware datetime (never in the future)."""
    return min(datetime.combine(day, time(hour, minute)).astimezone(), datetime.now(UTC))


def _days(start: date, until: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((until - start).days)]


def _backdate_residents(conn: psycopg.Connection[Any], rnd: random.Random, start: date) -> None:
    """The residents served for a while (a few joined last month: new services)."""
    ids = [r[0] for r in conn.execute("SELECT id FROM residents WHERE created_at = now() "
                                      "ORDER BY id")]
    for i, rid in enumerate(ids):
        joined = start + timedelta(days=rnd.randrange(3, 20)) if i % 9 == 4 else \
            start - timedelta(days=rnd.randrange(60, 700))
        conn.execute("UPDATE residents SET created_at = %s WHERE id = %s",
                     (_at(joined, 10), rid))


def _stamp_visit_rows(conn: psycopg.Connection[Any], at: datetime) -> None:
    """What the last step wrote now() is moved to ``at``."""
    conn.execute("UPDATE visit_tasks SET closed_at = %s WHERE closed_at = now()", (at,))
    conn.execute("UPDATE visit_tasks SET created_at = %s WHERE created_at = now()", (at,))
    conn.execute("UPDATE visits SET recorded_at = %s WHERE recorded_at = now()", (at,))


def _visits(conn: psycopg.Connection[Any], rnd: random.Random, start: date, today: date,
            people: dict[str, Actor]) -> None:
    """Both months' plans: each task visited on a day before it is due (some found nobody at
    home: the second attempt two days later; a few left undone: overdue), then the second
    attempts and follow-ups due by today (some of today's done already)."""
    by_region = _visitor_by_region(conn, people)
    for month in (start, today.replace(day=1)):
        visits.make_plan(conn, month)
        conn.execute("UPDATE visit_tasks SET created_at = %s WHERE created_at = now()",
                     (_at(month - timedelta(days=1), 6),))
    planned = conn.execute(
        "SELECT t.id, t.resident_id, t.due_on, t.month, h.region_id FROM visit_tasks t "
        "JOIN residents r ON r.id = t.resident_id JOIN homes h ON h.id = r.home_id "
        "WHERE t.kind = 'plan' AND t.status = 'open' ORDER BY t.id").fetchall()
    days = []
    for i, (task_id, rid, due_on, month, region) in enumerate(planned):
        if region in by_region:
            conn.execute("UPDATE visit_tasks SET assignee_id = %s WHERE id = %s",
                         (by_region[region].id, task_id))
        first = max(month, due_on - timedelta(days=29))
        day = first + timedelta(days=rnd.randrange((due_on - first).days + 1))
        if day <= today and i % 13 != 5:  # every 13th: not visited (overdue once due)
            days.append((day, i % 6 != 3, i % 9 == 2, task_id, rid, region))
    for day, at_home, flag, task_id, rid, region in sorted(days):
        _visit(conn, rnd, today, by_region.get(region, people["supervisor"]), task_id, rid,
               day, at_home, rnd.choice(list(FollowUp)) if flag and at_home else None)
    done: list[int] = []
    while True:  # second attempts and follow-ups, on their day
        row = conn.execute(
            "SELECT t.id, t.resident_id, t.due_on, h.region_id FROM visit_tasks t "
            "JOIN residents r ON r.id = t.resident_id JOIN homes h ON h.id = r.home_id "
            "WHERE t.status = 'open' AND t.kind <> 'plan' AND t.due_on <= %s "
            "AND NOT t.id = ANY (%s) ORDER BY t.due_on, t.id LIMIT 1", (today, done)).fetchone()
        if row is None:
            break
        task_id, rid, due_on, region = row
        done.append(task_id)
        if len(done) % 4 == 2:
            continue  # not yet done: overdue
        _visit(conn, rnd, today, by_region.get(region, people["supervisor"]), task_id, rid,
               max(due_on - timedelta(days=rnd.randrange(2)), start), len(done) % 7 != 3, None)


def _visit(conn: psycopg.Connection[Any], rnd: random.Random, today: date, who: Actor,
           task_id: int, rid: int, day: date, at_home: bool, follow: FollowUp | None) -> None:
    """One visit at the door, on ``day`` (today: a little before now)."""
    at = _at(day, rnd.randrange(9, 17), rnd.randrange(60))
    if day >= today:
        at = datetime.now(UTC) - timedelta(minutes=rnd.randrange(5, 90))
        if at.astimezone().date() != today:
            return
    visits.record_visit(conn, EVERYWHERE, who, VisitIn(
        resident_id=rid, task_id=task_id, arrived_at=at, at_home=at_home,
        visitor_kind=VisitorKind.GRID_WORKER if who.role == Role.VISITOR else VisitorKind.STAFF,
        met="本人" if at_home else "", health=rnd.choice(HEALTH) if at_home else "",
        living=rnd.choice(LIVING) if at_home else "", mood=rnd.choice(MOOD) if at_home else "",
        follow_up=follow, follow_up_note="探访时发现，需跟进" if follow else ""), today=day)
    _stamp_visit_rows(conn, at)


def _visitor_by_region(conn: psycopg.Connection[Any], people: dict[str, Actor]
                       ) -> dict[int, Actor]:
    found: dict[int, Actor] = {}
    for actor in people.values():
        if actor.role == Role.VISITOR:
            for (region,) in conn.execute("SELECT region_id FROM user_regions WHERE user_id = %s",
                                          (actor.id,)):
                found[int(region)] = actor
    return found


def _stamp_call_rows(conn: psycopg.Connection[Any], call_id: int, at: datetime) -> None:
    conn.execute("UPDATE care_calls SET called_at = %s WHERE id = %s", (at, call_id))
    conn.execute("UPDATE care_call_tasks SET closed_at = %s WHERE closed_at = now()", (at,))
    conn.execute("UPDATE care_call_tasks SET created_at = %s WHERE created_at = now()", (at,))
    _stamp_visit_rows(conn, at)


def _calls(conn: psycopg.Connection[Any], rnd: random.Random, start: date, today: date,
           caller: Actor, supervisor: Actor) -> None:
    """The schedule day by day and the calls made on it: mostly answered and well, some with a
    concern (a visit task), some unanswered (a retry; twice: a visit task); a cold-spell
    campaign for the very old in the middle of last month. Each resident's last call before
    it is on a different day, so the calls due spread over the week."""
    for (rid,) in conn.execute("SELECT id FROM residents WHERE status = 'active' ORDER BY id"
                               ).fetchall():
        day = start - timedelta(days=rnd.randrange(1, 8))
        called = care_calls.record_call(conn, EVERYWHERE, caller, CallIn(
            resident_id=rid, outcome=CallOutcome.WELL, notes="身体挺好"), today=day)
        _stamp_call_rows(conn, called.call_id, _at(day, 10, rnd.randrange(60)))
    for day in [*_days(start, today), today]:
        care_calls.make_schedule(conn, day)
        if day == start + timedelta(days=14):
            campaign = care_calls.start_campaign(conn, EVERYWHERE, supervisor, CampaignIn(
                name=MARK, reason=CampaignReason.COLD, tags=[CareTag.AGED], due_on=day), day)[0]
            conn.execute("UPDATE care_call_campaigns SET created_at = %s WHERE id = %s",
                         (_at(day, 8), campaign))
        conn.execute("UPDATE care_call_tasks SET created_at = %s WHERE created_at = now()",
                     (_at(day, 7),))
        for round_ in (0, 1):  # the day's list, then the retries
            reached: set[int] = set()  # one call a round answers all that are due
            for task in care_calls.call_list(conn, EVERYWHERE, until=day):
                if task.resident_id in reached:
                    continue
                reached.add(task.resident_id)
                if day == today and (round_ or rnd.random() < 0.5):
                    continue  # today: half made so far
                if rnd.random() < 0.06:
                    continue  # not reached today: overdue tomorrow
                roll = rnd.random()
                outcome = CallOutcome.WELL if roll < 0.74 else \
                    CallOutcome.CONCERN if roll < 0.84 else CallOutcome.NO_ANSWER
                at = _at(day, 9 + 4 * round_ + rnd.randrange(4), rnd.randrange(60))
                if day == today:
                    at = datetime.now(UTC) - timedelta(minutes=rnd.randrange(5, 120))
                    if at.astimezone().date() != today:
                        continue
                called = care_calls.record_call(conn, EVERYWHERE, caller, CallIn(
                    resident_id=task.resident_id, task_id=task.id, outcome=outcome,
                    notes={CallOutcome.WELL: "身体挺好，叮嘱按时吃药",
                           CallOutcome.CONCERN: "说最近头晕",
                           CallOutcome.NO_ANSWER: ""}[outcome],
                    concern="头晕，想请社区医生上门看看" if outcome == CallOutcome.CONCERN else ""),
                    today=day)
                _stamp_call_rows(conn, called.call_id, at)


def _alerts(conn: psycopg.Connection[Any], rnd: random.Random, start: date, today: date,
            operator: Actor) -> None:
    """About one alert a day, each answered and closed as an operator would."""
    # not those with a live alert (a database the demo ran on before): theirs would attach
    residents = [int(r[0]) for r in conn.execute(
        "SELECT r.id FROM residents r WHERE r.status NOT IN ('moved', 'deceased') AND NOT "
        "EXISTS (SELECT 1 FROM alerts a WHERE a.resident_id = r.id AND a.state IN ('open', "
        "'claimed', 'dispatched')) ORDER BY id")]
    gateways = [str(r[0]) for r in conn.execute(
        "SELECT g.id FROM gateways g WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE "
        "a.gateway_id = g.id AND a.state IN ('open', 'claimed', 'dispatched')) ORDER BY id")]
    weights = [a[2] for a in ALERTS]
    n = 0
    for day in _days(start, today):
        for _ in range(rnd.choice((0, 1, 1, 1, 2))):
            kind, priority, _share, outcomes = rnd.choices(ALERTS, weights)[0]
            outcome = rnd.choices([o for o, _ in outcomes], [w for _, w in outcomes])[0]
            opened = _at(day, rnd.randrange(6, 23), rnd.randrange(60))
            if kind == AlertType.GATEWAY_OFFLINE:
                if not gateways:
                    continue
                ctx = gateway_context(conn, rnd.choice(gateways))
            else:
                ctx = resident_context(conn, rnd.choice(residents))
            n += 1
            _one_alert(conn, rnd, kind, priority, outcome, ctx, opened, operator, late=n % 7 == 3)


def _one_alert(conn: psycopg.Connection[Any], rnd: random.Random, kind: AlertType,
               priority: Priority, outcome: Outcome, ctx: Any, opened: datetime,
               operator: Actor, *, late: bool) -> None:
    """One alert from its opening to its outcome; ``late``: answered after a minute (escalated
    when urgent)."""
    alert = service.raise_alert(conn, kind, priority, ctx, {"history": True}).alert
    urgent = alert.priority in (Priority.P1, Priority.P2)
    answer = rnd.choice((75, 110, 200)) if urgent and late else \
        rnd.choice((8, 12, 15, 20, 25, 30, 35, 42, 50, 58)) if urgent else \
        rnd.randrange(120, 1800)
    dispatched = 0.0
    if kind == AlertType.GATEWAY_OFFLINE:
        total = float(rnd.randrange(300, 5400))
        service.auto_resolve(conn, alert.id, reason="gateway_online", note="网关已恢复在线")
        answer_at = None
    else:
        if urgent and answer > 60:
            service.escalate(conn, alert.id, 60)
        service.claim(conn, operator, alert.id, scope=EVERYWHERE)
        total = answer + float(rnd.randrange(90, 900))
        if outcome == Outcome.GENUINE and urgent:
            kind_ = DispatchKind.AMBULANCE if kind == AlertType.FALL else DispatchKind.CONTACT
            service.dispatch(conn, operator, alert.id, kind_, "家属" if kind_ ==
                             DispatchKind.CONTACT else "120", scope=EVERYWHERE)
            dispatched = answer + 120.0
            total += 1200
        service.resolve(conn, operator, alert.id, outcome, NOTES.get(outcome, ""),
                        scope=EVERYWHERE)
        answer_at = opened + timedelta(seconds=answer)
    closed = opened + timedelta(seconds=total)
    conn.execute(
        "UPDATE alerts SET opened_at = %(o)s, first_event_at = %(o)s, last_event_at = %(o)s, "
        "claimed_at = %(a)s, answered_at = %(a)s, closed_at = %(c)s, escalated_at = "
        "CASE WHEN escalated THEN %(o)s + interval '60 seconds' END WHERE id = %(id)s",
        {"o": opened, "a": answer_at, "c": closed, "id": alert.id})
    conn.execute("UPDATE dispatches SET created_at = %s, updated_at = %s WHERE alert_id = %s",
                 (opened + timedelta(seconds=dispatched), closed, alert.id))
