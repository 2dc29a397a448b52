"""The cancel window and the pre-warning, end to end: a simulated wearable's fall streamed over
the in-memory BLE air to a gateway (its button on a real pty), a real broker, the server with
its ingest workers and detectors on real PostgreSQL.

- a fall with a press in its window reaches the console "cancelled by the wearer" (P2, open);
- a fall without one stays P1, and a press after the window is a panic;
- an inactivity pre-warning answered by a press raises nothing (a closed record);
- with the link down, an edge gateway finds the fall, asks the wearer and hears the press; when
  the link returns the fall arrives once, with its original time, cancelled by the wearer, and
  the server's own detection of it (from the late blocks) joins the same alert.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from firmware_sim.link import PtyLink
from firmware_sim.plan import Home
from firmware_sim.routine import parse_clock
from firmware_sim.scenarios import find_scenario
from firmware_sim.wearable import Wearable
from gateway.app import Gateway
from gateway.prompts import Phase, Prompt
from gateway.transports.ble import MemoryBle
from hardware import ble
from hardware.ble import AlertLevel
from hardware.frames import Frame, MsgType, encode_frame, input_data
from kernel.contract import Event, EventType, PromptKind, Topics, Up
from kernel.services.broker import BrokerAddress
from server.detect.prompts import Prewarning, prewarn_command
from server.detect.send import send_command
from tests.fixtures.gateway import gateway_settings, running
from tests.fixtures.ingest import FakeGateways, make_block
from tests.fixtures.stack import running_stack
from tests.fixtures.tcp_link import tcp_link
from tests.fixtures.waiting import eventually
from tests.fixtures.world import BUTTON, GATEWAY, PENDANT, World

FALL_AT = parse_clock("10:02:30")  # the demo pendant's fall (it stays down 90 s)


class Heard:
    """The gateway's speaker, recorded."""

    def __init__(self) -> None:
        self.said: list[tuple[PromptKind, Phase]] = []

    def announce(self, prompt: Prompt, phase: Phase) -> None:
        self.said.append((prompt.kind, phase))


class Clock:
    """The gateway's clock: it follows the replayed notifications (each arrives when it was
    sent, mapped onto now), then runs on; ``jump`` moves it ahead."""

    def __init__(self, scenario_t: float, wall: float) -> None:
        self.base = wall - scenario_t
        self.at = (scenario_t, time.monotonic())

    def follow(self, scenario_t: float) -> None:
        self.at = (scenario_t, time.monotonic())

    def jump(self, seconds: float) -> None:
        self.base += seconds

    def __call__(self) -> float:
        t, mono = self.at
        return self.base + t + (time.monotonic() - mono)


class House:
    """The world's home: its gateway (button on a pty, the demo pendant on the air)."""

    def __init__(self, tmp_path: Path, broker: BrokerAddress, topics: Topics, *,
                 edge: bool = False) -> None:
        self.pendant: Wearable = next(w for w in Home(find_scenario("demo")).wearables.values()
                                      if w.uid == PENDANT)
        self.air = MemoryBle()
        self.alerts: list[AlertLevel] = []
        self.air.on_write(self.pendant.address,
                          lambda uuid, data: self.alerts.append(ble.parse_alert_level(data)))
        self.pty = PtyLink()
        self.heard = Heard()
        self.sent: list[Event] = []
        self.clock = Clock(FALL_AT - 60, time.time() - 60)  # the fall happens about now
        self.gateway = Gateway(gateway_settings(tmp_path, broker, topics, gw_id=GATEWAY,
                                                serial=(self.pty.path,), edge_falls=edge),
                               self.air, self.clock, on_event=self.sent.append,
                               announcer=self.heard)
        self.gateway.registry.pair(BUTTON, "PB-433", "床头")
        self.gateway.registry.pair(PENDANT, "WP-BLE", "挂件")
        self._seq = 0

    async def fall(self, until: float = FALL_AT + 15) -> None:
        """The pendant's notifications from a minute before the fall to ``until``, replayed."""
        await eventually(lambda: self.air.connected(self.pendant.address), what="the BLE link")
        for t, char, payload in self.pendant.notifications(FALL_AT - 60, until):
            if char == ble.ACCEL_CHAR:
                self.clock.follow(t)
                await self.air.notify(self.pendant.address, char, payload)

    def press(self, kind: MsgType = MsgType.PRESS) -> None:
        self._seq += 1
        self.pty.write(encode_frame(Frame(kind, int(BUTTON.removeprefix("rf-"), 16), self._seq,
                                          -58, 2950, input_data())))

    def close(self) -> None:
        self.pty.close()


