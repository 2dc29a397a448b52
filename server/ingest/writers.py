"""Writer threads: events at once (one small transaction per burst), telemetry in COPY batches.

Each writer owns one database connection. A batch is acknowledged — PUBACK to the broker, and for
events the application ack to the gateway — only after its commit. When the database is away the
batch is retried with backoff until it is stored; nothing is acknowledged meanwhile.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg

from pinganling.backoff import Backoff
from pinganling.contract import (
    AccBlock,
    CommandResult,
    ContractError,
    Event,
    Heartbeat,
    Topics,
    Vitals,
)
from server.ingest.decode import Decoded, Incoming, decode
from server.ingest.mqtt import IngestClient, group_numbers
from server.store import (
    StoredEvents,
    copy_acc_blocks,
    copy_device_health,
    copy_vitals,
    insert_events,
    known_gateways,
    seen_in_events,
    seen_in_heartbeat,
    set_gateway_state,
    touch_devices,
)

log = logging.getLogger(__name__)

OnEvents = Callable[[psycopg.Connection[Any], list[Event]], None]
"""Called inside the events' transaction with the events newly stored (the alert engine)."""


class _Writer(threading.Thread):
    """Shared machinery: connection with reconnect, gateway cache, counted rejections."""

    def __init__(self, name: str, conninfo: str, source: queue.Queue[Incoming],
                 client: IngestClient, topics: Topics, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.conninfo, self.source, self.client, self.topics = conninfo, source, client, topics
        self.stop_event = stop
        self.counters: Counter[str] = Counter()
        self._conn: psycopg.Connection[Any] | None = None
        self._known: set[str] = set()
        self._known_at = 0.0

    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True)
        return self._conn

    def store(self, what: str, work: Callable[[psycopg.Connection[Any]], None]) -> None:
        """Run ``work`` (one transaction) until it succeeds; reconnect while the DB is away."""
        backoff = Backoff(initial=0.2, maximum=5.0)
        while True:
            try:
                conn = self.conn()
                with conn.transaction():
                    work(conn)
                return
            except psycopg.OperationalError as exc:
                self.counters["db_retries"] += 1
                log.warning("%s: database unavailable storing %s (%s); retrying", self.name, what,
                            str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__)
                if self._conn is not None:
                    self._conn.close()
                if self.stop_event.wait(backoff.next()):
                    raise

    def known(self, gw: str) -> bool:
        """Whether the server knows gateway ``gw`` (cache refreshed on a miss, at most 1/s)."""
        now = time.monotonic()
        if gw not in self._known and now - self._known_at > 1.0:
            self._known_at = now

            def refresh(conn: psycopg.Connection[Any]) -> None:
                self._known = known_gateways(conn)

            self.store("the gateway list", refresh)
        return gw in self._known

    def decode_all(self, items: list[Incoming]) -> list[tuple[Incoming, str, Decoded]]:
        out = []
        for item in items:
            try:
                gw, value = decode(self.topics, item)
                if not self.known(gw):
                    raise ContractError("unknown_gateway", f"gateway {gw!r} is not provisioned")
            except ContractError as exc:
                self.reject(item, exc.reason, exc.detail)
                continue
            out.append((item, gw, value))
        return out

    def reject(self, item: Incoming, reason: str, detail: str) -> None:
        """Count, log (sparingly), and acknowledge to the broker: it must not come back."""
        self.counters[f"rejected_{reason}"] += 1
        count = self.counters[f"rejected_{reason}"]
        if count <= 10 or count % 1000 == 0:
            log.warning("%s: rejected message on %s (%s, %d so far): %s", self.name, item.topic,
                        reason, count, detail)
        self.client.puback([item])

    def take(self, limit: int, timeout: float | None) -> list[Incoming]:
        """Block up to ``timeout`` for one message, then take what else is there (≤ limit)."""
        try:
            items = [self.source.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(items) < limit:
            try:
                items.append(self.source.get_nowait())
            except queue.Empty:
                break
        return items

    def run(self) -> None:
        """Step until stopped. A failed step keeps its messages (unacknowledged) and is retried."""
        while not self.stop_event.is_set():
            try:
                self.step()
            except Exception:  # the thread's outer edge: log with context, count, retry
                self.counters["writer_errors"] += 1
                log.exception("%s: unexpected error; the batch is kept and retried", self.name)
                if self.stop_event.wait(1.0):
                    break
        if self._conn is not None:
            self._conn.close()

    def step(self) -> None:
        raise NotImplementedError


class EventWriter(_Writer):
    """Stores events as soon as they arrive; then PUBACK and the application ack."""

    def __init__(self, *args: Any, on_events: OnEvents | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.on_events = on_events
        self.batch: list[Incoming] = []
        self.isolate: list[Incoming] = []
        self.failures = 0

    def step(self) -> None:
        if not self.batch:
            self.batch = [self.isolate.pop(0)] if self.isolate else self.take(500, timeout=0.2)
            self.failures = 0
        if self.failures >= 3:  # a batch that keeps failing: retry its events one by one
            if len(self.batch) > 1:
                self.isolate.extend(self.batch)
            else:  # PUBACK but no app ack: the gateway keeps it and shows it in its outbox
                self.reject(self.batch[0], "store_error", "failed to store 3 times")
            self.batch = []
            return
        self.failures += 1
        self._write_batch()

    def _write_batch(self) -> None:
        items = self.batch
        if not items:
            return
        decoded = self.decode_all(items)
        events = [v for _, _, v in decoded if isinstance(v, Event)]
        done: list[StoredEvents] = []

        def work(conn: psycopg.Connection[Any]) -> None:
            done[:] = [insert_events(conn, events, time.time())]
            touch_devices(conn, seen_in_events(events))
            if self.on_events and done[0].new:
                self.on_events(conn, done[0].new)

        if events:
            self.store(f"{len(events)} events", work)
        for result in done:  # every event is stored now: new, duplicate or conflict (kept too)
            self.counters["events_stored"] += len(result.new)
            self.counters["events_duplicate"] += result.duplicates
            self.counters["events_conflict"] += result.conflicts
            self.counters["gateway_incarnations"] += len(result.incarnations)
        # The gateway's ack first, the broker's after: killed in between, the broker redelivers,
        # the event is found stored and acked again. The other order could lose the ack.
        self.client.app_ack(group_numbers(events))
        self.client.puback(item for item, _, _ in decoded)
        self.batch = []


class TelemetryWriter(_Writer):
    """Buffers telemetry; COPYs it when ``batch_rows`` wait or the oldest is ``max_age_s`` old."""

    def __init__(self, *args: Any, batch_rows: int = 2000, max_age_s: float = 0.2,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.batch_rows, self.max_age_s = batch_rows, max_age_s
        self.pending: list[Incoming] = []
        self.acc: list[tuple[AccBlock, float]] = []
        self.vitals: list[Vitals] = []
        self.heartbeats: list[Heartbeat] = []
        self.oldest: float | None = None
        self.flush_failures = 0

    def step(self) -> None:
        wait = self.max_age_s if self.oldest is None else max(
            0.0, self.oldest + self.max_age_s - time.monotonic())
        items = self.take(self.batch_rows, timeout=wait)
        for item, _gw, value in self.decode_all(items):
            self.pending.append(item)
            if isinstance(value, AccBlock):
                self.acc.append((value, item.received))
            elif isinstance(value, Vitals):
                self.vitals.append(value)
            elif isinstance(value, Heartbeat):
                self.heartbeats.append(value)
            elif isinstance(value, CommandResult):
                self.counters["command_results"] += 1
                log.info("command result %s: ok=%s %s", value.id, value.ok, value.detail)
        if self.pending and self.oldest is None:
            self.oldest = time.monotonic()
        due = self.oldest is not None and time.monotonic() - self.oldest >= self.max_age_s
        if len(self.pending) >= self.batch_rows or (self.pending and due):
            self.flush()

    def flush(self) -> None:
        if self.flush_failures >= 3:  # not a database outage (that is retried): a bad batch
            log.error("%s: dropping a telemetry batch of %d messages that failed 3 times",
                      self.name, len(self.pending))
            self.counters["telemetry_dropped"] += len(self.pending)
            self._done()
            return
        self.flush_failures += 1
        results = []

        def work(conn: psycopg.Connection[Any]) -> None:
            results.clear()
            results.append(("acc", copy_acc_blocks(conn, self.acc)))
            if self.vitals:
                results.append(("vitals", copy_vitals(conn, self.vitals)))
            if self.heartbeats:
                results.append(("device_health", copy_device_health(conn, self.heartbeats)))
                for hb in self.heartbeats:
                    set_gateway_state(conn, hb.gw, "online", hb.ts, heartbeat=hb)
                    touch_devices(conn, seen_in_heartbeat(hb))

        self.store(f"{len(self.pending)} telemetry messages", work)
        for table, result in results:
            self.counters[f"{table}_rows"] += result.written
            self.counters[f"{table}_duplicate"] += result.duplicates
            for reason, n in result.rejected.items():
                self.counters[f"{table}_rejected_{reason}"] += n
        self.counters["telemetry_batches"] += 1
        self._done()

    def _done(self) -> None:
        self.client.puback(self.pending)
        self.pending, self.acc, self.vitals, self.heartbeats = [], [], [], []
        self.oldest, self.flush_failures = None, 0
