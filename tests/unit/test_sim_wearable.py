"""The simulated wearable: BLE payloads that parse, realistic postures, gait and falls."""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt
import pytest

from firmware_sim.errors import ScenarioError
from firmware_sim.posture import Fall
from firmware_sim.routine import Activity, Segment, Timeline
from firmware_sim.wearable import Wearable
from hardware import ble
from hardware.accel import AccelPacket
from hardware.ble import SensorContact, parse_characteristic

ADDRESS = "C8:2E:47:0A:1B:2C"
FALL_AT = 10 * 3600.0
DAYTIME = Timeline([Segment(0.0, "bedroom", Activity.SLEEPING),
                    Segment(7 * 3600.0, "living", Activity.WALKING),
                    Segment(9 * 3600.0, "living", Activity.STANDING),
                    Segment(11 * 3600.0, "living", Activity.SITTING),
                    Segment(13 * 3600.0, "bedroom", Activity.LYING),
                    Segment(22 * 3600.0, "bedroom", Activity.SLEEPING)])


def wearable(model: str = "WP-BLE", **kw: object) -> Wearable:
    return Wearable(ADDRESS, model, seed=5, timeline=DAYTIME, **kw)  # type: ignore[arg-type]


def norm(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(np.linalg.norm(a, axis=1), dtype=np.float64)


def angle_deg(u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]) -> float:
    cos = float(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v))
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))))


def test_every_notification_parses_and_the_rates_are_right() -> None:
    w = wearable()
    notes = w.notifications(8 * 3600.0, 8 * 3600.0 + 120)
    kinds = Counter(uuid for _, uuid, _ in notes)
    assert kinds == {ble.ACCEL_CHAR: 240, ble.HEART_RATE_MEASUREMENT: 120,
                     ble.PLX_CONTINUOUS: 120, ble.BATTERY_LEVEL: 2}
    times = [t for t, _, _ in notes]
    assert times == sorted(times)
    for _, uuid, payload in notes:
        parse_characteristic(uuid, payload)  # raises on anything malformed


def test_accel_blocks_carry_the_samples_ticks_and_sequence() -> None:
    w = wearable()
    t0 = 8 * 3600.0
    # a block is notified when complete: the one sent at t0 holds the samples of [t0 - 0.5, t0)
    packets = [parse_characteristic(u, p) for _, u, p in w.notifications(t0 + 0.5, t0 + 10.5)
               if u == ble.ACCEL_CHAR]
    assert all(isinstance(p, AccelPacket) for p in packets)
    accel = [p for p in packets if isinstance(p, AccelPacket)]
    assert [(p.seq - accel[0].seq) % 65536 for p in accel] == list(range(20))
    assert [(p.t_ms - accel[0].t_ms) % 2**32 for p in accel] == [500 * i for i in range(20)]
    assert {p.rate_hz for p in accel} == {50.0}
    g = np.concatenate([p.g() for p in accel])
    np.testing.assert_allclose(g, w.acceleration(t0, t0 + 10), atol=0.5 / 2048 + 1e-12)


def test_output_does_not_depend_on_how_time_is_cut() -> None:
    w = wearable()
    t0, t1, t2 = FALL_AT - 3.3, FALL_AT + 0.77, FALL_AT + 6.1
    assert w.notifications(t0, t1) + w.notifications(t1, t2) == w.notifications(t0, t2)
    whole = w.acceleration(t0, t2)
    np.testing.assert_array_equal(np.vstack([w.acceleration(t0, t1), w.acceleration(t1, t2)]),
                                  whole)
    assert len(w.sample_times(t0, t2)) == len(whole)


def test_seeded_and_deterministic() -> None:
    a = wearable().acceleration(FALL_AT, FALL_AT + 5)
    np.testing.assert_array_equal(a, wearable().acceleration(FALL_AT, FALL_AT + 5))
    other = Wearable(ADDRESS, "WP-BLE", seed=6, timeline=DAYTIME)
    assert not np.array_equal(a, other.acceleration(FALL_AT, FALL_AT + 5))


@pytest.mark.parametrize(("t", "up"), [(9.5 * 3600, (0, 0, 1)), (14 * 3600, (0, 1, 0))])
def test_waist_gravity_by_posture(t: float, up: tuple[int, int, int]) -> None:
    a = wearable().acceleration(t, t + 20)
    np.testing.assert_allclose(a.mean(axis=0), up, atol=0.05)
    assert abs(float(norm(a).mean()) - 1) < 0.03
    assert float(a.std(axis=0).max()) < 0.05


def test_walking_has_a_gait_rhythm() -> None:
    a = wearable().acceleration(8 * 3600.0, 8 * 3600.0 + 20)
    mag = norm(a)
    spectrum = np.abs(np.fft.rfft(mag - mag.mean()))
    freqs = np.fft.rfftfreq(len(mag), 1 / 50)
    assert 1.75 <= freqs[spectrum.argmax()] <= 2.05
    assert 0.1 < float(a[:, 2].std()) < 0.5


