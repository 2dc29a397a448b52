"""GATT payload codecs: every flag combination, SFLOAT specials, round trips, bad input."""

from __future__ import annotations

import contextlib
import itertools
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hardware import ble
from hardware.accel import MAX_ACCEL_SAMPLES, quantize, scale_for_range
from hardware.ble import (
    ACCEL_CHAR,
    BATTERY_LEVEL,
    HEART_RATE_MEASUREMENT,
    PLX_CONTINUOUS,
    AccelPacket,
    BlePayloadError,
    HeartRate,
    MeasurementStatus,
    PlxContinuous,
    SensorContact,
    SensorStatus,
    Sfloat,
    Special,
    SpO2PR,
    decode_sfloat,
    encode_accel,
    encode_battery_level,
    encode_heart_rate,
    encode_plx_continuous,
    encode_sfloat,
    parse_accel,
    parse_battery_level,
    parse_characteristic,
    parse_heart_rate,
    parse_plx_continuous,
)
from hardware.errors import HardwareError
from hardware.sfloat import SPECIAL_RAW


def test_uuids_are_full_lowercase_128_bit() -> None:
    assert ble.HEART_RATE_SERVICE == "0000180d-0000-1000-8000-00805f9b34fb"
    assert HEART_RATE_MEASUREMENT == "00002a37-0000-1000-8000-00805f9b34fb"
    assert ble.PLX_SERVICE == "00001822-0000-1000-8000-00805f9b34fb"
    assert PLX_CONTINUOUS == "00002a5f-0000-1000-8000-00805f9b34fb"
    assert ble.BATTERY_SERVICE == "0000180f-0000-1000-8000-00805f9b34fb"
    assert BATTERY_LEVEL == "00002a19-0000-1000-8000-00805f9b34fb"
    for uuid in (ble.VENDOR_SERVICE, ACCEL_CHAR):
        assert uuid == uuid.lower()
        assert len(uuid) == 36
        assert not uuid.endswith("-0000-1000-8000-00805f9b34fb")


def test_errors_are_value_errors_of_the_hardware_tree() -> None:
    assert issubclass(BlePayloadError, HardwareError)
    assert issubclass(BlePayloadError, ValueError)


# ------------------------------------------------------------------------------ heart rate

CONTACT_BITS = {0: SensorContact.NOT_SUPPORTED, 1: SensorContact.NOT_SUPPORTED,
                2: SensorContact.NOT_DETECTED, 3: SensorContact.DETECTED}


@pytest.mark.parametrize(("wide", "contact_bits", "energy", "rr"),
                         list(itertools.product([False, True], [0, 1, 2, 3], [None, 1234],
                                                [(), (1024,), (800, 860, 1100)])))
def test_heart_rate_every_flag_combination(
    wide: bool, contact_bits: int, energy: int | None, rr: tuple[int, ...]
) -> None:
    flags = int(wide) | contact_bits << 1 | (8 if energy is not None else 0) | (16 if rr else 0)
    payload = bytes([flags]) + (struct.pack("<H", 72) if wide else bytes([72]))
    payload += struct.pack("<H", energy) if energy is not None else b""
    payload += b"".join(struct.pack("<H", r) for r in rr)
    hr = parse_heart_rate(payload)
    assert hr.bpm == 72
    assert hr.contact == CONTACT_BITS[contact_bits]
    assert hr.energy_kj == energy
    assert hr.rr_ms == tuple(r * 1000 / 1024 for r in rr)
    if contact_bits != 1:  # bits 0b01 re-encode as the canonical 0b00
        assert encode_heart_rate(hr, uint16=wide) == payload


def test_heart_rate_worked_examples() -> None:
    assert parse_heart_rate(bytes.fromhex("0048")) == HeartRate(72)
    hr = parse_heart_rate(bytes.fromhex("16 4b 00 04 33 03".replace(" ", "")))
    assert hr == HeartRate(75, SensorContact.DETECTED, None, (1000.0, 819 * 1000 / 1024))
    assert encode_heart_rate(HeartRate(300)) == bytes.fromhex("012c01")


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"", "empty"), (b"\x01\x48", "value: truncated"), (b"\x00", "value: truncated"),
     (b"\x08\x48\x01", "energy expended: truncated"), (b"\x10\x48", "RR flag set but 0"),
     (b"\x10\x48\x00\x04\x01", "3 RR byte"), (b"\x00\x48\x00", "trailing")],
)
def test_heart_rate_rejects_bad_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(BlePayloadError, match=message):
        parse_heart_rate(payload)


