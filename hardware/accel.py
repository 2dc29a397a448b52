"""The vendor accelerometer characteristic of our wearables: batched int16 x/y/z samples.

One notification carries one block (little-endian)::

    off len field
    0   1   format version, 1
    1   1   bits 0-1 full-scale range code 0..3 = ±2/±4/±8/±16 g; bits 2-7 zero
    2   2   block sequence, uint16, wraps
    4   4   device tick of the first sample, ms, uint32, wraps
    8   2   sample rate in 0.01 Hz units, uint16 (5000 = 50 Hz)
    10  1   n, samples in the block, 1..255
    11  6n  samples: int16 x, y, z each; g = count * range / 32768

At ATT MTU 185 a notification holds 182 bytes, i.e. up to 28 samples; the wearables send 25
(0.5 s at 50 Hz, 161 bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from hardware.errors import BlePayloadError

VENDOR_SERVICE: Final = "7e1a0001-3b5c-4f2e-9d8a-6c0b5e4f1a20"
ACCEL_CHAR: Final = "7e1a0002-3b5c-4f2e-9d8a-6c0b5e4f1a20"

ACCEL_VERSION: Final = 1
ACCEL_HEADER: Final = struct.Struct("<BBHIHB")  # version, range, seq, tick ms, centi-Hz, n
RANGES_G: Final = (2, 4, 8, 16)
MAX_NOTIFY_PAYLOAD: Final = 182  # ATT MTU 185 minus the 3-byte notification header
MAX_ACCEL_SAMPLES: Final = (MAX_NOTIFY_PAYLOAD - ACCEL_HEADER.size) // 6  # 28
BLOCK_SAMPLES: Final = 25
_DTYPE: Final = np.dtype("<i2")


def scale_for_range(range_g: int) -> float:
    """g per LSB of a full-scale range (±2/4/8/16 g over int16)."""
    if range_g not in RANGES_G:
        raise BlePayloadError(f"accelerometer range ±{range_g} g not one of {RANGES_G}")
    return range_g / 32768


@dataclass(frozen=True, slots=True, eq=False)
class AccelPacket:
    """One block: ``samples`` (n, 3) int16 counts, ``scale_g`` g per count, ``t_ms`` tick."""

    seq: int
    t_ms: int
    rate_hz: float
    scale_g: float
    samples: npt.NDArray[np.int16]

    @property
    def range_g(self) -> int:
        """Full-scale range in g (2, 4, 8 or 16)."""
        return round(self.scale_g * 32768)

    def g(self) -> npt.NDArray[np.float64]:
        """Samples in g, shape (n, 3)."""
        return self.samples.astype(np.float64) * self.scale_g


def quantize(g: npt.ArrayLike, range_g: int) -> npt.NDArray[np.int16]:
    """Counts for accelerations ``g`` (clipped to the range, as the sensor saturates)."""
    scale = scale_for_range(range_g)
    counts = np.rint(np.asarray(g, dtype=np.float64) / scale)
    return np.clip(counts, -32768, 32767).astype(np.int16)


def parse_accel(payload: bytes | bytearray) -> AccelPacket:
    """Parse one vendor accelerometer notification."""
    if len(payload) < ACCEL_HEADER.size:
        raise BlePayloadError(f"accel: {len(payload)} bytes < {ACCEL_HEADER.size}-byte header")
    version, rng, seq, t_ms, centi_hz, n = ACCEL_HEADER.unpack_from(payload)
    if version != ACCEL_VERSION:
        raise BlePayloadError(f"accel: format version {version}, expected {ACCEL_VERSION}")
    if rng & 0xFC:
        raise BlePayloadError(f"accel: reserved range bits set (0x{rng:02x})")
    if centi_hz == 0:
        raise BlePayloadError("accel: sample rate 0")
    if n == 0 or len(payload) != ACCEL_HEADER.size + 6 * n:
        raise BlePayloadError(f"accel: {len(payload)} bytes do not hold n={n} samples")
    samples = np.frombuffer(bytes(payload), dtype=_DTYPE, offset=ACCEL_HEADER.size)
    return AccelPacket(seq, t_ms, centi_hz / 100, RANGES_G[rng] / 32768,
                       samples.reshape(n, 3).astype(np.int16))


def encode_accel(packet: AccelPacket, *, max_payload: int = MAX_NOTIFY_PAYLOAD) -> bytes:
    """Build one notification; the block must fit ``max_payload`` bytes."""
    samples = np.asarray(packet.samples)
    if samples.ndim != 2 or samples.shape[1] != 3 or samples.dtype != np.int16:
        raise BlePayloadError(f"accel: samples must be int16 (n, 3), got "
                              f"{samples.dtype} {samples.shape}")
    n = samples.shape[0]
    size = ACCEL_HEADER.size + 6 * n
    if not 1 <= n <= 255 or size > max_payload:
        raise BlePayloadError(f"accel: {n} samples ({size} bytes) do not fit 1..{max_payload}")
    try:
        code = RANGES_G.index(packet.range_g)
    except ValueError:
        raise BlePayloadError(f"accel: scale {packet.scale_g} g/LSB is no supported range") \
            from None
    if packet.scale_g != RANGES_G[code] / 32768:
        raise BlePayloadError(f"accel: scale {packet.scale_g} g/LSB is no supported range")
    centi_hz = round(packet.rate_hz * 100)
    if not 1 <= centi_hz <= 0xFFFF:
        raise BlePayloadError(f"accel: rate {packet.rate_hz} Hz outside 0.01..655.35")
    head = ACCEL_HEADER.pack(ACCEL_VERSION, code, packet.seq & 0xFFFF, packet.t_ms & 0xFFFF_FFFF,
                             centi_hz, n)
    return head + samples.astype(_DTYPE).tobytes()