@contextlib.asynccontextmanager
async def house(tmp_path: Path, broker: BrokerAddress, topics: Topics, *, edge: bool = False,
                connected: bool = True) -> AsyncIterator[House]:
    h = House(tmp_path, broker, topics, edge=edge)
    try:
        async with running(h.gateway, wait_connected=connected):
            yield h
    finally:
        h.close()


async def telemetry_flowing(world: World, broker: BrokerAddress, topics: Topics) -> None:
    """Return once the server's telemetry worker stores what a gateway publishes: telemetry
    leaves a gateway on the broker's PUBACK, so blocks published before the worker has
    subscribed are gone (a probe block an hour old, which the detectors never look at)."""
    pub = FakeGateways(broker, topics)
    probe = make_block(PENDANT, 0, t0_us=int((time.time() - 3600) * 1e6)).encode()
    sent = [0.0]

    def stored() -> bool:
        if time.monotonic() - sent[0] > 0.5:  # again, until one is stored
            pub.raw(GATEWAY, Up.ACC, probe)
            sent[0] = time.monotonic()
        return bool(rows(world, "SELECT 1 FROM acc_blocks LIMIT 1"))

    try:
        await eventually(stored, 30, "the telemetry worker")
    finally:
        pub.close()


_conns: dict[str, psycopg.Connection[Any]] = {}