def test_sleep_has_rare_turns() -> None:
    w = wearable()
    night = w.acceleration(0.0, 6 * 3600.0)
    minutes = night[: len(night) // 3000 * 3000].reshape(-1, 3000, 3).mean(axis=1)
    changes = int(np.sum(np.linalg.norm(np.diff(minutes, axis=0), axis=1) > 0.5))
    assert 2 <= changes <= 40
    assert float(norm(night).std()) < 0.1


@pytest.mark.parametrize("model", ["WP-BLE", "WB-BLE"])
def test_fall_signature(model: str) -> None:
    w = wearable(model, falls=[Fall(FALL_AT, get_up_after=60)])
    t = w.sample_times(FALL_AT - 5, FALL_AT + 70)
    a = w.acceleration(FALL_AT - 5, FALL_AT + 70)
    mag = norm(a)
    low = (mag < 0.6) & (t >= FALL_AT) & (t < FALL_AT + 0.7)
    assert 0.25 <= low.sum() / 50 <= 0.65  # ~0.3-0.6 s of near free fall
    impact = (t >= FALL_AT + 0.25) & (t < FALL_AT + 1.0)
    peak = float(mag[impact].max())
    assert (3.0 <= peak <= 8.5) if model == "WP-BLE" else (3.0 <= peak <= 16.0)
    assert low[t < t[impact][mag[impact].argmax()]].sum() >= 0.25 * 50  # the impact ends the drop
    before = a[t < FALL_AT - 1.5].mean(axis=0)
    lying = a[(t > FALL_AT + 5) & (t < FALL_AT + 55)]
    assert 60 <= angle_deg(before, lying.mean(axis=0)) <= 120
    assert float(lying.std(axis=0).max()) < 0.03  # lying still
    stumble = a[(t >= FALL_AT - 1) & (t < FALL_AT)]
    assert float(norm(stumble).std()) > 0.05  # a disturbance before the fall
    after = a[t > FALL_AT + 66]
    assert angle_deg(before, after.mean(axis=0)) < 30  # got up: upright again


def test_wrist_impacts_are_noisier_than_waist() -> None:
    spread = {}
    for model in ("WP-BLE", "WB-BLE"):
        peaks = []
        for seed in range(6):
            w = Wearable(ADDRESS, model, seed=seed, timeline=DAYTIME, falls=[Fall(FALL_AT)])
            a = w.acceleration(FALL_AT + 0.2, FALL_AT + 1.2)
            peaks.append(float(np.abs(np.diff(a, axis=0)).sum()))
        spread[model] = np.mean(peaks)
    assert spread["WB-BLE"] > spread["WP-BLE"]


def test_vitals_follow_activity_and_stress() -> None:
    w = wearable(falls=[Fall(FALL_AT)])

    def mean_bpm(t0: float) -> float:
        values = [w.heart_rate_bpm(t0 + s) for s in range(120)]
        assert None not in values
        return float(np.mean([v for v in values if v is not None]))

    sleeping, walking = mean_bpm(3 * 3600.0), mean_bpm(8 * 3600.0)
    standing, after_fall = mean_bpm(FALL_AT - 300), mean_bpm(FALL_AT + 60)
    assert 45 < sleeping < standing < walking < 120
    assert after_fall > standing + 8  # lying, but stressed after the fall
    hr = w.heart_rate(8 * 3600.0 + 1)
    assert hr.contact is SensorContact.DETECTED
    rrs = [r for s in range(120) for r in w.heart_rate(8 * 3600.0 + s).rr_ms]
    assert abs(float(np.mean(rrs)) - 60_000 / walking) < 0.05 * 60_000 / walking
    assert 0.6 * 120 * walking / 60 < len(rrs) < 1.4 * 120 * walking / 60
    plx = w.plx(8 * 3600.0 + 0.5)
    assert plx.spo2 is not None
    assert 93 <= plx.spo2 <= 100


def test_not_worn_means_no_contact_and_no_reading() -> None:
    w = wearable(off=[(12 * 3600.0, 13 * 3600.0)])
    hr = ble.parse_heart_rate(ble.encode_heart_rate(w.heart_rate(12.5 * 3600)))
    assert hr.contact is SensorContact.NOT_DETECTED
    assert hr.rr_ms == ()
    plx = ble.parse_plx_continuous(ble.encode_plx_continuous(w.plx(12.5 * 3600)))
    assert plx.spo2 is None
    assert plx.sensor_status is not None
    assert plx.sensor_status & ble.SensorStatus.SENSOR_UNCONNECTED_TO_USER
    table = w.acceleration(12.5 * 3600, 12.5 * 3600 + 10)
    np.testing.assert_allclose(table.mean(axis=0), (0, 0, 1), atol=0.01)
    assert w.heart_rate(13.5 * 3600).contact is SensorContact.DETECTED


def test_battery_level_drains() -> None:
    w = wearable(battery_pct=90)
    assert w.battery_percent(0) == 90
    assert w.battery_percent(86_400) < 90
    assert w.battery_percent(30 * 86_400) == 1


def test_only_ble_wearable_models() -> None:
    with pytest.raises(ScenarioError, match="not a 50 Hz BLE wearable"):
        Wearable(ADDRESS, "PB-433")
