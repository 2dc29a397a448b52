"""Event identity across gateway resets, on real Mosquitto, PostgreSQL and ptys.

A gateway whose state is new (wiped SD card, re-install, a replaced box under the same id) numbers
its events from 1 again, on the same MQTT session as before. Its alarms must be stored and raise
alerts, and acks the broker kept for its previous state must not delete them.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from firmware_sim.link import PtyLink
from gateway.app import Gateway
from gateway.events import EventDraft
from hardware.frames import Frame, MsgType, encode_frame, input_data
from kernel.contract import Ack, Down, Event, EventType, Topics, dump
from kernel.services.broker import BrokerAddress
from server.alerts.machine import transition
from server.alerts.model import Action, Outcome
from server.directory import DeviceIn, GatewayIn, add_device, add_gateway
from server.ingest.worker import IngestWorker, WorkerConfig, alert_hook
from server.store.events import variant
from tests.fixtures.gateway import collecting, gateway_settings, running
from tests.fixtures.ingest import INC, FakeGateways, make_event
from tests.fixtures.waiting import eventually, eventually_sync
from tests.fixtures.world import BUTTON as WORLD_BUTTON
from tests.fixtures.world import GATEWAY, World

BUTTON = 0x0A1B2C40
BUTTON_UID = "rf-0a1b2c40"


def press(seq: int) -> bytes:
    return encode_frame(Frame(MsgType.PRESS, BUTTON, seq, rssi=-61, battery_mv=2950,
                              data=input_data()))


@pytest.fixture
def pty() -> Iterator[PtyLink]:
    link = PtyLink()
    yield link
    link.close()


@pytest.fixture
def home_gw(world: World) -> str:
    """A gateway of this test's own (its id is its MQTT session) in the world's home, with a
    button of the world's resident paired to it."""
    gw = f"gw-reset-{uuid.uuid4().hex[:8]}"
    with world.connect() as conn:
        add_gateway(conn, GatewayIn(id=gw, home_id=world.home))
        add_device(conn, DeviceIn(uid=BUTTON_UID, gateway_id=gw, model="PB-433",
                                  resident_id=world.resident))
    return gw


