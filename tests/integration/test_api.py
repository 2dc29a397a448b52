"""The HTTP API on real PostgreSQL (and the real broker the runtime subscribes to)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from kernel.contract import EventType, Topics
from kernel.services.broker import BrokerAddress
from server.alerts import engine
from server.app import create_app
from server.settings import Settings
from server.store import insert_events
from tests.fixtures.broker import server_broker
from tests.fixtures.ingest import make_event
from tests.fixtures.world import BUTTON, GATEWAY, PASSWORD, World

_n = iter(range(1, 10**6))


@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    settings = Settings(database_url=world.schema.conninfo, **server_broker(mqtt_broker),
                        mqtt_root=topics.root)
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # each caller uses its bearer token explicitly
    return {"authorization": f"Bearer {r.json()['token']}"}


def press(world: World, etype: EventType = EventType.PRESS) -> int:
    event = make_event(GATEWAY, next(_n), etype, BUTTON)
    with world.connect() as conn, conn.transaction():
        insert_events(conn, [event], time.time())
        return engine.on_events(conn, [event])[0]


def error(r: Any) -> dict[str, Any]:
    body: dict[str, Any] = r.json()["error"]
    assert set(body) >= {"code", "message", "details"}
    return body


def test_login_sets_a_session_and_is_rate_limited(client: TestClient) -> None:
    r = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    assert "pal_session" in r.cookies
    assert client.get("/api/auth/me").json()["role"] == "operator"  # by cookie
    client.cookies.clear()
    assert error(client.get("/api/auth/me"))["code"] == "unauthenticated"
    for _ in range(5):
        assert client.post("/api/auth/login", json={"username": "alice",
                                                     "password": "wrong"}).status_code == 401
    r = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 429, "the sixth attempt waits 2 s, even with the right password"
    assert r.headers["retry-after"] == "2"


def test_the_queue_shows_an_operator_only_their_regions(client: TestClient, world: World) -> None:
    alert_id = press(world)
    alice, olga, bob = login(client, "alice"), login(client, "olga"), login(client, "bob")
    assert [a["id"] for a in client.get("/api/alerts/queue", headers=alice).json()] == [alert_id]
    assert [a["id"] for a in client.get("/api/alerts/queue", headers=bob).json()] == [alert_id]
    assert client.get("/api/alerts/queue", headers=olga).json() == []
    assert client.get(f"/api/alerts/{alert_id}", headers=olga).status_code == 404


def test_claim_race_conflicts_and_errors_use_one_format(client: TestClient, world: World) -> None:
    alert_id = press(world)
    alice, bob = login(client, "alice"), login(client, "bob")
    r = client.post(f"/api/alerts/{alert_id}/resolve", headers=alice, json={"outcome": "genuine"})
    assert (r.status_code, error(r)["code"]) == (409, "invalid_transition")
    assert client.post(f"/api/alerts/{alert_id}/claim", headers=alice).json()["state"] == "claimed"
    r = client.post(f"/api/alerts/{alert_id}/claim", headers=bob)
    assert r.status_code == 409
    assert error(r)["holder"] == "Alice"
    r = client.post(f"/api/alerts/{alert_id}/resolve", headers=alice, json={"outcome": "oops"})
    assert r.status_code == 422
    assert error(r)["details"][0]["field"] == "outcome"
    r = client.post(f"/api/alerts/{alert_id}/resolve", headers=alice, json={"outcome": "cleared"})
    assert r.status_code == 422, "system outcomes are not for operators"
    assert client.post("/api/alerts/999999/claim", headers=alice).status_code == 404


def test_an_alert_from_claim_to_resolution(client: TestClient, world: World) -> None:
    alert_id = press(world)
    alice = login(client, "alice")
    detail = client.get(f"/api/alerts/{alert_id}", headers=alice).json()
    assert detail["residents"][0]["name"] == "王秀英"
    assert detail["contacts"][0]["phone"] == "13800000001"
    assert detail["home"]["has_key_safe"] is True
    assert "key_safe_code" not in detail["home"], "shown only on demand"
    assert [t["action"] for t in detail["timeline"]] == ["press", "open"]
    client.post(f"/api/alerts/{alert_id}/claim", headers=alice)
    assert client.post(f"/api/alerts/{alert_id}/key-safe", headers=alice).json() == {
        "code": "4711"}
    client.post(f"/api/alerts/{alert_id}/calls", headers=alice,
                json={"outcome": "no_answer", "contact_id": detail["contacts"][0]["id"]})
    r = client.post(f"/api/alerts/{alert_id}/dispatches", headers=alice,
                    json={"kind": "community_worker", "target": "李网格员"})
    assert r.json()["state"] == "dispatched"
    (dispatch,) = client.get(f"/api/alerts/{alert_id}", headers=alice).json()["dispatches"]
    r = client.patch(f"/api/alerts/{alert_id}/dispatches/{dispatch['id']}", headers=alice,
                     json={"status": "arrived"})
    assert r.status_code == 200
    client.post(f"/api/alerts/{alert_id}/notes", headers=alice, json={"text": "老人摔倒, 已扶起"})
    r = client.post(f"/api/alerts/{alert_id}/resolve", headers=alice,
                    json={"outcome": "genuine", "note": "家属已到"})
    assert (r.json()["state"], r.json()["outcome"]) == ("resolved", "genuine")
    timeline = client.get(f"/api/alerts/{alert_id}", headers=alice).json()["timeline"]
    assert [t["action"] for t in timeline if t["kind"] == "audit"] == [
        "open", "claim", "reveal_key_safe", "call", "dispatch", "dispatch_status", "note",
        "resolve"]
    assert all(t["actor"] == "Alice" for t in timeline[2:])
    history = client.get("/api/alerts", headers=alice, params={"state": "resolved", "q": "王"})
    assert [a["id"] for a in history.json()] == [alert_id]


def test_answer_time_report_is_for_supervisors(client: TestClient, world: World) -> None:
    fast, slow = press(world), press(world, EventType.FALL)
    alice = login(client, "alice")
    client.post(f"/api/alerts/{fast}/claim", headers=alice)
    with world.connect() as conn:
        conn.execute("UPDATE alerts SET opened_at = answered_at - interval '10 seconds' "
                     "WHERE id = %s", (fast,))
    assert client.get("/api/reports/answer-times", headers=alice).status_code == 403
    report = client.get("/api/reports/answer-times", headers=login(client, "sam")).json()
    assert (report["alarms"], report["answered"]) == (2, 1)
    assert report["within_60s"] == 0.5
    assert 9 <= report["p50_s"] <= 11
    assert slow


def test_live_feed_resumes_from_a_cursor_and_misses_nothing(client: TestClient,
                                                            world: World) -> None:
    token = login(client, "alice")["authorization"].split()[1]
    with client.websocket_connect(f"/api/live?token={token}") as ws:
        hello = ws.receive_json()
        first = press(world)
        change = ws.receive_json()
        while change["type"] != "change":
            change = ws.receive_json()
    assert change["alert"]["id"] == first
    assert change["seq"] > hello["seq"]
    second = press(world, EventType.FALL)  # while nobody listens
    client.post(f"/api/alerts/{first}/claim", headers={"authorization": f"Bearer {token}"})
    with client.websocket_connect(f"/api/live?token={token}&since={change['seq']}") as ws:
        ws.receive_json()  # hello
        missed = [ws.receive_json() for _ in range(2)]
    assert [(m["alert"]["id"], m["action"]) for m in missed] == [(second, "open"),
                                                                 (first, "claim")]
    with pytest.raises(WebSocketDisconnect) as refused, \
            client.websocket_connect("/api/live") as ws:
        ws.receive_json()
    assert refused.value.code == 4401, "signed-out clients are told why"
