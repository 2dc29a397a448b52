"""Edge fall detection (``edge_falls``): the server's fall detector, same code and parameters,
run on the gateway's own accelerometer blocks, so a fall is an alarm in the outbox even while
the link to the server is down. Its events carry ``"edge": true``.

Each block is first turned into the detector's frame by its model's axis map
(``hardware.catalog.to_detector_frame``), as the server does. A fall is in the outbox at once
(never delayed) and its wearer is asked at once, without a round trip to the server: the
wearable alerts (:mod:`gateway.prompts`) and a press, or a get-up the detector sees, within
``cancel_s`` answers the prompt: the press (or a ``cancel`` event of the wearable) follows the
fall through the outbox, and the server shows the fall "cancelled by the wearer".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from analytics.bank import DeviceBlock, FallBank
from analytics.events import DetectorEvent, FallEvent, FallResolved, FaultKind, SensorFault
from gateway.emitter import Emit
from gateway.events import EventDraft
from gateway.prompts import Prompt, Prompts
from hardware.ble import AlertLevel
from hardware.catalog import Model, to_detector_frame
from kernel.contract import AccBlock, EventType, PromptKind

CANCEL_WINDOW = "cancel_window_s"  # a fall event's data: its wearer was asked for this long


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


def detector_block(block: AccBlock, model: Model) -> DeviceBlock:
    """A contract block as the detector takes it: in g, in the training data's axes."""
    raw = DeviceBlock.of(block)
    return replace(raw, samples=to_detector_frame(model, raw.samples))


class EdgeFalls:
    """Feeds each paired wearable's blocks to a fall bank; raises what it finds and asks the
    wearer (when given ``prompts``)."""

    def __init__(self, model_of: Callable[[str], Model | None], emit: Emit, *,
                 prompts: Prompts | None = None, event_id: Callable[[int], str] | None = None,
                 cancel_s: float = 30.0, bank: FallBank | None = None) -> None:
        self.model_of = model_of
        self.emit = emit
        self.prompts = prompts
        self.event_id = event_id
        self.cancel_s = cancel_s
        self.bank = bank if bank is not None else FallBank()

    def on_block(self, block: AccBlock) -> None:
        model = self.model_of(block.device)
        if model is None or model.placement is None:  # not paired (any more), or not worn
            return
        if block.device not in self.bank:
            self.bank.add(block.device, model.placement, block.rate_hz)
        for found in self.bank.process([detector_block(block, model)]):
            self._found(found)

    def _found(self, found: DetectorEvent) -> None:
        if isinstance(found, FallResolved):
            if found.got_up and self.prompts is not None:
                self.prompts.got_up(str(found.device))
            return
        draft = edge_event(found)
        if draft is None:
            return
        prompts, event_id = self.prompts, self.event_id
        if not isinstance(found, FallEvent) or prompts is None or event_id is None:
            self.emit(draft)
            return
        draft = replace(draft, data={**draft.data, CANCEL_WINDOW: self.cancel_s})
        n = self.emit(draft)  # in the outbox first: asking the wearer never delays the alarm
        prompts.ask_soon(Prompt(PromptKind.FALL, event_id(n), (draft.device,), AlertLevel.HIGH,
                                self.cancel_s))
