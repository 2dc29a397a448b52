"""Edge fall detection (``edge_falls``): the server's fall detector, same code and parameters,
run on the gateway's own accelerometer blocks, so a fall is an alarm in the outbox even while
the link to the server is down. Its events carry ``"edge": true``.

A fall's outcome (:class:`~analytics.events.FallResolved`: got up within the cancel window) is
decided here too and not yet sent: the server decides it again from the published blocks.
"""

from __future__ import annotations

from collections.abc import Callable

from analytics.bank import FallBank
from analytics.events import DetectorEvent, FallEvent, FaultKind, SensorFault
from gateway.emitter import Emit
from gateway.events import EventDraft
from kernel.contract import AccBlock, EventType
from kernel.placement import Placement


def edge_event(found: DetectorEvent) -> EventDraft | None:
    """The event the gateway raises for what the detector found (None: nothing to raise)."""
    if isinstance(found, FallEvent):
        return EventDraft(EventType.FALL, str(found.device), data={
            "confidence": round(found.confidence, 3), "placement": found.placement.value,
            "t_impact": found.t_impact, "edge": True})
    if isinstance(found, SensorFault) and found.active and found.kind != FaultKind.GAP:
        return EventDraft(EventType.SENSOR_FAULT, str(found.device),
                          data={"fault": found.kind.value, "edge": True})
    return None


class EdgeFalls:
    """Feeds each paired wearable's blocks to a fall bank; raises what it finds."""

    def __init__(self, placement_of: Callable[[str], Placement | None], emit: Emit,
                 bank: FallBank | None = None) -> None:
        self.placement_of = placement_of
        self.emit = emit
        self.bank = bank if bank is not None else FallBank()

    def on_block(self, block: AccBlock) -> None:
        placement = self.placement_of(block.device)
        if placement is None:  # not paired (any more), or not worn
            return
        if block.device not in self.bank:
            self.bank.add(block.device, placement, block.rate_hz)
        for found in self.bank.process_acc([block]):
            draft = edge_event(found)
            if draft is not None:
                self.emit(draft)
