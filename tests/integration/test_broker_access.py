"""The closed broker, on a real Mosquitto configured as the platform runs it (the dynamic-security
plugin, identities made by the server): nobody gets in anonymously; a gateway's credentials
reach its own topics and nothing else; a forged press never becomes an alert at another home;
a revoked gateway is cut off at once and cannot come back; each server part has the least it
needs."""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.app import Gateway
from kernel.contract import Down, Event, EventType, Service, Topics, Up, dump, event_id
from kernel.services.broker import BrokerAddress
from kernel.services.dynsec import Login
from tests.fixtures.access import (
    MqttProbe,
    Provisioned,
    add_second_home,
    add_technician,
    provision,
    secured,
    secured_stack,
)
from tests.fixtures.broker import start_private_broker
from tests.fixtures.gateway import running
from tests.fixtures.stack import Stack
from tests.fixtures.waiting import eventually, eventually_sync
from tests.fixtures.world import BUTTON, GATEWAY, World

__all__ = ["secured_stack"]

NOT_AUTHORIZED = 135
B_GATEWAY = "gw-world-0002"
B_BUTTON = "rf-0b0b0b0b"


def _code(rc: Any) -> int:
    return int(getattr(rc, "value", rc))


@pytest.fixture
def two_gateways(world: World, secured_stack: Stack, tmp_path: Path) -> tuple[Provisioned,
                                                                                Provisioned]:
    """A (the world's gateway) and B (at a second home), each provisioned with a claim code."""
    tech = secured_stack.client(add_technician(world))
    home_b = add_second_home(world)
    a = provision(secured_stack, tech, GATEWAY, world.home, tmp_path / "a")
    b = provision(secured_stack, tech, B_GATEWAY, home_b, tmp_path / "b")
    with world.connect() as conn:
        conn.execute("INSERT INTO devices (uid, gateway_id, model, label) VALUES "
                     "(%s, %s, 'PB-433', 'B 床头')", (B_BUTTON, B_GATEWAY))
    return a, b


async def test_anonymous_clients_are_refused(mqtt_broker: BrokerAddress, tmp_path: Path) -> None:
    """The session's broker and a private one as the demo starts it: no login, no entry."""
    demo_like = start_private_broker(tmp_path / "demo", superuser=False)
    try:
        for broker in (mqtt_broker, demo_like.address):
            with pytest.raises(aiomqtt.MqttCodeError) as refused:
                async with aiomqtt.Client(broker.host, broker.port, timeout=5):
                    pass
            assert _code(refused.value.rc) in (NOT_AUTHORIZED, 5), refused.value
        probe = MqttProbe(demo_like.address.as_user(Login("admin", "a wrong password")))
        probe.connect()
        eventually_sync(lambda: probe.connack is not None, 10, "the CONNACK")
        assert probe.refused
        probe.close()
    finally:
        demo_like.stop()


