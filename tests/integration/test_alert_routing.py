"""Where an alert goes when its device or its place is not known, seen through the HTTP API.

A press from a device the server does not know, on a known gateway, is raised at the gateway's
home and region, marked ``unknown_device``. An alert without any place (a gateway with no home
yet) is unassigned: every operator, whatever their region, and every supervisor sees it and can
work it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kernel.contract import Event, EventType, Topics
from kernel.services.broker import BrokerAddress
from server.alerts import engine
from server.app import create_app
from server.directory import DeviceIn, GatewayIn, HomeIn, add_device, add_gateway, add_home
from server.settings import Settings
from server.store import insert_events
from tests.fixtures.broker import server_broker
from tests.fixtures.ingest import make_event
from tests.fixtures.world import GATEWAY, PASSWORD, World

STRANGER = "rf-99999999"  # paired at no gateway the server knows of


@pytest.fixture
def client(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[TestClient]:
    settings = Settings(database_url=world.schema.conninfo, **server_broker(mqtt_broker),
                        mqtt_root=topics.root)
    with TestClient(create_app(settings, ingest=False)) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"authorization": f"Bearer {r.json()['token']}"}


def raise_from(world: World, event: Event) -> int:
    """Store a new event and run the alert engine on it, as the ingest does."""
    with world.connect() as conn, conn.transaction():
        insert_events(conn, [event], time.time())
        (alert_id,) = engine.on_events(conn, [event])
        return alert_id


def test_an_unknown_devices_press_is_raised_at_the_gateways_home(
        client: TestClient, world: World) -> None:
    alert_id = raise_from(world, make_event(GATEWAY, 1, EventType.PRESS, STRANGER))
    with world.connect() as conn:
        row = conn.execute("SELECT type, priority, home_id, region_id, gateway_id, device, "
                           "details->'unknown_device' FROM alerts WHERE id = %s",
                           (alert_id,)).fetchone()
    assert row == ("panic", "P1", world.home, world.community, GATEWAY, STRANGER, True)

    alice, olga = login(client, "alice"), login(client, "olga")  # this community, another one
    assert [a["id"] for a in client.get("/api/alerts/queue", headers=alice).json()] == [alert_id]
    detail = client.get(f"/api/alerts/{alert_id}", headers=alice).json()
    assert detail["unknown_device"] is True
    assert detail["home"]["address"] == "幸福路 8 号 3 单元 201", "the operator can go there"
    (unknown,) = [d for d in detail["devices"] if d["unknown"]]
    assert (unknown["uid"], unknown["pressed"]) == (STRANGER, True)
    assert not any(d["unknown"] for d in detail["devices"] if d["uid"] != STRANGER)
    assert client.get(f"/api/alerts/{alert_id}", headers=olga).status_code == 404
    assert client.get("/api/alerts/queue", headers=olga).json() == []


def test_a_known_devices_payload_cannot_claim_to_be_unknown(world: World) -> None:
    event = make_event(GATEWAY, 1, EventType.PRESS).model_copy(
        update={"data": {"unknown_device": True}})
    alert_id = raise_from(world, event)
    with world.connect() as conn:
        row = conn.execute("SELECT details ? 'unknown_device' FROM alerts WHERE id = %s",
                           (alert_id,)).fetchone()
    assert row == (False,)


def test_an_alert_without_a_place_is_in_everyones_queue_and_can_be_worked(
        client: TestClient, world: World) -> None:
    with world.connect() as conn:
        add_gateway(conn, GatewayIn(id="gw-spare-0001"))  # provisioned, not installed anywhere
    alert_id = raise_from(world, make_event("gw-spare-0001", 1, EventType.PRESS, STRANGER))
    with world.connect() as conn:
        row = conn.execute("SELECT home_id, region_id FROM alerts WHERE id = %s",
                           (alert_id,)).fetchone()
    assert row == (None, None)

    olga, alice, sam = login(client, "olga"), login(client, "alice"), login(client, "sam")
    for who in (olga, alice, sam):
        queue = client.get("/api/alerts/queue", headers=who).json()
        assert [(a["id"], a["region_id"]) for a in queue] == [(alert_id, None)]
        assert [a["id"] for a in client.get("/api/alerts", headers=who).json()] == [alert_id]
    detail = client.get(f"/api/alerts/{alert_id}", headers=olga).json()
    assert (detail["home"], detail["residents"], detail["unknown_device"]) == (None, [], True)
    assert client.post(f"/api/alerts/{alert_id}/claim", headers=olga).json()["state"] == "claimed"
    r = client.post(f"/api/alerts/{alert_id}/notes", headers=olga, json={"text": "打给装机人员"})
    assert r.status_code == 200
    r = client.post(f"/api/alerts/{alert_id}/resolve", headers=olga,
                    json={"outcome": "genuine", "note": "已联系"})
    assert r.json()["state"] == "resolved"


def test_the_live_feed_brings_unassigned_alerts_to_every_operator(
        client: TestClient, world: World) -> None:
    with world.connect() as conn:
        add_gateway(conn, GatewayIn(id="gw-spare-0002"))
        olgas_home = add_home(conn, HomeIn(region_id=world.other_community, address="和平路 1 号"))
        add_gateway(conn, GatewayIn(id="gw-peace-0001", home_id=olgas_home))
        add_device(conn, DeviceIn(uid="rf-0a1b2c50", gateway_id="gw-peace-0001", model="PB-433"))
    token = login(client, "olga")["authorization"].split()[1]
    with client.websocket_connect(f"/api/live?token={token}") as ws:
        assert ws.receive_json()["type"] == "hello"
        raise_from(world, make_event(GATEWAY, 1, EventType.PRESS))  # not olga's region
        unplaced = raise_from(world, make_event("gw-spare-0002", 1, EventType.PRESS, STRANGER))
        hers = raise_from(world, make_event("gw-peace-0001", 1, EventType.PRESS, "rf-0a1b2c50"))
        seen: list[tuple[int, str]] = []
        while len(seen) < 2:
            message = ws.receive_json()
            if message["type"] == "change":
                seen.append((message["alert"]["id"], message["action"]))
    assert seen == [(unplaced, "open"), (hers, "open")]