def rows(world: World, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with world.connect() as conn:
        return conn.execute(sql, args).fetchall()


def gateway_events(world: World, gw: str) -> list[str]:
    return [r[0] for r in rows(world, "SELECT id FROM events WHERE gateway_id = %s "
                                      "ORDER BY received_at, id", gw)]


def open_alerts(world: World, gw: str) -> list[tuple[int, list[str]]]:
    """Active alerts of the gateway with the ids of their events."""
    return [(r[0], r[1]) for r in rows(
        world, "SELECT a.id, array_agg(ae.event_id ORDER BY ae.event_id) FROM alerts a "
               "JOIN alert_events ae ON ae.alert_id = a.id WHERE a.gateway_id = %s "
               "AND a.state = 'open' GROUP BY a.id", gw)]


async def test_a_wiped_gateway_restarted_under_its_id_raises_its_alarms(
        world: World, home_gw: str, mqtt_broker: BrokerAddress, topics: Topics,
        tmp_path: Path, pty: PtyLink) -> None:
    """The reset happens while the server still owes the old state an ack: the broker keeps it
    on the gateway's session and hands it to the new state, whose first event has that number.
    """
    config = WorkerConfig(mqtt_broker, topics, world.schema.conninfo,
                          group=f"g{uuid.uuid4().hex[:8]}", max_age_s=0.05)
    settings = gateway_settings(tmp_path, mqtt_broker, topics, gw_id=home_gw,
                                serial=(pty.path,))
    acks = FakeGateways(mqtt_broker, topics)  # sees the server's acks as the broker routes them
    try:
        offline = IngestWorker(config).start()  # its session: the press waits for it
        assert await asyncio.to_thread(offline.client.connected.wait, 10)
        await asyncio.to_thread(offline.stop)

        old = Gateway(settings)
        old.registry.pair(BUTTON_UID, "PB-433", "床头")
        async with running(old):
            pty.write(press(seq=1))
            await eventually(lambda: old.counters["published_alarm"] == 1, what="the press sent")
            assert old.outbox.stats().alarms == 1, "no server yet: the old state still holds it"

        worker = IngestWorker(config, on_events=alert_hook()).start()
        try:
            await eventually(lambda: 1 in acks.acked[home_gw], what="the old state's ack")
            ((first_alert, first_events),) = open_alerts(world, home_gw)
            with world.connect() as conn:  # an operator handles the old state's alarm
                transition(conn, first_alert, Action.CLAIM, world.operator.actor)
                transition(conn, first_alert, Action.RESOLVE, world.operator.actor,
                           outcome=Outcome.GENUINE)

            shutil.rmtree(settings.state_dir)  # a new SD card; same id, same MQTT session
            new = Gateway(settings)
            new.registry.pair(BUTTON_UID, "PB-433", "床头")
            # pressed while it was booting: n=1
            new.events.emit(EventDraft(EventType.PRESS, BUTTON_UID, dseq=1))
            async with running(new):
                pty.write(press(seq=2))
                await eventually(lambda: new.counters["events_press"] == 2, what="2nd press")
                await eventually(lambda: len(gateway_events(world, home_gw)) == 3, 20,
                                 what="the new state's two presses stored")
                await eventually(lambda: new.outbox.stats().depth == 0,
                                 what="the server's acks emptying the new outbox")
            ((second_alert, second_events),) = open_alerts(world, home_gw)
        finally:
            await asyncio.to_thread(worker.stop)
    finally:
        acks.close()

    stored = gateway_events(world, home_gw)
    assert stored[0] == first_events[0], "the old state's event is still there"
    assert second_alert != first_alert, "a new alarm, not one resolved already"
    assert second_events == sorted(stored[1:]), "both new presses are on the new alert"
    assert new.counters["stale_acks"] == 1, "the old state's ack reached the new one, unused"
    assert new.counters["acked"] == 2
    assert worker.counters()["events_conflict"] == 0, "new ids, not repeated ones"
    incarnations = {r[0] for r in rows(world, "SELECT incarnation FROM events "
                                              "WHERE gateway_id = %s", home_gw)}
    assert incarnations == {old.outbox.incarnation, new.outbox.incarnation}
    assert rows(world, "SELECT incarnation FROM gateways WHERE id = %s", home_gw) == [
        (new.outbox.incarnation,)]


async def test_acks_of_another_incarnation_do_not_delete_events(
        tmp_path: Path, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    gw = Gateway(gateway_settings(tmp_path, mqtt_broker, topics))
    gw_id = gw.settings.id
    async with collecting(mqtt_broker, topics, ack=False) as sub, running(gw), \
            aiomqtt.Client(**mqtt_broker.aiomqtt_args(),
                           protocol=aiomqtt.ProtocolVersion.V5) as server:
        for _ in range(2):
            gw.events.emit(EventDraft(EventType.PRESS, "rf-0a1b2c3d"))
        await eventually(lambda: len(sub.by_id) == 2, what="both events published")

        async def ack(payload: Ack) -> None:
            await server.publish(topics.down(gw_id, Down.ACK), dump(payload), qos=1)

        await ack(Ack(inc="0123456789ab", ids=[1, 2]))  # the previous state's numbers 1 and 2
        await ack(Ack(ids=[1, 2]))  # a legacy ack (no incarnation): this state has no such rows
        await eventually(lambda: gw.counters["stale_acks"] == 4, what="stale acks counted")
        assert gw.outbox.stats().alarms == 2, "nothing deleted"
        await ack(Ack(inc=gw.outbox.incarnation, ids=[1, 2]))
        await eventually(lambda: gw.outbox.stats().depth == 0, what="its own ack")
    assert gw.counters["acked"] == 2
    assert {e.inc for e in sub.events} == {gw.outbox.incarnation}


@pytest.fixture
def worker(world: World, mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[IngestWorker]:
    w = IngestWorker(WorkerConfig(mqtt_broker, topics, world.schema.conninfo,
                                  group=f"g{uuid.uuid4().hex[:8]}", max_age_s=0.05),
                     on_events=alert_hook()).start()
    assert w.client.connected.wait(10)
    yield w
    w.stop()


@pytest.fixture
def gateways(mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[FakeGateways]:
    g = FakeGateways(mqtt_broker, topics)
    yield g
    g.close()


def deliver(gateways: FakeGateways, event: Event) -> None:
    """Publish one event and wait for the server's ack of it."""
    acked = len(gateways.acks)
    gateways.event(event)
    eventually_sync(lambda: len(gateways.acks) > acked, what=f"the ack of {event.id}")


def test_a_repeated_id_with_other_content_is_kept_alerted_and_counted(
        world: World, worker: IngestWorker, gateways: FakeGateways) -> None:
    """A legacy gateway (ids without incarnation) reset: its new press repeats an old id."""
    old = make_event(GATEWAY, 1, EventType.PRESS, WORLD_BUTTON, inc=None)
    deliver(gateways, old)
    ((first_alert, _),) = open_alerts(world, GATEWAY)
    with world.connect() as conn:
        transition(conn, first_alert, Action.CLAIM, world.operator.actor)
        transition(conn, first_alert, Action.RESOLVE, world.operator.actor,
                   outcome=Outcome.GENUINE)

    reset = old.model_copy(update={"ts": old.ts + 86_400, "dseq": 0})
    deliver(gateways, reset)
    stored = gateway_events(world, GATEWAY)
    assert stored == [old.id, f"{old.id}~{variant(reset)}"], "both kept"
    ((second_alert, events),) = open_alerts(world, GATEWAY)
    assert second_alert != first_alert, "the conflicting press raises its own alarm"
    assert events == [stored[1]]
    assert worker.counters()["events_conflict"] == 1

    for again in (reset, old):  # redelivered (an ack was lost)
        deliver(gateways, again)
    assert gateway_events(world, GATEWAY) == stored
    assert worker.counters()["events_duplicate"] == 2
    assert worker.counters()["events_conflict"] == 1
    assert [(gw, a.inc, a.ids) for gw, a in gateways.acks] == [(GATEWAY, None, [1])] * 4
    assert open_alerts(world, GATEWAY) == [(second_alert, [stored[1]])], "no new alarm"


def test_a_redelivered_event_is_a_duplicate_acked_for_its_incarnation(
        world: World, worker: IngestWorker, gateways: FakeGateways) -> None:
    event = make_event(GATEWAY, 5, EventType.PRESS, WORLD_BUTTON)
    for _ in range(2):
        deliver(gateways, event)
    assert [(a.inc, a.ids) for _, a in gateways.acks] == [(INC, [5])] * 2
    assert gateway_events(world, GATEWAY) == [event.id]
    counters = worker.counters()
    assert (counters["events_stored"], counters["events_duplicate"]) == (1, 1)
    assert counters["events_conflict"] == 0
