"""Gateway events before they are stored: what a device frame becomes, RF repeats told apart.

Pure: no I/O and no clock of its own. An ``EventDraft`` is an event without its number; the
outbox gives it one as it commits it (:mod:`gateway.emitter`), and ``payload`` makes the contract
message with it. A new kind of event the gateway raises is a draft built here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hardware.errors import FrameError
from hardware.frames import Frame, MsgType, data_fields
from kernel.contract import ALARM_TYPES, Event, EventType, event_id

EventData = dict[str, float | int | str | bool | None]

FRAME_EVENT = {
    MsgType.PRESS: EventType.PRESS,
    MsgType.LONG_PRESS: EventType.LONG_PRESS,
    MsgType.CANCEL: EventType.CANCEL,
    MsgType.LOW_BATTERY: EventType.LOW_BATTERY,
    MsgType.TAMPER: EventType.TAMPER,
    MsgType.MOTION: EventType.MOTION,
}


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event as the gateway decided it, before the outbox numbers it."""

    type: EventType
    device: str
    dseq: int | None = None
    rssi: int | None = None
    battery_mv: int | None = None
    data: EventData = field(default_factory=dict)

    @property
    def alarm(self) -> bool:
        return self.type in ALARM_TYPES

    def payload(self, gw: str, inc: str, n: int, ts: float) -> Event:
        """The contract message: event ``n`` of incarnation ``inc`` of gateway ``gw``."""
        return Event(id=event_id(gw, inc, n), gw=gw, inc=inc, n=n, ts=ts, device=self.device,
                     dseq=self.dseq, type=self.type, rssi=self.rssi, battery_mv=self.battery_mv,
                     data=dict(self.data))


def frame_event(frame: Frame, device: str) -> EventDraft | None:
    """The event a paired device's frame becomes; None for supervision frames (health only).

    Data bytes that do not parse never cost the event: a press is forwarded without its details.
    """
    if frame.type == MsgType.SUPERVISION:
        return None
    try:
        data: EventData = dict(data_fields(frame))
    except FrameError as exc:
        data = {"data_error": str(exc)}
    if frame.type == MsgType.DOOR:
        etype, data = (EventType.DOOR_OPEN if data.get("open") else EventType.DOOR_CLOSED), {}
    else:
        etype = FRAME_EVENT[frame.type]
    return EventDraft(etype, device, dseq=frame.seq, rssi=frame.rssi,
                      battery_mv=frame.battery_mv or None, data=data)


def silent_event(device: str, last_seen: float | None) -> EventDraft:
    """A paired device missed its supervision reports."""
    return EventDraft(EventType.DEVICE_SILENT, device, data={"last_seen": last_seen})


class RfDedupe:
    """RF devices send each transmission several times: the first copy of a (device, sequence,
    type) within ``window_s`` counts, the repeats do not (a repeat does not extend the window)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._first_at: dict[tuple[str, int, int], float] = {}

    def first(self, device: str, seq: int, msg_type: int, now: float) -> bool:
        """Whether this copy is the first within the window (and then remember it)."""
        key = (device, seq, msg_type)
        at = self._first_at.get(key)
        if at is not None and now - at < self.window_s:
            return False
        self._first_at[key] = now
        return True

    def forget_before(self, cutoff: float) -> None:
        """Drop what was first seen before ``cutoff`` (bounded memory)."""
        self._first_at = {k: t for k, t in self._first_at.items() if t >= cutoff}

    def __len__(self) -> int:
        return len(self._first_at)
