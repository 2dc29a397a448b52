"""Serial frames of the RF receiver dongle (panic buttons, pull cords, PIR, door contacts).

Byte layout, per-type data and worked examples: ``hardware/PROTOCOL.md``. The codec is pure and
total: :func:`decode_frame` tells "need more bytes" (``None, 0``) from "malformed" (a
:class:`Malformed` and the number of bytes to drop) and never raises.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from hardware.errors import FrameError

SYNC: Final = b"\xa5\x5a"
VERSION: Final = 0x01
HEADER: Final = struct.Struct(">2sBBBIHbH")  # sync, version, L, type, id, seq, rssi, battery
HEADER_SIZE: Final = HEADER.size  # 14
MIN_LEN: Final = 10  # L counts type .. data
MAX_LEN: Final = 64
MAX_DATA: Final = MAX_LEN - MIN_LEN  # 54
MIN_FRAME_SIZE: Final = MIN_LEN + 6  # sync + version + L + ... + CRC
MAX_FRAME_SIZE: Final = MAX_LEN + 6  # 70: a Deframer never holds more than this minus one


class MsgType(IntEnum):
    """Frame type byte (offset 4)."""

    PRESS = 1
    CANCEL = 2
    LONG_PRESS = 3
    SUPERVISION = 4
    LOW_BATTERY = 5
    TAMPER = 6
    MOTION = 7
    DOOR = 8


_TYPES: Final = frozenset(int(t) for t in MsgType)


class Input(IntEnum):
    """Data byte 0 of PRESS / LONG_PRESS: which input of the device was used."""

    MAIN = 0
    PULL_CORD = 1


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame; ``rssi`` in dBm as measured by the dongle, ``battery_mv`` 0 = unknown."""

    type: MsgType
    device_id: int
    seq: int
    rssi: int
    battery_mv: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Malformed:
    """Bytes that are not a frame.

    ``reason`` is one of ``garbage`` (bytes before a sync pair), ``version``, ``length``, ``crc``
    or ``unknown_type``; ``raw`` holds the bytes looked at (for a bad header or CRC that is the
    candidate frame, of which only the first sync byte is consumed).
    """

    reason: str
    raw: bytes


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); ``crc16(b"123456789") == 0x29B1``."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode_frame(frame: Frame) -> bytes:
    """Encode ``frame``; raise :class:`FrameError` when a field does not fit its wire width."""
    try:
        kind = MsgType(frame.type)
    except ValueError:
        raise FrameError(f"unknown frame type {frame.type!r}") from None
    _check_range("device_id", frame.device_id, 0, 0xFFFF_FFFF)
    _check_range("seq", frame.seq, 0, 0xFFFF)
    _check_range("rssi", frame.rssi, -128, 127)
    _check_range("battery_mv", frame.battery_mv, 0, 0xFFFF)
    data = bytes(frame.data)
    if len(data) > MAX_DATA:
        raise FrameError(f"data of {len(data)} bytes > {MAX_DATA}")
    head = HEADER.pack(SYNC, VERSION, MIN_LEN + len(data), kind, frame.device_id, frame.seq,
                       frame.rssi, frame.battery_mv)
    body = head + data
    return body + crc16(body[2:]).to_bytes(2, "big")


def _check_range(name: str, value: int, lo: int, hi: int) -> None:
    if not isinstance(value, int) or not lo <= value <= hi:
        raise FrameError(f"{name}={value!r} outside {lo}..{hi}")


def decode_frame(buf: bytes | bytearray | memoryview) -> tuple[Frame | Malformed | None, int]:
    """Decode the first item of ``buf``: ``(None, 0)`` = need more bytes, else ``(item, n > 0)``.

    Bytes before a sync pair come back as ``Malformed("garbage")``. After a bad version, length
    or CRC only the first sync byte is consumed, so a frame hidden inside is still found.
    """
    data = buf if isinstance(buf, bytes | bytearray) else bytes(buf)
    return _decode_at(data, 0)


def _decode_at(buf: bytes | bytearray, start: int) -> tuple[Frame | Malformed | None, int]:
    end = len(buf)
    i = buf.find(SYNC, start)
    if i < 0:  # keep a trailing 0xA5: it may be the first half of a sync pair
        n = end - start - (1 if end > start and buf[end - 1] == SYNC[0] else 0)
        return (Malformed("garbage", bytes(buf[start : start + n])), n) if n else (None, 0)
    if i > start:
        return Malformed("garbage", bytes(buf[start:i])), i - start
    item, n = _candidate(buf, i)
    if item is None and n < 0 and _complete_frame_after(buf, i + 1):
        # Stall guard: a header announcing more bytes than arrive before the next complete
        # frame is a false sync; without this a real alarm would wait for unrelated traffic.
        return Malformed("length", bytes(buf[i : i + 4])), 1
    return item, max(n, 0)


