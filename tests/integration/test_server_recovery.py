"""The running server recovers from a database restart and a broker restart by itself.

Real services throughout: a private PostgreSQL cluster and a private Mosquitto that the tests
stop and start, the server under uvicorn with its lifespan (and its ingest worker processes), and
real gateway processes whose MQTT connection drops (``kill -9``), so the broker publishes their
LWT. Nothing restarts the server.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest

from hardware.accel import quantize, scale_for_range
from kernel.contract import AccBlock, EventType, Topics, Up
from kernel.services.broker import BrokerAddress, publish_once
from kernel.services.postgres import PrivateCluster
from server.directory import GatewayIn, add_gateway
from server.store import BackendChoice, apply_migrations, apply_policies, schema_conninfo
from server.store.config import StoreConfig
from tests.fixtures.broker import start_private_broker
from tests.fixtures.database import DbSchema
from tests.fixtures.gateway import GatewayProcess, mqtt_toml, write_config
from tests.fixtures.ingest import FakeGateways, make_event
from tests.fixtures.stack import Stack, running_stack
from tests.fixtures.waiting import eventually_sync
from tests.fixtures.world import BUTTON, GATEWAY, PENDANT, World, build_world

# short periods so that each background task shows its work within seconds
FAST: dict[str, Any] = {
    "gateway_offline_grace": timedelta(seconds=1), "supervision_every": timedelta(seconds=0.2),
    "escalation_every": timedelta(seconds=0.2), "alert_unclaimed": timedelta(seconds=1),
    "detector_every": timedelta(seconds=0.2)}
SECOND_GATEWAY = "gw-world-0002"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    """A PostgreSQL of this test's own (under /tmp: as root it runs as the postgres user)."""
    data = Path(tempfile.mkdtemp(prefix="pinganling-pg-recovery-"))
    cluster = PrivateCluster(data, extra=("fsync = off",)).start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def cluster_world(cluster: PrivateCluster) -> World:
    """The test world in a fresh database of ``cluster`` (thrown away with it)."""
    url = cluster.create_database("recovery")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA recovery")
    with psycopg.connect(schema_conninfo(url, "recovery"), autocommit=True) as conn:
        apply_migrations(conn, BackendChoice.PLAIN)
        backend = apply_policies(conn, StoreConfig())
        return build_world(conn, DbSchema(url, "recovery", backend))


def gateway_process(tmp_path: Path, broker: BrokerAddress, topics: Topics,
                    gw_id: str) -> GatewayProcess:
    """A real gateway process (no devices): online on connect, its LWT when killed."""
    config = write_config(tmp_path / gw_id / "gateway.toml", (
        f'id = "{gw_id}"\nstate_dir = "{tmp_path / gw_id / "state"}"\n'
        + mqtt_toml(broker, topics) + "keepalive_s = 5\n"))
    proc = GatewayProcess(config)
    proc.start()
    return proc


def one(world: World, sql: str, *args: object) -> Any:
    with world.connect() as conn:
        row = conn.execute(sql, args).fetchone()
    return row[0] if row else None


def ok(r: httpx.Response) -> Any:
    """The body of a response that must have succeeded."""
    assert r.status_code == 200, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


def alerts(client: httpx.Client, alert_type: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get("/api/alerts", params={"type": alert_type}))
    return found


