"""GATT payloads of the BLE wearables, parsed and built exactly per the Bluetooth SIG specs.

Heart Rate Measurement (0x2A37, Heart Rate Service 1.0), PLX Continuous Measurement (0x2A5F,
Pulse Oximeter Service 1.0), Battery Level (0x2A19), the Alert Level the gateway writes
(0x2A06, Immediate Alert Service 1.0) and our vendor accelerometer block. Every
parser raises :class:`BlePayloadError` (a ValueError) on bad input and nothing else. All
multi-byte fields are little-endian, as everywhere in GATT. Worked examples: PROTOCOL.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag, StrEnum
from typing import Final

from hardware.accel import ACCEL_CHAR, VENDOR_SERVICE, AccelPacket, encode_accel, parse_accel
from hardware.errors import BlePayloadError
from hardware.sfloat import Sfloat, Special, decode_sfloat, encode_sfloat

__all__ = [
    "ACCEL_CHAR",
    "ALERT_LEVEL",
    "BATTERY_LEVEL",
    "BATTERY_SERVICE",
    "HEART_RATE_MEASUREMENT",
    "HEART_RATE_SERVICE",
    "IMMEDIATE_ALERT_SERVICE",
    "PLX_CONTINUOUS",
    "PLX_SERVICE",
    "VENDOR_SERVICE",
    "AccelPacket",
    "AlertLevel",
    "BlePayloadError",
    "HeartRate",
    "MeasurementStatus",
    "PlxContinuous",
    "SensorContact",
    "SensorStatus",
    "Sfloat",
    "SpO2PR",
    "Special",
    "decode_sfloat",
    "encode_accel",
    "encode_alert_level",
    "encode_battery_level",
    "encode_heart_rate",
    "encode_plx_continuous",
    "encode_sfloat",
    "parse_accel",
    "parse_alert_level",
    "parse_battery_level",
    "parse_characteristic",
    "parse_heart_rate",
    "parse_plx_continuous",
    "sig_uuid",
]


def sig_uuid(short: int) -> str:
    """The full 128-bit form (bleak style, lowercase) of a 16-bit Bluetooth SIG UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


HEART_RATE_SERVICE: Final = sig_uuid(0x180D)
HEART_RATE_MEASUREMENT: Final = sig_uuid(0x2A37)
PLX_SERVICE: Final = sig_uuid(0x1822)
PLX_CONTINUOUS: Final = sig_uuid(0x2A5F)
BATTERY_SERVICE: Final = sig_uuid(0x180F)
BATTERY_LEVEL: Final = sig_uuid(0x2A19)
IMMEDIATE_ALERT_SERVICE: Final = sig_uuid(0x1802)
ALERT_LEVEL: Final = sig_uuid(0x2A06)

_U16: Final = struct.Struct("<H")

# ------------------------------------------------------------------- Heart Rate Measurement


class SensorContact(StrEnum):
    """Flags bits 1-2 of the Heart Rate Measurement (0 and 1 both mean not supported)."""

    NOT_SUPPORTED = "not_supported"
    NOT_DETECTED = "not_detected"  # 0b10
    DETECTED = "detected"  # 0b11


_CONTACT_BITS: Final = {SensorContact.NOT_SUPPORTED: 0, SensorContact.NOT_DETECTED: 2,
                        SensorContact.DETECTED: 3}
_HR_UINT16, _HR_ENERGY, _HR_RR = 0x01, 0x08, 0x10
RR_UNIT_MS: Final = 1000 / 1024  # RR intervals are counted in 1/1024 s


@dataclass(frozen=True, slots=True)
class HeartRate:
    """One Heart Rate Measurement; ``rr_ms`` are the RR intervals in ms, oldest first."""

    bpm: int
    contact: SensorContact = SensorContact.NOT_SUPPORTED
    energy_kj: int | None = None
    rr_ms: tuple[float, ...] = ()


def parse_heart_rate(payload: bytes | bytearray) -> HeartRate:
    """Parse characteristic 0x2A37."""
    if not payload:
        raise BlePayloadError("heart rate: empty payload")
    flags = payload[0]
    pos = 1
    width = 2 if flags & _HR_UINT16 else 1
    bpm = _uint(payload, pos, width, "heart rate: value")
    pos += width
    contact_bits = (flags >> 1) & 0b11
    contact = (SensorContact.DETECTED if contact_bits == 3 else
               SensorContact.NOT_DETECTED if contact_bits == 2 else SensorContact.NOT_SUPPORTED)
    energy = None
    if flags & _HR_ENERGY:
        energy = _uint(payload, pos, 2, "heart rate: energy expended")
        pos += 2
    rest = len(payload) - pos
    if not flags & _HR_RR:
        if rest:
            raise BlePayloadError(f"heart rate: {rest} trailing byte(s) without RR flag")
        return HeartRate(bpm, contact, energy)
    if rest == 0 or rest % 2:
        raise BlePayloadError(f"heart rate: RR flag set but {rest} RR byte(s) (need 2 per RR)")
    rr = tuple(v * RR_UNIT_MS for (v,) in _U16.iter_unpack(payload[pos:]))
    return HeartRate(bpm, contact, energy, rr)


