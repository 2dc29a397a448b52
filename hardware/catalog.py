"""Device models we support, their batteries, and the device uid format used everywhere.

A device uid names one physical device across gateway, server and console:
``rf-0a1b2c3d`` (serial RF device id, 8 lowercase hex digits) or ``ble-c82e470a1b2c`` (the BLE
MAC, 12 lowercase hex digits).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

import numpy as np

from hardware.errors import CatalogError


class DeviceKind(StrEnum):
    PANIC_BUTTON = "panic_button"
    PULL_CORD = "pull_cord"
    PIR = "pir"
    DOOR = "door"
    WEARABLE = "wearable"


class Transport(StrEnum):
    SERIAL_RF = "serial_rf"
    BLE = "ble"


class Placement(StrEnum):
    """Where a wearable is worn (fall detection differs between waist and wrist)."""

    WAIST = "waist"
    WRIST = "wrist"
    NONE = "none"


# (mV, %) under a light load, ascending in mV.
CR2032_CURVE: Final = ((2000, 0), (2200, 5), (2400, 10), (2500, 20), (2600, 30), (2700, 40),
                       (2800, 60), (2900, 80), (3000, 100))
"""3 V lithium coin cell: flat near 2.9-3.0 V for most of its life, then a knee."""
LIPO_CURVE: Final = ((3300, 0), (3600, 2), (3730, 5), (3800, 10), (3840, 20), (3850, 30),
                     (3870, 40), (3910, 50), (3950, 60), (3980, 70), (4020, 80), (4080, 85),
                     (4110, 90), (4150, 95), (4200, 100))
"""Single-cell 3.7 V lithium-polymer, resting voltage."""


@dataclass(frozen=True, slots=True)
class Model:
    """One device model as sold; ``supervision_interval_s`` is how often it reports in."""

    id: str
    name: str
    kind: DeviceKind
    transport: Transport
    placement: Placement
    supervision_interval_s: float
    battery_curve: tuple[tuple[int, int], ...]
    low_battery_mv: int
    battery_life_days: float
    sample_rate_hz: float | None = None

    @property
    def full_mv(self) -> int:
        """Voltage of a full battery."""
        return self.battery_curve[-1][0]


def _rf(id_: str, name: str, kind: DeviceKind, life_years: float) -> Model:
    return Model(id_, name, kind, Transport.SERIAL_RF, Placement.NONE, 900.0, CR2032_CURVE,
                 2500, life_years * 365)


def _ble(id_: str, name: str, placement: Placement, life_days: float) -> Model:
    return Model(id_, name, DeviceKind.WEARABLE, Transport.BLE, placement, 60.0, LIPO_CURVE,
                 3800, life_days, sample_rate_hz=50.0)


MODELS: Final[Mapping[str, Model]] = MappingProxyType({m.id: m for m in (
    _rf("PB-433", "433 MHz panic button (pendant / bedside)", DeviceKind.PANIC_BUTTON, 3),
    _rf("PC-433", "433 MHz bathroom pull cord", DeviceKind.PULL_CORD, 3),
    _rf("PIR-433", "433 MHz passive-infrared motion sensor", DeviceKind.PIR, 2),
    _rf("DS-433", "433 MHz magnetic door contact", DeviceKind.DOOR, 3),
    _ble("WB-BLE", "BLE wrist band (accelerometer, heart rate, SpO2)", Placement.WRIST, 3),
    _ble("WP-BLE", "BLE waist pendant (accelerometer, heart rate, SpO2)", Placement.WAIST, 5),
)})
"""Every supported model by id. RF models supervise every 15 min: silent after ~45 min."""


def get_model(model_id: str) -> Model:
    """The model called ``model_id``; :class:`CatalogError` names the known ids otherwise."""
    try:
        return MODELS[model_id]
    except KeyError:
        known = ", ".join(MODELS)
        raise CatalogError(f"unknown device model {model_id!r} (known: {known})") from None


def battery_percent(model: Model, mv: int) -> int:
    """State of charge 0..100 for a battery voltage, piecewise linear on the model's curve."""
    xs, ys = zip(*model.battery_curve, strict=True)
    return round(float(np.interp(mv, xs, ys)))


def battery_mv(model: Model, percent: float) -> int:
    """Inverse of :func:`battery_percent`: the voltage at a state of charge (for simulators)."""
    xs, ys = zip(*model.battery_curve, strict=True)
    return round(float(np.interp(percent, ys, xs)))


# --------------------------------------------------------------------------------- uids

_RF_UID: Final = re.compile(r"rf-([0-9a-f]{8})")
_BLE_UID: Final = re.compile(r"ble-([0-9a-f]{12})")
_MAC: Final = re.compile(r"[0-9a-fA-F]{2}([:-]?)(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}")


def rf_uid(device_id: int) -> str:
    """``rf-`` and the 32-bit RF device id as 8 lowercase hex digits."""
    if not isinstance(device_id, int) or not 0 <= device_id <= 0xFFFF_FFFF:
        raise CatalogError(f"RF device id {device_id!r} is not a uint32")
    return f"rf-{device_id:08x}"


def ble_uid(address: str) -> str:
    """``ble-`` and the 12 lowercase hex digits of a MAC (``AA:BB:..``, ``aa-bb-..`` or bare)."""
    if not _MAC.fullmatch(address):
        raise CatalogError(f"BLE address {address!r} is not a MAC like AA:BB:CC:DD:EE:FF")
    return "ble-" + re.sub(r"[:-]", "", address).lower()


def parse_uid(uid: str) -> tuple[Transport, int | str]:
    """``rf-…`` → (SERIAL_RF, device id); ``ble-…`` → (BLE, ``"AA:BB:CC:DD:EE:FF"``)."""
    if m := _RF_UID.fullmatch(uid):
        return Transport.SERIAL_RF, int(m.group(1), 16)
    if m := _BLE_UID.fullmatch(uid):
        hexes = m.group(1).upper()
        return Transport.BLE, ":".join(hexes[i : i + 2] for i in range(0, 12, 2))
    raise CatalogError(f"device uid {uid!r} is neither rf-<8 hex> nor ble-<12 hex>")
