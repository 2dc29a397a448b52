"""Simulated PIR motion sensors and door contacts, driven by residents' timelines.

A PIR reports a detection, then sleeps ``lockout_s`` (as battery PIRs do), counting what it sees
meanwhile into the next report. Detections are a Poisson process whose rate depends on what the
people in its room are doing; walking into the room is always seen. A door contact opens when a
resident leaves or comes home and closes a few seconds later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from firmware_sim.rf import Battery, RfDevice
from firmware_sim.routine import OUT, Activity, Timeline
from hardware.catalog import get_model
from hardware.frames import Frame, MsgType, count_data, flag_data

PIR_RATE_PER_S: Final = {Activity.SLEEPING: 1 / 2400, Activity.LYING: 1 / 900,
                         Activity.SITTING: 1 / 180, Activity.STANDING: 1 / 45,
                         Activity.WALKING: 1 / 10}
LOCKOUT_S: Final = 60.0
DOOR_OPEN_S: Final = (4.0, 12.0)  # how long the door stays open, uniform


class PirSensor(RfDevice):
    """A PIR-433 in ``room``."""

    MODEL = "PIR-433"

    def __init__(self, device_id: int, room: str, *, seed: int = 0, rssi_dbm: float = -65.0,
                 battery: Battery | None = None, lockout_s: float = LOCKOUT_S) -> None:
        super().__init__(device_id, get_model(self.MODEL), seed=seed, rssi_dbm=rssi_dbm,
                         battery=battery)
        self.room = room
        self.lockout_s = lockout_s
        self._plan_rng = np.random.default_rng([seed, device_id, 1])

    def motion(self, t: float, count: int = 1) -> Frame:
        return self.frame(t, MsgType.MOTION, count_data(min(count, 255)))

    def reports(self, timelines: Sequence[Timeline], t0: float,
                t1: float) -> list[tuple[float, int]]:
        """``(time, count)`` of the MOTION frames this sensor sends in ``[t0, t1)``."""
        out: list[tuple[float, int]] = []
        ready, seen = -np.inf, 0
        for t in self._detections(timelines, t0, t1):
            seen += 1
            if t >= ready:
                out.append((t, seen))
                ready, seen = t + self.lockout_s, 0
        return out

    def _detections(self, timelines: Sequence[Timeline], t0: float, t1: float) -> list[float]:
        rng = self._plan_rng
        times: list[float] = []
        for timeline in timelines:
            for s, e, seg in timeline.between(t0, t1):
                if seg.room != self.room or seg.still:
                    continue
                if seg.start == s and s > 0 and timeline.at(s - 1e-3).room != self.room:
                    times.append(s + float(rng.uniform(0.5, 2.0)))  # walked in
                n = rng.poisson(PIR_RATE_PER_S[seg.activity] * (e - s))
                times.extend(float(x) for x in rng.uniform(s, e, n))
        return sorted(t for t in times if t0 <= t < t1)


class DoorSensor(RfDevice):
    """A DS-433 contact on the front door."""

    MODEL = "DS-433"

    def __init__(self, device_id: int, *, seed: int = 0, rssi_dbm: float = -65.0,
                 battery: Battery | None = None) -> None:
        super().__init__(device_id, get_model(self.MODEL), seed=seed, rssi_dbm=rssi_dbm,
                         battery=battery)
        self._plan_rng = np.random.default_rng([seed, device_id, 2])

    def door(self, t: float, is_open: bool) -> Frame:
        return self.frame(t, MsgType.DOOR, flag_data(is_open))

    def movements(self, timelines: Sequence[Timeline], t0: float,
                  t1: float) -> list[tuple[float, bool]]:
        """``(time, open?)`` of the DOOR frames in ``[t0, t1)``: one open + close per trip."""
        out: list[tuple[float, bool]] = []
        for timeline in timelines:
            for s, _, seg in timeline.between(t0, t1):
                if seg.start != s or s == 0:
                    continue
                before = timeline.at(s - 1e-3).room
                if (before == OUT) != (seg.room == OUT):
                    out.append((s, True))
                    out.append((s + float(self._plan_rng.uniform(*DOOR_OPEN_S)), False))
        return sorted(x for x in out if t0 <= x[0] < t1)
