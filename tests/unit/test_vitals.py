"""Vital-sign limits: hysteresis, minimum duration, contact gating, per-resident overrides."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.errors import InputError
from analytics.vitals import VitalKind, VitalLimits, evaluate_vitals, limits_table

T = np.arange(0.0, 900.0, 10.0)  # a reading every 10 s for 15 min


def _hr(*segments: tuple[int, int, float]) -> np.ndarray:
    hr = np.full(len(T), 70.0)
    for a, b, v in segments:
        hr[a:b] = v
    return hr


def _events(hr: np.ndarray, contact: np.ndarray | None = None,
            limits: VitalLimits | None = None, spo2: np.ndarray | None = None,
            ) -> list[tuple[object, ...]]:
    c = np.ones(len(T), dtype=bool) if contact is None else contact
    s = np.full(len(T), 97.0) if spo2 is None else spo2
    out = evaluate_vitals(T, hr, s, c, limits or VitalLimits())
    return [(e.kind, e.active, e.t, e.t_since) for e in out]


def test_breach_needs_the_minimum_duration() -> None:
    assert _events(_hr((10, 15, 35.0))) == []  # 40 s below 40 bpm: too short
    assert _events(_hr((10, 17, 35.0))) == [
        (VitalKind.HR_LOW, True, 160.0, 100.0),
        (VitalKind.HR_LOW, False, 230.0, 170.0),
    ]


def test_hysteresis_band_holds_the_breach_until_clearly_back() -> None:
    hr = _hr((10, 20, 35.0), (20, 40, 43.0), (40, 60, 50.0))
    assert _events(hr) == [
        (VitalKind.HR_LOW, True, 160.0, 100.0),
        (VitalKind.HR_LOW, False, 460.0, 400.0),
    ]


def test_a_short_recovery_does_not_clear() -> None:
    hr = _hr((10, 20, 35.0), (20, 23, 70.0), (23, 40, 35.0))
    assert [e[:2] for e in _events(hr)] == [(VitalKind.HR_LOW, True), (VitalKind.HR_LOW, False)]


def test_readings_without_contact_are_ignored() -> None:
    hr = _hr((10, 30, 150.0))
    contact = np.ones(len(T), dtype=bool)
    contact[10:30] = False  # the strap was loose: nonsense readings
    assert _events(hr, contact) == []
    contact[12] = True  # one contact reading inside the off-skin stretch is not enough
    assert _events(hr, contact) == []


def test_no_contact_readings_do_not_break_a_real_breach() -> None:
    hr = _hr((10, 20, 35.0))
    contact = np.ones(len(T), dtype=bool)
    contact[13] = False
    hr[13] = np.nan
    assert _events(hr, contact)[0] == (VitalKind.HR_LOW, True, 160.0, 100.0)


def test_spo2_and_high_heart_rate() -> None:
    spo2 = np.full(len(T), 97.0)
    spo2[30:45] = 85.0
    got = _events(_hr((50, 70, 150.0)), spo2=spo2)
    assert (VitalKind.SPO2_LOW, True, 360.0, 300.0) in got
    assert (VitalKind.HR_HIGH, True, 560.0, 500.0) in got


def test_per_resident_overrides_and_batched_rows() -> None:
    hr = np.stack([_hr((10, 30, 45.0)), _hr((10, 30, 45.0))])
    table = limits_table(["ann", "bo"], VitalLimits(), {"bo": {"hr_low": 50.0}})
    out = evaluate_vitals(np.stack([T, T]), hr, np.full(hr.shape, 97.0), np.ones(hr.shape),
                          table, residents=["ann", "bo"])
    assert {(e.resident, e.active) for e in out} == {("bo", True), ("bo", False)}
    with pytest.raises(InputError):
        VitalLimits().override(hr_lowest=3.0)
    with pytest.raises(InputError):
        evaluate_vitals(T, T[:-1], T, T, VitalLimits())


def test_a_long_gap_restarts_the_duration() -> None:
    t = np.array([0.0, 30.0, 400.0, 430.0, 460.0, 490.0])
    hr = np.full(6, 35.0)
    out = evaluate_vitals(t, hr, np.full(6, 97.0), np.ones(6), VitalLimits())
    assert [(e.active, e.t, e.t_since) for e in out] == [(True, 460.0, 400.0)]