def encode_heart_rate(hr: HeartRate, *, uint16: bool = False) -> bytes:
    """Build 0x2A37; the value is uint8 unless it exceeds 255 or ``uint16`` is asked for."""
    _check("heart rate bpm", hr.bpm, 0, 0xFFFF)
    wide = uint16 or hr.bpm > 0xFF
    flags = (_HR_UINT16 if wide else 0) | _CONTACT_BITS[hr.contact] << 1
    out = bytearray([0]) + hr.bpm.to_bytes(2 if wide else 1, "little")
    if hr.energy_kj is not None:
        _check("energy expended", hr.energy_kj, 0, 0xFFFF)
        flags |= _HR_ENERGY
        out += _U16.pack(hr.energy_kj)
    if hr.rr_ms:
        flags |= _HR_RR
        for ms in hr.rr_ms:
            ticks = round(ms / RR_UNIT_MS)
            _check("RR interval (1/1024 s)", ticks, 0, 0xFFFF)
            out += _U16.pack(ticks)
    out[0] = flags
    return bytes(out)


# ------------------------------------------------------------- PLX Continuous Measurement


class MeasurementStatus(IntFlag):
    """PLX Measurement Status (uint16); bits 0-4 are reserved."""

    MEASUREMENT_ONGOING = 1 << 5
    EARLY_ESTIMATED_DATA = 1 << 6
    VALIDATED_DATA = 1 << 7
    FULLY_QUALIFIED_DATA = 1 << 8
    DATA_FROM_STORAGE = 1 << 9
    DATA_FOR_DEMONSTRATION = 1 << 10
    DATA_FOR_TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    MEASUREMENT_UNAVAILABLE = 1 << 13
    QUESTIONABLE_MEASUREMENT = 1 << 14
    INVALID_MEASUREMENT = 1 << 15


class SensorStatus(IntFlag):
    """PLX Device and Sensor Status (uint24); bits 16-23 are reserved."""

    EXTENDED_DISPLAY_UPDATE_ONGOING = 1 << 0
    EQUIPMENT_MALFUNCTION = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY = 1 << 2
    INADEQUATE_SIGNAL = 1 << 3
    POOR_SIGNAL = 1 << 4
    LOW_PERFUSION = 1 << 5
    ERRATIC_SIGNAL = 1 << 6
    NONPULSATILE_SIGNAL = 1 << 7
    QUESTIONABLE_PULSE = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE = 1 << 10
    SENSOR_UNCONNECTED_TO_USER = 1 << 11
    UNKNOWN_SENSOR_CONNECTED = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


_PLX_FAST, _PLX_SLOW, _PLX_STATUS, _PLX_SENSOR, _PLX_PAI = 0x01, 0x02, 0x04, 0x08, 0x10
_PLX_RFU: Final = 0xE0


@dataclass(frozen=True, slots=True)
class SpO2PR:
    """One SpO2 (%) and pulse rate (bpm) pair; see ``Sfloat.reading`` for "no reading"."""

    spo2: Sfloat
    pulse: Sfloat


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """One PLX Continuous Measurement; optional fields are None when their flag is clear."""

    normal: SpO2PR
    fast: SpO2PR | None = None
    slow: SpO2PR | None = None
    status: MeasurementStatus | None = None
    sensor_status: SensorStatus | None = None
    pulse_amplitude: Sfloat | None = None

    @property
    def spo2(self) -> float | None:
        """SpO2 % of the normal pair, None when the device sent NaN / NRes / INF."""
        return self.normal.spo2.reading

    @property
    def pulse(self) -> float | None:
        """Pulse rate (bpm) of the normal pair, None when not a reading."""
        return self.normal.pulse.reading


class _Reader:
    """Reads little-endian fields from a payload, raising BlePayloadError when it runs out."""

    def __init__(self, payload: bytes | bytearray, what: str) -> None:
        self.payload, self.what, self.pos = payload, what, 0

    def uint(self, width: int, field: str) -> int:
        value = _uint(self.payload, self.pos, width, f"{self.what}: {field}")
        self.pos += width
        return value

    def sfloat(self, field: str) -> Sfloat:
        return decode_sfloat(self.uint(2, field))

    def pair(self, name: str) -> SpO2PR:
        return SpO2PR(self.sfloat(f"{name} SpO2"), self.sfloat(f"{name} PR"))


