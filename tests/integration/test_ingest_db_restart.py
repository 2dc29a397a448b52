"""The database goes away during ingest: nothing is acknowledged meanwhile, nothing is lost.

The private cluster (it is stopped and started) is built like the test database: TimescaleDB
preloaded on a TimescaleDB run, plain PostgreSQL otherwise.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg

from kernel.contract import Topics
from kernel.services.broker import BrokerAddress
from kernel.services.postgres import PrivateCluster
from server.ingest.worker import IngestWorker, WorkerConfig
from server.store import Backend, BackendChoice, apply_migrations, schema_backend
from tests.fixtures.ingest import FakeGateways, make_event
from tests.fixtures.waiting import eventually_sync

GW = "gw-dbdown-0001"


def test_database_restart_during_ingest_loses_no_alarm(
        mqtt_broker: BrokerAddress, topics: Topics, test_backend: Backend) -> None:
    data = Path(tempfile.mkdtemp(prefix="pinganling-pg-restart-"))
    cluster = PrivateCluster(data, extra=("fsync = off",),
                             timescaledb=test_backend is Backend.TIMESCALE).start()
    worker = pub = None
    try:
        url = cluster.create_database("ingest")
        with psycopg.connect(url, autocommit=True) as conn:
            apply_migrations(conn, BackendChoice(test_backend.value))
            assert schema_backend(conn) is test_backend
            conn.execute("INSERT INTO gateways (id) VALUES (%s)", (GW,))
        worker = IngestWorker(WorkerConfig(mqtt_broker, topics, url,
                                           group=f"g{uuid.uuid4().hex[:8]}")).start()
        pub = FakeGateways(mqtt_broker, topics)
        assert worker.client.connected.wait(10)
        for n in range(1, 51):
            pub.event(make_event(GW, n))
        eventually_sync(lambda: pub.acked_count(GW) == 50, what="50 acks before the outage")

        cluster.stop()
        for n in range(51, 101):
            pub.event(make_event(GW, n))
        eventually_sync(lambda: worker.counters()["db_retries"] > 0, what="a failed write")
        assert pub.acked_count(GW) == 50, "nothing is acknowledged while it is not stored"

        cluster.start()
        eventually_sync(lambda: pub.acked_count(GW) == 100, 60, "100 acks after the restart")
        with psycopg.connect(url) as conn:
            stored = conn.execute("SELECT count(*), count(DISTINCT n) FROM events").fetchone()
        assert stored == (100, 100)
    finally:
        if pub:
            pub.close()
        if worker:
            worker.stop()
        cluster.stop()
        shutil.rmtree(data, ignore_errors=True)
