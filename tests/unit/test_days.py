"""False alarms per wearer-day: joining a wearer's ADLs and the per-day arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics import synth
from analytics.datasets import Subject, Trial
from analytics.days import DAY_HOURS, WearerStream, blend, format_days, join, summarise_days
from analytics.degrade import Degradation
from analytics.evaluate import wearer_stream
from kernel.placement import Placement
from tests.unit.test_fall_faults import alert_on_anything


def test_blend_turns_without_a_dip_or_a_jump() -> None:
    a, b = np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, 2.0])
    seam = blend(a, b, 100)
    mag = np.linalg.norm(seam, axis=1)
    assert np.all(np.diff(mag) > 0)  # from 1 g to 2 g, never below
    assert np.abs(np.diff(seam, axis=0)).max() < 0.05
    opposite = blend(a, -a, 4)  # through zero would be a fake free fall
    np.testing.assert_allclose(np.linalg.norm(opposite, axis=1), 1.0)


def test_join_keeps_every_recording_and_adds_seams() -> None:
    recs = [np.ones((50, 3)), np.zeros((0, 3)), 2 * np.ones((30, 3))]
    out = join(recs, 50.0, blend_s=1.0)
    assert out.shape == (50 + 50 + 30, 3)
    assert np.array_equal(out[:50], recs[0])
    assert np.array_equal(out[-30:], recs[2])
    assert join([], 50.0).shape == (0, 3)


def test_per_day_is_alerts_over_sixteen_hour_days() -> None:
    streams = [WearerStream("ds", Placement.WRIST, "a", 4.0, 2),
               WearerStream("ds", Placement.WRIST, "b", 4.0, 0),
               WearerStream("ds", Placement.WAIST, "c", 32.0, 1)]
    by = {r.placement: r for r in summarise_days(streams)}
    assert by[Placement.WRIST].days == pytest.approx(8.0 / DAY_HOURS)
    assert by[Placement.WRIST].false_alarms_per_day == pytest.approx(2 / (8.0 / 16.0))
    assert by[Placement.WRIST].false_alarms_per_hour == pytest.approx(0.25)
    assert by[Placement.WRIST].wearers == 2
    assert by[Placement.WRIST].wearers_with_alerts == 1
    assert by[Placement.WAIST].false_alarms_per_day == pytest.approx(0.5)
    assert "FA/wearer-day" in format_days(list(by.values()))


def test_wearer_stream_runs_one_detector_over_the_joined_adls() -> None:
    rng = np.random.default_rng(3)
    fs = 50.0
    up = synth.UPRIGHT[Placement.WRIST]
    walks = [synth.walking(fs, 30.0, up, rng, amp=1.2) for _ in range(3)]
    fall, _ = synth.fall(fs, Placement.WRIST, rng)
    trials = tuple(Trial("ds", "S1", Placement.WRIST, f"D01_S1_R0{i}", "D01", False, -1, fs, w)
                   for i, w in enumerate(walks))
    trials += (Trial("ds", "S1", Placement.WRIST, "F01_S1_R01", "F01", True, 100, fs, fall),)
    subject = Subject("ds", "S1", Placement.WRIST, "young", Path("S1.npz"), trials)
    params = alert_on_anything()
    w = wearer_stream(subject, params)
    assert w is not None
    assert w.hours == pytest.approx((90.0 + 2 * 2.0) / 3600.0)
    assert 1 <= w.alerts <= 2  # one per refractory minute over 94 s of vigorous walking
    slow = wearer_stream(subject, params, Degradation(fs=20.0))
    assert slow is not None
    assert slow.hours == pytest.approx(w.hours, rel=1e-3)
