"""Who may take which alert action: the rule table's ``who`` (least privilege), checked for every
role, action and priority, and over the API."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from kernel.contract import EventType
from server.alerts import engine, machine
from server.alerts.model import (
    Action,
    Actor,
    Alert,
    AlertType,
    Forbidden,
    Outcome,
    Priority,
    Role,
    State,
)
from server.store import insert_events
from tests.fixtures.ingest import make_event
from tests.fixtures.staff import Staff, bearer
from tests.fixtures.world import BUTTON, GATEWAY, World

USER_ACTIONS = (Action.CLAIM, Action.RELEASE, Action.NOTE, Action.CALL, Action.DISPATCH,
                Action.DISPATCH_STATUS, Action.RESOLVE, Action.REVEAL_KEY_SAFE)
TECHNICIAN_MAY = {Action.CLAIM, Action.RELEASE, Action.NOTE, Action.RESOLVE}
CALL_TAKERS = {Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN}
CREATED_BY_USERS = {Action.PHONE_IN: CALL_TAKERS}  # rules that open an alert, and who may
_n = itertools.count(1)


def expected(role: Role, priority: Priority) -> set[Action]:
    """The policy, in words: call takers do everything; technicians claim, release, note and
    resolve test and technical alerts only (no key safe, no calls or dispatches); auditors
    read only."""
    if role in (Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN):
        return set(USER_ACTIONS)
    if role == Role.TECHNICIAN and priority in (Priority.P3, Priority.TEST):
        return TECHNICIAN_MAY
    return set()


def _alert(action: Action, priority: Priority, holder: int) -> Alert:
    """An alert in a state the action is allowed from, claimed by ``holder`` when it must be."""
    state = {Action.CLAIM: State.OPEN, Action.DISPATCH_STATUS: State.DISPATCHED}.get(
        action, State.CLAIMED)
    now = datetime.now(UTC)
    return Alert(1, AlertType.PANIC, priority, state, False, None, None, None, None, None, "t",
                 {}, 1, now, now, None if state == State.OPEN else holder, None, None, None,
                 None, 1)


@pytest.mark.parametrize("role", [r for r in Role if r != Role.SYSTEM])
def test_the_rule_table_admits_each_role_to_what_it_needs_and_no_more(
        world: World, role: Role) -> None:
    actor = Actor(99, role.value, role)
    with world.connect() as conn:
        for priority in Priority:
            allowed = set()
            for action in USER_ACTIONS:
                try:
                    machine.check(conn, _alert(action, priority, actor.id or 0), action, actor,
                                  Outcome.GENUINE)
                except Forbidden:
                    continue
                allowed.add(action)
            assert allowed == expected(role, priority), (role, priority)
            assert set(machine.permitted(role, priority)) == expected(role, priority)


def test_system_actions_stay_the_systems() -> None:
    for action, rule in machine.RULES.items():
        users = set(rule.who) - {Role.SYSTEM}
        if action in CREATED_BY_USERS:
            assert users == CREATED_BY_USERS[action], action
        else:
            assert (action in USER_ACTIONS) == bool(users), action
        assert Role.AUDITOR not in rule.who


def raise_event(world: World, etype: EventType) -> int:
    event = make_event(GATEWAY, next(_n), etype, BUTTON)
    with world.connect() as conn, conn.transaction():
        insert_events(conn, [event], time.time())
        return engine.on_events(conn, [event])[0]


def test_a_technician_handles_test_and_technical_alerts_only(
        client: TestClient, world: World, staff: Staff) -> None:
    tina = bearer(world, staff.technician)
    panic, test = raise_event(world, EventType.PRESS), raise_event(world, EventType.TEST)
    why = {}
    for path, body in (("claim", None), ("notes", {"text": "checked"}), ("key-safe", None)):
        r = client.post(f"/api/alerts/{panic}/{path}", headers=tina, json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), path
        why[path] = r.json()["error"]["message"]
    assert why["claim"].startswith("a technician may claim only P3 and TEST alerts")
    assert why["key-safe"].startswith("a technician may not reveal_key_safe alerts")
    assert client.get(f"/api/alerts/{panic}", headers=tina).json()["may"] == []

    assert client.get(f"/api/alerts/{test}", headers=tina).json()["may"] == [
        "claim", "release", "note", "resolve"]
    assert client.post(f"/api/alerts/{test}/claim", headers=tina).status_code == 200
    assert client.post(f"/api/alerts/{test}/notes", headers=tina,
                       json={"text": "button mounted"}).status_code == 200
    assert client.post(f"/api/alerts/{test}/key-safe", headers=tina).status_code == 403
    assert client.post(f"/api/alerts/{test}/calls", headers=tina,
                       json={"outcome": "answered"}).status_code == 403
    r = client.post(f"/api/alerts/{test}/resolve", headers=tina, json={"outcome": "test"})
    assert (r.status_code, r.json()["state"]) == (200, "resolved")


def test_an_auditor_reads_and_does_nothing_else(client: TestClient, world: World,
                                               staff: Staff) -> None:
    audrey = bearer(world, staff.auditor)
    panic = raise_event(world, EventType.PRESS)
    detail = client.get(f"/api/alerts/{panic}", headers=audrey).json()
    assert detail["may"] == []
    assert [t["action"] for t in detail["timeline"]] == ["press", "open"], "the audit trail"
    assert [a["id"] for a in client.get("/api/alerts", headers=audrey).json()] == [panic]
    for path, body in (("claim", None), ("notes", {"text": "x"}), ("key-safe", None)):
        r = client.post(f"/api/alerts/{panic}/{path}", headers=audrey, json=body)
        assert r.status_code == 403, path
        assert "an auditor may not" in r.json()["error"]["message"]
    operator = client.get(f"/api/alerts/{panic}", headers=bearer(world, world.operator)).json()
    assert operator["may"] == [a.value for a in USER_ACTIONS]