@settings(deadline=None)
@given(st.builds(HeartRate, st.integers(0, 0xFFFF), st.sampled_from(list(SensorContact)),
                 st.none() | st.integers(0, 0xFFFF),
                 st.lists(st.integers(0, 0xFFFF).map(lambda t: t * 1000 / 1024), max_size=9)
                 .map(tuple)),
       st.booleans())
def test_heart_rate_round_trip(hr: HeartRate, wide: bool) -> None:
    assert parse_heart_rate(encode_heart_rate(hr, uint16=wide)) == hr


def test_heart_rate_encoder_rejects_out_of_range() -> None:
    for bad in (HeartRate(-1), HeartRate(70000), HeartRate(70, energy_kj=1 << 16),
                HeartRate(70, rr_ms=(64_000.0,))):
        with pytest.raises(BlePayloadError):
            encode_heart_rate(bad)


# ---------------------------------------------------------------------------------- SFLOAT


@pytest.mark.parametrize(
    ("raw", "value"),
    [(0x0062, 98.0), (0xF16C, 36.4), (0x03E8, 1000.0), (0x0FFF, -1.0), (0xFFFF, -0.1),
     (0x8001, 1e-8), (0x7001, 1e7), (0x07FD, 2045.0), (0xF3D4, 98.0), (0x0000, 0.0),
     (0x17FF, 20470.0), (0x0803, -2045.0)],
)
def test_sfloat_worked_examples(raw: int, value: float) -> None:
    decoded = decode_sfloat(raw)
    assert decoded.special is None
    assert decoded.value == pytest.approx(value, rel=1e-12)
    assert decoded.reading == decoded.value


@pytest.mark.parametrize(
    ("raw", "special", "value"),
    [(0x07FF, Special.NAN, math.nan), (0x0800, Special.NRES, math.nan),
     (0x07FE, Special.POS_INF, math.inf), (0x0802, Special.NEG_INF, -math.inf),
     (0x0801, Special.RESERVED, math.nan)],
)
def test_sfloat_special_values(raw: int, special: Special, value: float) -> None:
    decoded = decode_sfloat(raw)
    assert decoded.special == special
    assert decoded.reading is None
    assert (math.isnan(decoded.value) and math.isnan(value)) or decoded.value == value
    assert decoded == Sfloat.of(special)
    assert encode_sfloat(decoded) == raw


def test_sfloat_encodes_float_specials_and_rejects_huge() -> None:
    assert encode_sfloat(math.nan) == 0x07FF
    assert encode_sfloat(math.inf) == 0x07FE
    assert encode_sfloat(-math.inf) == 0x0802
    with pytest.raises(BlePayloadError):
        encode_sfloat(2.05e10)
    with pytest.raises(BlePayloadError):
        Sfloat(math.nan)
    with pytest.raises(BlePayloadError):
        Sfloat(1.0, Special.NAN)


def _mantissa_fits(raw: int) -> bool:
    """|mantissa| <= 2045: larger ones decode fine but the encoder never writes them."""
    return (raw & 0xFFF) not in (0x7FE, 0x7FF, 0x800, 0x801, 0x802)


@settings(deadline=None)
@given(st.integers(0, 0xFFFF).filter(lambda r: _mantissa_fits(r) or r in SPECIAL_RAW.values()))
def test_sfloat_value_survives_re_encoding(raw: int) -> None:
    decoded = decode_sfloat(raw)
    assert decode_sfloat(encode_sfloat(decoded)) == decoded


@settings(deadline=None)
@given(st.floats(-2e10, 2e10, allow_nan=False))
def test_sfloat_encoding_is_accurate(x: float) -> None:
    y = decode_sfloat(encode_sfloat(x)).value
    assert abs(y - x) <= max(abs(x) * 2.5e-3, 0.5e-8)  # |mantissa| >= 205


# -------------------------------------------------------------------------------------- PLX


def sf(x: float) -> bytes:
    return struct.pack("<H", encode_sfloat(x))


