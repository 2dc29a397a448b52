"""Writer threads: events at once (one small transaction per burst), telemetry in COPY batches.

Each writer owns one database connection. A message is acknowledged — PUBACK to the broker, and
for events the application ack to the gateway — only once it is committed: stored, or kept as a
dead letter. When the database is away the batch is retried with backoff until it is stored;
nothing is acknowledged meanwhile. A batch that fails for any other reason is split at once
until the messages that fail on their own are found (``server.ingest.poison``): those become
dead letters, an alarm among them still raises its alert, and the rest is stored without
waiting. A poison message costs its neighbours a few round trips.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from kernel.backoff import Backoff
from kernel.contract import (
    AccBlock,
    CommandResult,
    ContractError,
    Event,
    EventType,
    Heartbeat,
    Topics,
    Up,
    Vitals,
)
from server.ingest.decode import Decoded, Incoming, decode
from server.ingest.mqtt import IngestClient, group_numbers
from server.ingest.poison import CONNECTION_ERRORS, Peek, describe, isolate, peek_event
from server.maintenance.commands import record_results
from server.store import (
    StoredEvents,
    WriteResult,
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
from server.store.dead_letters import (
    DeadLetter,
    insert_dead_letters,
    link_alert,
    render_payload,
    safe_text,
)

log = logging.getLogger(__name__)

OnEvents = Callable[[psycopg.Connection[Any], list[Event]], None]
"""Called inside the events' transaction with the events newly stored (the alert engine)."""
OnDeadAlarm = Callable[[psycopg.Connection[Any], str, EventType, str | None, dict[str, Any]],
                       int]
"""Called inside a dead letter's transaction for an alarm-type event that could not be stored:
``(conn, gateway, type, device or None, details) -> alert id`` (the alert engine)."""


@dataclass(frozen=True, slots=True)
class Letter:
    """A message on its way to the dead letters; ``peek``: what an event claims to be."""

    item: Incoming
    gateway: str | None
    reason: str
    error: str
    peek: Peek | None = None