def test_a_gateway_reaches_its_own_topics_and_nothing_else(
        two_gateways: tuple[Provisioned, Provisioned], topics: Topics,
        mqtt_broker: BrokerAddress) -> None:
    a, b = two_gateways
    probe = MqttProbe(a.address, client_id=GATEWAY).connect()
    try:
        eventually_sync(lambda: probe.connack is not None, 10, "A's CONNACK")
        assert probe.accepted
        subs = {topic: probe.subscribe(topic) for topic in (
            topics.gateway_down_all(B_GATEWAY), f"{topics.root}/#", "pal/v1/#", "#",
            topics.all_up(), topics.gateway_down_all(GATEWAY))}
        pubs = {topic: probe.publish(topic, b"{}") for topic in (
            topics.up(B_GATEWAY, Up.EVENT), topics.down(B_GATEWAY, Down.CMD),
            topics.down(GATEWAY, Down.ACK), topics.down(GATEWAY, Down.CONFIG),
            topics.down(B_GATEWAY, Down.CONFIG), topics.up(GATEWAY, Up.HEARTBEAT))}
        eventually_sync(lambda: len(probe.subacks) == len(subs) and len(probe.pubacks) == len(
            pubs), 10, "every SUBACK and PUBACK")
        granted = {t: not probe.subacks[mid][0].is_failure for t, mid in subs.items()}
        assert granted == {topics.gateway_down_all(B_GATEWAY): False, f"{topics.root}/#": False,
                           "pal/v1/#": False, "#": False, topics.all_up(): False,
                           topics.gateway_down_all(GATEWAY): True}
        accepted = {t: _code(probe.pubacks[mid]) != NOT_AUTHORIZED for t, mid in pubs.items()}
        assert accepted == {topics.up(B_GATEWAY, Up.EVENT): False,
                            topics.down(B_GATEWAY, Down.CMD): False,
                            topics.down(GATEWAY, Down.ACK): False,
                            # config comes only from the server's identity, even its own
                            topics.down(GATEWAY, Down.CONFIG): False,
                            topics.down(B_GATEWAY, Down.CONFIG): False,
                            topics.up(GATEWAY, Up.HEARTBEAT): True}
        # nothing of B's downlink reaches A, even what is published there now
        marker = uuid.uuid4().hex.encode()
        sender = MqttProbe(mqtt_broker).connect()
        sender.client.publish(topics.down(B_GATEWAY, Down.CMD), marker, qos=1)
        sender.client.publish(topics.down(GATEWAY, Down.CMD), marker, qos=1)
        eventually_sync(lambda: any(m.payload == marker for m in probe.messages), 10,
                        "A's own command")
        assert [m.topic for m in probe.messages if m.payload == marker] == [
            topics.down(GATEWAY, Down.CMD)]
        sender.close()
    finally:
        probe.close()
    # A's credentials under B's client id (taking over B's session) are refused
    thief = MqttProbe(a.address, client_id=B_GATEWAY).connect()
    eventually_sync(lambda: thief.connack is not None, 10, "the CONNACK")
    assert thief.refused
    thief.close()
    assert b.bundle.mqtt.username != a.bundle.mqtt.username


def test_a_forged_press_never_becomes_an_alert_at_another_home(
        world: World, two_gateways: tuple[Provisioned, Provisioned], secured_stack: Stack,
        topics: Topics) -> None:
    """On B's topic the broker drops it (PUBACK: not authorized); on A's own topic, naming B's
    button, it is an alert at A's home (an unknown device there), never at B's."""
    a, _ = two_gateways
    probe = MqttProbe(a.address, client_id=GATEWAY).connect()
    eventually_sync(lambda: probe.connack is not None, 10, "A's CONNACK")

    def press(gw: str, n: int, device: str) -> Event:
        return Event(id=event_id(gw, "f0f0f0f0f0f0", n), gw=gw, inc="f0f0f0f0f0f0", n=n,
                     ts=time.time(), device=device, type=EventType.PRESS)

    forged_on_b = press(B_GATEWAY, 1, B_BUTTON)
    forged_on_a = press(GATEWAY, 2, B_BUTTON)
    genuine = press(GATEWAY, 3, BUTTON)
    mids = [probe.client.publish(topics.up(e.gw, Up.EVENT), dump(e), qos=1).mid
            for e in (forged_on_b, forged_on_a, genuine)]
    eventually_sync(lambda: all(m in probe.pubacks for m in mids), 10, "the PUBACKs")
    assert _code(probe.pubacks[mids[0]]) == NOT_AUTHORIZED
    probe.close()

    def alerts() -> list[tuple[Any, ...]]:
        with world.connect() as conn:
            return conn.execute("SELECT event_id, home_id, gateway_id, details ? "
                                "'unknown_device' FROM alerts a JOIN alert_events ae ON "
                                "ae.alert_id = a.id ORDER BY ae.event_id").fetchall()

    eventually_sync(lambda: len(alerts()) == 2, 30, "the alerts of A's two presses", every=0.2)
    with world.connect() as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM events")}
    assert forged_on_b.id not in stored
    assert [(r[0], r[1], r[2], r[3]) for r in alerts()] == [
        (forged_on_a.id, world.home, GATEWAY, True), (genuine.id, world.home, GATEWAY, False)]


async def test_a_revoked_gateway_is_cut_off_at_once_and_cannot_come_back(
        world: World, secured_stack: Stack, tmp_path: Path, topics: Topics) -> None:
    tech = secured_stack.client(add_technician(world))
    a = await asyncio.to_thread(provision, secured_stack, tech, GATEWAY, world.home,
                                tmp_path / "a")
    gw = Gateway(a.settings())
    async with running(gw):
        await eventually(lambda: _online(world), 15, "the gateway online in the directory")
        connects = gw.counters["mqtt_connects"]
        r = await asyncio.to_thread(tech.post, f"/api/enrol/gateways/{GATEWAY}/revoke")
        assert r.status_code == 200, r.text
        assert r.json()["access"] == "revoked"
        await eventually(lambda: not gw.uplink.connected.is_set(), 5, "the connection cut")
        # it keeps trying (backoff 0.5 s doubling): every login is refused
        await eventually(lambda: gw.counters["mqtt_disconnects"] >= 3, 20, "refused logins")
        assert gw.counters["mqtt_connects"] == connects
        assert not gw.uplink.connected.is_set()
    await eventually(lambda: not _online(world), 15, "the gateway offline in the directory")
    probe = MqttProbe(a.address, client_id=GATEWAY).connect()
    await eventually(lambda: probe.connack is not None, 10, "the CONNACK")
    assert probe.refused
    probe.close()


