"""RF frames in: a paired device's frame becomes an event once (its repeats are dropped);
a frame from a device that is not paired is only counted and listed as heard (the first one
of a device calls ``on_first_heard``: the heartbeat tells the technician now)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from gateway.emitter import Emit
from gateway.events import RfDedupe, frame_event
from gateway.registry import Registry
from hardware.catalog import rf_uid
from hardware.frames import Frame, MsgType


def model_hint(frame: Frame) -> str | None:
    """The catalogue model a frame suggests (kept with a heard device for the technician)."""
    if frame.type == MsgType.MOTION:
        return "PIR-433"
    if frame.type == MsgType.DOOR:
        return "DS-433"
    if frame.type in (MsgType.PRESS, MsgType.LONG_PRESS):
        return "PC-433" if frame.data[:1] == b"\x01" else "PB-433"
    return None


class RfIntake:
    """What the serial transports call with every decoded frame (``on_frame``)."""

    def __init__(self, registry: Registry, emit: Emit, counters: Counter[str], *,
                 dedupe_s: float, clock: Callable[[], float] = time.time,
                 on_first_heard: Callable[[], None] = lambda: None) -> None:
        self.registry = registry
        self.on_first_heard = on_first_heard  # a device not paired, heard for the first time
        self.emit = emit
        self.counters = counters
        self.clock = clock
        self.dedupe = RfDedupe(dedupe_s)

    def on_frame(self, frame: Frame) -> None:
        self.counters["frames"] += 1
        uid = rf_uid(frame.device_id)
        if self.registry.seen(uid, frame.rssi, frame.battery_mv, model_hint(frame)) is None:
            self.counters["frames_unpaired"] += 1
            if self.registry.first_heard(uid):
                self.on_first_heard()
            return
        if not self.dedupe.first(uid, frame.seq, int(frame.type), self.clock()):
            self.counters["frames_repeated"] += 1
            return
        draft = frame_event(frame, uid)
        if draft is not None:
            self.emit(draft)

    def tidy(self) -> None:
        """Forget first copies older than the dedupe window."""
        self.dedupe.forget_before(self.clock() - self.dedupe.window_s)