@pytest.mark.parametrize("flags", range(32))
def test_plx_every_flag_combination(flags: int) -> None:
    payload = bytes([flags]) + sf(97) + sf(72)
    payload += sf(96) + sf(73) if flags & 1 else b""
    payload += sf(97.5) + sf(71) if flags & 2 else b""
    payload += struct.pack("<H", 0x00A0) if flags & 4 else b""
    payload += (0x000820).to_bytes(3, "little") if flags & 8 else b""
    payload += sf(4.2) if flags & 16 else b""
    m = parse_plx_continuous(payload)
    assert (m.spo2, m.pulse) == (97.0, 72.0)
    assert m.fast == (SpO2PR(Sfloat(96.0), Sfloat(73.0)) if flags & 1 else None)
    assert m.slow == (SpO2PR(Sfloat(97.5), Sfloat(71.0)) if flags & 2 else None)
    assert m.status == (MeasurementStatus.MEASUREMENT_ONGOING | MeasurementStatus.VALIDATED_DATA
                        if flags & 4 else None)
    assert m.sensor_status == (SensorStatus.SENSOR_UNCONNECTED_TO_USER
                               | SensorStatus.LOW_PERFUSION if flags & 8 else None)
    assert m.pulse_amplitude == (Sfloat(4.2) if flags & 16 else None)
    assert encode_plx_continuous(m) == payload
    for cut in range(len(payload)):
        with pytest.raises(BlePayloadError, match="truncated"):
            parse_plx_continuous(payload[:cut])


def test_plx_worked_examples_of_protocol_md() -> None:
    m = parse_plx_continuous(bytes.fromhex("1c610048 00a00000 00002af0"))
    assert (m.spo2, m.pulse) == (97.0, 72.0)
    assert m.status == MeasurementStatus.MEASUREMENT_ONGOING | MeasurementStatus.VALIDATED_DATA
    assert m.sensor_status == SensorStatus(0)
    assert m.pulse_amplitude == Sfloat(4.2)
    m = parse_plx_continuous(bytes.fromhex("08ff07ff07000800"))
    assert m.spo2 is None
    assert m.sensor_status == SensorStatus.SENSOR_UNCONNECTED_TO_USER
    hr = parse_heart_rate(bytes.fromhex("0d2c01d204"))
    assert hr == HeartRate(300, SensorContact.NOT_DETECTED, 1234)
    p = parse_accel(bytes.fromhex("010301 0240e201 00881302 0000290000 0800fc00 02001c"))
    assert (p.seq, p.t_ms, p.rate_hz, p.range_g) == (513, 123456, 50.0, 16)
    assert p.samples.tolist() == [[0, 41, 2048], [-1024, 512, 7168]]


def test_plx_no_reading_is_none_not_zero() -> None:
    m = parse_plx_continuous(bytes.fromhex("00ff07ff07"))
    assert m.spo2 is None
    assert m.pulse is None
    assert m.normal.spo2.special == Special.NAN
    m = parse_plx_continuous(bytes.fromhex("0000080008"))
    assert m.spo2 is None
    assert m.normal.pulse.special == Special.NRES


def test_plx_trailing_bytes() -> None:
    with pytest.raises(BlePayloadError, match="trailing"):
        parse_plx_continuous(bytes([0]) + sf(97) + sf(72) + b"\x00")
    # an RFU flag may announce a field we do not know: tolerated
    assert parse_plx_continuous(bytes([0x20]) + sf(97) + sf(72) + b"\x00").spo2 == 97.0


sfloats = st.one_of(st.sampled_from([Sfloat.of(s) for s in Special]),
                    st.integers(-2045, 2045).flatmap(
                        lambda m: st.integers(-8, 7).map(lambda e: decode_sfloat(
                            ((e & 0xF) << 12) | (m & 0xFFF)))))
pairs = st.builds(SpO2PR, sfloats, sfloats)


@settings(deadline=None)
@given(st.builds(PlxContinuous, pairs, st.none() | pairs, st.none() | pairs,
                 st.none() | st.integers(0, 0xFFFF).map(MeasurementStatus),
                 st.none() | st.integers(0, 0xFF_FFFF).map(SensorStatus),
                 st.none() | sfloats))
def test_plx_round_trip(m: PlxContinuous) -> None:
    assert parse_plx_continuous(encode_plx_continuous(m)) == m


# ---------------------------------------------------------------------------------- battery


def test_battery_level() -> None:
    for pct in (0, 57, 100):
        assert parse_battery_level(encode_battery_level(pct)) == pct
    for bad in (b"", b"\x65", b"\x10\x00"):
        with pytest.raises(BlePayloadError):
            parse_battery_level(bad)
    with pytest.raises(BlePayloadError):
        encode_battery_level(101)


