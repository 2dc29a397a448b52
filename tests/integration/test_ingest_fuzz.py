"""Property-based fuzz of every ``up/`` payload type at the ingest (real Mosquitto, real
PostgreSQL, the real writers with the alert engine): hostile values in valid structures, and raw
garbage, published through MQTT as gateways do, with a genuine press after each example.

Status messages are not the ingest's (the presence listener reads them): they go through the
same decoder here, which must refuse them with a reason or return a value, never raise anything
else.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.contract import ContractError, EventType, Topics, Up
from kernel.services.broker import BrokerAddress
from server.alerts.engine import EVENT_ALERTS
from server.ingest.decode import Incoming, decode
from server.ingest.worker import WorkerConfig
from tests.fixtures.hostile import POISON_SQL, Case, cases, claims_alarm
from tests.fixtures.ingest import FakeGateways, alerting_worker, make_event, settled
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import BUTTON, CORD, GATEWAY, PENDANT, World

FUZZ_GW = "gw-fuzz-0001"  # a known gateway in the same home; the fuzz publishes as it
STRANGER = "gw-stranger-01"  # not provisioned
ALERTING = sorted(t.value for t in EVENT_ALERTS)
ALARMS = sorted(t.value for t in (EventType.PRESS, EventType.LONG_PRESS, EventType.FALL))


@pytest.fixture
def gateways(mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[FakeGateways]:
    g = FakeGateways(mqtt_broker, topics)
    yield g
    g.close()


def test_fuzzed_uplink_crashes_nothing_blocks_nothing_and_alarms_still_alert(
        world: World, mqtt_broker: BrokerAddress, topics: Topics,
        gateways: FakeGateways) -> None:
    with world.connect() as conn:
        conn.execute(POISON_SQL)
        conn.execute("INSERT INTO gateways (id, home_id) VALUES (%s, %s)", (FUZZ_GW, world.home))
    worker = alerting_worker(WorkerConfig(mqtt_broker, topics, world.schema.conninfo,
                                          group=f"g{uuid.uuid4().hex[:8]}", max_age_s=0.05))
    devices = [BUTTON, CORD, PENDANT, "ble-c82e470a1b99"]
    published = 0
    genuine: list[int] = []
    fuzzed: list[Case] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(cases([FUZZ_GW, STRANGER], devices, time.time()), min_size=1, max_size=6))
    def example(batch: list[Case]) -> None:
        nonlocal published
        for case in batch:
            item = Incoming(topics.up(case.gateway, case.channel), case.payload, 0, 1,
                            time.time(), 0)
            with contextlib.suppress(ContractError):  # a reason; anything else fails the test
                decode(topics, item)
            if case.channel != Up.STATUS:
                gateways.raw(case.gateway, case.channel, case.payload)
                published += 1
                fuzzed.append(case)
        genuine.append(len(genuine) + 1)
        gateways.event(make_event(GATEWAY, genuine[-1], EventType.PRESS, device=BUTTON))
        published += 1
        eventually_sync(lambda: genuine[-1] in gateways.acked[GATEWAY], 20, "the press's ack")
        eventually_sync(lambda: settled(worker, published), 20, "every message acknowledged")

    try:
        example()
        alive = worker.event_writer.is_alive() and worker.telemetry_writer.is_alive()
        counters = worker.counters()
    finally:
        worker.stop()

    print(dict(counters))
    assert alive, "a writer thread died"
    for key in ("writer_errors", "telemetry_dropped", "rejected_writer_error"):
        assert counters[key] == 0, f"{key}: {counters[key]}"
    assert counters["messages_acked"] == counters["messages_in"] == published, "stuck messages"
    assert gateways.acked[GATEWAY] == set(genuine)
    with world.connect() as conn:
        alerted = conn.execute(
            "SELECT count(*) FROM events e WHERE e.gateway_id = %s AND e.type = 'press'"
            " AND EXISTS (SELECT 1 FROM alert_events ae WHERE ae.event_id = e.id)",
            (GATEWAY,)).fetchone()
        assert alerted == (len(genuine),), "every genuine press stored and alerted"
        unexplained = conn.execute(
            "SELECT a.id, a.type, a.details FROM alerts a WHERE NOT EXISTS ("
            " SELECT 1 FROM alert_events ae JOIN events e ON e.id = ae.event_id"
            " WHERE ae.alert_id = a.id AND e.type = ANY (%s))"
            " AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.alert_id = a.id)",
            (ALERTING,)).fetchall()
        assert unexplained == [], "alerts from input that raises none"
        silent = conn.execute(
            "SELECT e.id FROM events e WHERE e.type = ANY (%s) AND NOT EXISTS ("
            " SELECT 1 FROM alert_events ae WHERE ae.event_id = e.id)", (ALARMS,)).fetchall()
        assert silent == [], "stored alarm-type events without an alert"
        letters = conn.execute("SELECT channel, gateway_id, payload, alert_id FROM dead_letters"
                               ).fetchall()
    for channel, gw, payload, alert in letters:
        alarm = channel == "event" and gw == FUZZ_GW and claims_alarm(bytes(payload))
        assert (alert is not None) == alarm, (bytes(payload), alert)
    assert len(fuzzed) >= 60
