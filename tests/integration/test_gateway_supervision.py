"""The gateway's tasks run under the supervisor: one that fails is restarted, the rest go on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from firmware_sim.link import PtyLink
from gateway.app import Gateway
from gateway.transports.ble import MemoryBle, Notify
from hardware.frames import Frame, MsgType, encode_frame, input_data
from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from tests.fixtures.gateway import collecting, gateway_settings, running
from tests.fixtures.waiting import eventually

WEARABLE = "ble-c82e470a1b2c"
ADDRESS = "C8:2E:47:0A:1B:2C"


class FailingOnceBle(MemoryBle):
    """The in-memory air, whose first connection fails with an error nobody expects (a BLE
    stack can raise anything: D-Bus errors, an adapter reset). Injected: no adapter here."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def stream(self, address: str, uuids: Sequence[str], on_notify: Notify) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("org.bluez.Error.Failed: adapter reset")
        await super().stream(address, uuids, on_notify)


async def test_a_failing_ble_stream_is_restarted_and_the_gateway_carries_on(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    pty = PtyLink()
    air = FailingOnceBle()
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics, serial=(pty.path,)), air)
    gw.registry.pair(WEARABLE, "WB-BLE")
    gw.registry.pair("rf-0a1b2c3d", "PB-433")
    try:
        async with collecting(mqtt_broker, topics) as sub, running(gw):
            await eventually(lambda: air.connected(ADDRESS), 10, "the BLE stream, restarted")
            pty.write(encode_frame(Frame(MsgType.PRESS, 0x0A1B2C3D, 1, -60, 2900,
                                         input_data())))
            await eventually(lambda: len(sub.by_id) == 1, 10, "a press, still delivered")
            health = {h.name: h for h in gw.supervisor.health()}
            counters = gw.heartbeats.build().counters
    finally:
        pty.close()
    ble = health[f"ble {WEARABLE}"]
    assert (ble.restarts, ble.alive) == (1, True)
    assert ble.last_error == "RuntimeError: org.bluez.Error.Failed: adapter reset"
    assert all(h.alive and h.restarts == 0 for name, h in health.items() if name != ble.name)
    assert counters["task_restarts"] == 1