def parse_plx_continuous(payload: bytes | bytearray) -> PlxContinuous:
    """Parse characteristic 0x2A5F."""
    r = _Reader(payload, "PLX continuous")
    flags = r.uint(1, "flags")
    normal = r.pair("SpO2PR-Normal")
    fast = r.pair("SpO2PR-Fast") if flags & _PLX_FAST else None
    slow = r.pair("SpO2PR-Slow") if flags & _PLX_SLOW else None
    status = MeasurementStatus(r.uint(2, "measurement status")) if flags & _PLX_STATUS else None
    sensor = SensorStatus(r.uint(3, "device and sensor status")) if flags & _PLX_SENSOR else None
    pai = r.sfloat("pulse amplitude index") if flags & _PLX_PAI else None
    if r.pos != len(payload) and not flags & _PLX_RFU:
        raise BlePayloadError(f"PLX continuous: {len(payload) - r.pos} trailing byte(s)")
    return PlxContinuous(normal, fast, slow, status, sensor, pai)


def encode_plx_continuous(m: PlxContinuous) -> bytes:
    """Build 0x2A5F with exactly the optional fields that are not None."""
    flags = ((_PLX_FAST if m.fast else 0) | (_PLX_SLOW if m.slow else 0)
             | (_PLX_STATUS if m.status is not None else 0)
             | (_PLX_SENSOR if m.sensor_status is not None else 0)
             | (_PLX_PAI if m.pulse_amplitude is not None else 0))
    out = bytearray([flags])
    for pair in (m.normal, m.fast, m.slow):
        if pair is not None:
            out += _U16.pack(encode_sfloat(pair.spo2)) + _U16.pack(encode_sfloat(pair.pulse))
    if m.status is not None:
        _check("measurement status", int(m.status), 0, 0xFFFF)
        out += _U16.pack(int(m.status))
    if m.sensor_status is not None:
        _check("device and sensor status", int(m.sensor_status), 0, 0xFF_FFFF)
        out += int(m.sensor_status).to_bytes(3, "little")
    if m.pulse_amplitude is not None:
        out += _U16.pack(encode_sfloat(m.pulse_amplitude))
    return bytes(out)


# ------------------------------------------------------------------------- Battery Level


def parse_battery_level(payload: bytes | bytearray) -> int:
    """Parse characteristic 0x2A19: one uint8, 0..100 %."""
    if len(payload) != 1:
        raise BlePayloadError(f"battery level: {len(payload)} bytes, expected 1")
    if payload[0] > 100:
        raise BlePayloadError(f"battery level: {payload[0]} % > 100")
    return payload[0]


def encode_battery_level(percent: int) -> bytes:
    """Build 0x2A19."""
    _check("battery level", percent, 0, 100)
    return bytes([percent])


# --------------------------------------------------------------------------- Alert Level


class AlertLevel(IntEnum):
    """Alert Level (0x2A06): how strongly the device is to alert its wearer."""

    NONE = 0  # "No Alert": stop alerting
    MILD = 1  # "Mild Alert"
    HIGH = 2  # "High Alert": the strongest way the device has


def parse_alert_level(payload: bytes | bytearray) -> AlertLevel:
    """Parse characteristic 0x2A06: one uint8, 0..2 (3..255 are reserved)."""
    if len(payload) != 1:
        raise BlePayloadError(f"alert level: {len(payload)} bytes, expected 1")
    if payload[0] > AlertLevel.HIGH:
        raise BlePayloadError(f"alert level: {payload[0]} is reserved (0 none, 1 mild, 2 high)")
    return AlertLevel(payload[0])


def encode_alert_level(level: AlertLevel | int) -> bytes:
    """Build 0x2A06, written with GATT Write Without Response (the service's only write)."""
    if isinstance(level, bool):
        raise BlePayloadError(f"alert level {level!r} is not a level (0, 1, 2)")
    _check("alert level", level, 0, AlertLevel.HIGH)
    return bytes([level])


# ------------------------------------------------------------------------------ dispatch


def parse_characteristic(
    uuid: str, payload: bytes | bytearray
) -> HeartRate | PlxContinuous | AccelPacket | int:
    """Parse a notification by characteristic UUID (case-insensitive; battery gives an int)."""
    key = uuid.lower()
    if key == HEART_RATE_MEASUREMENT:
        return parse_heart_rate(payload)
    if key == PLX_CONTINUOUS:
        return parse_plx_continuous(payload)
    if key == ACCEL_CHAR:
        return parse_accel(payload)
    if key == BATTERY_LEVEL:
        return parse_battery_level(payload)
    raise BlePayloadError(f"no parser for characteristic {uuid}")


def _uint(payload: bytes | bytearray, pos: int, width: int, field: str) -> int:
    if len(payload) < pos + width:
        raise BlePayloadError(f"{field}: truncated at byte {pos} of {len(payload)}")
    return int.from_bytes(payload[pos : pos + width], "little")


def _check(field: str, value: int, lo: int, hi: int) -> None:
    if not isinstance(value, int) or not lo <= value <= hi:
        raise BlePayloadError(f"{field} {value} outside {lo}..{hi}")
