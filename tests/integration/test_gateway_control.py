"""Wearables through the BLE seam (in-process, and hosted by the app's ``--ble sim``), retained
config without restart, commands, heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt

from firmware_sim.link import PtyLink
from firmware_sim.wearable import Wearable
from gateway.app import Gateway
from gateway.transports.ble import MemoryBle
from hardware import ble
from hardware.frames import Frame, MsgType, encode_frame, input_data
from kernel.contract import (
    AccBlock,
    Command,
    CommandOp,
    CommandResult,
    Down,
    EventType,
    GatewayConfig,
    Heartbeat,
    PairedDevice,
    Topics,
    Up,
    Vitals,
    dump,
    parse,
)
from kernel.placement import Placement
from kernel.services.broker import BrokerAddress
from pinganling.cli import main
from tests.fixtures.gateway import (
    GatewayProcess,
    collecting,
    gateway_settings,
    mqtt_toml,
    running,
    write_config,
)
from tests.fixtures.waiting import eventually

ADDRESS = "C8:2E:47:0A:1B:2C"
UID = "ble-c82e470a1b2c"


class Raw:
    """Every message under a topic root, by channel."""

    def __init__(self) -> None:
        self.by_channel: dict[str, list[bytes]] = {}
        self.ready = asyncio.Event()

    def of(self, channel: Up) -> list[bytes]:
        return self.by_channel.get(channel.value, [])


@contextlib.asynccontextmanager
async def raw_subscriber(broker: BrokerAddress, topics: Topics) -> AsyncIterator[Raw]:
    raw = Raw()

    async def run() -> None:
        async with aiomqtt.Client(**broker.aiomqtt_args()) as client:
            await client.subscribe(topics.all_up(), qos=1)
            raw.ready.set()
            async for msg in client.messages:
                channel = str(msg.topic).rsplit("/", 1)[1]
                raw.by_channel.setdefault(channel, []).append(bytes(msg.payload))

    task = asyncio.create_task(run())
    await asyncio.wait_for(raw.ready.wait(), 10)
    try:
        yield raw
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_wearable_streams_acc_blocks_and_vitals(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    memory = MemoryBle()
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics), memory)
    gw.registry.pair(UID, "WB-BLE")
    wearable = Wearable(ADDRESS, "WB-BLE", seed=3)
    async with raw_subscriber(mqtt_broker, topics) as raw, running(gw):
        await eventually(lambda: memory.connected(ADDRESS), what="the BLE link")
        for _, uuid, payload in wearable.notifications(0.0, 5.0):
            await memory.notify(ADDRESS, uuid, payload)
        await memory.notify(ADDRESS, ble.HEART_RATE_MEASUREMENT, b"\x10")  # truncated
        await memory.notify(ADDRESS, ble.ACCEL_CHAR, b"\x01\x02")
        gw.ble.flush_vitals()
        await eventually(lambda: len(raw.of(Up.ACC)) >= 4 and raw.of(Up.VITALS), what="telemetry")
    blocks = [AccBlock.decode(p) for p in raw.of(Up.ACC)]
    assert {b.device for b in blocks} == {UID}
    assert all(b.rate_hz == 50 and b.samples.shape == (50, 3) for b in blocks)
    assert [b.seq for b in blocks] == list(range(len(blocks))), "consecutive, ≈1 s each"
    g = abs(blocks[0].samples.astype(float) * blocks[0].scale_g)
    assert 0.5 < float((g**2).sum(axis=1).mean() ** 0.5) < 2.0, "gravity is there"
    vitals = parse(Vitals, raw.of(Up.VITALS)[0])
    assert vitals.device == UID
    assert any(r.hr and 40 < r.hr < 140 for r in vitals.readings)
    assert gw.counters["ble_malformed"] == 2


async def test_the_app_hosts_a_scenarios_wearables_for_ble_sim(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    """``pinganling gateway run`` with ``ble = "sim"``: the demo's pendant streams to the
    gateway through the in-memory link the app builds (the gateway knows no simulator)."""
    pendant = "ble-c82e470a1b2c"
    config = write_config(tmp_path / "gateway.toml", (
        f'id = "gw-sim-0001"\nstate_dir = "{tmp_path / "state"}"\nble = "sim"\n'
        f'scenario = "demo"\n' + mqtt_toml(mqtt_broker, topics)))
    assert main(["gateway", "pair", "-c", str(config), pendant, "WP-BLE"]) == 0
    proc = GatewayProcess(config)
    async with raw_subscriber(mqtt_broker, topics) as raw:
        proc.start()
        try:
            await eventually(lambda: raw.of(Up.ACC), 30, "the pendant's accelerometer blocks")
        finally:
            proc.stop()
    assert {AccBlock.decode(p).device for p in raw.of(Up.ACC)} == {pendant}
    assert proc.logged("BLE sim")


async def test_retained_config_pairs_devices_without_restart(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    pty = PtyLink()
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics, serial=(pty.path,)))
    press = encode_frame(Frame(MsgType.PRESS, 0x0A1B2C3D, 1, -60, 2900, input_data()))
    try:
        async with collecting(mqtt_broker, topics) as sub, running(gw):
            pty.write(press)
            await eventually(lambda: gw.counters["frames_unpaired"] == 1)
            config = GatewayConfig(rev=2, heartbeat_s=7, devices=[
                PairedDevice(device="rf-0a1b2c3d", model="PB-433", label="床头")])
            async with aiomqtt.Client(**mqtt_broker.aiomqtt_args()) as admin:
                await admin.publish(topics.down(gw.settings.id, Down.CONFIG), dump(config),
                                    qos=1, retain=True)
            await eventually(lambda: gw.provisioning.config_rev == 2, what="config applied")
            pty.write(encode_frame(Frame(MsgType.PRESS, 0x0A1B2C3D, 2, -60, 2900,
                                         input_data())))
            await eventually(lambda: sub.events, what="the now-paired button's press")
            assert gw.heartbeats.build().config_rev == 2
            assert gw.provisioning.heartbeat_s == 7
            # a malformed config and an older revision: counted, logged, the gateway runs on
            async with aiomqtt.Client(**mqtt_broker.aiomqtt_args()) as admin:
                down = topics.down(gw.settings.id, Down.CONFIG)
                await admin.publish(down, b'{"v": 1, "rev": "two"', qos=1, retain=True)
                await admin.publish(down, dump(GatewayConfig(rev=1, devices=[])), qos=1,
                                    retain=True)
                await eventually(lambda: gw.counters["config_stale"] == 1, what="rev 1 refused")
                await admin.publish(down, b"", qos=1, retain=True)  # clear the retained config
            assert gw.counters["bad_downlink_malformed"] == 1
            assert (gw.provisioning.config_rev, set(gw.registry.devices)) == (2, {"rf-0a1b2c3d"})
    finally:
        pty.close()
    assert [(e.device, e.dseq) for e in sub.events] == [("rf-0a1b2c3d", 2)]


async def test_test_alarm_command_and_heartbeat(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics, heartbeat_s=1.0))
    gw.registry.pair("rf-0a1b2c3d", "PB-433")
    async with raw_subscriber(mqtt_broker, topics) as raw, \
            collecting(mqtt_broker, topics) as sub, running(gw):
        async with aiomqtt.Client(**mqtt_broker.aiomqtt_args()) as admin:
            cmd = Command(id="c-1", op=CommandOp.TEST_ALARM, args={"device": "rf-0a1b2c3d"})
            await admin.publish(topics.down(gw.settings.id, Down.CMD), dump(cmd), qos=1)
            await admin.publish(topics.down(gw.settings.id, Down.CMD), b"{broken", qos=1)
        await eventually(lambda: sub.events and raw.of(Up.CMD_RESULT) and raw.of(Up.HEARTBEAT),
                         what="event, result and heartbeat")
        await eventually(lambda: gw.counters["bad_downlink_malformed"] == 1)
    (event,) = sub.events
    assert (event.type, event.device, event.is_alarm) == (EventType.TEST, "rf-0a1b2c3d", False)
    result = parse(CommandResult, raw.of(Up.CMD_RESULT)[0])
    assert (result.id, result.ok) == ("c-1", True)
    hb = parse(Heartbeat, raw.of(Up.HEARTBEAT)[-1])
    assert hb.gw == gw.settings.id
    assert [d.device for d in hb.devices] == ["rf-0a1b2c3d"]
    assert hb.outbox.shed == 0


async def test_restart_uplink_logs_in_again_and_keeps_the_outbox(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    """``restart_uplink``: the result first, then a new MQTT session; an event nobody
    acknowledged is still in the outbox and is sent again on the new session."""
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics))
    gw.registry.pair("rf-0a1b2c3d", "PB-433")
    async with raw_subscriber(mqtt_broker, topics) as raw, \
            collecting(mqtt_broker, topics, ack=False) as sub, running(gw):
        async with aiomqtt.Client(**mqtt_broker.aiomqtt_args()) as admin:
            test = Command(id="c-t", op=CommandOp.TEST_ALARM, args={"device": "rf-0a1b2c3d"})
            await admin.publish(topics.down(gw.settings.id, Down.CMD), dump(test), qos=1)
            await eventually(lambda: sub.events, what="the unacknowledged event")
            connects = gw.counters["mqtt_connects"]
            restart = Command(id="c-r", op=CommandOp.RESTART_UPLINK)
            await admin.publish(topics.down(gw.settings.id, Down.CMD), dump(restart), qos=1)
            await eventually(lambda: gw.counters["mqtt_connects"] > connects,
                             what="a new session")
            await eventually(lambda: sub.duplicates >= 1, what="the event sent again")
        assert gw.outbox.stats().depth == 1  # still not acknowledged: kept
    results = [parse(CommandResult, m) for m in raw.of(Up.CMD_RESULT)]
    assert [(r.id, r.ok, r.detail) for r in results if r.id == "c-r"] == [
        ("c-r", True, "reconnecting")]


async def test_edge_mode_finds_the_same_fall_as_the_server(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    """The demo pendant's fall, detected in the gateway and by the server's bank on the very
    blocks the gateway published: the same impact time."""
    from analytics.bank import FallBank
    from analytics.events import FallEvent
    from firmware_sim.plan import Home
    from firmware_sim.routine import parse_clock
    from firmware_sim.scenarios import find_scenario

    pendant = next(w for w in Home(find_scenario("demo")).wearables.values()
                   if w.uid == "ble-c82e470a1b2c")
    memory = MemoryBle()
    start, end = parse_clock("10:01:30"), parse_clock("10:03:30")
    # the gateway's clock follows the replayed notifications, then runs on (resends need it)
    base, now, at = time.time(), [start], [time.monotonic()]
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics, edge_falls=True), memory,
                 clock=lambda: base + now[0] - start + (time.monotonic() - at[0]))
    gw.registry.pair(pendant.uid, "WP-BLE")
    async with raw_subscriber(mqtt_broker, topics) as raw, \
            collecting(mqtt_broker, topics) as sub, running(gw):
        await eventually(lambda: memory.connected(pendant.address), what="the BLE link")
        for t, char, payload in pendant.notifications(start, end):
            if char == ble.ACCEL_CHAR:
                now[0], at[0] = t, time.monotonic()
                await memory.notify(pendant.address, char, payload)
        await eventually(lambda: any(e.type == EventType.FALL for e in sub.events), 20, "fall")
        await eventually(lambda: len(raw.of(Up.ACC)) >= 115, what="the published blocks")
    (edge,) = [e for e in sub.events if e.type == EventType.FALL]
    assert edge.is_alarm
    assert edge.data["edge"] is True
    server = FallBank()
    server.add(pendant.uid, Placement.WAIST, 50.0)
    found = server.process_acc(AccBlock.decode(p) for p in raw.of(Up.ACC))
    falls = [f for f in found if isinstance(f, FallEvent)]
    t_impact = edge.data["t_impact"]
    assert isinstance(t_impact, float)
    assert [round(f.t_impact, 3) for f in falls] == [round(t_impact, 3)]
