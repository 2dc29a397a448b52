"""A simulated BLE wearable: 50 Hz accelerometer, heart rate with RR, SpO2, battery level, and
the Immediate Alert service the gateway writes to (it alerts its wearer).

Seeded and deterministic, and a pure function of time: :meth:`Wearable.notifications` for any
interval can be computed faster than real time, and cutting a day into intervals differently
gives the same notifications. Payloads come from ``hardware.ble``'s encoders, so they are exactly
what a real device of the same spec would send. What the gateway writes is the one thing that
does not depend on time alone: :meth:`Wearable.immediate_alert` records it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware_sim.body import RATE_HZ, Phase, Piece, PieceTable, synthesize
from firmware_sim.errors import ScenarioError
from firmware_sim.posture import Fall, day_pieces
from firmware_sim.routine import Activity, Segment, Timeline
from hardware import ble
from hardware.accel import BLOCK_SAMPLES, AccelPacket, encode_accel, quantize, scale_for_range
from hardware.ble import (
    AlertLevel,
    HeartRate,
    MeasurementStatus,
    PlxContinuous,
    SensorContact,
    SensorStatus,
    Sfloat,
    Special,
    SpO2PR,
)
from hardware.catalog import Model, Transport, ble_uid, get_model
from kernel.placement import Placement

RANGE_G: Final = 16
HR_BASE: Final = {Activity.SLEEPING: 56.0, Activity.LYING: 62.0, Activity.SITTING: 68.0,
                  Activity.STANDING: 74.0, Activity.WALKING: 92.0}
STRESS_BPM: Final = 25.0
HR_TAU_S: Final = 20.0
HR_PERIOD_S: Final = 1.0
PLX_OFFSET_S: Final = 0.5
BATTERY_PERIOD_S: Final = 60.0
Notification = tuple[float, str, bytes]


class Wearable:
    """One wrist band (WB-BLE) or waist pendant (WP-BLE) worn by a resident."""

    def __init__(self, address: str, model: Model | str = "WP-BLE", *, seed: int = 0,
                 timeline: Timeline | None = None, falls: Sequence[Fall] = (),
                 off: Sequence[tuple[float, float]] = (), battery_pct: float | None = None,
                 resting_hr: float | None = None) -> None:
        self.model = get_model(model) if isinstance(model, str) else model
        placement = self.model.placement
        if self.model.transport is not Transport.BLE or self.model.sample_rate_hz != RATE_HZ \
                or placement is None:
            raise ScenarioError(f"model {self.model.id} is not a {RATE_HZ:g} Hz BLE wearable")
        self.address = address
        self.uid = ble_uid(address)
        self.placement: Placement = placement
        self.seed = (seed * 1_000_003 + zlib.crc32(self.uid.encode())) & 0xFFFF_FFFF
        rng = np.random.default_rng([self.seed, 3])
        timeline = timeline or Timeline([Segment(0.0, "home", Activity.STANDING)])
        self.table = PieceTable(day_pieces(timeline, self.placement, rng, falls=falls, off=off))
        self._tick0 = int(rng.integers(0, 3 * 86_400_000))
        self._seq0 = int(rng.integers(0, 0x10000))
        self._hr_offset = (resting_hr - HR_BASE[Activity.LYING] if resting_hr is not None
                           else float(rng.normal(0, 4)))
        self._spo2 = float(rng.uniform(96.0, 98.0))
        self._battery0 = battery_pct if battery_pct is not None else float(rng.uniform(60, 100))
        self._phases = rng.uniform(0, 2 * math.pi, 4)
        self.alerts: list[tuple[float, AlertLevel]] = []  # (time, level) the gateway wrote

    def immediate_alert(self, t: float, payload: bytes) -> AlertLevel:
        """The gateway wrote the Alert Level (0x2A06) at ``t``: from now the wearable beeps and
        vibrates at that level (``NONE``: stops). ``BlePayloadError`` for a reserved value."""
        level = ble.parse_alert_level(payload)
        self.alerts.append((t, level))
        return level

    @property
    def alerting(self) -> AlertLevel:
        """The level the wearable is alerting at now."""
        return self.alerts[-1][1] if self.alerts else AlertLevel.NONE

    # ------------------------------------------------------------------------- signals

    def state(self, t: float) -> Piece:
        """What the body is doing at ``t``."""
        return self.table.at(t)

    def sample_times(self, t0: float, t1: float) -> npt.NDArray[np.float64]:
        """Times of the samples in ``[t0, t1)``."""
        return np.arange(math.ceil(t0 * RATE_HZ), math.ceil(t1 * RATE_HZ)) / RATE_HZ

    def acceleration(self, t0: float, t1: float) -> npt.NDArray[np.float64]:
        """Acceleration in g, shape (n, 3), of the samples in ``[t0, t1)`` (unquantised)."""
        k0, k1 = math.ceil(t0 * RATE_HZ), math.ceil(t1 * RATE_HZ)
        return synthesize(self.table, wrist=self.placement is Placement.WRIST, seed=self.seed,
                          k0=k0, k1=k1)

    def heart_rate_bpm(self, t: float) -> float | None:
        """Heart rate at ``t``; None when the device is not worn."""
        piece = self.table.at(t)
        if piece.activity is None:
            return None
        target, before = self._hr_target(piece), self._hr_target(self.table.previous(piece))
        hr = target + (before - target) * math.exp(-(t - piece.start) / HR_TAU_S)
        p = self._phases
        wander = (math.sin(2 * math.pi * t / 47 + p[0]) + math.sin(2 * math.pi * t / 131 + p[1])
                  + math.sin(2 * math.pi * t / 293 + p[2]))
        return hr + 1.5 * wander

    def _hr_target(self, piece: Piece) -> float:
        base = HR_BASE[piece.activity or Activity.LYING] + self._hr_offset
        return base + (STRESS_BPM if piece.stress else 0.0)

    def heart_rate(self, t: float) -> HeartRate:
        """The Heart Rate Measurement sent at ``t``, RR intervals of the beats in the last s."""
        bpm = self.heart_rate_bpm(t)
        if bpm is None:
            return HeartRate(0, SensorContact.NOT_DETECTED)
        rng = np.random.default_rng([self.seed, 7, math.floor(t)])
        beats = math.floor(bpm / 60 + rng.uniform())
        rr = tuple(60_000 / bpm * (1 + 0.025 * float(rng.standard_normal()))
                   for _ in range(beats))
        return HeartRate(round(bpm), SensorContact.DETECTED, None, rr)

    def plx(self, t: float) -> PlxContinuous:
        """The PLX Continuous Measurement sent at ``t``."""
        piece = self.table.at(t)
        bpm = self.heart_rate_bpm(t)
        if bpm is None:
            nan = Sfloat.of(Special.NAN)
            return PlxContinuous(SpO2PR(nan, nan), status=MeasurementStatus.MEASUREMENT_UNAVAILABLE,
                                 sensor_status=SensorStatus.SENSOR_UNCONNECTED_TO_USER)
        spo2 = self._spo2 + 0.6 * math.sin(2 * math.pi * t / 173 + self._phases[3])
        spo2 -= (1.5 if piece.activity is Activity.SLEEPING else 0) + (1 if piece.stress else 0)
        moving = piece.phase is not Phase.POSTURE or piece.level >= 0.08
        status = MeasurementStatus.MEASUREMENT_ONGOING
        sensor = SensorStatus(0)
        if moving:
            status |= MeasurementStatus.QUESTIONABLE_MEASUREMENT
            sensor = SensorStatus.ERRATIC_SIGNAL
        pai = round(3.0 + math.sin(2 * math.pi * t / 211 + self._phases[0]), 1)
        normal = SpO2PR(Sfloat(float(min(round(spo2), 100))), Sfloat(float(round(bpm))))
        return PlxContinuous(normal, status=status, sensor_status=sensor,
                             pulse_amplitude=Sfloat(pai))

    def battery_percent(self, t: float) -> int:
        drained = 100 * t / (self.model.battery_life_days * 86_400)
        return int(np.clip(round(self._battery0 - drained), 1, 100))

    # ---------------------------------------------------------------------- notifications

    def notifications(self, t0: float, t1: float) -> list[Notification]:
        """``(time, characteristic uuid, payload)`` of every notification sent in ``[t0, t1)``."""
        out = self._accel_notifications(t0, t1)
        out += [(t, ble.HEART_RATE_MEASUREMENT, ble.encode_heart_rate(self.heart_rate(t)))
                for t in _grid(t0, t1, HR_PERIOD_S, 0.0)]
        out += [(t, ble.PLX_CONTINUOUS, ble.encode_plx_continuous(self.plx(t)))
                for t in _grid(t0, t1, HR_PERIOD_S, PLX_OFFSET_S)]
        out += [(t, ble.BATTERY_LEVEL, ble.encode_battery_level(self.battery_percent(t)))
                for t in _grid(t0, t1, BATTERY_PERIOD_S, 0.25)]
        out.sort(key=lambda n: n[0])
        return out

    def _accel_notifications(self, t0: float, t1: float) -> list[Notification]:
        block_s = BLOCK_SAMPLES / RATE_HZ
        ends = [round(t / block_s) for t in _grid(t0, t1, block_s, 0.0)]
        ends = [j for j in ends if j >= 1]
        if not ends:
            return []
        k0, k1 = (ends[0] - 1) * BLOCK_SAMPLES, ends[-1] * BLOCK_SAMPLES
        counts = quantize(synthesize(self.table, wrist=self.placement is Placement.WRIST,
                                     seed=self.seed, k0=k0, k1=k1), RANGE_G)
        scale = scale_for_range(RANGE_G)
        out = []
        for i, j in enumerate(ends):
            k = (j - 1) * BLOCK_SAMPLES
            block = counts[i * BLOCK_SAMPLES : (i + 1) * BLOCK_SAMPLES]
            packet = AccelPacket(self._seq0 + j - 1, self._tick0 + round(k * 1000 / RATE_HZ),
                                 RATE_HZ, scale, block)
            out.append((j * block_s, ble.ACCEL_CHAR, encode_accel(packet)))
        return out


def _grid(t0: float, t1: float, period: float, offset: float) -> list[float]:
    """``offset + j * period`` in ``[t0, t1)``."""
    j0, j1 = math.ceil((t0 - offset) / period), math.ceil((t1 - offset) / period)
    return [offset + j * period for j in range(j0, j1)]
