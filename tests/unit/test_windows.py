"""Streaming building blocks: resampler, ring buffer, run lengths, local peaks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from analytics.errors import InputError
from analytics.windows import (
    LANCZOS_A,
    Ring,
    StreamResampler,
    local_peaks,
    rate_ratio,
    run_lengths,
    sumsq,
)

NONE = np.zeros(0, dtype=np.int64)  # no invalid rows
NONE_OK = np.zeros((0, 0), dtype=bool)


def _split(n: int, rng: np.random.Generator) -> list[int]:
    cuts = np.sort(rng.choice(np.arange(1, n), size=12, replace=False))
    return [0, *cuts.tolist(), n]


@pytest.mark.parametrize("fs_in", [200.0, 100.0, 52.0, 25.0, 50.0])
def test_resampler_any_split_gives_the_same_output(fs_in: float) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 1000, 3)).astype(np.float32)
    ok = np.ones((3, 1000), dtype=bool)
    rows = np.arange(3)
    whole, _, counts, _ = StreamResampler(fs_in, 50.0, 3).process(x, ok, rows)
    parts = []
    res = StreamResampler(fs_in, 50.0, 3)
    edges = _split(1000, rng)
    for a, b in itertools.pairwise(edges):
        y, _, c, _ = res.process(x[:, a:b], ok[:, a:b], rows)
        parts.append(y[:, : int(c[0])])
    joined = np.concatenate(parts, axis=1)
    if fs_in < 50.0:  # up-sampling: output j once input floor(j * fs_in / 50) + 3 is in
        expected = int(np.ceil((1000 - LANCZOS_A) * 50.0 / fs_in))
    else:
        expected = int(np.floor(999 * 50.0 / fs_in)) + 1
    assert joined.shape[1] == int(counts[0]) == expected
    np.testing.assert_array_equal(joined, whole[:, : int(counts[0])])


def test_resampler_filters_above_the_output_nyquist() -> None:
    fs = 200.0
    t = np.arange(4000) / fs
    tone = np.sin(2 * np.pi * 40.0 * t)  # would alias to 10 Hz at 50 Hz
    slow = np.sin(2 * np.pi * 2.0 * t)
    x = np.stack([tone, slow, np.zeros_like(t)], axis=1)[None].astype(np.float32)
    y, _, c, _ = StreamResampler(fs, 50.0, 1).process(x, np.ones((1, 4000), bool), np.arange(1))
    settled = y[0, 100 : int(c[0])]
    assert np.abs(settled[:, 0]).max() < 0.05
    assert np.abs(settled[:, 1]).max() > 0.9


def test_rate_ratio_rejects_nonsense() -> None:
    assert rate_ratio(200.0, 50.0) == (4, 1)
    with pytest.raises(InputError):
        rate_ratio(float("nan"), 50.0)
    with pytest.raises(InputError):
        rate_ratio(0.0, 50.0)


def test_run_lengths_match_a_loop() -> None:
    rng = np.random.default_rng(2)
    flag = rng.random((4, 40)) < 0.7
    carry = np.array([0, 3, 10, 1])
    run, out = run_lengths(flag, carry)
    for r in range(4):
        c = int(carry[r])
        for i in range(40):
            c = c + 1 if flag[r, i] else 0
            assert run[r, i] == c
        assert out[r] == c


def test_local_peaks_match_a_loop() -> None:
    rng = np.random.default_rng(3)
    seg = rng.random((5, 60)).astype(np.float32) * 3
    seg[2, 30] = seg[2, 31] = 9.0  # a tie: only the first counts (strict before, >= after)
    h = 4
    rows, cols = local_peaks(seg, h, 1.5)
    got = set(zip(rows.tolist(), (cols + h).tolist(), strict=True))
    want = {
        (r, c)
        for r in range(5)
        for c in range(h, 60 - h)
        if seg[r, c] >= 1.5 and seg[r, c] > seg[r, c - h : c].max()
        and seg[r, c] >= seg[r, c + 1 : c + h + 1].max()
    }
    assert got == want
    assert (2, 30) in got
    assert (2, 31) not in got


def test_ring_keeps_rows_apart_and_wraps() -> None:
    ring = Ring(3, 16)
    ring.fill(np.arange(3), np.tile([0.0, 0.0, 1.0], (3, 1)))
    rows = np.array([0, 2])
    for step in range(5):
        acc = np.full((2, 7, 3), step, dtype=np.float32) + np.array([0, 100], np.float32)[:, None,
                                                                                         None]
        ring.write(rows, acc, sumsq(acc), NONE, NONE_OK)
    cols = ring.columns(rows, np.array([28, 28]), 7)
    got = ring.take_acc(rows, cols)
    assert (got[0] == 4).all()
    assert (got[1] == 104).all()
    assert ring.n.tolist() == [35, 0, 35]
    untouched = ring.take_acc(np.array([1]), ring.columns(np.array([1]), np.array([0]), 16))
    np.testing.assert_array_equal(untouched[0], np.tile([0.0, 0.0, 1.0], (16, 1)))


def test_ring_validity_is_cleared_once_a_bad_sample_is_overwritten() -> None:
    ring = Ring(1, 8)
    ring.fill(np.arange(1), np.array([[0.0, 0.0, 1.0]]))
    acc = np.ones((1, 4, 3), dtype=np.float32)
    ring.write(np.arange(1), acc, sumsq(acc), np.array([0]), np.array([[True, False, True, True]]))
    cols = ring.columns(np.arange(1), np.array([0]), 4)
    assert ring.take_ok(np.arange(1), cols).tolist() == [[True, False, True, True]]
    for _ in range(2):
        ring.write(np.arange(1), acc, sumsq(acc), NONE, NONE_OK)
    cols = ring.columns(np.arange(1), np.array([4]), 8)
    assert ring.take_ok(np.arange(1), cols).all()


def test_ring_slice_writes_across_the_end_keep_every_sample() -> None:
    ring = Ring(4, 16)  # contiguous rows at one column: the slice path, wrapping every few blocks
    rows = np.arange(4)
    ring.fill(rows, np.tile([0.0, 0.0, 1.0], (4, 1)))
    for step in range(6):
        j = np.arange(step * 7, step * 7 + 7, dtype=np.float32)
        acc = (j[None, :, None] + 100 * rows[:, None, None]).repeat(3, axis=2).astype(np.float32)
        ring.write(rows, acc, sumsq(acc), NONE, NONE_OK)
        got = ring.take_acc(rows, ring.columns(rows, np.full(4, step * 7), 7))
        np.testing.assert_array_equal(got, acc)
        np.testing.assert_array_equal(ring.take_s2(rows, ring.columns(rows, np.full(4, step * 7),
                                                                        7)), sumsq(acc))