def _answered(probe: MqttProbe, subscriptions: int, publications: int) -> bool:
    """The broker answered the login, and so many subscriptions and publications."""
    return probe.connack is not None and len(probe.subacks) == subscriptions and len(
        probe.pubacks) == publications


def _online(world: World) -> bool:
    with world.connect() as conn:
        row = conn.execute("SELECT state FROM gateways WHERE id = %s", (GATEWAY,)).fetchone()
    return bool(row and row[0] == "online")


async def test_each_server_part_has_the_least_it_needs(
        mqtt_broker: BrokerAddress, mqtt_admin: BrokerAddress, topics: Topics,
        secured_stack: Stack) -> None:
    """The identities the server made at start-up: what each may and may not do."""
    over = secured(mqtt_admin, topics)  # the same names; the passwords are the stack's own
    s = secured_stack.settings

    def login(service: Service) -> BrokerAddress:
        return s.broker(service.value)

    assert over["mqtt_ingest_username"] == login(Service.INGEST).username
    gw = "gw-some-0001"
    cases = {
        Service.INGEST: ({f"$share/x/{topics.all_up()}": True, topics.all_up(): False,
                          topics.gateway_down_all(gw): False},
                         {topics.down(gw, Down.ACK): True, topics.down(gw, Down.CMD): False,
                          topics.up(gw, Up.EVENT): False}),
        Service.PRESENCE: ({topics.all_of(Up.STATUS): True, topics.all_of(Up.EVENT): False},
                           {topics.up(gw, Up.STATUS): False, topics.down(gw, Down.ACK): False}),
        Service.API: ({topics.all_of(Up.CMD_RESULT): True, topics.all_of(Up.EVENT): False},
                      {topics.down(gw, Down.CONFIG): True, topics.down(gw, Down.CMD): True,
                       topics.down(gw, Down.ACK): False, topics.up(gw, Up.EVENT): False}),
        Service.MONITOR: ({topics.all_up(): True, f"{topics.root}/#": False},
                          {topics.down(gw, Down.ACK): False}),
    }
    for service, (subscriptions, publications) in cases.items():
        probe = MqttProbe(login(service)).connect()
        await eventually(functools.partial(_answered, probe, 0, 0), 10, f"{service} CONNACK")
        subs = {t: probe.subscribe(t) for t in subscriptions}
        pubs = {t: probe.publish(t) for t in publications}
        await eventually(functools.partial(_answered, probe, len(subs), len(pubs)), 10,
                         f"{service}'s answers")
        got = ({t: not probe.subacks[m][0].is_failure for t, m in subs.items()},
               {t: _code(probe.pubacks[m]) != NOT_AUTHORIZED for t, m in pubs.items()})
        assert got == (subscriptions, publications), service
        probe.close()
    # the administrator manages identities and touches no data
    admin = MqttProbe(mqtt_admin).connect()
    await eventually(lambda: admin.connack is not None, 10, "the administrator's CONNACK")
    mid = admin.subscribe(topics.all_up())
    await eventually(lambda: mid in admin.subacks, 10, "the SUBACK")
    assert admin.subacks[mid][0].is_failure
    admin.close()


def test_a_ctrl_c_at_the_terminal_does_not_reach_a_private_broker(tmp_path: Path) -> None:
    """Ctrl-C signals the terminal's foreground process group; the broker is in a session of
    its own, so its owner (the demo) stops it last, after the gateways and the server parts that
    talk through it, instead of everyone losing the broker at once."""
    broker = start_private_broker(tmp_path / "broker")
    try:
        assert broker.proc is not None
        assert os.getpgid(broker.proc.pid) != os.getpgrp()
        assert os.getsid(broker.proc.pid) != os.getsid(0)
    finally:
        broker.stop()
