"""The alert service alone (no HTTP): every action, its audit rows and change-feed rows, opening
by the rule table, and the caller's scope."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from kernel.contract import EventType
from server.alerts import machine, service
from server.alerts.context import Context, contexts, gateway_context
from server.alerts.feed import changes_since, safe_head
from server.alerts.machine import RULES, Rule
from server.alerts.model import (
    SYSTEM,
    Action,
    AlertType,
    CallOutcome,
    DispatchKind,
    DispatchStatus,
    Forbidden,
    InvalidTransition,
    NewAlert,
    NotFound,
    Outcome,
    Priority,
    State,
)
from server.directory import GatewayIn, add_gateway
from server.scope import Scope
from server.store import insert_events
from tests.fixtures.ingest import make_event
from tests.fixtures.world import BUTTON, GATEWAY, World


def audit_rows(conn: psycopg.Connection[Any], alert_id: int) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT actor_id, actor, action, from_state, to_state, note, data "
                        "FROM alert_audit WHERE alert_id = %s ORDER BY id",
                        (alert_id,)).fetchall()


def button_context(conn: psycopg.Connection[Any]) -> Context:
    return contexts(conn, [BUTTON])[BUTTON]


def test_open_claim_dispatch_resolve_through_the_service_alone(world: World) -> None:
    alice = world.operator
    scope = Scope.of(alice)
    with world.connect() as conn:
        start = safe_head(conn)
        event = make_event(GATEWAY, 1, EventType.PRESS, BUTTON)
        with conn.transaction():
            insert_events(conn, [event], time.time())
            raised = service.raise_alert(conn, AlertType.PANIC, Priority.P1,
                                         button_context(conn), {"via": "test"},
                                         event_id=event.id)
        alert_id = raised.alert.id
        assert raised.opened
        assert (raised.alert.state, raised.alert.region_id) == (State.OPEN, world.community)

        claimed = service.claim(conn, alice.actor, alert_id, scope=scope)
        assert (claimed.state, claimed.claimed_by) == (State.CLAIMED, alice.id)
        sent = service.dispatch(conn, alice.actor, alert_id, DispatchKind.COMMUNITY_WORKER,
                                "社区网格员 李", "on the way", scope=scope)
        assert sent.alert.state == State.DISPATCHED
        service.dispatch_status(conn, alice.actor, alert_id, sent.dispatch_id,
                                DispatchStatus.ARRIVED, "at the door", scope=scope)
        resolved = service.resolve(conn, alice.actor, alert_id, Outcome.GENUINE, "helped up",
                                   scope=scope)
        assert (resolved.state, resolved.outcome) == (State.RESOLVED, "genuine")
        assert resolved.version == raised.alert.version + 4

        rows = audit_rows(conn, alert_id)
        dispatch = conn.execute("SELECT kind, target, status, created_by FROM dispatches "
                                "WHERE id = %s", (sent.dispatch_id,)).fetchone()
        linked = conn.execute("SELECT event_id FROM alert_events WHERE alert_id = %s",
                              (alert_id,)).fetchall()
        feed = [(c["alert_id"], c["action"]) for c in changes_since(conn, start)]
    assert [r[:6] for r in rows] == [
        (None, "system", "open", "open", "open", ""),
        (alice.id, "Alice", "claim", "open", "claimed", ""),
        (alice.id, "Alice", "dispatch", "claimed", "dispatched", "on the way"),
        (alice.id, "Alice", "dispatch_status", "dispatched", "dispatched", "at the door"),
        (alice.id, "Alice", "resolve", "dispatched", "resolved", "helped up"),
    ]
    assert rows[0][6] == {"event": event.id, "priority": "P1"}
    assert rows[2][6] == {"dispatch": sent.dispatch_id, "kind": "community_worker",
                          "target": "社区网格员 李"}
    assert rows[3][6] == {"dispatch": sent.dispatch_id, "status": "arrived"}
    assert rows[4][6] == {"outcome": "genuine"}
    assert dispatch == ("community_worker", "社区网格员 李", "arrived", alice.id)
    assert linked == [(event.id,)]
    assert feed == [(alert_id, a) for a in ("open", "claim", "dispatch", "dispatch_status",
                                            "resolve")]


def test_a_repeat_attaches_to_the_active_alert(world: World) -> None:
    with world.connect() as conn:
        first = service.raise_alert(conn, AlertType.PANIC, Priority.P1, button_context(conn))
        again = service.raise_alert(conn, AlertType.PANIC, Priority.P1, button_context(conn))
        assert (again.alert.id, again.opened) == (first.alert.id, False)
        assert again.alert.event_count == 2
        assert [r[2] for r in audit_rows(conn, first.alert.id)] == ["open", "bump"]


def test_opening_goes_through_the_rule_table(world: World) -> None:
    assert RULES[Action.OPEN] == Rule((machine.NEW,), State.OPEN, machine.SYSTEM_ONLY)
    new = NewAlert(AlertType.PANIC, Priority.P1, "resident:test:panic", "test")
    with world.connect() as conn:
        with pytest.raises(Forbidden, match="done by the system"):
            machine.open_alert(conn, new, world.supervisor.actor)
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)

        opened = machine.open_alert(conn, new)
        assert opened is not None
        assert machine.open_alert(conn, new) is None, "the incident has its active alert"
        with pytest.raises(InvalidTransition, match=r"cannot open alert \d+: it is open "
                                                    r"\(allowed from: new\)"):
            machine.transition(conn, opened.id, Action.OPEN, SYSTEM)
        with pytest.raises(InvalidTransition, match="cannot claim a new alert"):
            machine.check(conn, None, Action.CLAIM, world.operator.actor)
        assert machine.load(conn, opened.id).version == opened.version
        assert len(audit_rows(conn, opened.id)) == 1


def test_an_alert_outside_the_scope_is_not_found_and_unchanged(world: World) -> None:
    olga = world.outsider  # another community's operator
    with world.connect() as conn:
        placed = service.raise_alert(conn, AlertType.PANIC, Priority.P1, button_context(conn))
        add_gateway(conn, GatewayIn(id="gw-spare-0001"))  # not installed in any home
        unplaced = service.raise_alert(conn, AlertType.PANIC, Priority.P1,
                                       gateway_context(conn, "gw-spare-0001"))
        assert unplaced.alert.region_id is None
        for act in (lambda: service.claim(conn, olga.actor, placed.alert.id,
                                          scope=Scope.of(olga)),
                    lambda: service.note(conn, olga.actor, placed.alert.id, "hello",
                                         scope=Scope.of(olga)),
                    lambda: service.reveal_key_safe(conn, olga.actor, placed.alert.id,
                                                    scope=Scope.of(olga))):
            with pytest.raises(NotFound, match=f"no alert {placed.alert.id}"):
                act()
        assert len(audit_rows(conn, placed.alert.id)) == 1
        taken = service.claim(conn, olga.actor, unplaced.alert.id, scope=Scope.of(olga))
        assert taken.claimed_by == olga.id, "an unplaced alert is everyone's to work"


def test_key_safe_reveals_are_audited_and_a_missing_dispatch_is_not_found(
        world: World) -> None:
    alice = world.operator
    scope = Scope.of(alice)
    with world.connect() as conn:
        alert_id = service.raise_alert(conn, AlertType.PANIC, Priority.P1,
                                       button_context(conn)).alert.id
        assert service.reveal_key_safe(conn, alice.actor, alert_id, scope=scope) == "4711"
        service.claim(conn, alice.actor, alert_id, scope=scope)
        service.dispatch(conn, alice.actor, alert_id, DispatchKind.AMBULANCE, scope=scope)
        with pytest.raises(NotFound, match="no dispatch 999999"):
            service.dispatch_status(conn, alice.actor, alert_id, 999999,
                                    DispatchStatus.EN_ROUTE, scope=scope)
        service.call(conn, alice.actor, alert_id,
                     service.Call(CallOutcome.ANSWERED, number="13800000001"),
                     "son is coming", scope=scope)
        with pytest.raises(InvalidTransition, match="cannot release"):  # dispatched by now
            service.release(conn, alice.actor, alert_id, scope=scope)
        rows = audit_rows(conn, alert_id)
    actions = [(r[2], r[5]) for r in rows]
    assert actions == [("open", ""), ("reveal_key_safe", ""), ("claim", ""), ("dispatch", ""),
                       ("call", "son is coming")]
    assert rows[4][6] == {"outcome": "answered", "contact_id": None, "number": "13800000001"}


def test_system_actions_escalate_remind_reprioritise_and_auto_resolve(world: World) -> None:
    with world.connect() as conn:
        alert_id = service.raise_alert(conn, AlertType.FALL, Priority.P1,
                                       button_context(conn)).alert.id
        assert service.escalate(conn, alert_id, 60).escalated
        assert service.reprioritise(conn, alert_id, Priority.P2, "got up").priority \
            == Priority.P2
        service.claim(conn, world.operator.actor, alert_id, scope=Scope.of(world.operator))
        service.remind(conn, alert_id, 900)
        done = service.auto_resolve(conn, alert_id, reason="back_online", note="back online")
        rows = audit_rows(conn, alert_id)
    assert (done.state, done.outcome) == (State.RESOLVED, "cleared")
    assert [r[2] for r in rows] == ["open", "escalate", "reprioritise", "claim", "remind",
                                    "auto_resolve"]
    assert rows[1][6] == {"reason": "unclaimed", "seconds": 60}
    assert rows[4][6] == {"reason": "unresolved", "minutes": 15}


def test_opening_is_one_transaction_with_its_event_link(world: World) -> None:
    """An opening whose event cannot be linked (no such event) leaves no alert behind."""
    with world.connect() as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            service.raise_alert(conn, AlertType.PANIC, Priority.P1, button_context(conn),
                                event_id="gw-world-0001:never-stored")
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM alert_changes").fetchone() == (0,)
