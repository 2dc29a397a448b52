"""One ingest worker: an MQTT session, an event writer and a telemetry writer.

Run N of them (processes) on one shared subscription: ``python -m server.ingest.worker --index I``
(the server's supervisor does this), or embed one with :class:`IngestWorker` (tests, benchmarks).
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kernel.contract import Event, Topics
from kernel.services.broker import BrokerAddress
from server.ingest.decode import Incoming
from server.ingest.mqtt import ROLES, IngestClient
from server.ingest.writers import EventWriter, OnDeadAlarm, OnEvents, TelemetryWriter

log = logging.getLogger(__name__)
CONNINFO_ENV = "PINGANLING_INGEST_CONNINFO"
# the lines a worker process prints on stdout, its only output there (logs go to stderr)
SUBSCRIBED, UNSUBSCRIBED = "subscribed", "unsubscribed"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    broker: BrokerAddress
    topics: Topics
    conninfo: str
    index: int = 0
    group: str = "ingest"
    node: str = "local"
    role: str = "all"  # all | events | telemetry (server.ingest.mqtt.ROLES)
    queue_size: int = 20_000
    batch_rows: int = 2000
    max_age_s: float = 0.2

    @property
    def client_id(self) -> str:
        # stable per node and index: a restarted worker resumes its session and gets its
        # redeliveries; another server node's workers have their own
        return f"pal-{self.group}-{self.node}-{self.role}-{self.index}"


class IngestWorker:
    """MQTT client thread + two writer threads; ``start()``, ``stop()``, ``counters()``."""

    def __init__(self, config: WorkerConfig, on_events: OnEvents | None = None,
                 on_dead_alarm: OnDeadAlarm | None = None,
                 on_subscribed: Callable[[bool], None] = lambda _: None) -> None:
        self.config = config
        self.stop_event = threading.Event()
        events: queue.Queue[Incoming] = queue.Queue(config.queue_size)
        telemetry: queue.Queue[Incoming] = queue.Queue(config.queue_size)
        self.client = IngestClient(config.broker, config.topics, config.client_id, config.group,
                                   events=events, telemetry=telemetry,
                                   channels=ROLES[config.role], on_subscribed=on_subscribed)
        common = (self.client, config.topics, self.stop_event)
        self.event_writer = EventWriter(f"events-{config.index}", config.conninfo, events,
                                        *common, on_events=on_events,
                                        on_dead_alarm=on_dead_alarm)
        self.telemetry_writer = TelemetryWriter(f"telemetry-{config.index}", config.conninfo,
                                                telemetry, *common, batch_rows=config.batch_rows,
                                                max_age_s=config.max_age_s)

    def start(self) -> IngestWorker:
        self.event_writer.start()
        self.telemetry_writer.start()
        self.client.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.client.stop()
        self.event_writer.join(10)
        self.telemetry_writer.join(10)

    def counters(self) -> Counter[str]:
        """Both writers' counters, and ``messages_in``: what the MQTT client received (with
        ``messages_acked``, what is still in the worker)."""
        return (self.event_writer.counters + self.telemetry_writer.counters
                + Counter(messages_in=self.client.received))


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker process; configuration from ``PINGANLING_*`` (server.settings)."""
    from server.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m server.ingest.worker")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--role", choices=sorted(ROLES), default="all")
    parser.add_argument("--conninfo", default=os.environ.get(CONNINFO_ENV),
                        help=f"database conninfo, schema included (default: ${CONNINFO_ENV})")
    args = parser.parse_args(argv)
    if not args.conninfo:
        parser.error(f"give --conninfo or set {CONNINFO_ENV}")
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s %(levelname)-7s ingest[{args.role}-{args.index}] "
                               "%(message)s")
    s = Settings()
    worker = IngestWorker(WorkerConfig(
        s.broker("ingest"), s.topics(), args.conninfo, args.index, s.ingest_group, s.node_id,
        args.role, s.ingest_queue, s.ingest_batch_rows, s.ingest_max_age.total_seconds()),
        on_events=alert_hook(), on_dead_alarm=dead_alarm_hook(), on_subscribed=report_state)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    worker.start()
    while not done.wait(30):
        log.info("counters %s", dict(worker.counters()))
    worker.stop()
    log.info("stopped; counters %s", dict(worker.counters()))
    return 0


def report_state(subscribed: bool) -> None:
    """Tell the server (``server.ingest.pool``, reading our stdout) whether we are subscribed."""
    print(SUBSCRIBED if subscribed else UNSUBSCRIBED, flush=True)


def alert_hook() -> OnEvents:
    """The alert engine, run in the transaction that stores the events."""
    from server.alerts.engine import on_events

    def hook(conn: Any, events: list[Event]) -> None:
        on_events(conn, events)

    return hook


def dead_alarm_hook() -> OnDeadAlarm:
    """The alert engine's alert for an alarm-type event that became a dead letter."""
    from server.alerts.engine import raise_dead_letter_alert

    return raise_dead_letter_alert


if __name__ == "__main__":
    raise SystemExit(main())
