"""The alert engine and state machine on real PostgreSQL."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from kernel.contract import EventType
from server.alerts import engine
from server.alerts.context import Context, raised_priority
from server.alerts.escalation import escalate
from server.alerts.machine import load, transition
from server.alerts.model import (
    SYSTEM,
    Action,
    AlertType,
    AlreadyClaimed,
    Forbidden,
    InvalidTransition,
    Outcome,
    Priority,
    State,
)
from server.directory.care_rules import list_rules
from server.store import insert_events, set_gateway_state
from tests.fixtures.ingest import make_event
from tests.fixtures.world import BUTTON, CORD, GATEWAY, World

_n = iter(range(1, 10**6))


def store(conn: psycopg.Connection[Any], etype: EventType, device: str = BUTTON,
          **data: Any) -> list[int]:
    """Store one event as ingest does and run the engine in the same transaction."""
    event = make_event(GATEWAY, next(_n), etype, device)
    if data:
        event = event.model_copy(update={"data": data})
    with conn.transaction():
        insert_events(conn, [event], time.time())
        return engine.on_events(conn, [event])


def audit(conn: psycopg.Connection[Any], alert_id: int) -> list[tuple[str, str, str, str]]:
    return [tuple(r) for r in conn.execute(
        "SELECT actor, action, from_state, to_state FROM alert_audit WHERE alert_id = %s "
        "ORDER BY id", (alert_id,))]


def test_a_press_opens_a_p1_alert_for_the_resident(world: World) -> None:
    with world.connect() as conn:
        (alert_id,) = store(conn, EventType.PRESS)
        alert = load(conn, alert_id)
        assert (alert.type, alert.priority, alert.state) == (AlertType.PANIC, Priority.P1,
                                                             State.OPEN)
        assert (alert.resident_id, alert.home_id, alert.region_id) == (
            world.resident, world.home, world.community)
        assert alert.title == "王秀英"
        assert audit(conn, alert_id) == [("system", "open", "open", "open")]


def test_repeated_presses_attach_to_the_open_alert_and_a_new_one_opens_after_resolution(
        world: World) -> None:
    with world.connect() as conn:
        (first,) = store(conn, EventType.PRESS)
        assert store(conn, EventType.PRESS) == [first]
        assert store(conn, EventType.LONG_PRESS) == [first]
        assert load(conn, first).event_count == 3
        assert [a for _, a, _, _ in audit(conn, first)] == ["open", "bump", "bump"]
        transition(conn, first, Action.CLAIM, world.operator.actor)
        transition(conn, first, Action.RESOLVE, world.operator.actor, outcome=Outcome.GENUINE)
        (second,) = store(conn, EventType.PRESS)
        linked = conn.execute("SELECT count(*) FROM alert_events WHERE alert_id = %s",
                              (first,)).fetchone()
    assert second != first
    assert linked == (3,)


def test_cancel_within_the_window_cancels_and_keeps_the_record(world: World) -> None:
    with world.connect() as conn:
        (alert_id,) = store(conn, EventType.PRESS)
        assert store(conn, EventType.CANCEL) == [alert_id]
        alert = load(conn, alert_id)
        assert (alert.state, alert.outcome) == (State.CANCELLED, "cancelled_by_resident")
        assert audit(conn, alert_id)[-1] == ("system", "cancel", "open", "cancelled")


def test_cancel_after_claim_is_only_noted_for_the_operator(world: World) -> None:
    with world.connect() as conn:
        (alert_id,) = store(conn, EventType.PRESS)
        transition(conn, alert_id, Action.CLAIM, world.operator.actor)
        store(conn, EventType.CANCEL)
        assert load(conn, alert_id).state == State.CLAIMED
        assert audit(conn, alert_id)[-1][1] == "note"


def test_invalid_transitions_change_nothing(world: World) -> None:
    with world.connect() as conn:
        (alert_id,) = store(conn, EventType.PRESS)
        before = load(conn, alert_id)
        with pytest.raises(InvalidTransition, match="cannot resolve"):
            transition(conn, alert_id, Action.RESOLVE, world.operator.actor,
                       outcome=Outcome.FALSE_ALARM)
        transition(conn, alert_id, Action.CLAIM, world.operator.actor)
        with pytest.raises(InvalidTransition, match="needs an outcome"):
            transition(conn, alert_id, Action.RESOLVE, world.operator.actor)
        with pytest.raises(Forbidden):
            transition(conn, alert_id, Action.RESOLVE, world.operator2.actor,
                       outcome=Outcome.GENUINE)
        transition(conn, alert_id, Action.RESOLVE, world.operator.actor, outcome=Outcome.GENUINE)
        with pytest.raises(InvalidTransition):
            transition(conn, alert_id, Action.CLAIM, world.operator2.actor)
        after = load(conn, alert_id)
        assert after.version == before.version + 2  # the claim and the resolve only
        assert len(audit(conn, alert_id)) == 3


def test_two_operators_claiming_at_once_exactly_one_wins(world: World) -> None:
    with world.connect() as conn:
        (alert_id,) = store(conn, EventType.PRESS)
    results: list[str] = []
    start = threading.Barrier(2)

    def claim(user_actor: Any) -> None:
        with world.connect() as c:
            start.wait()
            try:
                transition(c, alert_id, Action.CLAIM, user_actor)
                results.append("won")
            except AlreadyClaimed as exc:
                results.append(f"lost to {exc.holder}")

    threads = [threading.Thread(target=claim, args=(u.actor,))
               for u in (world.operator, world.operator2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results)[1] == "won"
    assert sorted(results)[0] in ("lost to Alice", "lost to Bob")
    with world.connect() as conn:
        assert [a for _, a, _, _ in audit(conn, alert_id)].count("claim") == 1


def test_escalation_and_reminders_are_audited_and_notify_webhooks(world: World) -> None:
    with world.connect() as conn:
        conn.execute("INSERT INTO webhooks (region_id, url) VALUES (%s, 'http://127.0.0.1:9/x')",
                     (world.street,))
        (late,) = store(conn, EventType.PRESS)
        (claimed,) = store(conn, EventType.PRESS, CORD)  # no resident: keyed by home
        transition(conn, claimed, Action.CLAIM, world.operator.actor)
        conn.execute("UPDATE alerts SET opened_at = now() - interval '61 seconds', "
                     "claimed_at = now() - interval '16 minutes'")
        escalated, reminded = escalate(conn, unclaimed_s=60, remind_s=900)
        assert (escalated, reminded) == ([late], [claimed])
        assert escalate(conn, unclaimed_s=60, remind_s=900) == ([], []), "once only"
        alert = load(conn, late)
        deliveries = conn.execute("SELECT event, payload->'alert'->>'id' FROM "
                                  "notification_deliveries").fetchall()
    assert alert.escalated
    assert alert.state == State.OPEN
    assert deliveries == [("escalate", str(late))]


def test_care_tags_raise_p2_and_technical_alerts_are_per_device(world: World) -> None:
    ctx = Context(resident_id=1, care_tags=("高龄", "独居"))
    with world.connect() as conn:
        rules = list_rules(conn)  # the defaults
        assert raised_priority(Priority.P2, ctx, rules) == Priority.P1
        assert raised_priority(Priority.P2, Context(care_tags=("独居",)), rules) == Priority.P2
        assert raised_priority(Priority.P3, ctx, rules) == Priority.P3
        (low,) = store(conn, EventType.LOW_BATTERY, CORD)
        (tamper,) = store(conn, EventType.TAMPER, CORD, open=True)
        assert store(conn, EventType.TAMPER, CORD, open=False) == []
        assert store(conn, EventType.MOTION, CORD) == []
        (test_alert,) = store(conn, EventType.TEST, BUTTON)
        rows = dict(conn.execute("SELECT type, priority FROM alerts").fetchall())
    assert low != tamper
    assert rows == {"low_battery": "P3", "tamper": "P3", "test": "TEST"}
    assert test_alert not in (low, tamper)


def test_gateway_offline_alert_opens_after_grace_and_clears_itself(world: World) -> None:
    with world.connect() as conn:
        set_gateway_state(conn, GATEWAY, "offline", time.time() - 300)
        (alert_id,) = engine.sync_technical(conn, offline_grace_s=120)
        assert engine.sync_technical(conn, offline_grace_s=120) == []
        assert load(conn, alert_id).type == AlertType.GATEWAY_OFFLINE
        set_gateway_state(conn, GATEWAY, "online", time.time())
        assert engine.sync_technical(conn, offline_grace_s=120) == [alert_id]
        alert = load(conn, alert_id)
    assert (alert.state, alert.outcome) == (State.RESOLVED, "cleared")


def test_system_only_actions_are_refused_to_users(world: World) -> None:
    with world.connect() as conn:
        (alert_id,) = store(conn, EventType.PRESS)
        with pytest.raises(Forbidden):
            transition(conn, alert_id, Action.ESCALATE, world.supervisor.actor)
        transition(conn, alert_id, Action.ESCALATE, SYSTEM)
        assert load(conn, alert_id).escalated


def test_a_cancel_does_not_cancel_another_devices_alarm(world: World) -> None:
    with world.connect() as conn:
        (alert_id,) = store(conn, EventType.PRESS, CORD)  # the pull cord: keyed by home
        assert store(conn, EventType.PRESS, CORD) == [alert_id]
        conn.execute("UPDATE devices SET resident_id = NULL WHERE uid = %s", (BUTTON,))
        assert store(conn, EventType.CANCEL, BUTTON) == [alert_id]
        alert = load(conn, alert_id)
    assert alert.state == State.OPEN, "the bedside button cannot cancel the pull cord's alarm"
