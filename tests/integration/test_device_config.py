"""The server's device list is the gateway's: pair, relabel, replace and unpair through the API
become retained ``down/config`` revisions (published as the API's own broker identity, read by
the gateway's); the gateway applies each, reports the revision, and the panel says "pending"
until it did. A gateway that was away catches up; a wiped one gets its registry back. Devices
heard but not paired are listed with what their frames say, marked when heard in the pairing
window. Real server, broker, database, and a provisioned gateway reading a pty."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from firmware_sim.link import PtyLink
from gateway.app import Gateway
from hardware.frames import Frame, MsgType, encode_frame, input_data
from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from kernel.services.system import free_port
from pinganling.cli import main
from server.alerts.model import Role
from server.auth.users import create_user
from server.devices import config, heard, pairing
from server.errors import Conflict
from server.scope import Scope
from server.settings import Settings
from tests.fixtures.access import Provisioned, add_technician, provision, secured_stack
from tests.fixtures.stack import LoopThread, Stack
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import GATEWAY, PASSWORD, World

__all__ = ["secured_stack"]

GW = "gw-devices-0001"
PENDANT = "rf-11223344"
CORD = "rf-55667788"
NEW_PENDANT = "rf-99aabbcc"


class Box:
    """A provisioned gateway run in its own loop, reading a pty (the RF dongle)."""

    def __init__(self, provisioned: Provisioned) -> None:
        self.provisioned = provisioned
        self.pty = PtyLink()
        self.loop: LoopThread | None = None
        self.gateway: Gateway | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.loop = LoopThread("device-config-gateway")
        self.gateway = Gateway(self.provisioned.settings(serial=[self.pty.path], heartbeat_s=1))
        gw = self.gateway

        async def started() -> None:
            self.task = asyncio.create_task(gw.run(), name="gateway")
            await asyncio.wait_for(gw.uplink.connected.wait(), 10)

        self.loop.run(started())

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.close()
        self.loop = self.gateway = self.task = None

    def counter(self, name: str) -> int:
        assert self.gateway is not None
        return self.gateway.counters[name]

    def frame(self, uid: str, seq: int, kind: MsgType = MsgType.PRESS, data: bytes = b"",
              rssi: int = -61, battery_mv: int = 2950) -> None:
        device = int(uid.removeprefix("rf-"), 16)
        self.pty.write(encode_frame(Frame(kind, device, seq, rssi, battery_mv,
                                          data or input_data())))

    def registry(self) -> dict[str, Any]:
        """What ``pinganling gateway devices --json`` reads from the gateway's state."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["gateway", "devices", "--json", "-c",
                         str(self.provisioned.config)]) == 0
        found: dict[str, Any] = json.loads(out.getvalue())
        return found


@pytest.fixture
def box(world: World, secured_stack: Stack, tmp_path: Path) -> Iterator[Box]:
    tech = secured_stack.client(add_technician(world))
    b = Box(provision(secured_stack, tech, GW, world.home, tmp_path / "gw"))
    try:
        yield b
    finally:
        b.stop()
        b.pty.close()


