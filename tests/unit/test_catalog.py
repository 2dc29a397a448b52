"""Device catalogue: models, battery curves, device uids."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.catalog import (
    MODELS,
    DeviceKind,
    Transport,
    battery_mv,
    battery_percent,
    ble_uid,
    get_model,
    parse_uid,
    rf_uid,
)
from hardware.errors import CatalogError, HardwareError
from kernel.placement import Placement


def test_models_cover_every_kind_with_consistent_fields() -> None:
    assert {m.kind for m in MODELS.values()} == set(DeviceKind)
    for model_id, m in MODELS.items():
        assert m.id == model_id
        curve = m.battery_curve
        assert [mv for mv, _ in curve] == sorted(mv for mv, _ in curve)
        assert [p for _, p in curve] == sorted(p for _, p in curve)
        assert curve[0][1] == 0
        assert curve[-1][1] == 100
        assert curve[0][0] < m.low_battery_mv < m.full_mv
        assert m.supervision_interval_s > 0
        assert m.battery_life_days > 0
        if m.transport is Transport.BLE:
            assert m.kind is DeviceKind.WEARABLE
            assert m.sample_rate_hz is not None
            assert 20 <= m.sample_rate_hz <= 200  # what the fall detector accepts
            assert m.placement in (Placement.WAIST, Placement.WRIST)
        else:
            assert m.sample_rate_hz is None
            assert m.placement is None
            assert m.full_mv == 3000  # CR2032
    assert get_model("WB-BLE").sample_rate_hz == get_model("WP-BLE").sample_rate_hz == 50
    assert get_model("WB-BLE").placement is Placement.WRIST
    assert get_model("WP-BLE").placement is Placement.WAIST


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"unknown device model 'PB-868' \(known: PB-433"):
        get_model("PB-868")
    assert issubclass(CatalogError, HardwareError)
    assert issubclass(CatalogError, ValueError)


def test_battery_percent_interpolates_and_clamps() -> None:
    pb = get_model("PB-433")
    assert battery_percent(pb, 3000) == 100
    assert battery_percent(pb, 3300) == 100
    assert battery_percent(pb, 2850) == 70
    assert battery_percent(pb, pb.low_battery_mv) == 20
    assert battery_percent(pb, 1500) == 0
    wb = get_model("WB-BLE")
    assert battery_percent(wb, 4200) == 100
    assert battery_percent(wb, 3930) == 55


@settings(deadline=None)
@given(st.sampled_from(sorted(MODELS)), st.integers(0, 100))
def test_battery_mv_inverts_percent(model_id: str, pct: int) -> None:
    m = get_model(model_id)
    assert abs(battery_percent(m, battery_mv(m, pct)) - pct) <= 1


@settings(deadline=None)
@given(st.sampled_from(sorted(MODELS)), st.integers(0, 5000), st.integers(0, 5000))
def test_battery_percent_is_monotonic(model_id: str, a: int, b: int) -> None:
    m = get_model(model_id)
    lo, hi = sorted((a, b))
    assert 0 <= battery_percent(m, lo) <= battery_percent(m, hi) <= 100


def test_uids() -> None:
    assert rf_uid(0x0A1B2C3D) == "rf-0a1b2c3d"
    assert rf_uid(0) == "rf-00000000"
    assert ble_uid("C8:2E:47:0A:1B:2C") == "ble-c82e470a1b2c"
    assert ble_uid("c8-2e-47-0a-1b-2c") == "ble-c82e470a1b2c"
    assert ble_uid("C82E470A1B2C") == "ble-c82e470a1b2c"
    assert parse_uid("rf-0a1b2c3d") == (Transport.SERIAL_RF, 0x0A1B2C3D)
    assert parse_uid("ble-c82e470a1b2c") == (Transport.BLE, "C8:2E:47:0A:1B:2C")


@pytest.mark.parametrize("bad", ["C8:2E:47:0A:1B", "C8:2E-47:0A:1B:2C", "G8:2E:47:0A:1B:2C",
                                 "", "C8:2E:47:0A:1B:2C:00"])
def test_ble_uid_rejects_non_macs(bad: str) -> None:
    with pytest.raises(CatalogError, match="not a MAC"):
        ble_uid(bad)


@pytest.mark.parametrize("bad", ["rf-0A1B2C3D", "rf-0a1b2c3", "ble-c82e470a1b2", "x-1", "rf-"])
def test_parse_uid_rejects_malformed(bad: str) -> None:
    with pytest.raises(CatalogError, match="neither"):
        parse_uid(bad)


@settings(deadline=None)
@given(st.integers(0, 0xFFFF_FFFF))
def test_rf_uid_round_trip(device_id: int) -> None:
    assert parse_uid(rf_uid(device_id)) == (Transport.SERIAL_RF, device_id)


@settings(deadline=None)
@given(st.binary(min_size=6, max_size=6))
def test_ble_uid_round_trip(mac: bytes) -> None:
    address = ":".join(f"{b:02X}" for b in mac)
    assert parse_uid(ble_uid(address)) == (Transport.BLE, address)


def test_rf_uid_rejects_out_of_range() -> None:
    for bad in (-1, 1 << 32):
        with pytest.raises(CatalogError):
            rf_uid(bad)
