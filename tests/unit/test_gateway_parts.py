"""The gateway's parts as wired by ``Gateway``, without a broker: commands, provisioning, edge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.events import FallEvent, FallResolved, FaultKind, SensorFault
from gateway.app import Gateway
from gateway.commands import HANDLERS
from gateway.edge import EdgeFalls, edge_event
from gateway.events import EventDraft
from gateway.settings import GatewaySettings
from gateway.transports.ble import Advert, MemoryBle
from hardware.catalog import get_model
from kernel.contract import (
    AccBlock,
    Command,
    CommandOp,
    Event,
    EventType,
    GatewayConfig,
    Heartbeat,
    PairedDevice,
    parse,
)
from kernel.placement import Placement

BUTTON = "rf-0a1b2c3d"
BAND = "ble-c82e470a1b2c"


class BrokenAdapter(MemoryBle):
    """A BLE stack that fails in a way nobody expects (injected: there is no adapter here)."""

    async def scan(self, timeout: float) -> list[Advert]:
        raise RuntimeError("org.bluez.Error.NotReady")


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    gateway = Gateway(GatewaySettings(id="gw-unit-0001", state_dir=tmp_path), BrokenAdapter())
    yield gateway
    gateway.close()


def stored_events(gw: Gateway) -> list[Event]:
    return [parse(Event, item.payload) for item in gw.outbox.due(100)]


def cmd(op: CommandOp, **args: str | int | float | bool) -> Command:
    return Command(id=f"c-{op.value}", op=op, args=args)


def test_every_command_op_has_a_handler() -> None:
    assert set(HANDLERS) == set(CommandOp)


async def test_a_test_alarm_is_a_stored_test_event(gw: Gateway) -> None:
    result = await gw.commands.handle(cmd(CommandOp.TEST_ALARM, device=BUTTON))
    (event,) = stored_events(gw)
    assert (result.ok, result.detail) == (True, f"test event {event.n}")
    assert (event.type, event.device, event.data) == (EventType.TEST, BUTTON,
                                                      {"command": "c-test_alarm"})
    default = await gw.commands.handle(cmd(CommandOp.TEST_ALARM))
    assert default.ok
    assert stored_events(gw)[-1].device == "gw-gw-unit-0001"


async def test_pairing_commands_answer_what_went_wrong(gw: Gateway) -> None:
    unknown = await gw.commands.handle(cmd(CommandOp.PAIR, device=BUTTON, model="XX-1"))
    missing = await gw.commands.handle(cmd(CommandOp.PAIR, device=BUTTON))
    assert (unknown.ok, missing.ok) == (False, False)
    assert unknown.detail is not None
    assert unknown.detail.startswith("pair: ")
    assert missing.detail == "pair: 'model'"
    paired = await gw.commands.handle(cmd(CommandOp.PAIR, device=BUTTON, model="PB-433",
                                          label="床头"))
    assert (paired.ok, gw.registry.devices[BUTTON].label) == (True, "床头")
    assert (await gw.commands.handle(cmd(CommandOp.UNPAIR, device=BUTTON))).ok
    again = await gw.commands.handle(cmd(CommandOp.UNPAIR, device=BUTTON))
    assert (again.ok, again.detail) == (False, "not paired")


async def test_status_is_a_heartbeat_and_prewarnings_are_counted(gw: Gateway) -> None:
    gw.registry.pair(BUTTON, "PB-433")
    gw.registry.pair(BAND, "WB-BLE")
    gw.registry.battery_level(BAND, 64)  # as the band's battery notification reports it
    status = await gw.commands.handle(cmd(CommandOp.STATUS))
    assert status.ok
    beat = Heartbeat.model_validate(status.data)
    assert beat.gw == "gw-unit-0001"
    assert {d.device: d.battery_pct for d in beat.devices} == {BUTTON: None, BAND: 64}
    assert (await gw.commands.handle(cmd(CommandOp.PREWARN, resident=7))).ok
    assert gw.counters["prewarnings"] == 1


async def test_a_failing_handler_is_answered_and_counted(gw: Gateway) -> None:
    result = await gw.commands.handle(cmd(CommandOp.SCAN, timeout=1))
    assert (result.ok, result.detail) == (False, "scan failed: org.bluez.Error.NotReady")
    assert gw.counters["command_errors"] == 1


async def test_the_desired_config_is_applied_by_revision(gw: Gateway) -> None:
    config = GatewayConfig(rev=3, heartbeat_s=12, devices=[
        PairedDevice(device=BUTTON, model="PB-433", label="床头")])
    await gw.provisioning.apply_config(config)
    assert (gw.provisioning.config_rev, gw.provisioning.heartbeat_s) == (3, 12)
    assert set(gw.registry.devices) == {BUTTON}
    await gw.provisioning.apply_config(GatewayConfig(rev=2, heartbeat_s=99, devices=[]))
    assert (gw.provisioning.config_rev, gw.provisioning.heartbeat_s) == (3, 12), "older: ignored"
    assert set(gw.registry.devices) == {BUTTON}
    assert gw.heartbeats.build().config_rev == 3
    assert gw.counters["config_applied"] == 1
    assert gw.counters["config_stale"] == 1


async def test_a_config_naming_an_unknown_model_is_refused_whole(gw: Gateway) -> None:
    await gw.provisioning.apply_config(GatewayConfig(rev=1, devices=[
        PairedDevice(device=BUTTON, model="PB-433")]))
    await gw.provisioning.apply_config(GatewayConfig(rev=2, devices=[
        PairedDevice(device=BAND, model="NO-SUCH")]))
    assert (gw.provisioning.config_rev, set(gw.registry.devices)) == (1, {BUTTON})
    assert gw.counters["config_refused"] == 1


def test_the_applied_revision_and_heard_devices_outlive_a_restart(tmp_path: Path) -> None:
    """The revision is kept in the gateway's state (a lower one is refused after a restart
    too); a device heard but not paired is kept with what its frames said."""
    settings = GatewaySettings(id="gw-unit-0001", state_dir=tmp_path)
    first = Gateway(settings)
    first.registry.set_config_rev(7)
    assert first.registry.seen("rf-01020304", -70, 2800, "PIR-433") is None
    first.close()
    again = Gateway(settings)
    try:
        assert again.provisioning.config_rev == 7
        (heard,) = again.registry.heard_devices()
        assert (heard.device, heard.frames, heard.rssi, heard.battery_mv, heard.model) == (
            "rf-01020304", 1, -70, 2800, "PIR-433")
        assert again.heartbeats.build().heard == [heard]
    finally:
        again.close()


def test_what_the_detector_finds_becomes_edge_events() -> None:
    fall = FallEvent(BAND, 100.0, 102.0, Placement.WAIST, 0.91234)
    draft = edge_event(fall)
    assert draft == EventDraft(EventType.FALL, BAND, data={
        "confidence": 0.912, "placement": "waist", "t_impact": 100.0, "edge": True})
    assert draft.alarm
    fault = edge_event(SensorFault(BAND, 5.0, FaultKind.FLATLINE))
    assert fault == EventDraft(EventType.SENSOR_FAULT, BAND,
                               data={"fault": "flatline", "edge": True})
    assert edge_event(SensorFault(BAND, 5.0, FaultKind.GAP)) is None
    assert edge_event(SensorFault(BAND, 6.0, FaultKind.FLATLINE, active=False)) is None
    assert edge_event(FallResolved(BAND, 100.0, 130.0, True, 5.0)) is None


def test_edge_detection_only_watches_paired_worn_devices() -> None:
    import numpy as np

    emitted: list[EventDraft] = []
    models = {BAND: get_model("WB-BLE")}

    def emit(draft: EventDraft) -> int:
        emitted.append(draft)
        return len(emitted)

    edge = EdgeFalls(models.get, emit)
    block = AccBlock(BAND, 0, 0, 50.0, 1 / 1024, np.zeros((50, 3), np.int16))
    edge.on_block(block)
    edge.on_block(AccBlock(BUTTON, 0, 0, 50.0, 1 / 1024, np.zeros((50, 3), np.int16)))
    assert BAND in edge.bank
    assert BUTTON not in edge.bank