def health_when(stack: Stack, check: Any, what: str, timeout: float = 30.0) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def probe() -> bool:
        seen[:] = [stack.health()]
        return bool(check(seen[0]))

    try:
        eventually_sync(probe, timeout, what, every=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last /health: {json.dumps(seen[-1:], indent=1)}") from None
    return seen[0]


def press_until_acked(pub: FakeGateways, n: int) -> None:
    """Publish a press as a gateway does: again every second until the server acks it (an ingest
    worker may still be reconnecting; the server keeps one copy)."""
    event = make_event(GATEWAY, n, EventType.PRESS, BUTTON)
    sent_at = 0.0

    def acked() -> bool:
        nonlocal sent_at
        if pub.acked_count(GATEWAY) >= 1:
            return True
        if time.monotonic() - sent_at > 1.0:
            pub.event(event)
            sent_at = time.monotonic()
        return False

    eventually_sync(acked, 30, "the press acknowledged", every=0.05)


def zero_blocks(device: str, seconds: int) -> list[AccBlock]:
    """A wearable whose accelerometer reads all zeros: the detector's sensor fault."""
    counts = quantize(np.zeros((seconds * 50, 3)), 8)
    t0 = time.time() - seconds
    return [AccBlock(device, round((t0 + i) * 1e6), i, 50.0, scale_for_range(8),
                     counts[i * 50:(i + 1) * 50]) for i in range(seconds)]


def test_a_database_restart_costs_no_api_request(
        cluster: PrivateCluster, cluster_world: World, mqtt_broker: BrokerAddress,
        topics: Topics) -> None:
    with running_stack(cluster_world, mqtt_broker, topics, ingest=False) as stack:
        sam = stack.client("sam")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:  # the pool grows to its maximum
            assert all(c == 200 for c in pool.map(
                lambda _: sam.get("/api/alerts/queue").status_code, range(32)))
        cluster.stop()
        cluster.start()
        codes = [sam.get(path).status_code
                 for _ in range(10) for path in ("/api/alerts", "/api/alerts/queue")]
    assert codes == [200] * 20, "every request after the restart succeeds"


def test_after_a_database_restart_presence_detectors_escalation_and_health_work(
        cluster: PrivateCluster, cluster_world: World, mqtt_broker: BrokerAddress,
        topics: Topics, tmp_path: Path) -> None:
    world = cluster_world
    with running_stack(world, mqtt_broker, topics, ingest=True, **FAST) as stack:
        sam = stack.client("sam")
        gateway = gateway_process(tmp_path, mqtt_broker, topics, GATEWAY)
        try:
            eventually_sync(lambda: one(world, "SELECT state FROM gateways WHERE id = %s",
                                        GATEWAY) == "online", 30, "the gateway online")
            health_when(stack, lambda h: h["status"] == "ok", "every task well")

            cluster.stop()
            code, during = stack.health_response()
            assert (code, during["status"], during["database"]) == (503, "down", "down")
            gateway.kill9()  # its LWT reaches presence while the database is down
            presence = stack.presence
            eventually_sync(lambda: presence.counters["db_retries"] > 0, 15,
                            "presence holding the offline status")
            restarted_at = time.time()
            cluster.start()

            offline = ok(sam.get("/api/alerts"))  # an API read, at once
            eventually_sync(lambda: alerts(sam, "gateway_offline"), 30,
                            "the LWT's gateway-offline alert", every=0.2)
            went_offline = one(world, "SELECT extract(epoch FROM ts) FROM gateway_presence "
                                      "WHERE gateway_id = %s AND state = 'offline'", GATEWAY)

            pub = FakeGateways(mqtt_broker, topics)
            try:
                for block in zero_blocks(PENDANT, 30):
                    pub.raw(GATEWAY, Up.ACC, block.encode())
                press_until_acked(pub, 1)
                eventually_sync(lambda: alerts(sam, "sensor_fault"), 30,
                                "the detector's sensor-fault alert", every=0.2)
                eventually_sync(lambda: [a for a in alerts(sam, "panic") if a["escalated"]], 30,
                                "the press's alert, escalated", every=0.2)
            finally:
                pub.close()
            after = health_when(stack, lambda h: h["status"] == "ok", "every task well again")
            assert after["ingest_subscribed"] == 2
        finally:
            gateway.stop()
    assert isinstance(offline, list)
    assert went_offline is not None
    assert float(went_offline) < restarted_at, "the LWT that arrived during the outage counts"
    assert after["database"] == "up"
    escalation = after["tasks"]["escalation"]
    assert escalation["restarts"] >= 1, "failed rounds during the outage are counted"
    assert "OperationalError" in escalation["last_error"]
    assert escalation["alive"]
    assert escalation["last_success"] > restarted_at


def test_after_a_broker_restart_presence_and_ingest_work(
        world: World, topics: Topics, tmp_path: Path) -> None:
    broker = start_private_broker(tmp_path / "broker")
    with world.connect() as conn:
        add_gateway(conn, GatewayIn(id=SECOND_GATEWAY, home_id=world.home))
    gateway = None
    try:
        with running_stack(world, broker.address, topics, ingest=True, **FAST) as stack:
            sam = stack.client("sam")
            before = health_when(stack, lambda h: h["status"] == "ok", "every task well")
            # a task that dies is restarted and counted
            os.kill(stack.ingest.procs[("events", 0)].pid, signal.SIGKILL)
            restarted = health_when(
                stack, lambda h: h["tasks"]["ingest-events-0"]["restarts"] == 1
                and h["ingest_workers"] == 2 and h["status"] == "ok", "the worker restarted")

            broker.stop()
            health_when(stack, lambda h: h["broker"] == "down" and h["ingest_subscribed"] == 0,
                        "the broker seen down, by presence and by the ingest workers")
            code, during = stack.health_response()
            assert (code, during["status"], during["database"]) == (200, "degraded", "up")
            assert during["ingest_workers"] == 2, "running, only not subscribed"
            assert "ingest: 2 of 2 workers not subscribed (0 not running)" in during["problems"]
            broker.start()
            health_when(stack, lambda h: h["broker"] == "up", "presence subscribed again")

            gateway = gateway_process(tmp_path, broker.address, topics, SECOND_GATEWAY)
            eventually_sync(lambda: one(world, "SELECT state FROM gateways WHERE id = %s",
                                        SECOND_GATEWAY) == "online", 30, "the gateway online")
            gateway.kill9()
            eventually_sync(lambda: alerts(sam, "gateway_offline"), 30,
                            "the LWT's gateway-offline alert", every=0.2)

            pub = FakeGateways(broker.address, topics)
            try:
                press_until_acked(pub, 1)
                [panic] = alerts(sam, "panic")
            finally:
                pub.close()
            after = health_when(stack, lambda h: h["status"] == "ok", "every task well again")
            assert after["ingest_subscribed"] == 2
    finally:
        if gateway is not None:
            gateway.stop()
        broker.kill()
    assert panic["event_count"] == 1, "stored once, however often it was sent"
    assert before["broker"] == "up"
    assert restarted["tasks"]["ingest-events-0"]["last_error"].startswith("WorkerExited")
    assert after["tasks"]["presence"]["alive"]


def test_presence_survives_a_status_it_cannot_store(
        world: World, mqtt_broker: BrokerAddress, topics: Topics) -> None:
    """ts=1e300 cannot be stored: counted and skipped; the next status is recorded."""
    topic = topics.up(GATEWAY, Up.STATUS)

    def status(state: str, ts: float) -> None:
        publish_once(mqtt_broker, topic, json.dumps({"v": 1, "state": state, "ts": ts}).encode())

    with running_stack(world, mqtt_broker, topics, ingest=False) as stack:
        presence = stack.presence
        eventually_sync(presence.subscribed.is_set, 15, "presence subscribed")
        status("online", time.time())
        eventually_sync(lambda: one(world, "SELECT state FROM gateways WHERE id = %s",
                                    GATEWAY) == "online", 15, "online")
        status("offline", 1e300)
        eventually_sync(lambda: sum(n for k, n in presence.counters.items()
                                    if k.startswith("rejected_")) == 1, 15, "the bad one refused")
        status("offline", time.time())
        eventually_sync(lambda: one(world, "SELECT state FROM gateways WHERE id = %s",
                                    GATEWAY) == "offline", 15, "the next status recorded")
        after = stack.health()
    assert after["tasks"]["presence"]["restarts"] == 0
    assert after["tasks"]["presence"]["alive"]
