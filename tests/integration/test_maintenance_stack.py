"""Maintenance through the whole platform: the console's commands reach a real gateway and their
results come back through the ingest (matched by id); restarting the uplink keeps the outbox;
an installation test passes on the button's real press and nothing enters the queue."""

from __future__ import annotations

from typing import Any

import httpx

from kernel import __version__
from server.alerts.model import Role
from server.auth.users import create_user
from tests.fixtures.stack import HomeGateway, Stack, full_stack, home_gateway
from tests.fixtures.staff import add_staff
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import BUTTON, GATEWAY, PASSWORD

__all__ = ["full_stack", "home_gateway"]


def _commands(api: httpx.Client) -> dict[str, dict[str, Any]]:
    r = api.get(f"/api/maintenance/gateways/{GATEWAY}/commands")
    r.raise_for_status()
    return {c["id"]: c for c in r.json()}


def _send(api: httpx.Client, op: str, **body: Any) -> str:
    r = api.post(f"/api/maintenance/gateways/{GATEWAY}/commands", json={"op": op, **body})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "pending"
    assert r.json()["actor"] == "tina"
    return str(r.json()["id"])


def test_console_commands_and_their_results(full_stack: Stack,
                                            home_gateway: HomeGateway) -> None:
    add_staff(full_stack.world)
    api = full_stack.client("tina")
    status = _send(api, "status")
    eventually_sync(lambda: _commands(api)[status]["state"] != "pending", 15,
                    "the status result", every=0.1)
    result = _commands(api)[status]
    assert result["state"] == "ok"
    assert result["result"]["gw"] == GATEWAY
    assert "outbox" in result["result"]
    assert result["answered_at"] is not None
    (health,) = [g for g in api.get("/api/maintenance/gateways").json() if g["id"] == GATEWAY]
    assert health["state"] == "online"
    assert health["firmware"] == __version__  # from its retained status

    # restart the uplink: the gateway logs in again; what it held is still sent
    before = home_gateway.gateway.counters["mqtt_connects"]
    restart = _send(api, "restart_uplink")
    eventually_sync(lambda: _commands(api)[restart]["state"] == "ok", 15, "the restart",
                    every=0.1)
    eventually_sync(lambda: home_gateway.gateway.counters["mqtt_connects"] > before, 15,
                    "a new MQTT session")
    home_gateway.press(seq=7)
    eventually_sync(lambda: home_gateway.outbox_depth() == 0, 15, "the press acknowledged")

    scan = _send(api, "scan")
    eventually_sync(lambda: _commands(api)[scan]["state"] == "ok", 15, "the scan", every=0.1)
    assert "heard_unpaired" in _commands(api)[scan]["result"]


def test_installation_test_passes_on_the_buttons_press(full_stack: Stack,
                                                       home_gateway: HomeGateway) -> None:
    add_staff(full_stack.world)
    api = full_stack.client("tina")
    r = api.post("/api/maintenance/tests", json={"device": BUTTON})
    assert r.status_code == 201, r.text
    (test,) = r.json()
    assert test["state"] == "pending"
    home_gateway.press(seq=11)  # the technician presses the bedside button

    def state() -> str:
        found = api.get("/api/maintenance/tests", params={"device": BUTTON}).json()
        return str(found[0]["state"])

    eventually_sync(lambda: state() == "pass", 15, "the test to pass", every=0.1)
    world = full_stack.world
    with world.connect() as conn:  # a technician of another community: nothing of ours
        create_user(conn, "otto", "Otto", Role.TECHNICIAN, PASSWORD,
                    regions=(world.other_community,))
    otto = full_stack.client("otto")
    assert otto.post("/api/maintenance/tests", json={"device": BUTTON}).status_code == 404
    assert otto.post(f"/api/maintenance/gateways/{GATEWAY}/commands",
                     json={"op": "status"}).status_code == 404
    assert otto.get("/api/maintenance/tests").json() == []
    assert otto.get("/api/maintenance/devices").json() == []
    operator = full_stack.client("alice")
    assert operator.get("/api/maintenance/devices").status_code == 403
    queue = operator.get("/api/alerts/queue", params={"include_test": True}).json()
    assert [a for a in queue if a.get("device") == BUTTON] == []  # not even as a TEST
