"""Falls and sensor faults from every streaming wearable, one batched detector tick at a time.

Each block is first turned into the detector's frame by its model's axis map
(``hardware.catalog.to_detector_frame``): a band whose axes differ from the training data's
gives the same falls. A fall becomes a stored server event (type ``fall``) and through the alert
engine a P1 alert — at once: asking the wearer never delays it. When the fall is recent enough
to be cancelled (``cancel_s``) and no edge gateway reported it first, its wearer is asked: the
tick leaves an ``alert_wearer`` command (:class:`Outgoing`) that the worker sends to the home's
gateway after the commit. A press answering it, or a get-up seen here within the window,
cancels the fall for the wearer (``service.wearer_cancel``: P2, still for an operator to call
back); a get-up later lowers it to P2 as before (``reprioritise``). A sensor fault becomes a
``sensor_fault`` event and a P3 alert.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from analytics.bank import DeviceBlock, FallBank
from analytics.events import DetectorEvent, FallEvent, FallResolved, FaultKind, SensorFault
from hardware.catalog import MODELS, Model, to_detector_frame
from kernel.contract import AccBlock, Command, EventType
from server.alerts import answers, engine, service
from server.alerts.model import ACTIVE, SYSTEM, AlertType, Priority
from server.detect.prompts import fall_command, withdraw_command
from server.scope import ALL
from server.store import insert_server_event

log = logging.getLogger(__name__)
REFRESH_S = 30.0
DECIDED_KEPT = 10_000  # falls whose outcome may still come (bounded memory)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A command for a gateway, sent after the tick's commit; ``ask``: it asks the wearer about
    fall alert ``alert_id`` (recorded on the alert once sent)."""

    gateway: str
    command: Command
    alert_id: int | None = None
    device: str = ""
    window_s: float = 0.0
    ref: str = ""

    @property
    def ask(self) -> bool:
        return self.alert_id is not None


def detector_blocks(blocks: Iterable[AccBlock], models: dict[str, Model]) -> list[DeviceBlock]:
    """Contract blocks as the detector takes them: in g, in the training data's axes."""
    out = []
    for block in blocks:
        raw = DeviceBlock.of(block)
        out.append(replace(raw, samples=to_detector_frame(models[block.device], raw.samples)))
    return out


class FallWatch:
    """The fall bank, the wearables it knows (refreshed from ``devices``), and what it found."""

    def __init__(self, bank: FallBank | None = None, *, cancel_s: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.bank = bank or FallBank()
        self.cancel_s = cancel_s
        self.clock = clock
        self.wearables: dict[str, tuple[str, Model]] = {}  # uid → (gateway, model)
        self.decided: dict[tuple[object, float], float] = {}  # fall key → its decision time
        self.outgoing: list[Outgoing] = []
        self.counters: Counter[str] = Counter()
        self._refreshed = 0.0

    def refresh(self, conn: psycopg.Connection[Any]) -> None:
        found = {}
        for uid, model_id, gw in conn.execute(
                "SELECT uid, model, gateway_id FROM devices WHERE kind = 'wearable' "
                "AND unpaired_at IS NULL"):
            model = MODELS.get(model_id)
            if model is not None and model.placement is not None and gw:
                found[uid] = (gw, model)
        for uid in set(self.wearables) - set(found):
            self.bank.remove(uid)
        for uid in set(self.wearables) & set(found):
            if self.wearables[uid][1] != found[uid][1]:  # another model: another frame
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
                placement = self.wearables[b.device][1].placement
                assert placement is not None  # only worn models are watched
                self.bank.add(b.device, placement, b.rate_hz)
            ours.append(b)
        models = {uid: model for uid, (_, model) in self.wearables.items()}
        found = self.bank.process(detector_blocks(ours, models))
        touched: list[int] = []
        with conn.transaction():
            for event in found:
                touched += self._handle(conn, event)
        return touched

    def take_outgoing(self) -> list[Outgoing]:
        out, self.outgoing = self.outgoing, []
        return out

    def _handle(self, conn: psycopg.Connection[Any], event: DetectorEvent) -> list[int]:
        device = str(event.device)
        gateway = self.wearables[device][0]
        if isinstance(event, FallEvent):
            return self._fall(conn, gateway, device, event)
        if isinstance(event, FallResolved):
            return self._resolved(conn, gateway, device, event)
        if isinstance(event, SensorFault) and event.active and event.kind != FaultKind.GAP:
            self.counters[f"fault_{event.kind.value}"] += 1
            stored = insert_server_event(conn, gateway, device, EventType.SENSOR_FAULT, event.t,
                                         {"fault": event.kind.value, "detail": event.detail})
            return engine.on_events(conn, [stored])
        return []

    def _fall(self, conn: psycopg.Connection[Any], gateway: str, device: str,
              event: FallEvent) -> list[int]:
        self.counters["falls"] += 1
        log.warning("fall detected on %s (confidence %.2f)", device, event.confidence)
        self._remember(event)
        recent = self.clock() - event.t_decision <= self.cancel_s
        ask = recent and answers.same_fall(conn, device, event.t_impact) is None
        data: dict[str, float | int | str | bool | None] = {
            "confidence": round(event.confidence, 3), "placement": event.placement,
            "t_decision": event.t_decision, "t_impact": event.t_impact}
        if ask:
            data["cancel_window_s"] = self.cancel_s
        stored = insert_server_event(conn, gateway, device, EventType.FALL, event.t_impact, data)
        touched = engine.on_events(conn, [stored])
        if ask and touched:
            self.outgoing.append(Outgoing(gateway, fall_command(device, stored.id, self.cancel_s),
                                          touched[0], device, self.cancel_s, stored.id))
        return touched

    def _remember(self, event: FallEvent) -> None:
        if len(self.decided) >= DECIDED_KEPT:
            self.decided.pop(next(iter(self.decided)))
        self.decided[event.key] = event.t_decision

    def _resolved(self, conn: psycopg.Connection[Any], gateway: str, device: str,
                  event: FallResolved) -> list[int]:
        decided = self.decided.pop(event.key, None)
        row = conn.execute("SELECT id, priority, details -> 'wearer' FROM alerts "
                           "WHERE type = %s AND device = %s AND state = ANY (%s) "
                           "ORDER BY id DESC LIMIT 1",
                           (AlertType.FALL.value, device, [s.value for s in ACTIVE])).fetchone()
        if row is None:
            return []
        alert_id, priority, wearer = int(row[0]), Priority(row[1]), row[2] or {}
        after = None if decided is None else event.t_resolved - decided
        asked = "prompted_at" in wearer and "cancelled_at" not in wearer
        if event.got_up and asked and after is not None and after <= self.cancel_s:
            service.wearer_cancel(conn, alert_id, by="got_up", device=device, after_s=after,
                                  at=event.t_resolved)
            ref = str(wearer.get("ref") or "")
            if ref:  # stop the wearable alerting: they are up
                self.outgoing.append(Outgoing(gateway, withdraw_command(device, ref)))
        elif event.got_up and priority == Priority.P1:
            service.reprioritise(conn, alert_id, Priority.P2, note=f"got up: upright and moving "
                                 f"{event.active_s:.0f} s after the fall")
        elif not event.got_up:
            service.note(conn, SYSTEM, alert_id, "no recovery after the fall: still down",
                         scope=ALL)
        return [alert_id]
