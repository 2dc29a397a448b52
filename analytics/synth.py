"""Synthetic accelerometer signals (in g) for tests, benchmarks and demos.

Physics-shaped, not recordings: a fall is walking, ~0.5 s of reduced |a| while the body rotates,
a short impact spike, then lying still in a new orientation. Device frames follow the training
data: waist (SisFall) reads about (0, -1, 0) g standing and (0, 0, ±1) lying; wrist (WEDA-FALL,
watch) reads about (-0.85, -0.25, 0.3) with the arm hanging.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kernel.placement import Placement

F64 = npt.NDArray[np.float64]

UPRIGHT = {Placement.WAIST: np.array([0.1, -1.0, -0.05]),
           Placement.WRIST: np.array([-0.85, -0.25, 0.3])}
LYING = {Placement.WAIST: np.array([0.1, 0.3, -1.0]), Placement.WRIST: np.array([0.1, 0.2, 0.95])}


def _unit(v: F64) -> F64:
    return v / np.linalg.norm(v)


def rest(fs: float, seconds: float, g: F64, rng: np.random.Generator, noise: float = 0.01) -> F64:
    n = round(fs * seconds)
    return np.asarray(_unit(g)[None, :] + rng.normal(0.0, noise, (n, 3)))


def walking(fs: float, seconds: float, g: F64, rng: np.random.Generator,
            amp: float = 0.3, step_hz: float = 1.8) -> F64:
    """Gravity plus a step-periodic vertical bounce and some sway."""
    n = round(fs * seconds)
    t = np.arange(n) / fs
    up = _unit(g)
    bounce = amp * np.maximum(np.sin(2 * np.pi * step_hz * t), -0.5)
    sway = 0.08 * np.sin(np.pi * step_hz * t + rng.uniform(0, 6.28))
    side = _unit(np.cross(up, [0.3, 0.2, 0.9]))
    return np.asarray(up[None, :] * (1 + bounce)[:, None] + side[None, :] * sway[:, None]
                      + rng.normal(0.0, 0.02, (n, 3)))


def fall(fs: float, placement: Placement, rng: np.random.Generator, before_s: float = 6.0,
         after_s: float = 20.0, peak_g: float = 5.0) -> tuple[F64, int]:
    """Walking, a fall, lying still. Returns ``(acc, impact index)``."""
    up, down = UPRIGHT[placement], LYING[placement]
    walk = walking(fs, before_s, up, rng)
    nd = round(0.5 * fs)
    s = np.linspace(0.0, 1.0, nd)[:, None]
    direction = np.array([_unit((1 - a) * up + a * down) for a in s[:, 0]])
    descent = direction * (1.0 - 0.7 * np.sin(np.pi * s) ** 0.5) + rng.normal(0, 0.03, (nd, 3))
    ni = max(round(0.06 * fs), 1)
    spike = np.sin(np.linspace(0, np.pi, ni + 2)[1:-1])[:, None]
    hit = _unit(down)[None, :] * (1.0 + (peak_g - 1.0) * spike) + rng.normal(0, 0.3, (ni, 3))
    nb = round(0.4 * fs)
    bounce = _unit(down)[None, :] * (1 + 0.4 * np.exp(-np.arange(nb) / (0.1 * fs)))[:, None]
    lying = rest(fs, after_s, down, rng, noise=0.01)
    acc = np.concatenate([walk, descent, hit, bounce + rng.normal(0, 0.05, (nb, 3)), lying])
    impact = len(walk) + nd + int(np.argmax(spike[:, 0]))
    return np.asarray(acc), impact


def get_up(fs: float, placement: Placement, rng: np.random.Generator,
           seconds: float = 30.0) -> F64:
    """Struggling up, then walking upright again."""
    up = UPRIGHT[placement]
    return np.concatenate([walking(fs, 3.0, LYING[placement], rng, amp=0.4),
                           walking(fs, seconds - 3.0, up, rng)])


def clapping(fs: float, seconds: float, rng: np.random.Generator, hz: float = 2.5,
             peak_g: float = 4.5) -> F64:
    """Wrist: forearm raised, sharp repeated impacts."""
    n = round(fs * seconds)
    base = rest(fs, seconds, np.array([0.3, -0.5, 0.5]), rng, noise=0.05)
    period = fs / hz
    for i in np.arange(period / 2, n - 2, period).astype(int):
        base[i] += rng.normal(0, 1, 3) * (peak_g / 1.73)
    return np.asarray(base)


def sit_down(fs: float, placement: Placement, rng: np.random.Generator) -> F64:
    """Stand, sit down briskly (a 1.8 g bump), sit, stand up again."""
    up = UPRIGHT[placement]
    seat = _unit(up + np.array([0.0, 0.0, -0.3]))
    bump = seat[None, :] * (1 + 0.8 * np.hanning(round(0.3 * fs)))[:, None]
    return np.concatenate([rest(fs, 4, up, rng), bump, rest(fs, 6, seat, rng),
                           walking(fs, 4, up, rng, amp=0.2)])
