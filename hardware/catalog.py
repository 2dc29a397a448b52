"""Device models we support, their batteries, accelerometer axes, and the device uid format.

A wearable's ``axis_map`` says where each of the fall detector's axes is in the device's own
frame (a signed permutation, e.g. ``("-y", "x", "z")``: detector x = device -y, …);
:func:`to_detector_frame` applies it to ``(…, 3)`` samples before they reach the detector. The
detector's frames are its training data's: waist as SisFall (y vertical when standing), wrist as
WEDA-FALL's watch (x along the forearm, z out of the face).

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
import numpy.typing as npt

from hardware.errors import CatalogError
from kernel.placement import Placement

AxisMap = tuple[str, str, str]
IDENTITY: Final[AxisMap] = ("x", "y", "z")
_AXIS: Final = {"x": 0, "y": 1, "z": 2}


def _signed_axis(entry: str) -> tuple[float, int]:
    """``"-y"`` → (-1.0, 1); :class:`CatalogError` for anything but [+-]x/y/z."""
    sign, name = (-1.0, entry[1:]) if entry.startswith("-") else (1.0, entry.removeprefix("+"))
    if name not in _AXIS:
        raise CatalogError(f"axis {entry!r} is not one of x, y, z with an optional sign")
    return sign, _AXIS[name]


def axis_matrix(axis_map: tuple[str, ...]) -> npt.NDArray[np.float64]:
    """``("-y", "x", "z")`` → the 3×3 signed permutation ``M`` with detector = ``M @ device``;
    :class:`CatalogError` unless each device axis is used exactly once."""
    if len(axis_map) != 3:
        raise CatalogError(f"axis map {axis_map!r} needs three entries")
    m = np.zeros((3, 3))
    for i, entry in enumerate(axis_map):
        sign, j = _signed_axis(entry)
        m[i, j] = sign
    if not (np.abs(m).sum(axis=0) == 1).all():
        raise CatalogError(f"axis map {axis_map!r} uses a device axis twice")
    return m


class DeviceKind(StrEnum):
    PANIC_BUTTON = "panic_button"
    PULL_CORD = "pull_cord"
    PIR = "pir"
    DOOR = "door"
    WEARABLE = "wearable"


class Transport(StrEnum):
    SERIAL_RF = "serial_rf"
    BLE = "ble"


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
    placement: Placement | None  # where it is worn; None: not a wearable
    supervision_interval_s: float
    battery_curve: tuple[tuple[int, int], ...]
    low_battery_mv: int
    battery_life_days: float
    sample_rate_hz: float | None = None
    axis_map: AxisMap = IDENTITY  # detector axis i = signed device axis axis_map[i]
    range_g: float | None = None  # accelerometer full scale, ± g

    def __post_init__(self) -> None:
        axis_matrix(self.axis_map)  # a bad map fails at import, not on the first sample

    @property
    def full_mv(self) -> int:
        """Voltage of a full battery."""
        return self.battery_curve[-1][0]

    @property
    def axis_matrix(self) -> npt.NDArray[np.float64]:
        """The axis map as a 3×3 signed permutation ``M``: detector = ``M @ device``."""
        return axis_matrix(self.axis_map)


def _rf(id_: str, name: str, kind: DeviceKind, life_years: float) -> Model:
    return Model(id_, name, kind, Transport.SERIAL_RF, None, 900.0, CR2032_CURVE,
                 2500, life_years * 365)


def _ble(id_: str, name: str, placement: Placement, life_days: float, rate_hz: float = 50.0,
         axis_map: AxisMap = IDENTITY, range_g: float = 16.0) -> Model:
    return Model(id_, name, DeviceKind.WEARABLE, Transport.BLE, placement, 60.0, LIPO_CURVE,
                 3800, life_days, sample_rate_hz=rate_hz, axis_map=axis_map, range_g=range_g)


MODELS: Final[Mapping[str, Model]] = MappingProxyType({m.id: m for m in (
    _rf("PB-433", "433 MHz panic button (pendant / bedside)", DeviceKind.PANIC_BUTTON, 3),
    _rf("PC-433", "433 MHz bathroom pull cord", DeviceKind.PULL_CORD, 3),
    _rf("PIR-433", "433 MHz passive-infrared motion sensor", DeviceKind.PIR, 2),
    _rf("DS-433", "433 MHz magnetic door contact", DeviceKind.DOOR, 3),
    _ble("WB-BLE", "BLE wrist band (accelerometer, heart rate, SpO2)", Placement.WRIST, 3),
    _ble("WP-BLE", "BLE waist pendant (accelerometer, heart rate, SpO2)", Placement.WAIST, 5),
    # a second source's band: 25 Hz, ±8 g; its y runs along the forearm towards the elbow and
    # its z into the skin: detector x = -y, y = -x, z = -z (a proper rotation, det +1)
    _ble("WB2-BLE", "BLE wrist band, second source (25 Hz accelerometer, heart rate)",
         Placement.WRIST, 7, rate_hz=25.0, axis_map=("-y", "-x", "-z"), range_g=8.0),
)})
"""Every supported model by id. RF models supervise every 15 min: silent after ~45 min."""


def get_model(model_id: str) -> Model:
    """The model called ``model_id``; :class:`CatalogError` names the known ids otherwise."""
    try:
        return MODELS[model_id]
    except KeyError:
        known = ", ".join(MODELS)
        raise CatalogError(f"unknown device model {model_id!r} (known: {known})") from None


def to_detector_frame(model: Model | str, samples: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Samples ``(…, 3)`` in the device's axes → the fall detector's training frame. Pure: a
    column gather and sign changes (exact in any float type), any leading shape."""
    m = get_model(model) if isinstance(model, str) else model
    x = np.asarray(samples)
    if x.shape[-1:] != (3,):
        raise CatalogError(f"samples of shape {x.shape}, expected (…, 3)")
    if m.axis_map == IDENTITY:
        return np.asarray(x, dtype=np.float64)
    signed = [_signed_axis(a) for a in m.axis_map]
    sign = np.array([s for s, _ in signed])
    return np.asarray(x[..., [j for _, j in signed]] * sign, dtype=np.float64)


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