def panel(client: httpx.Client) -> dict[str, Any]:
    r = client.get(f"/api/gateway-devices/{GW}")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def change(client: httpx.Client, action: str, **body: Any) -> int:
    r = client.post(f"/api/gateway-devices/{GW}/{action}", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["published"] is True
    rev: int = r.json()["rev"]
    return rev


def server_list(client: httpx.Client) -> list[dict[str, str]]:
    return [{"device": d["uid"], "model": d["model"], "label": d["label"]}
            for d in sorted(panel(client)["devices"], key=lambda d: d["uid"])]


def in_step(client: httpx.Client, b: Box, rev: int) -> None:
    """The gateway applied ``rev`` (the panel says so) and its registry is the server's list."""
    eventually_sync(lambda: panel(client)["config"] == "applied", 15, f"rev {rev} applied")
    p = panel(client)
    assert (p["desired_rev"], p["applied_rev"]) == (rev, rev)
    assert b.registry() == {"config_rev": rev, "devices": server_list(client)}


def test_pair_relabel_replace_unpair_reach_the_gateway(world: World, secured_stack: Stack,
                                                      box: Box) -> None:
    tech = secured_stack.client("tina")
    box.start()
    assert panel(tech)["config"] == "none"
    rev = change(tech, "pair", device=PENDANT, model="PB-433", label="卧室")
    assert rev == 1
    in_step(tech, box, 1)
    assert server_list(tech) == [{"device": PENDANT, "model": "PB-433", "label": "卧室"}]

    in_step(tech, box, change(tech, "pair", device=CORD, model="PC-433", label="卫生间"))
    in_step(tech, box, change(tech, "relabel", device=PENDANT, label="床头"))
    assert box.registry()["devices"][0]["label"] == "床头"

    rev = change(tech, "replace", device=PENDANT, new_device=NEW_PENDANT)
    in_step(tech, box, rev)
    p = panel(tech)
    assert {d["uid"]: d["label"] for d in p["devices"]} == {CORD: "卫生间", NEW_PENDANT: "床头"}
    assert [(f["uid"], f["replaced_by"]) for f in p["former"]] == [(PENDANT, NEW_PENDANT)]

    in_step(tech, box, change(tech, "unpair", device=CORD))
    assert [d["device"] for d in box.registry()["devices"]] == [NEW_PENDANT]
    # the server's list, not the gateway's pairing, decides: a press of the unpaired cord is
    # heard, not forwarded
    box.frame(CORD, 1)
    eventually_sync(lambda: box.counter("frames_unpaired") == 1, 10, "the cord's press")

    with world.connect() as conn:
        rows = conn.execute("SELECT action, device, rev, actor FROM device_changes "
                            "ORDER BY rev").fetchall()
        kept = conn.execute("SELECT uid, unpaired_at IS NOT NULL FROM devices WHERE "
                            "gateway_id = %s ORDER BY uid", (GW,)).fetchall()
    assert rows == [("pair", PENDANT, 1, "tina"), ("pair", CORD, 2, "tina"),
                    ("relabel", PENDANT, 3, "tina"), ("replace", PENDANT, 4, "tina"),
                    ("unpair", CORD, 5, "tina")]
    assert kept == [(PENDANT, True), (CORD, True), (NEW_PENDANT, False)], "history kept"


def test_an_offline_gateway_catches_up_and_a_wiped_one_gets_its_registry_back(
        secured_stack: Stack, box: Box) -> None:
    tech = secured_stack.client("tina")
    change(tech, "pair", device=PENDANT, model="PB-433", label="卧室")
    rev = change(tech, "pair", device=CORD, model="PC-433", label="卫生间")
    assert panel(tech)["config"] == "pending", "published, the gateway is away"
    box.start()  # comes online: the retained config is waiting
    in_step(tech, box, rev)
    box.stop()

    state = box.provisioned.settings().db_path
    for path in state.parent.glob(state.name + "*"):  # a fresh state (SD card re-flashed)
        path.unlink()
    assert box.registry() == {"config_rev": 0, "devices": []}
    box.start()
    in_step(tech, box, rev)
    assert [d["device"] for d in box.registry()["devices"]] == sorted([PENDANT, CORD])


def test_heard_devices_are_listed_and_marked_in_the_pairing_window(
        secured_stack: Stack, box: Box) -> None:
    tech = secured_stack.client("tina")
    box.start()
    box.frame(CORD, 1, data=bytes([1]), rssi=-70, battery_mv=2800)  # before any window
    eventually_sync(lambda: panel(tech)["heard"], 15, "the cord heard")
    assert panel(tech)["heard"][0]["in_window"] is False, "listed, not in a window"

    r = tech.post(f"/api/gateway-devices/{GW}/window", json={})
    assert r.status_code == 200, r.text
    assert panel(tech)["pairing_open"] is True
    box.frame(PENDANT, 1, rssi=-55, battery_mv=3000)
    eventually_sync(lambda: any(h["device"] == PENDANT for h in panel(tech)["heard"]), 15,
                    "the pendant heard")
    heard = {h["device"]: h for h in panel(tech)["heard"]}
    assert (heard[PENDANT]["model"], heard[PENDANT]["rssi"], heard[PENDANT]["battery_mv"],
            heard[PENDANT]["in_window"]) == ("PB-433", -55, 3000, True)
    assert (heard[CORD]["model"], heard[CORD]["in_window"]) == ("PC-433", False)
    assert panel(tech)["heard"][0]["device"] == PENDANT, "heard in the window first"

    in_step(tech, box, change(tech, "pair", device=PENDANT, model=heard[PENDANT]["model"]))
    eventually_sync(lambda: [h["device"] for h in panel(tech)["heard"]] == [CORD], 15,
                    "the pendant no longer heard-not-paired")
    r = tech.post(f"/api/gateway-devices/{GW}/window", json={"seconds": 0})
    assert r.status_code == 200
    assert panel(tech)["pairing_open"] is False


def test_changes_are_refused_where_they_cannot_apply(world: World, secured_stack: Stack,
                                                    box: Box) -> None:
    tech = secured_stack.client("tina")
    r = tech.post(f"/api/gateway-devices/{GW}/pair", json={"device": PENDANT, "model": "XX-1"})
    assert r.status_code == 404
    assert "unknown device model" in r.text
    r = tech.post(f"/api/gateway-devices/{GW}/pair", json={"device": "rf-xyz", "model": "PB-433"})
    assert r.status_code == 404
    change(tech, "pair", device=PENDANT, model="PB-433")
    r = tech.post(f"/api/gateway-devices/{GW}/pair", json={"device": PENDANT, "model": "PB-433"})
    assert r.status_code == 409, "already paired"
    r = tech.post(f"/api/gateway-devices/{GW}/unpair", json={"device": CORD})
    assert r.status_code == 404, "not paired here"
    with world.connect() as conn:
        create_user(conn, "otto", "Otto", Role.TECHNICIAN, PASSWORD,
                    regions=(world.other_community,))
    other = secured_stack.client("otto")
    assert other.get(f"/api/gateway-devices/{GW}").status_code == 404
    r = other.post(f"/api/gateway-devices/{GW}/unpair", json={"device": PENDANT})
    assert r.status_code == 404
    assert panel(tech)["desired_rev"] == 1, "nothing changed by the refusals"


def test_a_config_the_broker_did_not_take_is_unsent_until_sent_again_by_the_job(
        world: World, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    def settings(port: int) -> Settings:
        return Settings(database_url=world.schema.conninfo, mqtt_host=mqtt_broker.host,
                        mqtt_port=port, mqtt_username=mqtt_broker.username,
                        mqtt_password=SecretStr(mqtt_broker.password or ""),
                        mqtt_root=topics.root)

    everywhere = Scope.everywhere()
    with world.connect() as conn:
        with pytest.raises(Conflict, match="not configured"):
            config.publish(conn, settings(mqtt_broker.port), GATEWAY)  # rev 0 unpairs all
        rev = pairing.pair(conn, world.supervisor, GATEWAY,
                           pairing.Pair(device=PENDANT, model="PB-433"))
        assert config.publish(conn, settings(free_port()), GATEWAY) is False  # no broker there
        assert heard.gateway_devices(conn, everywhere, GATEWAY).config == "unsent"
        assert config.publish_unsent(conn, settings(free_port())) == 0  # still no broker
        # the device-config job, the broker back: sent without anyone asking
        assert config.publish_unsent(conn, settings(mqtt_broker.port)) == 1
        assert config.publish_unsent(conn, settings(mqtt_broker.port)) == 0, "once"
        found = heard.gateway_devices(conn, everywhere, GATEWAY)
    assert (found.config, found.desired_rev, found.published_rev) == ("pending", rev, rev)
