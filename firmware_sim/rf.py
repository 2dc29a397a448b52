"""What every simulated 433 MHz device shares: rolling sequence, battery, RSSI, supervision."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hardware.catalog import Model, battery_mv, battery_percent, rf_uid
from hardware.frames import Frame, MsgType, encode_frame, firmware_data, flag_data

RSSI_SD_DB = 2.5
FIRMWARE = (1, 4)


class Battery:
    """State of charge falling linearly over the model's nominal life (``drain`` × faster).

    ``anchors`` are ``(time, mV)`` points where the voltage is known (start, battery swaps,
    scripted drops); between them the charge drains from the last anchor.
    """

    def __init__(self, model: Model, anchors: Sequence[tuple[float, int]],
                 drain: float = 1.0) -> None:
        self.model = model
        self._anchors = sorted((t, float(battery_percent(model, mv))) for t, mv in anchors)
        self._per_s = 100.0 * drain / (model.battery_life_days * 86_400)
        self._low_pct = float(battery_percent(model, model.low_battery_mv))

    def percent(self, t: float) -> float:
        t0, p0 = self._anchor(t)
        return max(p0 - self._per_s * (t - t0), 0.0)

    def mv(self, t: float) -> int:
        return battery_mv(self.model, self.percent(t))

    def is_low(self, t: float) -> bool:
        """Below the model's low-battery threshold."""
        return self.percent(t) < self._low_pct

    def low_crossings(self, t0: float, t1: float) -> list[float]:
        """Times in ``[t0, t1)`` when the charge falls below the low threshold (a battery that
        starts low has no crossing: its supervision frames say so)."""
        out = []
        ends = [a for a, _ in self._anchors[1:]] + [math.inf]
        for i, ((ta, pa), tb) in enumerate(zip(self._anchors, ends, strict=True)):
            if pa < self._low_pct:  # a scripted drop: low from the anchor on
                crossing = ta if i > 0 and not self.is_low(ta - 1e-3) else math.inf
            else:
                crossing = (ta + (pa - self._low_pct) / self._per_s + 1.0 if self._per_s > 0
                            else math.inf)
            if t0 <= crossing < min(t1, tb):
                out.append(crossing)
        return out

    def _anchor(self, t: float) -> tuple[float, float]:
        current = self._anchors[0]
        for a in self._anchors:
            if a[0] <= t:
                current = a
        return current


class RfDevice:
    """One RF device: every frame it sends gets the next 16-bit sequence number."""

    def __init__(self, device_id: int, model: Model, *, seed: int = 0, rssi_dbm: float = -65.0,
                 battery: Battery | None = None) -> None:
        self.device_id = device_id
        self.model = model
        self.uid = rf_uid(device_id)
        self._rng = np.random.default_rng([seed, device_id])
        self.seq = int(self._rng.integers(0, 0x10000))  # devices have been running a while
        self.rssi_dbm = rssi_dbm
        self.battery = battery or Battery(model, [(0.0, model.full_mv - 50)])
        self.phase_s = float(self._rng.uniform(0, model.supervision_interval_s))

    def frame(self, t: float, kind: MsgType, data: bytes = b"") -> Frame:
        """The next frame this device sends at time ``t``."""
        rssi = round(self.rssi_dbm + self._rng.normal(0, RSSI_SD_DB))
        frame = Frame(kind, self.device_id, self.seq, int(np.clip(rssi, -120, -20)),
                      self.battery.mv(t), data)
        self.seq = (self.seq + 1) & 0xFFFF
        return frame

    def wire(self, t: float, kind: MsgType, data: bytes = b"") -> bytes:
        """Like :meth:`frame`, encoded."""
        return encode_frame(self.frame(t, kind, data))

    def supervision_times(self, t0: float, t1: float) -> list[float]:
        """When the periodic heartbeats fall in ``[t0, t1)``."""
        step = self.model.supervision_interval_s
        k = math.ceil((t0 - self.phase_s) / step)
        return [float(t) for t in np.arange(self.phase_s + k * step, t1, step) if t >= t0]

    def supervision(self, t: float) -> Frame:
        return self.frame(t, MsgType.SUPERVISION, firmware_data(*FIRMWARE))

    def low_battery(self, t: float) -> Frame:
        return self.frame(t, MsgType.LOW_BATTERY)

    def tamper(self, t: float, opened: bool = True) -> Frame:
        return self.frame(t, MsgType.TAMPER, flag_data(opened))
