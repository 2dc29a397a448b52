"""Falls and sensor faults from every streaming wearable, one batched detector tick at a time.

A fall becomes a stored server event (type ``fall``) and through the alert engine a P1 alert;
"got up" afterwards lowers that alert to P2 (still recorded; the alert service's
``reprioritise``); a sensor fault becomes a ``sensor_fault`` event and a P3 alert.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import psycopg

from analytics.bank import FallBank
from analytics.events import DetectorEvent, FallEvent, FallResolved, FaultKind, SensorFault
from hardware.catalog import MODELS
from kernel.contract import AccBlock, EventType
from kernel.placement import Placement
from server.alerts import engine, service
from server.alerts.model import ACTIVE, SYSTEM, AlertType, Priority
from server.scope import ALL
from server.store import insert_server_event

log = logging.getLogger(__name__)
REFRESH_S = 30.0


class FallWatch:
    """The fall bank, the wearables it knows (refreshed from ``devices``), and what it found."""

    def __init__(self, bank: FallBank | None = None) -> None:
        self.bank = bank or FallBank()
        self.wearables: dict[str, tuple[str, Placement]] = {}  # uid → (gateway, placement)
        self.counters: Counter[str] = Counter()
        self._refreshed = 0.0

    def refresh(self, conn: psycopg.Connection[Any]) -> None:
        found = {}
        for uid, model_id, gw in conn.execute(
                "SELECT uid, model, gateway_id FROM devices WHERE kind = 'wearable'"):
            model = MODELS.get(model_id)
            if model is not None and model.placement is not None and gw:
                found[uid] = (gw, model.placement)
        for uid in set(self.wearables) - set(found):
            self.bank.remove(uid)
        self.wearables = found
        self._refreshed = time.monotonic()

    def tick(self, conn: psycopg.Connection[Any], blocks: list[AccBlock]) -> list[int]:
        """Run the detectors over this tick's blocks; returns the alerts touched."""
        age = time.monotonic() - self._refreshed
        unknown = {b.device for b in blocks} - set(self.wearables)
        if (unknown and age > REFRESH_S / 10) or age > REFRESH_S:
            self.refresh(conn)
        ours = []
        for b in blocks:
            if b.device not in self.wearables:
                self.counters["blocks_unknown_device"] += 1
                continue
            if b.device not in self.bank:
                self.bank.add(b.device, self.wearables[b.device][1], b.rate_hz)
            ours.append(b)
        found = self.bank.process_acc(ours)
        touched: list[int] = []
        with conn.transaction():
            for event in found:
                touched += self._handle(conn, event)
        return touched

    def _handle(self, conn: psycopg.Connection[Any], event: DetectorEvent) -> list[int]:
        device = str(event.device)
        gateway = self.wearables[device][0]
        if isinstance(event, FallEvent):
            self.counters["falls"] += 1
            log.warning("fall detected on %s (confidence %.2f)", device, event.confidence)
            stored = insert_server_event(conn, gateway, device, EventType.FALL, event.t_impact, {
                "confidence": round(event.confidence, 3), "placement": event.placement,
                "t_decision": event.t_decision})
            return engine.on_events(conn, [stored])
        if isinstance(event, FallResolved):
            return self._resolved(conn, device, event)
        if isinstance(event, SensorFault) and event.active and event.kind != FaultKind.GAP:
            self.counters[f"fault_{event.kind.value}"] += 1
            stored = insert_server_event(conn, gateway, device, EventType.SENSOR_FAULT, event.t,
                                         {"fault": event.kind.value, "detail": event.detail})
            return engine.on_events(conn, [stored])
        return []

    def _resolved(self, conn: psycopg.Connection[Any], device: str,
                  event: FallResolved) -> list[int]:
        row = conn.execute("SELECT id, priority FROM alerts WHERE type = %s AND device = %s "
                           "AND state = ANY (%s) ORDER BY id DESC LIMIT 1",
                           (AlertType.FALL.value, device, [s.value for s in ACTIVE])).fetchone()
        if row is None:
            return []
        if event.got_up and row[1] == Priority.P1.value:
            service.reprioritise(conn, row[0], Priority.P2, note=f"got up: upright and moving "
                                 f"{event.active_s:.0f} s after the fall")
        elif not event.got_up:
            service.note(conn, SYSTEM, row[0], "no recovery after the fall: still down",
                         scope=ALL)
        return [int(row[0])]
