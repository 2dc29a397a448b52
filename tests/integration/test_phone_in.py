"""Manual alerts for inbound calls (a landline, the 12349 hotline): opened by an operator through
the PHONE_IN rule, then the same state machine, escalation and answer-time report as any alarm;
and the away status as the queue shows it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from server import reports
from server.alerts import escalation, queries
from server.alerts.model import Role
from server.auth.users import create_user
from server.directory import StatusIn, set_status
from server.scope import ALL, Scope
from tests.fixtures.api import api_client
from tests.fixtures.world import PASSWORD, World

CALL = {"caller": "王强", "caller_phone": "13800000001", "relation": "儿子",
        "channel": "hotline_12349", "reason": "母亲电话没人接，请上门看看", "priority": "P1"}


@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    with world.connect() as conn:
        create_user(conn, "tina", "Tina", Role.TECHNICIAN, PASSWORD, regions=(world.community,))
    with api_client(world, mqtt_broker, topics) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"authorization": f"Bearer {r.json()['token']}"}


def test_an_operator_opens_works_and_resolves_a_phone_in(client: TestClient,
                                                         world: World) -> None:
    alice = login(client, "alice")
    r = client.post("/api/alerts/phone-in", headers=alice,
                    json={**CALL, "resident_id": world.resident})
    assert r.status_code == 201, r.text
    opened = r.json()
    assert (opened["type"], opened["priority"], opened["state"], opened["claimed_by"],
            opened["opened"], opened["title"], opened["region_id"]) == (
        "phone_in", "P1", "claimed", "Alice", True, "王秀英", world.community)
    detail = client.get(f"/api/alerts/{opened['id']}", headers=alice).json()
    assert detail["details"]["caller"] == "王强"
    assert detail["details"]["channel"] == "hotline_12349"
    assert [(e["action"], e["actor"], e["note"]) for e in detail["timeline"]] == [
        ("phone_in", "Alice", CALL["reason"]), ("claim", "Alice", "")]
    done = client.post(f"/api/alerts/{opened['id']}/resolve", headers=alice,
                       json={"outcome": "resolved_by_phone", "note": "已联系邻居，老人平安"})
    assert done.json()["state"] == "resolved"
    with world.connect() as conn:
        report = reports.answer_times(conn, Scope.of(world.operator))
    assert (report.alarms, report.answered, report.within_60s) == (1, 1, 1.0)


def test_left_for_the_queue_it_escalates_like_any_alarm(client: TestClient,
                                                        world: World) -> None:
    alice = login(client, "alice")
    r = client.post("/api/alerts/phone-in", headers=alice,
                    json={**CALL, "resident_id": world.resident, "take": False})
    alert = r.json()
    assert (alert["state"], alert["claimed_by"]) == ("open", None)
    with world.connect() as conn:
        conn.execute("UPDATE alerts SET opened_at = now() - interval '61 seconds' "
                     "WHERE id = %s", (alert["id"],))
        escalated, _ = escalation.escalate(conn, 60.0, 900.0)
        assert escalated == [alert["id"]]
        assert [a["id"] for a in queries.queue(conn, Scope.of(world.operator2))] == [alert["id"]]


def test_a_second_call_about_the_same_resident_is_a_note_on_the_first(
        client: TestClient, world: World) -> None:
    alice, bob = login(client, "alice"), login(client, "bob")
    first = client.post("/api/alerts/phone-in", headers=alice,
                        json={**CALL, "resident_id": world.resident}).json()
    again = client.post("/api/alerts/phone-in", headers=bob, json={
        **CALL, "caller": "李阿姨", "reason": "邻居也打来了", "resident_id": world.resident})
    assert again.status_code == 201
    assert (again.json()["id"], again.json()["opened"], again.json()["claimed_by"]) == (
        first["id"], False, "Alice")  # still Alice's
    timeline = client.get(f"/api/alerts/{first['id']}", headers=bob).json()["timeline"]
    assert (timeline[-1]["action"], timeline[-1]["actor"], timeline[-1]["note"]) == (
        "note", "Bob", "邻居也打来了")


def test_who_may_open_one_and_for_whom(client: TestClient, world: World) -> None:
    tina, olga = login(client, "tina"), login(client, "olga")
    r = client.post("/api/alerts/phone-in", headers=tina,
                    json={**CALL, "resident_id": world.resident})
    assert r.status_code == 403
    r = client.post("/api/alerts/phone-in", headers=olga,
                    json={**CALL, "resident_id": world.resident})
    assert r.status_code == 404  # not her community: as if the resident did not exist
    r = client.post("/api/alerts/phone-in", headers=olga, json={**CALL, "priority": "TEST"})
    assert r.status_code == 422
    stranger = client.post("/api/alerts/phone-in", headers=olga, json={
        **CALL, "caller": "路人", "reason": "小区门口有老人摔倒", "take": False}).json()
    assert (stranger["region_id"], stranger["title"]) == (None, "路人")  # unassigned: all see it
    alice = login(client, "alice")
    queue = client.get("/api/alerts/queue", headers=alice).json()
    assert stranger["id"] in [a["id"] for a in queue]


def test_the_queue_shows_a_resident_away(client: TestClient, world: World) -> None:
    alice = login(client, "alice")
    until = datetime.now(UTC) + timedelta(days=3)
    with world.connect() as conn:
        set_status(conn, world.resident, StatusIn(status="away", until=until))
    r = client.post("/api/alerts/phone-in", headers=alice,
                    json={**CALL, "resident_id": world.resident}).json()
    with world.connect() as conn:
        (row,) = queries.queue(conn, ALL)
    assert (row["id"], row["resident_away"]) == (r["id"], "away")
    assert row["resident_away_until"] == until
    card = client.get(f"/api/alerts/{r['id']}", headers=alice).json()["residents"][0]
    assert (card["status"], card["away_until"]) == ("away", until.isoformat().replace(
        "+00:00", "Z"))
