"""Random devices for training: each training recording is also seen as if recorded by a few
other wearables (rate, range, resolution, lost / repeated samples, mounting, gain, wrist side).

Draws come from a ``numpy.random.Generator`` seeded per recording and copy, so a refit gives the
same training set every time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from analytics.degrade import Degradation

RATES_HZ = (20.0, 25.0, 32.0, 50.0, 100.0, 200.0)
RANGES_G = (2.0, 4.0, 8.0, 16.0)
RANGE_P = (0.1, 0.2, 0.35, 0.35)  # ±2 g parts are rare in wearables meant for fall detection
BITS = (10, 12, 16)
FLIPS = ("", "x", "y", "xy")


@dataclass(frozen=True, slots=True)
class DeviceMix:
    """How random devices are drawn: uniform up to each bound, the rest from the tuples above."""

    max_drop: float = 0.03
    max_repeat: float = 0.03
    max_rotate_deg: float = 15.0
    max_gain: float = 0.05
    rates_hz: tuple[float, ...] = RATES_HZ


def random_device(rng: np.random.Generator, mix: DeviceMix | None = None) -> Degradation:
    """One wearable drawn from ``mix`` (default :class:`DeviceMix`)."""
    mix = mix or DeviceMix()
    return Degradation(
        fs=float(rng.choice(mix.rates_hz)),
        range_g=float(rng.choice(RANGES_G, p=RANGE_P)),
        bits=int(rng.choice(BITS)),
        p_drop=float(rng.uniform(0.0, mix.max_drop)),
        p_repeat=float(rng.uniform(0.0, mix.max_repeat)),
        flip=str(rng.choice(FLIPS)),
        rotate_deg=float(rng.uniform(0.0, mix.max_rotate_deg)),
        gain=mix.max_gain,
    )


def rng_for(name: str, copy: int, seed: int) -> np.random.Generator:
    """The generator for copy ``copy`` of the recording called ``name``."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), copy])