def _candidate(buf: bytes | bytearray, i: int) -> tuple[Frame | Malformed | None, int]:
    """Check the frame starting at ``buf[i]`` (a sync pair); n = -1 when it is incomplete."""
    if len(buf) - i < 4:
        return None, 0
    version, length = buf[i + 2], buf[i + 3]
    if version != VERSION:
        return Malformed("version", bytes(buf[i : i + 4])), 1
    if not MIN_LEN <= length <= MAX_LEN:
        return Malformed("length", bytes(buf[i : i + 4])), 1
    total = length + 6
    if len(buf) - i < total:
        return None, -1
    raw = bytes(buf[i : i + total])
    if crc16(raw[2:-2]) != int.from_bytes(raw[-2:], "big"):
        return Malformed("crc", raw), 1
    if raw[4] not in _TYPES:
        return Malformed("unknown_type", raw), total  # intact frame of a newer type: skip whole
    _, _, _, kind, device_id, seq, rssi, battery_mv = HEADER.unpack_from(raw)
    return Frame(MsgType(kind), device_id, seq, rssi, battery_mv, raw[HEADER_SIZE:-2]), total


def _complete_frame_after(buf: bytes | bytearray, start: int) -> bool:
    j = buf.find(SYNC, start)
    while j >= 0:
        item, _ = _candidate(buf, j)
        if isinstance(item, Frame) or (isinstance(item, Malformed)
                                       and item.reason == "unknown_type"):
            return True
        j = buf.find(SYNC, j + 1)
    return False


@dataclass(slots=True)
class DeframerStats:
    """Counters of a :class:`Deframer`.

    ``garbage_bytes`` counts bytes dropped outside frames, including the rest of a rejected
    candidate (whose first byte is counted by ``crc_errors`` / ``bad_version`` / ``bad_length``).
    """

    frames: int = 0
    garbage_bytes: int = 0
    crc_errors: int = 0
    bad_version: int = 0
    bad_length: int = 0
    unknown_type: int = 0


_COUNTER: Final = {"garbage": "garbage_bytes", "crc": "crc_errors", "version": "bad_version",
                   "length": "bad_length", "unknown_type": "unknown_type"}


class Deframer:
    """Turns a byte stream cut at arbitrary points into frames; holds < MAX_FRAME_SIZE bytes."""

    def __init__(self) -> None:
        self.stats = DeframerStats()
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``data``; return the frames it completed, in order. Never raises."""
        return [item for item in self.feed_items(data) if isinstance(item, Frame)]

    def feed_items(self, data: bytes | bytearray | memoryview) -> list[Frame | Malformed]:
        """Like :meth:`feed` but also return what was dropped, for logging."""
        buf = self._buf
        buf += data
        pos = 0
        out: list[Frame | Malformed] = []
        while True:
            item, n = _decode_at(buf, pos)
            if item is None:
                break
            pos += n
            self._count(item)
            out.append(item)
        del buf[:pos]
        return out

    def _count(self, item: Frame | Malformed) -> None:
        stats = self.stats
        if isinstance(item, Frame):
            stats.frames += 1
        elif item.reason == "garbage":
            stats.garbage_bytes += len(item.raw)
        else:
            name = _COUNTER[item.reason]
            setattr(stats, name, getattr(stats, name) + 1)


# ------------------------------------------------------------------ type-specific data fields

DATA_SIZE: Final = {MsgType.PRESS: 1, MsgType.CANCEL: 0, MsgType.LONG_PRESS: 1,
                    MsgType.SUPERVISION: 2, MsgType.LOW_BATTERY: 0, MsgType.TAMPER: 1,
                    MsgType.MOTION: 1, MsgType.DOOR: 1}
"""Defined data bytes per type; receivers ignore bytes beyond these (room for extensions)."""


def input_data(which: Input = Input.MAIN) -> bytes:
    """Data of PRESS / LONG_PRESS."""
    return bytes([Input(which)])


def firmware_data(major: int, minor: int) -> bytes:
    """Data of SUPERVISION: firmware version major, minor."""
    _check_range("firmware major", major, 0, 255)
    _check_range("firmware minor", minor, 0, 255)
    return bytes([major, minor])


def flag_data(on: bool) -> bytes:
    """Data of DOOR (1 = open) and TAMPER (1 = case opened, 0 = restored)."""
    return b"\x01" if on else b"\x00"


def count_data(count: int) -> bytes:
    """Data of MOTION: detections since the previous MOTION frame, 1..255."""
    _check_range("motion count", count, 1, 255)
    return bytes([count])


def data_fields(frame: Frame) -> dict[str, int | bool | str]:
    """The meaning of ``frame.data`` as flat JSON-able fields (e.g. for ``Event.data``).

    Raises :class:`FrameError` when the data is shorter than its type defines or a value is not
    one the protocol allows.
    """
    need = DATA_SIZE[frame.type]
    data = frame.data
    if len(data) < need:
        raise FrameError(f"{frame.type.name} needs {need} data byte(s), got {len(data)}")
    kind = frame.type
    if kind in (MsgType.PRESS, MsgType.LONG_PRESS):
        if data[0] not in (0, 1):
            raise FrameError(f"{kind.name} input {data[0]} is neither 0 (main) nor 1 (pull cord)")
        return {"input": Input(data[0]).name.lower()}
    if kind == MsgType.SUPERVISION:
        return {"firmware": f"{data[0]}.{data[1]}"}
    if kind in (MsgType.DOOR, MsgType.TAMPER):
        if data[0] not in (0, 1):
            raise FrameError(f"{kind.name} state {data[0]} is neither 0 nor 1")
        return {"open": data[0] == 1}
    if kind == MsgType.MOTION:
        if data[0] == 0:
            raise FrameError("MOTION count 0")
        return {"count": data[0]}
    return {}
