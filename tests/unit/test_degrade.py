"""Device degradations and random training devices: each effect alone, onsets kept in step."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import degrade
from analytics.augment import RANGES_G, DeviceMix, random_device, rng_for
from analytics.degrade import Degradation
from analytics.errors import InputError


def _signal(fs: float = 50.0, seconds: float = 10.0) -> np.ndarray:
    t = np.arange(round(fs * seconds)) / fs
    return np.stack([np.sin(2 * np.pi * 0.5 * t), np.cos(2 * np.pi * 0.5 * t),
                     0.5 + 0.1 * t], axis=1)


def test_flip_rotate_and_gain() -> None:
    a = _signal()
    assert np.array_equal(degrade.flip(a, "x")[:, 0], -a[:, 0])
    assert np.array_equal(degrade.flip(a, "xy")[:, 2], a[:, 2])
    with pytest.raises(InputError):
        degrade.flip(a, "w")
    rng = np.random.default_rng(1)
    r = degrade.rotate(a, 10.0, rng)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), np.linalg.norm(a, axis=1))
    cos = (r * a).sum(axis=1) / np.linalg.norm(a, axis=1) ** 2
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() <= 10.0 + 1e-6
    ones = np.ones((20, 3))
    g = degrade.gain_error(ones, 0.05, rng)
    assert np.all(np.abs(g - 1) <= 0.05 + 1e-12)
    assert np.array_equal(g, np.broadcast_to(g[0], g.shape))  # one gain per axis


def test_resample_clip_quantise() -> None:
    a = _signal(50.0)
    down = degrade.resample(a, 50.0, 20.0)
    assert len(down) == 200
    t = np.arange(200) / 20.0
    inner = slice(10, -10)
    np.testing.assert_allclose(down[inner, 0], np.sin(2 * np.pi * 0.5 * t)[inner], atol=0.01)
    assert abs(down[0, 2] - 0.5) < 0.02  # no ramp from zero at the edges
    assert len(degrade.resample(a, 50.0, 200.0)) == 2000
    assert np.abs(degrade.clip_range(3 * a, 2.0)).max() == 2.0
    q = degrade.quantise(a, 8.0, 12)
    lsb = 16.0 / 4096
    np.testing.assert_allclose(q / lsb, np.round(q / lsb), atol=1e-9)
    assert np.abs(q - a).max() <= lsb / 2 + 1e-12


def test_drop_repeat_counts_and_onset() -> None:
    rng = np.random.default_rng(2)
    counts = degrade.drop_repeat_counts(10_000, 0.1, 0.05, rng)
    assert set(np.unique(counts).tolist()) == {0, 1, 2}
    assert 0.08 < (counts == 0).mean() < 0.12
    assert 0.035 < (counts == 2).mean() < 0.065
    a = np.arange(30.0)[:, None] * np.ones(3)
    out = degrade.drop_repeat(a, np.array([1, 0, 2] * 10))
    assert out[:4, 0].tolist() == [0.0, 2.0, 2.0, 3.0]
    with pytest.raises(InputError):
        degrade.drop_repeat_counts(5, 0.7, 0.7, rng)
    # the onset follows its sample
    acc = np.zeros((1000, 3))
    acc[600] = 9.0
    how = Degradation(p_drop=0.05, p_repeat=0.05)
    out, fs, onset = how.apply(acc, 50.0, 600, np.random.default_rng(3))
    assert fs == 50.0
    assert out[onset, 0] == 9.0
    out, fs, onset = Degradation(fs=20.0).apply(acc, 50.0, 600, np.random.default_rng(3))
    assert (fs, onset) == (20.0, 240)
    assert Degradation().apply(acc, 50.0, -1, np.random.default_rng(3))[2] == -1


def test_degradation_chain_is_reproducible_and_labelled() -> None:
    how = Degradation(fs=20.0, range_g=8.0, bits=12, p_drop=0.02, p_repeat=0.02, flip="x",
                      rotate_deg=5.0, gain=0.05)
    a = 4 * _signal()
    one = how.apply(a, 50.0, 100, rng_for("F01_U01_R01", 0, 7))
    two = how.apply(a, 50.0, 100, rng_for("F01_U01_R01", 0, 7))
    assert np.array_equal(one[0], two[0])
    assert one[1] == 20.0
    assert np.abs(one[0]).max() <= 8.0
    assert how.label == ("20 Hz, ±8 g, 12 bit, drop 2 %, repeat 2 %, flip x, rotate 5°, "
                         "gain ±5 %")
    assert Degradation().label == "as recorded"
    assert Degradation().is_identity
    assert not how.is_identity


def test_random_devices_stay_within_the_mix() -> None:
    mix = DeviceMix()
    devices = [random_device(rng_for("t", c, 1), mix) for c in range(200)]
    assert devices[5] == random_device(rng_for("t", 5, 1), mix)
    assert {d.fs for d in devices} == set(mix.rates_hz)
    assert {d.range_g for d in devices} == set(RANGES_G)
    assert all(0 <= d.p_drop <= mix.max_drop and 0 <= d.rotate_deg <= mix.max_rotate_deg
               for d in devices)
    assert {d.flip for d in devices} == {"", "x", "y", "xy"}