class _Writer(threading.Thread):
    """Shared machinery: connection with reconnect, gateway cache, counted rejections, acks,
    dead letters."""

    def __init__(self, name: str, conninfo: str, source: queue.Queue[Incoming],
                 client: IngestClient, topics: Topics, stop: threading.Event, *,
                 on_dead_alarm: OnDeadAlarm | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.conninfo, self.source, self.client, self.topics = conninfo, source, client, topics
        self.stop_event = stop
        self.on_dead_alarm = on_dead_alarm
        self.counters: Counter[str] = Counter()
        self.failures = 0  # unexpected errors of the current batch
        self._conn: psycopg.Connection[Any] | None = None
        self._known: set[str] = set()
        self._known_at = 0.0

    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True)
        return self._conn

    def store(self, what: str, work: Callable[[psycopg.Connection[Any]], None]) -> None:
        """Run ``work`` (one transaction) until it succeeds; reconnect while the DB is away.
        Any other error is raised at once (the caller isolates the message it comes from)."""
        backoff = Backoff(initial=0.2, maximum=5.0)
        while True:
            try:
                conn = self.conn()
                with conn.transaction():
                    work(conn)
                return
            except psycopg.Error as exc:
                lost = self._conn is not None and self._conn.broken
                if not (isinstance(exc, CONNECTION_ERRORS) or lost):
                    raise
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

    def decode_all(self, items: list[Incoming]
                   ) -> tuple[list[tuple[Incoming, str, Decoded]], list[Letter]]:
        """Decoded messages, and the refused ones (counted and logged by reason). A message from
        a gateway the server does not know is rejected here (PUBACK only: its gateway keeps it
        until it is provisioned)."""
        out, refused = [], []
        for item in items:
            try:
                gw, value = decode(self.topics, item, self.known)
            except ContractError as exc:
                if exc.reason == "unknown_gateway":
                    self.reject(item, exc.reason, exc.detail)
                else:
                    self.note(f"rejected_{exc.reason}", item, "refused", exc.detail)
                    refused.append(Letter(item, self.route(item.topic)[0], exc.reason,
                                          exc.detail))
                continue
            out.append((item, gw, value))
        return out, refused

    def route(self, topic: str) -> tuple[str | None, Up | None]:
        """``(gateway, channel)`` of an uplink topic, None for what it does not name."""
        try:
            gw, channel = self.topics.parse(topic)
        except ContractError:
            return None, None
        return gw, channel if isinstance(channel, Up) else None

    def count(self, key: str) -> bool:
        """Count ``key``; whether to log this one (the first 10 and every 1000th)."""
        self.counters[key] += 1
        return self.counters[key] <= 10 or self.counters[key] % 1000 == 0

    def note(self, key: str, item: Incoming, what: str, detail: str) -> None:
        """Count ``key`` and log it sparingly, with the message's topic (its gateway)."""
        if self.count(key):
            log.warning("%s: %s message on %s (%s, %d so far): %s", self.name, what, item.topic,
                        key, self.counters[key], detail)

    def reject(self, item: Incoming, reason: str, detail: str) -> None:
        """Count, log (sparingly), and acknowledge to the broker: it must not come back."""
        self.note(f"rejected_{reason}", item, "rejected", detail)
        self.acknowledge([item])

    def acknowledge(self, items: Iterable[Incoming], events: Iterable[tuple[str, Peek]] = ()
                    ) -> None:
        """The gateways' application ack for ``events`` ``(gateway, what the event is)`` (those
        whose number is known), then the broker's PUBACK for ``items``. Killed in between, the
        broker redelivers, the event is found stored and acked again; the other order could
        lose the application ack. The only place an application ack is made."""
        numbers = group_numbers((gw, peek.inc, peek.n) for gw, peek in events
                                if peek.n is not None)
        if numbers:
            self.client.app_ack(numbers)
        items = list(items)
        self.client.puback(items)
        self.counters["messages_acked"] += len(items)

    def dead_letter(self, letters: Sequence[Letter]) -> None:
        """Keep ``letters`` in the dead-letter table, raising in the same transaction the alert
        of each alarm-type event among them; count and log them. The caller acknowledges."""
        rows = [DeadLetter(x.item.topic, x.gateway, self.route(x.item.topic)[1], x.item.payload,
                           x.reason, x.error, x.item.received) for x in letters]
        alerts: list[tuple[Letter, int, int]] = []

        def work(conn: psycopg.Connection[Any]) -> None:
            alerts.clear()
            for letter, dead in zip(letters, insert_dead_letters(conn, rows), strict=True):
                peek = letter.peek
                if (self.on_dead_alarm is None or peek is None or peek.type is None
                        or not peek.alarm or letter.gateway is None):
                    continue
                alert = self.on_dead_alarm(conn, letter.gateway, peek.type, peek.device, {
                    "dead_letter": dead, "reason": letter.reason,
                    "error": safe_text(letter.error), "event_type": peek.type.value,
                    "payload": render_payload(letter.item.payload)})
                link_alert(conn, dead, alert)
                alerts.append((letter, dead, alert))

        self.store(f"{len(rows)} dead letters", work)
        for letter in letters:
            self.note("dead_letters", letter.item, f"dead-lettered ({letter.reason})",
                      letter.error)
        for letter, dead, alert in alerts:
            if self.count("dead_letter_alerts"):
                log.error("%s: an alarm-type event on %s could not be stored (%s): alert %d "
                          "raised from dead letter %d", self.name, letter.item.topic,
                          letter.reason, alert, dead)

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

    def step(self) -> None:
        if not self.batch:
            self.batch, self.failures = self.take(500, timeout=0.2), 0
        if not self.batch:
            return
        if self.failures >= 3:  # not the data (that is dead-lettered): give the events back,
            for item in self.batch:  # PUBACK but no app ack: their gateways keep and resend them
                self.reject(item, "writer_error", "failed 3 times")
            self.batch = []
            return
        self.failures += 1
        self._write(self.batch)
        self.batch = []

    def _write(self, items: list[Incoming]) -> None:
        decoded, refused = self.decode_all(items)
        letters = [replace(x, peek=peek_event(x.item.payload)) for x in refused]
        entries = [(item, value) for item, _, value in decoded if isinstance(value, Event)]
        failed, attempts = isolate(entries, self._insert)
        if attempts > 1:
            self.counters["isolated_batches"] += 1
            self.counters["isolation_attempts"] += attempts - 1
        poisoned = {id(item) for (item, _), _ in failed}
        stored = [(item, e) for item, e in entries if id(item) not in poisoned]
        self.acknowledge([item for item, _ in stored], [(e.gw, Peek.of(e)) for _, e in stored])
        for (item, event), exc in failed:
            self.note("store_failed", item, "failed to store a", describe(exc))
            letters.append(Letter(item, event.gw, "store_failed", describe(exc),
                                  Peek.of(event)))
        if letters:
            self.batch = [x.item for x in letters]  # what a failure from here on retries
            self.dead_letter(letters)
            self.acknowledge(self.batch, [(x.gateway, x.peek) for x in letters
                                          if x.gateway and x.peek])

    def _insert(self, part: Sequence[tuple[Incoming, Event]]) -> None:
        """Store ``part`` in one transaction, alerts included; raises what stops it."""
        events = [e for _, e in part]
        done: list[StoredEvents] = []

        def work(conn: psycopg.Connection[Any]) -> None:
            done[:] = [insert_events(conn, events, [item.received for item, _ in part])]
            touch_devices(conn, seen_in_events(events))
            if self.on_events and done[0].new:
                self.on_events(conn, done[0].new)

        self.store(f"{len(events)} events", work)
        for result in done:  # every event is stored now: new, duplicate or conflict (kept too)
            self.counters["events_stored"] += len(result.new)
            self.counters["events_duplicate"] += result.duplicates
            self.counters["events_conflict"] += result.conflicts
            self.counters["gateway_incarnations"] += len(result.incarnations)