# ------------------------------------------------------------------------------------ accel

packets = st.builds(
    AccelPacket,
    seq=st.integers(0, 0xFFFF),
    t_ms=st.integers(0, 0xFFFF_FFFF),
    rate_hz=st.integers(1, 0xFFFF).map(lambda c: c / 100),
    scale_g=st.sampled_from([scale_for_range(r) for r in (2, 4, 8, 16)]),
    samples=st.integers(1, MAX_ACCEL_SAMPLES).flatmap(
        lambda n: hnp.arrays(np.int16, (n, 3))),
)


@settings(deadline=None)
@given(packets)
def test_accel_round_trip(p: AccelPacket) -> None:
    wire = encode_accel(p)
    assert len(wire) == 11 + 6 * len(p.samples) <= 182
    q = parse_accel(wire)
    assert (q.seq, q.t_ms, q.rate_hz, q.scale_g) == (p.seq, p.t_ms, p.rate_hz, p.scale_g)
    np.testing.assert_array_equal(q.samples, p.samples)
    assert q.samples.dtype == np.int16
    assert q.samples.shape == p.samples.shape


def test_accel_layout_and_scale() -> None:
    g = np.array([[0.0, 0.0, 1.0], [-0.5, 0.25, 20.0]])
    p = AccelPacket(7, 123456, 50.0, scale_for_range(16), quantize(g, 16))
    wire = encode_accel(p)
    assert wire[:11] == struct.pack("<BBHIHB", 1, 3, 7, 123456, 5000, 2)
    assert p.range_g == 16
    expected = np.array([[0.0, 0.0, 1.0], [-0.5, 0.25, 16.0]])
    np.testing.assert_allclose(parse_accel(wire).g(), expected, atol=1e-3)


def test_accel_25_samples_fit_one_notification_at_mtu_185() -> None:
    p = AccelPacket(0, 0, 50.0, scale_for_range(8), np.zeros((25, 3), np.int16))
    assert len(encode_accel(p)) == 161
    with pytest.raises(BlePayloadError, match="do not fit"):
        encode_accel(AccelPacket(0, 0, 50.0, scale_for_range(8), np.zeros((29, 3), np.int16)))


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"\x01\x03", "header"), (struct.pack("<BBHIHB", 2, 3, 0, 0, 5000, 0), "version"),
     (struct.pack("<BBHIHB", 1, 4, 0, 0, 5000, 1) + bytes(6), "reserved"),
     (struct.pack("<BBHIHB", 1, 3, 0, 0, 0, 1) + bytes(6), "rate 0"),
     (struct.pack("<BBHIHB", 1, 3, 0, 0, 5000, 2) + bytes(6), "n=2"),
     (struct.pack("<BBHIHB", 1, 3, 0, 0, 5000, 0), "n=0")],
)
def test_accel_rejects_bad_payloads(payload: bytes, message: str) -> None:
    with pytest.raises(BlePayloadError, match=message):
        parse_accel(payload)


def test_accel_encoder_rejects_bad_packets() -> None:
    floats = np.zeros((2, 3), np.float64)
    bad = [AccelPacket(0, 0, 50.0, 0.001, np.zeros((2, 3), np.int16)),
           AccelPacket(0, 0, 50.0, scale_for_range(2), floats),  # type: ignore[arg-type]
           AccelPacket(0, 0, 0.0, scale_for_range(2), np.zeros((2, 3), np.int16)),
           AccelPacket(0, 0, 50.0, scale_for_range(2), np.zeros((0, 3), np.int16)),
           AccelPacket(0, 0, 50.0, scale_for_range(2), np.zeros((2, 2), np.int16))]
    for p in bad:
        with pytest.raises(BlePayloadError):
            encode_accel(p)


# ------------------------------------------------------------------------ any input at all


@settings(deadline=None)
@given(st.sampled_from([HEART_RATE_MEASUREMENT, PLX_CONTINUOUS, BATTERY_LEVEL, ACCEL_CHAR]),
       st.binary(max_size=200))
def test_parsers_raise_only_ble_payload_error(uuid: str, payload: bytes) -> None:
    with contextlib.suppress(BlePayloadError):
        parse_characteristic(uuid.upper(), payload)


def test_unknown_characteristic() -> None:
    with pytest.raises(BlePayloadError, match="no parser"):
        parse_characteristic("00002a00-0000-1000-8000-00805f9b34fb", b"x")
