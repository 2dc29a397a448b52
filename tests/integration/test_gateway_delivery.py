"""Button bytes on a real pty → gateway → real Mosquitto → an acknowledging subscriber.

And the faults: broker down while buttons are pressed, broker kill -9 after it acknowledged,
gateway kill -9 with events in its outbox. Every alarm arrives; duplicates are dropped by id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from firmware_sim.link import PtyLink
from gateway.app import Gateway
from gateway.outbox import Kind, Outbox
from gateway.registry import Registry
from hardware.frames import Frame, MsgType, encode_frame, input_data
from kernel.contract import EventType, Status, Topics, Up, parse
from kernel.services.broker import BrokerAddress
from tests.fixtures.broker import start_private_broker
from tests.fixtures.gateway import (
    GatewayProcess,
    collecting,
    gateway_settings,
    mqtt_toml,
    running,
)
from tests.fixtures.waiting import eventually

BUTTON = 0x0A1B2C3D
BUTTON_UID = "rf-0a1b2c3d"


def press(seq: int, device: int = BUTTON, kind: MsgType = MsgType.PRESS) -> bytes:
    return encode_frame(Frame(kind, device, seq, rssi=-61, battery_mv=2950, data=input_data()))


@pytest.fixture
def pty() -> Iterator[PtyLink]:
    link = PtyLink()
    yield link
    link.close()


async def test_press_on_a_pty_reaches_the_subscriber_with_its_fields(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics, pty: PtyLink) -> None:
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics, serial=(pty.path,)))
    gw.registry.pair(BUTTON_UID, "PB-433", "卧室")
    async with collecting(mqtt_broker, topics) as sub, running(gw):
        pty.write(b"\x00\xa5noise" + press(seq=7))
        await eventually(lambda: sub.events, what="the press event")
        (event,) = sub.events
        assert event.type == EventType.PRESS
        assert event.is_alarm
        assert event.device == BUTTON_UID
        assert (event.dseq, event.rssi, event.battery_mv) == (7, -61, 2950)
        assert event.gw == gw.settings.id
        assert event.inc == gw.outbox.incarnation
        assert event.id == f"{gw.settings.id}:{gw.outbox.incarnation}:{event.n}"
        assert event.data == {"input": "main"}
        await eventually(lambda: gw.outbox.stats().depth == 0, what="the ack emptying the outbox")
    assert gw.counters["acked"] == 1
    assert gw.serial[0].deframer.stats.garbage_bytes >= 7


async def test_unpaired_devices_are_counted_and_listed_never_forwarded(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics, pty: PtyLink) -> None:
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics, serial=(pty.path,)))
    gw.registry.pair(BUTTON_UID, "PB-433")
    async with collecting(mqtt_broker, topics) as sub, running(gw):
        stranger = 0xDEADBEEF
        pty.write(press(seq=1, device=stranger) + press(seq=2, device=stranger) + press(seq=3))
        await eventually(lambda: sub.events, what="the paired device's press")
        await eventually(lambda: gw.counters["frames"] == 3)
        heard = [(uid, count) for uid, count, _, _ in gw.registry.heard()]
        assert gw.heartbeats.build().heard_unpaired == ["rf-deadbeef"]
    assert [e.device for e in sub.events] == [BUTTON_UID]
    assert gw.counters["frames_unpaired"] == 2
    assert heard == [("rf-deadbeef", 2)]


async def test_rf_repeats_of_one_transmission_become_one_event(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics, pty: PtyLink) -> None:
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics, serial=(pty.path,)))
    gw.registry.pair(BUTTON_UID, "PB-433")
    async with collecting(mqtt_broker, topics) as sub, running(gw):
        pty.write(press(seq=5) * 3 + press(seq=6, kind=MsgType.CANCEL))
        await eventually(lambda: len(sub.events) == 2, what="press and cancel")
    assert [e.type for e in sub.events] == [EventType.PRESS, EventType.CANCEL]
    assert gw.counters["frames_repeated"] == 2


async def test_broker_down_while_buttons_are_pressed_loses_nothing(
        tmp_path: Path, topics: Topics, pty: PtyLink) -> None:
    broker = start_private_broker(tmp_path / "broker")
    try:
        gw = Gateway(gateway_settings(tmp_path, broker.address, topics, serial=(pty.path,)))
        gw.registry.pair(BUTTON_UID, "PB-433")
        async with running(gw):
            broker.stop()
            await eventually(lambda: not gw.uplink.connected.is_set(), what="the disconnect")
            for seq in range(20):
                pty.write(press(seq))
            await eventually(lambda: gw.outbox.stats().alarms == 20, what="20 alarms stored")
            broker.start()
            async with collecting(broker.address, topics) as sub:
                await eventually(lambda: gw.outbox.stats().depth == 0, 30, "outbox drained")
        assert sorted(e.dseq or 0 for e in sub.by_id.values()) == list(range(20))
    finally:
        broker.kill()


async def test_broker_kill9_after_puback_loses_nothing(
        tmp_path: Path, topics: Topics, pty: PtyLink) -> None:
    """Mosquitto acknowledges QoS 1 before it persists: the outbox must not trust the PUBACK."""
    broker = start_private_broker(tmp_path / "broker", persistence=False)
    try:
        gw = Gateway(gateway_settings(tmp_path, broker.address, topics, serial=(pty.path,)))
        gw.registry.pair(BUTTON_UID, "PB-433")
        async with running(gw):
            for seq in range(10):
                pty.write(press(seq))
            await eventually(lambda: gw.counters["published_alarm"] >= 10, what="10 PUBACKs")
            assert gw.outbox.stats().alarms == 10, "PUBACKed but not acknowledged: still held"
            broker.kill()  # whatever it had queued is gone
            broker.start()
            async with collecting(broker.address, topics) as sub:
                await eventually(lambda: gw.outbox.stats().depth == 0, 30, "outbox drained")
        assert sorted(e.dseq or 0 for e in sub.by_id.values()) == list(range(10))
    finally:
        broker.kill()


async def test_gateway_kill9_with_events_in_the_outbox_loses_nothing(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics, pty: PtyLink) -> None:
    state = tmp_path / "gw-kill-0001"
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'id = "gw-kill-0001"\nstate_dir = "{state}"\nserial = ["{pty.path}"]\n'
        f"resend_initial_s = 0.5\nresend_max_s = 2.0\n" + mqtt_toml(mqtt_broker, topics))
    registry = Registry(state / "gateway.sqlite3")
    registry.pair(BUTTON_UID, "PB-433")
    registry.close()
    proc = GatewayProcess(config).start()
    try:
        await eventually(lambda: proc.logged(f"serial link {pty.path} open"), what="port open")
        for seq in range(10):  # nobody acknowledges yet: they stay in the outbox
            pty.write(press(seq))
        probe = Outbox(state / "gateway.sqlite3")
        await eventually(lambda: len(probe.pending_numbers(Kind.ALARM)) == 10, what="10 stored")
        probe.close()
        proc.kill9()
        proc.start()
        await eventually(lambda: proc.logged(f"serial link {pty.path} open"), what="port open")
        async with collecting(mqtt_broker, topics) as sub:
            await eventually(lambda: len(sub.by_id) == 10, 30, "the 10 presses from before")
            for seq in range(10, 15):  # and the restarted gateway carries on
                pty.write(press(seq))
            await eventually(lambda: len(sub.by_id) == 15, 30, "all 15 presses")
        assert sorted(e.dseq or 0 for e in sub.by_id.values()) == list(range(15))
        assert len({e.n for e in sub.by_id.values()}) == 15
    finally:
        proc.stop()


async def test_lwt_marks_a_killed_gateway_offline(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'id = "gw-lwt-0001"\nstate_dir = "{tmp_path / "state"}"\n'
        + mqtt_toml(mqtt_broker, topics) + "keepalive_s = 5\n")
    proc = GatewayProcess(config).start()
    states: list[str] = []
    try:
        async with asyncio.timeout(30), aiomqtt.Client(**mqtt_broker.aiomqtt_args()) as client:
            await client.subscribe(topics.up("gw-lwt-0001", Up.STATUS), qos=1)
            async for msg in client.messages:
                states.append(parse(Status, bytes(msg.payload)).state)
                if states[-1] == "online":
                    proc.kill9()
                if states[-1] == "offline":
                    break
    finally:
        proc.stop()
    assert states[-2:] == ["online", "offline"]
