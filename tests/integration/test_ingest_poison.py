"""Poison messages at the ingest, on real Mosquitto and PostgreSQL.

A message the database would refuse is refused at decode; one that still fails in PostgreSQL
(made so on purpose by ``POISON_SQL``) is isolated from its batch. Either way it is kept as a
dead letter with its raw payload and acknowledged; an alarm among them still raises an alert;
the messages around it are stored without waiting.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from kernel.contract import (
    AccBlock,
    DeviceHealth,
    EventType,
    Heartbeat,
    OutboxHealth,
    Topics,
    Up,
    VitalReading,
    Vitals,
    dump,
)
from kernel.services.broker import BrokerAddress
from server.ingest.worker import IngestWorker, WorkerConfig
from tests.fixtures.hostile import POISON_HR, POISON_SEQ, POISON_SQL
from tests.fixtures.ingest import (
    FakeGateways,
    alerting_worker,
    make_block,
    make_event,
    settled,
)
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import BUTTON, CORD, GATEWAY, PENDANT, World

OTHER_GW = "gw-poison-0002"
OTHER_WEARABLE = "ble-c82e470a1b99"


@pytest.fixture
def poisoned(world: World) -> World:
    """The world, with a schema that refuses a few values the contract lets through."""
    with world.connect() as conn:
        conn.execute(POISON_SQL)
        conn.execute("INSERT INTO gateways (id) VALUES (%s)", (OTHER_GW,))
    return world


def start(world: World, broker: BrokerAddress, topics: Topics, max_age_s: float
          ) -> IngestWorker:
    return alerting_worker(WorkerConfig(broker, topics, world.schema.conninfo,
                                        group=f"g{uuid.uuid4().hex[:8]}", max_age_s=max_age_s))


@pytest.fixture
def gateways(mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[FakeGateways]:
    g = FakeGateways(mqtt_broker, topics)
    yield g
    g.close()


def rows(world: World, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with world.connect() as conn:
        return conn.execute(sql, args).fetchall()


def test_twenty_poison_events_ahead_of_a_press_cost_it_nothing(
        poisoned: World, mqtt_broker: BrokerAddress, topics: Topics,
        gateways: FakeGateways) -> None:
    """10 events with a NUL in ``data`` (refused at decode) and 10 the database refuses,
    then a genuine press: the press is stored, acked and alerted within 1 s of its arrival."""
    worker = start(poisoned, mqtt_broker, topics, max_age_s=0.05)
    try:
        kinds = [EventType.PRESS, EventType.PRESS, EventType.FALL, EventType.FALL]
        poisons: dict[int, bytes] = {}
        for i in range(20):
            event = make_event(GATEWAY, 100 + i, kinds[i] if i < 4 else EventType.MOTION,
                               device=CORD).model_dump(mode="json")
            event["data"] = {"note": "a\x00b"} if i % 2 == 0 else {"poison": True}
            poisons[100 + i] = json.dumps(event).encode()
            gateways.raw(GATEWAY, Up.EVENT, poisons[100 + i])
        press = make_event(GATEWAY, 200, EventType.PRESS, device=BUTTON)
        gateways.event(press)

        eventually_sync(lambda: 200 in gateways.acked[GATEWAY], 30, "the press's app ack")
        eventually_sync(lambda: settled(worker, 21), what="every message acknowledged")
        eventually_sync(lambda: gateways.acked[GATEWAY] >= {*poisons, 200},
                        what="the poisons' app acks")
        counters = worker.counters()
    finally:
        worker.stop()

    ((alert_type, priority, resident, waited),) = rows(
        poisoned, "SELECT a.type, a.priority, a.resident_id,"
        " extract(epoch FROM a.opened_at - e.received_at)::float8 FROM events e"
        " JOIN alert_events ae ON ae.event_id = e.id JOIN alerts a ON a.id = ae.alert_id"
        " WHERE e.id = %s", press.id)
    assert (alert_type, priority, resident) == ("panic", "P1", poisoned.resident)
    assert 0 <= waited < 1.0, f"the press waited {waited:.3f} s behind 20 poison events"

    letters = rows(poisoned, "SELECT id, payload, reason, gateway_id, channel, alert_id"
                             " FROM dead_letters ORDER BY id")
    assert sorted(bytes(p) for _, p, *_ in letters) == sorted(poisons.values())
    assert {(gw, ch) for _, _, _, gw, ch, _ in letters} == {(GATEWAY, "event")}
    reasons = [reason for _, _, reason, *_ in letters]
    assert (reasons.count("bad_text"), reasons.count("store_failed")) == (10, 10)
    assert counters["dead_letters"] == 20
    assert (counters["rejected_bad_text"], counters["store_failed"]) == (10, 10)
    assert counters["isolated_batches"] >= 1
    assert counters["writer_errors"] == 0
    assert rows(poisoned, "SELECT count(*) FROM events WHERE n BETWEEN 100 AND 119") == [(0,)]

    by_payload = {bytes(p): (dead, alert) for dead, p, _, _, _, alert in letters}
    for n, payload in poisons.items():
        assert (by_payload[payload][1] is not None) == (n < 104), f"alarm-type poisons only: {n}"
    alerts = rows(poisoned, "SELECT id, type, priority, home_id, details FROM alerts"
                            " WHERE resident_id IS NULL ORDER BY id")
    assert [(t, p, h) for _, t, p, h, _ in alerts] == [
        ("panic", "P1", poisoned.home), ("fall", "P1", poisoned.home)]
    for (alert, *_, details), first, second in zip(alerts, (100, 102), (101, 103), strict=True):
        # opened by the NUL one (refused at decode, so dead-lettered first), the other attached
        assert by_payload[poisons[first]] == (details["dead_letter"], alert)
        assert by_payload[poisons[second]][1] == alert
        assert details["reason"] == "bad_text"
        assert '"note": "a\\u0000b"' in details["payload"]
        assert details["payload"].startswith('{"v": 1, "id": "gw-world-0001:')


def test_a_poison_telemetry_message_loses_nothing_of_its_batch(
        poisoned: World, mqtt_broker: BrokerAddress, topics: Topics,
        gateways: FakeGateways) -> None:
    """Acc, vitals and heartbeats of two homes, and among them a heartbeat with ts=1e300, an
    acc block with a NUL in its uid, vitals with an absurd RR interval (refused at decode), an
    acc block and a vitals message the database refuses (isolated): every other row is stored."""
    worker = start(poisoned, mqtt_broker, topics, max_age_s=1.0)  # a few big batches
    try:
        now = time.time() - 600  # recent: TimescaleDB's retention job drops old chunks
        t0_us = int(now * 1e6)
        published = 0

        def send(gw: str, channel: Up, payload: bytes) -> None:
            nonlocal published
            gateways.raw(gw, channel, payload)
            published += 1

        hb = Heartbeat(gw=OTHER_GW, ts=now, uptime_s=5, interval_s=30,
                       outbox=OutboxHealth(depth=0, alarms=0, shed=0),
                       devices=[DeviceHealth(device=OTHER_WEARABLE, kind="wearable",
                                             rssi=-70, battery_mv=2800)])
        bad_hb = {**hb.model_dump(mode="json"), "gw": GATEWAY, "ts": 1e300}
        good_vitals = [Vitals(gw=gw, device=dev, readings=[
            VitalReading(ts=now + i, hr=70 + i, rr_ms=[850.0]) for i in range(5)])
            for gw, dev in ((GATEWAY, PENDANT), (OTHER_GW, OTHER_WEARABLE))]
        absurd = good_vitals[0].model_dump(mode="json")
        absurd["readings"] = [{"ts": now + 50, "hr": 80, "rr_ms": [1e300]}]
        db_refused_vitals = Vitals(gw=GATEWAY, device=PENDANT, readings=[
            VitalReading(ts=now + 60, hr=POISON_HR)])
        nul_uid = AccBlock("ble-\x00c82e470a", int(now * 1e6), 7, 50.0, 1 / 256,
                           np.zeros((50, 3), np.int16))
        db_refused_block = make_block(PENDANT, POISON_SEQ, t0_us=t0_us)
        for seq in range(100):
            send(GATEWAY, Up.ACC, make_block(PENDANT, seq, t0_us=t0_us).encode())
            send(OTHER_GW, Up.ACC, make_block(OTHER_WEARABLE, seq, t0_us=t0_us).encode())
            if seq == 10:
                send(GATEWAY, Up.HEARTBEAT, json.dumps(bad_hb).encode())
                send(GATEWAY, Up.ACC, nul_uid.encode())
            if seq == 20:
                send(GATEWAY, Up.VITALS, json.dumps(absurd).encode())
                send(GATEWAY, Up.VITALS, dump(db_refused_vitals))
                send(GATEWAY, Up.ACC, db_refused_block.encode())
            if seq == 30:
                for v in good_vitals:
                    send(v.gw, Up.VITALS, dump(v))
                send(OTHER_GW, Up.HEARTBEAT, dump(hb))
        eventually_sync(lambda: settled(worker, published), 30, "every message acknowledged")
        counters = worker.counters()
    finally:
        worker.stop()

    assert rows(poisoned, "SELECT device, count(*) FROM acc_blocks GROUP BY device"
                          " ORDER BY device") == [(PENDANT, 100), (OTHER_WEARABLE, 100)]
    assert rows(poisoned, "SELECT device, count(*) FROM vitals GROUP BY device"
                          " ORDER BY device") == [(PENDANT, 5), (OTHER_WEARABLE, 5)]
    assert rows(poisoned, "SELECT gateway_id, device FROM device_health") == [
        (OTHER_GW, OTHER_WEARABLE)]
    assert rows(poisoned, "SELECT id, state FROM gateways WHERE last_heartbeat IS NOT NULL"
                ) == [(OTHER_GW, "online")]
    letters = rows(poisoned, "SELECT channel, reason, payload, alert_id FROM dead_letters"
                             " ORDER BY channel")
    assert [(c, r, bytes(p), a) for c, r, p, a in letters] == [
        ("acc", "store_failed", db_refused_block.encode(), None),
        ("vitals", "store_failed", dump(db_refused_vitals), None)]
    assert (counters["rejected_bad_time"], counters["rejected_bad_text"],
            counters["rejected_out_of_range"]) == (1, 1, 1)
    assert counters["telemetry_dropped"] == 0
    assert counters["writer_errors"] == 0
    assert rows(poisoned, "SELECT count(*) FROM alerts") == [(0,)], "telemetry never alerts"
