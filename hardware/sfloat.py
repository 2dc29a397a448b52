"""IEEE 11073-20601 16-bit SFLOAT, the number format of the Bluetooth health profiles.

``raw = exponent(4-bit signed) << 12 | mantissa(12-bit signed)``, value = mantissa * 10**exponent.
Five raw values (exponent 0) are special: NaN 0x07FF, NRes 0x0800, +INF 0x07FE, -INF 0x0802
and reserved 0x0801. NaN / NRes / reserved mean "no reading", never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from hardware.errors import BlePayloadError


class Special(StrEnum):
    """Which special SFLOAT value a field held."""

    NAN = "nan"  # not a number: no valid value
    NRES = "nres"  # not at this resolution
    POS_INF = "+inf"
    NEG_INF = "-inf"
    RESERVED = "reserved"  # reserved for future use: treated as no reading


SPECIAL_RAW: Final = {Special.NAN: 0x07FF, Special.NRES: 0x0800, Special.POS_INF: 0x07FE,
                      Special.NEG_INF: 0x0802, Special.RESERVED: 0x0801}
_RAW_SPECIAL: Final = {raw: kind for kind, raw in SPECIAL_RAW.items()}
_SPECIAL_VALUE: Final = {Special.NAN: math.nan, Special.NRES: math.nan, Special.RESERVED: math.nan,
                         Special.POS_INF: math.inf, Special.NEG_INF: -math.inf}
MANTISSA_MAX: Final = 2045  # |mantissa| written by the encoder: never collides with a special
EXP_MIN: Final = -8
EXP_MAX: Final = 7


@dataclass(frozen=True, slots=True, eq=False)
class Sfloat:
    """A decoded SFLOAT: ``value`` is nan / ±inf exactly when ``special`` says which."""

    value: float
    special: Special | None = None

    def __post_init__(self) -> None:
        if self.special is None and not math.isfinite(self.value):
            raise BlePayloadError(f"SFLOAT value {self.value} needs a Special kind")
        if self.special is not None:
            expected = _SPECIAL_VALUE[self.special]
            if not ((math.isnan(expected) and math.isnan(self.value)) or expected == self.value):
                raise BlePayloadError(f"SFLOAT {self.special.value} cannot hold {self.value}")

    @classmethod
    def of(cls, special: Special) -> Sfloat:
        """The SFLOAT standing for ``special``."""
        return cls(_SPECIAL_VALUE[special], special)

    @property
    def reading(self) -> float | None:
        """The number, or None when the device reported no (finite) reading."""
        return None if self.special is not None else self.value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sfloat):
            return NotImplemented
        if self.special is not None or other.special is not None:
            return self.special == other.special
        return self.value == other.value

    def __hash__(self) -> int:
        return hash((self.special, None if self.special else self.value))

    def __repr__(self) -> str:
        return f"Sfloat({self.special.value})" if self.special else f"Sfloat({self.value!r})"


def decode_sfloat(raw: int) -> Sfloat:
    """Decode a 16-bit SFLOAT (as read little-endian from the payload)."""
    if not 0 <= raw <= 0xFFFF:
        raise BlePayloadError(f"SFLOAT raw value {raw!r} is not 16 bits")
    special = _RAW_SPECIAL.get(raw)
    if special is not None:
        return Sfloat.of(special)
    mantissa = raw & 0x0FFF
    mantissa -= 0x1000 if mantissa & 0x0800 else 0
    exponent = raw >> 12
    exponent -= 0x10 if exponent & 0x8 else 0
    value = mantissa * 10**exponent if exponent >= 0 else mantissa / 10**-exponent
    return Sfloat(float(value))


def encode_sfloat(x: float | Sfloat) -> int:
    """The 16-bit SFLOAT nearest ``x``: finest exponent with |mantissa| <= 2045, then trailing
    decimal zeros dropped (97.0 → mantissa 97, exponent 0; 0.1 → 1e-1).

    A float nan encodes as NaN, ±inf as ±INF; an :class:`Sfloat` keeps its special kind.
    Finite values beyond ±2045e7 raise :class:`BlePayloadError`.
    """
    if isinstance(x, Sfloat):
        if x.special is not None:
            return SPECIAL_RAW[x.special]
        x = x.value
    if math.isnan(x):
        return SPECIAL_RAW[Special.NAN]
    if math.isinf(x):
        return SPECIAL_RAW[Special.POS_INF if x > 0 else Special.NEG_INF]
    if abs(x) >= (MANTISSA_MAX + 0.5) * 10**EXP_MAX:
        raise BlePayloadError(f"{x} is too large for an SFLOAT (max ±{MANTISSA_MAX}e{EXP_MAX})")
    for exponent in range(EXP_MIN, EXP_MAX + 1):
        power = float(10 ** abs(exponent))  # exact for |exponent| <= 8
        mantissa = round(x * power) if exponent < 0 else round(x / power)
        if abs(mantissa) <= MANTISSA_MAX:
            while exponent < 0 and mantissa % 10 == 0:  # shortest form: 97.0 -> 97e0
                mantissa, exponent = mantissa // 10, exponent + 1
            return ((exponent & 0xF) << 12) | (mantissa & 0x0FFF)
    raise AssertionError("unreachable: the guard above bounds x")  # pragma: no cover
