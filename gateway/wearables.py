"""Wearable notifications → telemetry: ≈1 s accelerometer blocks and batched vital-sign readings."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hardware import ble
from hardware.errors import HardwareError
from kernel.contract import AccBlock, VitalReading

log = logging.getLogger(__name__)

SUBSCRIBED = (ble.HEART_RATE_MEASUREMENT, ble.PLX_CONTINUOUS, ble.BATTERY_LEVEL, ble.ACCEL_CHAR)
# Device ticks time the samples; the gateway clock only anchors them. The anchor tends to the
# smallest (arrival − tick) seen, so late arrivals (a busy radio or loop) never shift sample
# times: it moves down at most SLEW_S per packet (no visible jump), creeps up DRIFT_S per packet
# to follow a slow device clock, and jumps when the ticks do (the device restarted).
REANCHOR_S = 60.0
SLEW_S = 1e-3
DRIFT_S = 1e-4


@dataclass(slots=True)
class _AccBuffer:
    """Samples of one wearable waiting to fill a block; contiguous by device sequence."""

    t0_us: int = 0
    rate_hz: float = 0.0
    scale_g: float = 0.0
    next_seq: int | None = None
    parts: list[npt.NDArray[np.int16]] = field(default_factory=list)
    count: int = 0
    offset_s: float | None = None  # gateway time minus device tick time
    blocks: int = 0


class WearableStream:
    """Decodes one wearable's notifications; hands finished telemetry to callbacks."""

    def __init__(self, uid: str, block_s: float, counters: Counter[str], *,
                 on_block: Callable[[AccBlock], None],
                 on_battery: Callable[[int], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.uid = uid
        self.block_s = block_s
        self.counters = counters
        self.on_block = on_block
        self.on_battery = on_battery
        self.clock = clock
        self.readings: list[VitalReading] = []
        self._acc = _AccBuffer()

    def notify(self, address: str, uuid: str, data: bytes) -> None:
        """Entry point for every notification; malformed payloads are counted, logged, dropped."""
        try:
            if uuid == ble.ACCEL_CHAR:
                self._accel(ble.parse_accel(data))
            elif uuid == ble.HEART_RATE_MEASUREMENT:
                hr = ble.parse_heart_rate(data)
                contact = None if hr.contact == ble.SensorContact.NOT_SUPPORTED else \
                    hr.contact == ble.SensorContact.DETECTED
                self.readings.append(VitalReading(ts=self.clock(), hr=hr.bpm, contact=contact,
                                                  rr_ms=list(hr.rr_ms)))
            elif uuid == ble.PLX_CONTINUOUS:
                plx = ble.parse_plx_continuous(data)
                if plx.spo2 is not None or plx.pulse is not None:
                    self.readings.append(VitalReading(ts=self.clock(), spo2=plx.spo2,
                                                      pulse=plx.pulse))
            elif uuid == ble.BATTERY_LEVEL:
                self.on_battery(ble.parse_battery_level(data))
            else:
                self.counters["ble_unknown_char"] += 1
        except (HardwareError, ValueError) as exc:
            self.counters["ble_malformed"] += 1
            log.warning("wearable %s (%s): malformed %s payload %s: %s",
                        self.uid, address, uuid[:8], data[:32].hex(), exc)

    def take_readings(self) -> list[VitalReading]:
        out, self.readings = self.readings, []
        return out

    def _accel(self, pkt: ble.AccelPacket) -> None:
        buf = self._acc
        now = self.clock()
        t_dev = pkt.t_ms / 1000
        continuous = (buf.next_seq == pkt.seq and buf.rate_hz == pkt.rate_hz
                      and buf.scale_g == pkt.scale_g)
        if not continuous:
            if buf.next_seq is not None:
                self.counters["acc_discontinuities"] += 1
            self.flush()
        seen = now - (t_dev + len(pkt.samples) / pkt.rate_hz)  # sent after its last sample
        if buf.offset_s is None or abs(seen - buf.offset_s) > REANCHOR_S:
            if buf.offset_s is not None:
                self.flush()
            buf.offset_s = seen
        elif seen < buf.offset_s:  # a quicker arrival: a better anchor, approached smoothly
            buf.offset_s = max(buf.offset_s - SLEW_S, seen)
        else:
            buf.offset_s += DRIFT_S
        if buf.count == 0:
            buf.t0_us = round((buf.offset_s + t_dev) * 1e6)
            buf.rate_hz, buf.scale_g = pkt.rate_hz, pkt.scale_g
        buf.parts.append(pkt.samples)
        buf.count += len(pkt.samples)
        buf.next_seq = (pkt.seq + 1) & 0xFFFF
        if buf.count >= self.block_s * buf.rate_hz:
            self.flush()

    def flush(self) -> None:
        """Emit whatever samples are buffered as one block."""
        buf = self._acc
        if buf.count:
            samples = np.concatenate(buf.parts) if len(buf.parts) > 1 else buf.parts[0]
            self.on_block(AccBlock(self.uid, buf.t0_us, buf.blocks, buf.rate_hz, buf.scale_g,
                                   samples))
            buf.blocks += 1
        buf.parts, buf.count = [], 0

