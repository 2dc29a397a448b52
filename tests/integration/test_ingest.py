"""Ingest on real Mosquitto and real PostgreSQL: stored once, acknowledged after commit."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from kernel.contract import (
    DeviceHealth,
    EventType,
    Heartbeat,
    OutboxHealth,
    Topics,
    Up,
    VitalReading,
    Vitals,
    dump,
    event_id,
)
from kernel.services.broker import BrokerAddress, PrivateBroker
from server.ingest.worker import IngestWorker, WorkerConfig
from tests.fixtures.database import DbSchema
from tests.fixtures.ingest import (
    INC,
    RECENT,
    FakeGateways,
    WorkerProcess,
    make_block,
    make_event,
)
from tests.fixtures.waiting import eventually_sync

GW = "gw-ingest-0001"


def register(schema: DbSchema, *gateways: str) -> None:
    with schema.connect(autocommit=True) as conn:
        for gw in gateways:
            conn.execute("INSERT INTO gateways (id) VALUES (%s)", (gw,))
        conn.execute("INSERT INTO devices (uid, gateway_id, model, kind) "
                     "VALUES ('rf-0a1b2c3d', %s, 'PB-433', 'panic_button')", (gateways[0],))


def count(schema: DbSchema, sql: str) -> int:
    with schema.connect() as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def worker_config(db_schema: DbSchema, mqtt_broker: BrokerAddress,
                  topics: Topics) -> WorkerConfig:
    register(db_schema, GW)
    return WorkerConfig(mqtt_broker, topics, db_schema.conninfo,
                        group=f"g{uuid.uuid4().hex[:8]}", max_age_s=0.05)


@pytest.fixture
def worker(worker_config: WorkerConfig) -> Iterator[IngestWorker]:
    w = IngestWorker(worker_config).start()
    assert w.client.connected.wait(10)
    yield w
    w.stop()


@pytest.fixture
def gateways(mqtt_broker: BrokerAddress, topics: Topics) -> Iterator[FakeGateways]:
    g = FakeGateways(mqtt_broker, topics)
    yield g
    g.close()


def test_events_are_stored_once_and_acknowledged_after_commit(
        worker: IngestWorker, gateways: FakeGateways, db_schema: DbSchema) -> None:
    events = [make_event(GW, n) for n in range(1, 51)]
    for e in events + events[:10]:  # ten replays, as after a gateway reconnect
        gateways.event(e)
    eventually_sync(lambda: gateways.acked_count(GW) == 50, what="50 acks")
    eventually_sync(lambda: worker.counters()["events_duplicate"] == 10, what="10 duplicates")
    assert count(db_schema, "SELECT count(*) FROM events") == 50
    assert count(db_schema, "SELECT count(DISTINCT n) FROM events WHERE gateway_id = "
                            f"'{GW}' AND type = 'press'") == 50
    assert gateways.acked[GW] == set(range(1, 51))
    assert worker.counters()["events_stored"] == 50


def test_telemetry_is_copied_in_batches(worker: IngestWorker, gateways: FakeGateways,
                                        db_schema: DbSchema) -> None:
    for seq in range(300):
        gateways.raw(GW, Up.ACC, make_block("ble-c82e470a1b2c", seq).encode())
    vitals = Vitals(gw=GW, device="ble-c82e470a1b2c", readings=[
        VitalReading(ts=RECENT + i, hr=70 + i, contact=True) for i in range(5)])
    gateways.raw(GW, Up.VITALS, dump(vitals))
    eventually_sync(lambda: worker.counters()["acc_rows"] == 300, what="300 blocks stored")
    eventually_sync(lambda: worker.counters()["vitals_rows"] == 5, what="5 readings stored")
    assert count(db_schema, "SELECT count(*) FROM acc_blocks") == 300
    assert count(db_schema, "SELECT sum(n) FROM acc_blocks") == 300 * 50
    assert worker.counters()["telemetry_batches"] < 300, "COPY batches, not a row at a time"


def test_heartbeats_mark_the_gateway_seen_and_store_device_health(
        worker: IngestWorker, gateways: FakeGateways, db_schema: DbSchema) -> None:
    hb = Heartbeat(gw=GW, ts=RECENT, uptime_s=5, interval_s=30,
                   outbox=OutboxHealth(depth=3, alarms=1, shed=0),
                   devices=[DeviceHealth(device="rf-0a1b2c3d", kind="panic_button",
                                         last_seen=RECENT - 10, rssi=-70, battery_mv=2800)])
    gateways.raw(GW, Up.HEARTBEAT, dump(hb))
    eventually_sync(lambda: worker.counters()["device_health_rows"] == 1, what="health row")
    with db_schema.connect() as conn:
        state, depth = conn.execute(
            "SELECT state, last_heartbeat->'outbox'->>'depth' FROM gateways WHERE id = %s",
            (GW,)).fetchone() or (None, None)
        battery = conn.execute("SELECT battery_mv FROM devices WHERE uid = 'rf-0a1b2c3d'"
                               ).fetchone()
    assert (state, depth) == ("online", "3")
    assert battery == (2800,)


@pytest.mark.parametrize(("channel", "payload", "reason"), [
    (Up.EVENT, b"{not json", "malformed"),
    (Up.EVENT, json.dumps({"v": 2, "id": "x"}).encode(), "bad_version"),
    (Up.EVENT, b"x" * 70_000, "oversized"),
    (Up.ACC, b"PA\x01\x05short", "malformed"),
    (Up.HEARTBEAT, b"[]", "malformed"),
])
def test_bad_payloads_are_counted_by_reason_never_stored(
        worker: IngestWorker, gateways: FakeGateways, db_schema: DbSchema,
        channel: Up, payload: bytes, reason: str) -> None:
    gateways.raw(GW, channel, payload)
    gateways.event(make_event(GW, 1))  # and the worker carries on
    eventually_sync(lambda: gateways.acked_count(GW) == 1, what="the good event's ack")
    eventually_sync(lambda: worker.counters()[f"rejected_{reason}"] == 1, what=reason)
    assert count(db_schema, "SELECT count(*) FROM events") == 1
    assert count(db_schema, "SELECT count(*) FROM acc_blocks") == 0


def test_unknown_gateways_and_mismatched_ids_are_rejected(
        worker: IngestWorker, gateways: FakeGateways, db_schema: DbSchema) -> None:
    gateways.event(make_event("gw-stranger-01", 1))
    wrong = make_event(GW, 7).model_copy(update={"gw": "gw-other-0001",
                                                 "id": event_id("gw-other-0001", INC, 7)})
    gateways.raw(GW, Up.EVENT, dump(wrong))
    gateways.event(make_event(GW, 2))
    eventually_sync(lambda: gateways.acked_count(GW) == 2, what="both acks")
    eventually_sync(lambda: worker.counters()["rejected_unknown_gateway"] == 1)
    eventually_sync(lambda: worker.counters()["rejected_gw_mismatch"] == 1)
    assert gateways.acked_count("gw-stranger-01") == 0, "no app ack: its gateway keeps it"
    assert gateways.acked[GW] == {2, 7}, "the mismatched one is kept as a dead letter, acked"
    assert count(db_schema, "SELECT count(*) FROM events") == 1
    assert count(db_schema, "SELECT count(*) FROM dead_letters WHERE reason = 'gw_mismatch'"
                            f" AND gateway_id = '{GW}'") == 1


def test_two_workers_on_one_shared_subscription_split_the_load(
        worker_config: WorkerConfig, gateways: FakeGateways, db_schema: DbSchema) -> None:
    from dataclasses import replace

    workers = [IngestWorker(replace(worker_config, index=i)).start() for i in range(2)]
    try:
        for w in workers:
            assert w.client.connected.wait(10)
        for n in range(1, 401):
            gateways.event(make_event(GW, n, EventType.MOTION))
            gateways.raw(GW, Up.ACC, make_block("ble-c82e470a1b2c", n).encode())
        eventually_sync(lambda: gateways.acked_count(GW) == 400, 30, "400 acks")
        eventually_sync(lambda: count(db_schema, "SELECT count(*) FROM acc_blocks") == 400, 30)
        stored = [w.counters()["events_stored"] for w in workers]
        blocks = [w.counters()["acc_rows"] for w in workers]
    finally:
        for w in workers:
            w.stop()
    assert sum(stored) == 400
    assert min(stored) > 0, f"both workers take events: {stored}"
    assert min(blocks) > 0, f"both workers take telemetry: {blocks}"
    assert count(db_schema, "SELECT count(*) FROM events") == 400


def test_a_worker_killed_mid_stream_loses_nothing(
        tmp_path: Path, db_schema: DbSchema, topics: Topics,
        private_broker: PrivateBroker) -> None:
    """kill -9 one of two worker processes while events flow; restart it; all stored once."""
    register(db_schema, GW)
    broker = private_broker.address
    procs = [WorkerProcess(i, db_schema.conninfo, broker, topics, tmp_path).start()
             for i in range(2)]
    pub = FakeGateways(broker, topics)
    try:
        for p in procs:
            eventually_sync(partial(p.logged, "connected to"), what="worker connected")
        for n in range(1, 1001):
            pub.event(make_event(GW, n, EventType.MOTION))
            pub.raw(GW, Up.ACC, make_block("ble-c82e470a1b2c", n).encode())
            if n == 300:
                procs[1].kill9()
            if n == 600:
                procs[1].start()
        eventually_sync(lambda: pub.acked_count(GW) == 1000, 60, "1000 acks")
        eventually_sync(lambda: count(
            db_schema, "SELECT count(DISTINCT seq) FROM acc_blocks") == 1000, 60, "all blocks")
    finally:
        pub.close()
        for p in procs:
            p.stop()
    assert count(db_schema, "SELECT count(*) FROM events") == 1000
    assert count(db_schema, "SELECT count(DISTINCT n) FROM events") == 1000
