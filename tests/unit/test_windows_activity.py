"""Per-minute activity counts from raw acceleration."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.activity import ActivityCounter, minute_activity
from analytics.errors import InputError

FS = 50.0


def _streams(minutes: int, rng: np.random.Generator) -> np.ndarray:
    n = int(FS * 60 * minutes)
    x = np.tile([0.0, 0.0, 1.0], (3, n, 1)) + rng.normal(0, 0.01, (3, n, 3))
    t = np.arange(int(FS * 60)) / FS
    x[1, n // 3 : n // 3 + len(t)] += (0.3 * np.sin(2 * np.pi * 2 * t))[:, None]  # one busy minute
    x[2] = 0.0  # a dead sensor: no valid samples
    return x


def test_still_wearable_counts_almost_nothing_and_movement_counts() -> None:
    x = _streams(4, np.random.default_rng(0))
    counts, samples = minute_activity(x, FS, t0=0.0)
    assert counts.shape == (3, 4)
    assert counts[0].max() < 0.05  # sensor noise stays under the dead band
    assert counts[1].max() > 2.0
    assert int(np.argmax(counts[1])) == 1
    assert samples[0].tolist() == [3000] * 4
    assert samples[2].sum() == 0  # silent is not "no activity": it has no samples


def test_blocks_give_the_same_minutes_as_one_array() -> None:
    x = _streams(3, np.random.default_rng(1))
    counts, samples = minute_activity(x, FS, t0=30.0)
    counter = ActivityCounter(FS, 3)
    got: dict[tuple[int, int], tuple[float, int]] = {}
    for i in range(0, x.shape[1], 37):
        out = counter.process(x[:, i : i + 37], 30.0 + i / FS)
        for r, m, c, s in zip(out.row, out.minute, out.count, out.samples, strict=True):
            got[(int(r), int(m))] = (float(c), int(s))
    for (r, m), (c, s) in got.items():
        assert c == pytest.approx(counts[r, m], abs=1e-9)
        assert s == samples[r, m]
    assert len(got) == 2 * 3  # minutes 0..2 completed for the two live rows; minute 3 pending


def test_a_gap_in_time_flushes_the_pending_minute() -> None:
    counter = ActivityCounter(FS, 1)
    block = np.tile([0.0, 0.0, 1.0], (1, 50, 1))
    counter.process(block, 10.0)
    out = counter.process(block, 3600.0)
    assert out.minute.tolist() == [0]
    assert out.samples.tolist() == [50]


def test_bad_shapes_raise_input_error() -> None:
    with pytest.raises(InputError):
        ActivityCounter(FS, 2).process(np.zeros((3, 10, 3)), 0.0)
    with pytest.raises(InputError):
        ActivityCounter(0.1, 2)