def rows(world: World, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``query`` in the world's schema (one connection per schema, kept)."""
    conn = _conns.get(world.schema.conninfo)
    if conn is None or conn.closed:
        conn = _conns[world.schema.conninfo] = psycopg.connect(world.schema.conninfo,
                                                               autocommit=True)
    return [tuple(r) for r in conn.execute(query, args).fetchall()]


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    for conn in _conns.values():
        conn.close()
    _conns.clear()


def alerts(world: World) -> list[tuple[Any, ...]]:
    return rows(world, "SELECT id, type, priority, state, details -> 'wearer' FROM alerts "
                       "ORDER BY id")


def falls(world: World) -> list[tuple[Any, ...]]:
    return [a for a in alerts(world) if a[1] == "fall"]


async def test_a_fall_with_a_press_in_the_window_arrives_cancelled_by_the_wearer(
        world: World, mqtt_broker: BrokerAddress, topics: Topics, tmp_path: Path) -> None:
    with running_stack(world, mqtt_broker, topics, ingest=True) as stack:
        await telemetry_flowing(world, mqtt_broker, topics)
        async with house(tmp_path, mqtt_broker, topics) as h:
            await h.fall()
            await eventually(lambda: h.alerts == [AlertLevel.HIGH], 30,
                             "the server's fall, and the pendant asked to alert")
            (p1,) = falls(world)
            h.press()
            await eventually(lambda: falls(world)[0][2] == "P2", 20, "the wearer's cancel")
            await eventually(lambda: h.alerts == [AlertLevel.HIGH, AlertLevel.NONE],
                             what="the pendant told to stop")
            detail = stack.client("alice").get(f"/api/alerts/{p1[0]}").json()
    assert p1[2:4] == ("P1", "open"), "a fall is raised at once, as P1"
    ((_, _, priority, state, wearer),) = falls(world)
    assert (priority, state) == ("P2", "open"), "not resolved: an operator calls back"
    assert wearer["cancelled_by"] == "press"
    assert [a for a in alerts(world) if a[1] == "panic"] == [], "the press was the answer"
    assert detail["wearer"]["cancelled_at"] > detail["wearer"]["prompted_at"]
    steps = [e["action"] for e in detail["timeline"]]
    assert {"open", "prompt_wearer", "press", "wearer_cancel"} <= set(steps)
    assert h.heard.said == [(PromptKind.FALL, Phase.ASK), (PromptKind.FALL, Phase.ANSWERED)]


async def test_a_fall_without_a_press_stays_p1_and_a_late_press_is_a_panic(
        world: World, mqtt_broker: BrokerAddress, topics: Topics, tmp_path: Path) -> None:
    with running_stack(world, mqtt_broker, topics, ingest=True):
        await telemetry_flowing(world, mqtt_broker, topics)
        async with house(tmp_path, mqtt_broker, topics) as h:
            await h.fall()
            await eventually(lambda: h.alerts == [AlertLevel.HIGH], 30, "the pendant asked")
            h.clock.jump(31)  # the 30-s window is over on the gateway's clock
            h.press()
            await eventually(lambda: [a for a in alerts(world) if a[1] == "panic"], 20,
                             "the press's panic")
    ((_, _, priority, state, wearer),) = falls(world)
    assert (priority, state) == ("P1", "open")
    assert "cancelled_at" not in wearer
    (press,) = [e for e in h.sent if e.type == EventType.PRESS]
    assert "answers" not in press.data


async def test_an_inactivity_prewarning_answered_by_a_press_raises_nothing(
        world: World, mqtt_broker: BrokerAddress, topics: Topics, tmp_path: Path) -> None:
    with running_stack(world, mqtt_broker, topics, ingest=True) as stack:
        async with house(tmp_path, mqtt_broker, topics) as h:
            with psycopg.connect(world.schema.conninfo, autocommit=True) as conn:
                command = prewarn_command(conn, Prewarning(GATEWAY, world.resident,
                                                           "continuous_4h", 225, 15))
            assert send_command(stack.settings, GATEWAY, command)
            await eventually(lambda: h.alerts == [AlertLevel.MILD], 20, "the pendant asked")
            h.press()
            await eventually(lambda: alerts(world), 20, "the answered pre-warning recorded")
            queue = stack.client("alice").get("/api/alerts/queue").json()
            history = stack.client("alice").get("/api/alerts").json()
            h.press()  # "press again if you need help"
            await eventually(lambda: [a for a in alerts(world) if a[1] == "panic"], 20,
                             "the second press's panic")
    assert queue == [], "nothing for the operators"
    (record,) = history
    assert (record["type"], record["state"], record["outcome"]) == (
        "inactivity", "cancelled", "cancelled_by_resident")
    assert record["prewarning"]["prompt"] == command.id
    assert record["prewarning"]["inactive_min"] == 225
    assert h.heard.said[:2] == [(PromptKind.PREWARN, Phase.ASK),
                                (PromptKind.PREWARN, Phase.ANSWERED)]


async def test_an_edge_fall_with_the_link_down_arrives_once_with_its_time_and_its_cancel(
        world: World, mqtt_broker: BrokerAddress, topics: Topics, tmp_path: Path) -> None:
    with running_stack(world, mqtt_broker, topics, ingest=True):
        await telemetry_flowing(world, mqtt_broker, topics)
        async with tcp_link(mqtt_broker) as link, \
                house(tmp_path, link.address, topics, edge=True) as h:
            await link.down()  # the home's internet drops; broker and server stay up
            await eventually(lambda: not h.gateway.uplink.connected.is_set(),
                             what="the link down")
            await h.fall()
            await eventually(lambda: h.alerts == [AlertLevel.HIGH], 20,
                             "the gateway asked the wearer itself")
            h.press()
            await eventually(lambda: h.alerts == [AlertLevel.HIGH, AlertLevel.NONE],
                             what="the press heard")
            assert alerts(world) == [], "nothing reached the server yet"
            back_at = h.clock()
            await link.up()
            await eventually(lambda: falls(world) and falls(world)[0][2] == "P2", 60,
                             "the fall, cancelled by the wearer, after the outage")
            await eventually(lambda: len(rows(world, "SELECT 1 FROM alert_events ae "
                                                     "JOIN events e ON e.id = ae.event_id "
                                                     "WHERE e.type = 'fall'")) == 2, 60,
                             "the server's own detection, from the late blocks")
            await eventually(lambda: h.gateway.outbox.stats().depth == 0, 30,
                             "the outbox emptied")
    ((alert_id, _, priority, state, wearer),) = falls(world)
    assert (priority, state, wearer["via"], wearer["cancelled_by"]) == (
        "P2", "open", "gateway", "press")
    (edge,) = [e for e in h.sent if e.type == EventType.FALL]
    stored = rows(world, "SELECT e.id, extract(epoch FROM e.ts)::float8, e.source "
                         "FROM alert_events ae JOIN events e ON e.id = ae.event_id "
                         "WHERE ae.alert_id = %s AND e.type = 'fall' ORDER BY e.source",
                  alert_id)
    assert [(i, s) for i, _, s in stored] == [(edge.id, "gateway"), (stored[1][0], "server")]
    assert abs(stored[0][1] - edge.ts) < 1e-3, "stored with the time it happened"
    assert edge.ts < back_at, "the fall was found while the link was down"
    assert [a for a in alerts(world) if a[1] == "panic"] == []