class TelemetryWriter(_Writer):
    """Buffers telemetry; COPYs it when ``batch_rows`` wait or the oldest is ``max_age_s`` old."""

    def __init__(self, *args: Any, batch_rows: int = 2000, max_age_s: float = 0.2,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.batch_rows, self.max_age_s = batch_rows, max_age_s
        self.pending: list[tuple[Incoming, str, Decoded]] = []
        self.oldest: float | None = None

    def step(self) -> None:
        wait = self.max_age_s if self.oldest is None else max(
            0.0, self.oldest + self.max_age_s - time.monotonic())
        items = self.take(self.batch_rows, timeout=wait)
        decoded, refused = self.decode_all(items)
        if refused:  # counted and logged: telemetry refused at decode is not kept
            self.acknowledge(x.item for x in refused)
        for entry in decoded:
            value = entry[2]
            if isinstance(value, CommandResult):
                self.counters["command_results"] += 1
                log.info("command result %s: ok=%s %s", value.id, value.ok, value.detail)
            self.pending.append(entry)
        if self.pending and self.oldest is None:
            self.oldest = time.monotonic()
        due = self.oldest is not None and time.monotonic() - self.oldest >= self.max_age_s
        if len(self.pending) >= self.batch_rows or (self.pending and due):
            self.flush()

    def flush(self) -> None:
        if self.failures >= 3:  # not the data (that is dead-lettered): an unexpected error
            log.error("%s: dropping a telemetry batch of %d messages that failed 3 times",
                      self.name, len(self.pending))
            self.counters["telemetry_dropped"] += len(self.pending)
            self.acknowledge(item for item, _, _ in self.pending)
            self._done()
            return
        self.failures += 1
        failed, attempts = isolate(self.pending, self._copy)
        if attempts > 1:
            self.counters["isolated_batches"] += 1
            self.counters["isolation_attempts"] += attempts - 1
        poisoned = {id(item) for (item, _, _), _ in failed}
        self.acknowledge(item for item, _, _ in self.pending if id(item) not in poisoned)
        self.pending = [entry for entry, _ in failed]  # what a failure from here on retries
        if failed:
            letters = []
            for (item, gw, _), exc in failed:
                self.note("store_failed", item, "failed to store a", describe(exc))
                letters.append(Letter(item, gw, "store_failed", describe(exc)))
            self.dead_letter(letters)
            self.acknowledge(item for item, _, _ in self.pending)
        self.counters["telemetry_batches"] += 1
        self._done()

    def _copy(self, part: Sequence[tuple[Incoming, str, Decoded]]) -> None:
        """COPY ``part`` in one transaction; raises what stops it."""
        acc: list[tuple[AccBlock, float]] = []
        vitals: list[Vitals] = []
        heartbeats: list[Heartbeat] = []
        answers: list[tuple[str, CommandResult]] = []
        for item, gw, value in part:
            if isinstance(value, CommandResult):
                answers.append((gw, value))
            elif isinstance(value, AccBlock):
                acc.append((value, item.received))
            elif isinstance(value, Vitals):
                vitals.append(value)
            elif isinstance(value, Heartbeat):
                heartbeats.append(value)
        if not (acc or vitals or heartbeats or answers):
            return
        results: list[tuple[str, WriteResult]] = []

        def work(conn: psycopg.Connection[Any]) -> None:
            results.clear()
            if acc:
                results.append(("acc", copy_acc_blocks(conn, acc)))
            if vitals:
                results.append(("vitals", copy_vitals(conn, vitals)))
            if heartbeats:
                results.append(("device_health", copy_device_health(conn, heartbeats)))
                for hb in heartbeats:
                    set_gateway_state(conn, hb.gw, "online", hb.ts, heartbeat=hb)
                    touch_devices(conn, seen_in_heartbeat(hb))
            if answers:  # console commands' results (server.maintenance.commands)
                record_results(conn, answers)

        self.store(f"{len(part)} telemetry messages", work)
        for table, result in results:
            self.counters[f"{table}_rows"] += result.written
            self.counters[f"{table}_duplicate"] += result.duplicates
            for reason, n in result.rejected.items():
                self.counters[f"{table}_rejected_{reason}"] += n

    def _done(self) -> None:
        self.pending, self.oldest, self.failures = [], None, 0
