"""Accelerometer packets → ≈1 s blocks timed by the device's ticks, not by arrival."""

from __future__ import annotations

from collections import Counter

import numpy as np

from gateway.wearables import WearableStream
from hardware import ble
from hardware.accel import AccelPacket, encode_accel, scale_for_range
from kernel.contract import AccBlock


def packet(seq: int, t_ms: int) -> bytes:
    samples = np.full((25, 3), 100, dtype=np.int16)
    return encode_accel(AccelPacket(seq, t_ms, 50.0, scale_for_range(8), samples))


def test_late_packets_do_not_shift_sample_times() -> None:
    now = [1000.0]
    blocks: list[AccBlock] = []
    stream = WearableStream("ble-c82e470a1b2c", 1.0, Counter(), on_block=blocks.append,
                            on_battery=lambda pct: None, clock=lambda: now[0])
    rng = np.random.default_rng(1)
    for k in range(40):  # 20 s of packets, each 0.5 s of samples, arriving 0–3 s late
        now[0] = 1000.0 + 0.5 * (k + 1) + float(rng.uniform(0, 3))
        stream.notify("C8:2E:47:0A:1B:2C", ble.ACCEL_CHAR, packet(k, 7_000 + 500 * k))
    starts = np.array([b.t0_us for b in blocks]) / 1e6
    assert len(blocks) == 20
    assert np.allclose(np.diff(starts), 1.0, atol=3e-3), "one second apart, as sampled"


def test_a_device_restart_reanchors_its_clock() -> None:
    now = [1000.0]
    blocks: list[AccBlock] = []
    stream = WearableStream("ble-c82e470a1b2c", 1.0, Counter(), on_block=blocks.append,
                            on_battery=lambda pct: None, clock=lambda: now[0])
    for k, (t_ms, at) in enumerate([(5_000, 1000.5), (5_500, 1001.0),
                                    (100, 1500.5), (600, 1501.0)]):  # ticks restart from 0
        now[0] = at
        stream.notify("C8:2E:47:0A:1B:2C", ble.ACCEL_CHAR, packet(k, t_ms))
    assert [round(b.t0_us / 1e6, 1) for b in blocks] == [1000.0, 1500.0]
