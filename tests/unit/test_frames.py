"""The serial frame codec: layout, CRC, resync, and properties over arbitrary byte streams."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.errors import FrameError
from hardware.frames import (
    MAX_DATA,
    MAX_FRAME_SIZE,
    SYNC,
    Deframer,
    Frame,
    Input,
    Malformed,
    MsgType,
    count_data,
    crc16,
    data_fields,
    decode_frame,
    encode_frame,
    firmware_data,
    flag_data,
    input_data,
)

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "hardware" / "PROTOCOL.md"


def reference_crc(data: bytes) -> int:
    """Bitwise CRC-16/CCITT-FALSE, written from the definition, to check crc16 against."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def raw_frame(type_byte: int, device_id: int = 0x0A1B2C3D, seq: int = 7, rssi: int = -60,
              battery_mv: int = 3000, data: bytes = b"", version: int = 1,
              length: int | None = None, crc: int | None = None) -> bytes:
    """Build a frame by hand (independently of encode_frame), optionally broken."""
    body = struct.pack(">BBBIHbH", version, 10 + len(data) if length is None else length,
                       type_byte, device_id, seq, rssi, battery_mv) + data
    return SYNC + body + struct.pack(">H", reference_crc(body) if crc is None else crc)


frames_st = st.builds(
    Frame,
    type=st.sampled_from(list(MsgType)),
    device_id=st.integers(0, 0xFFFF_FFFF),
    seq=st.integers(0, 0xFFFF),
    rssi=st.integers(-128, 127),
    battery_mv=st.integers(0, 0xFFFF),
    data=st.binary(max_size=MAX_DATA),
)
# garbage that cannot contain the sync pair (replacing never creates a new pair)
sync_free = st.binary(max_size=80).map(lambda b: b.replace(SYNC, b"\xa5\x00"))


def test_crc16_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1
    assert crc16(b"123456789") == reference_crc(b"123456789")


def test_encode_lays_out_fields_at_their_offsets() -> None:
    frame = Frame(MsgType.PRESS, 0x0A1B2C3D, 0x1234, -61, 2950, input_data(Input.PULL_CORD))
    wire = encode_frame(frame)
    assert wire == raw_frame(0x01, 0x0A1B2C3D, 0x1234, -61, 2950, b"\x01")
    assert wire[:2] == b"\xa5\x5a"
    assert wire[2] == 1
    assert wire[3] == 11
    assert wire[4] == 0x01
    assert wire[5:9] == bytes.fromhex("0a1b2c3d")
    assert wire[9:11] == bytes.fromhex("1234")
    assert wire[11] == 256 - 61
    assert int.from_bytes(wire[12:14], "big") == 2950
    assert int.from_bytes(wire[-2:], "big") == reference_crc(wire[2:-2])


@settings(deadline=None)
@given(frames_st)
def test_round_trip(frame: Frame) -> None:
    wire = encode_frame(frame)
    assert len(wire) == 16 + len(frame.data)
    assert decode_frame(wire) == (frame, len(wire))
    assert decode_frame(memoryview(wire + b"\x00")) == (frame, len(wire))


@pytest.mark.parametrize(
    ("field", "value"),
    [("device_id", -1), ("device_id", 1 << 32), ("seq", 65536), ("seq", -1), ("rssi", 128),
     ("rssi", -129), ("battery_mv", 65536), ("data", bytes(MAX_DATA + 1)), ("type", 9)],
)
def test_encode_rejects_out_of_range(field: str, value: object) -> None:
    fields: dict[str, object] = {"type": MsgType.PRESS, "device_id": 1, "seq": 0, "rssi": 0,
                                 "battery_mv": 0, "data": b""}
    fields[field] = value
    with pytest.raises(FrameError, match=field if field != "data" else "data of"):
        encode_frame(Frame(**fields))  # type: ignore[arg-type]


def test_every_proper_prefix_needs_more_bytes() -> None:
    wire = encode_frame(Frame(MsgType.DOOR, 5, 9, -70, 2900, flag_data(True)))
    for n in range(len(wire)):
        assert decode_frame(wire[:n]) == (None, 0)


def test_garbage_before_sync_is_reported_and_consumed() -> None:
    wire = encode_frame(Frame(MsgType.CANCEL, 5, 9, -70, 2900))
    assert decode_frame(b"\x00\x11\xa5" + wire) == (Malformed("garbage", b"\x00\x11\xa5"), 3)
    assert decode_frame(b"\x01\x02\xa5") == (Malformed("garbage", b"\x01\x02"), 2)
    assert decode_frame(b"\xa5") == (None, 0)


@pytest.mark.parametrize(
    ("wire", "reason", "consumed"),
    [
        (raw_frame(0x01, data=b"\x00", crc=0), "crc", 1),
        (raw_frame(0x01, data=b"\x00", version=2), "version", 1),
        (raw_frame(0x01, length=9), "length", 1),
        (raw_frame(0x01, data=bytes(55)), "length", 1),
        (raw_frame(0x09, data=b"\x00"), "unknown_type", 17),
        (raw_frame(0x00), "unknown_type", 16),
    ],
)
def test_malformed_reasons(wire: bytes, reason: str, consumed: int) -> None:
    item, n = decode_frame(wire)
    assert isinstance(item, Malformed)
    assert (item.reason, n) == (reason, consumed)
    assert item.raw.startswith(SYNC)


def test_frame_inside_a_corrupt_frame_is_found() -> None:
    inner = encode_frame(Frame(MsgType.PRESS, 0xCAFE, 1, -50, 3000, b"\x00"))
    # header announcing 64 bytes; the real frame starts inside its body; then a bad CRC
    corrupt = raw_frame(0x01, data=b"\x00\x01" + inner + bytes(54 - 2 - len(inner)), crc=0)
    d = Deframer()
    assert d.feed(corrupt + b"\xff" * 3) == [decode_frame(inner)[0]]
    assert d.stats.crc_errors == 1
    assert d.stats.frames == 1


def test_false_sync_does_not_hold_back_a_following_alarm() -> None:
    press = encode_frame(Frame(MsgType.PRESS, 0xCAFE, 1, -50, 3000, b"\x00"))
    d = Deframer()
    # noise that looks like the header of a 70-byte frame, then a complete press
    assert d.feed(b"\xa5\x5a\x01\x40\x13" + press) == [decode_frame(press)[0]]
    assert d.stats.bad_length == 1
    assert d.pending == 0


@settings(deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=30))
def test_deframer_never_raises_and_stays_bounded(data: bytes, cuts: list[int]) -> None:
    d = Deframer()
    pos = 0
    for size in [*cuts, len(data)]:
        d.feed(data[pos : pos + size])
        pos += size
        assert d.pending < MAX_FRAME_SIZE
    item, n = decode_frame(data)
    assert n >= 0
    assert (item is None) == (n == 0)


def _chunks(stream: bytes, cuts: list[int]) -> list[bytes]:
    out, pos = [], 0
    for size in cuts:
        out.append(stream[pos : pos + size])
        pos += size
    out.append(stream[pos:])
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(sync_free, frames_st), max_size=8), sync_free,
       st.lists(st.integers(1, 40), max_size=40))
def test_frames_in_sync_free_garbage_recovered_exactly_once(
    pairs: list[tuple[bytes, Frame]], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(g + encode_frame(f) for g, f in pairs) + tail
    d = Deframer()
    got = [f for chunk in _chunks(stream, cuts) for f in d.feed(chunk)]
    assert got == [f for _, f in pairs]
    garbage = sum(len(g) for g, _ in pairs) + len(tail)
    held = 1 if stream.endswith(b"\xa5") and tail else 0
    assert d.stats.garbage_bytes == garbage - held
    assert (d.stats.crc_errors, d.stats.bad_version, d.stats.bad_length) == (0, 0, 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=80), frames_st), max_size=8),
       st.lists(st.integers(1, 40), max_size=40))
def test_frames_in_any_garbage_recovered_in_order(
    pairs: list[tuple[bytes, Frame]], cuts: list[int]
) -> None:
    stream = b"".join(g + encode_frame(f) for g, f in pairs)
    d = Deframer()
    got = iter([f for chunk in _chunks(stream, cuts) for f in d.feed(chunk)])
    for _, frame in pairs:  # the embedded frames form a subsequence of what came out
        assert any(x == frame for x in got)


@pytest.mark.parametrize(
    ("frame", "fields"),
    [
        (Frame(MsgType.PRESS, 1, 0, 0, 0, input_data(Input.MAIN)), {"input": "main"}),
        (Frame(MsgType.LONG_PRESS, 1, 0, 0, 0, b"\x01"), {"input": "pull_cord"}),
        (Frame(MsgType.CANCEL, 1, 0, 0, 0), {}),
        (Frame(MsgType.SUPERVISION, 1, 0, 0, 0, firmware_data(2, 7)), {"firmware": "2.7"}),
        (Frame(MsgType.LOW_BATTERY, 1, 0, 0, 0), {}),
        (Frame(MsgType.TAMPER, 1, 0, 0, 0, flag_data(True)), {"open": True}),
        (Frame(MsgType.DOOR, 1, 0, 0, 0, flag_data(False)), {"open": False}),
        (Frame(MsgType.MOTION, 1, 0, 0, 0, count_data(3) + b"\xee"), {"count": 3}),
    ],
)
def test_data_fields(frame: Frame, fields: dict[str, object]) -> None:
    assert data_fields(frame) == fields


@pytest.mark.parametrize(
    "frame",
    [Frame(MsgType.PRESS, 1, 0, 0, 0), Frame(MsgType.PRESS, 1, 0, 0, 0, b"\x02"),
     Frame(MsgType.SUPERVISION, 1, 0, 0, 0, b"\x01"), Frame(MsgType.DOOR, 1, 0, 0, 0, b"\x05"),
     Frame(MsgType.MOTION, 1, 0, 0, 0, b"\x00")],
)
def test_data_fields_rejects_bad_data(frame: Frame) -> None:
    with pytest.raises(FrameError):
        data_fields(frame)


def test_data_helpers_reject_out_of_range() -> None:
    with pytest.raises(FrameError):
        count_data(0)
    with pytest.raises(FrameError):
        firmware_data(256, 0)


def test_protocol_md_examples_decode() -> None:
    """Every frame hex dump in PROTOCOL.md is a valid frame of the type its heading names."""
    text = PROTOCOL_MD.read_text()
    dumps = re.findall(r"^frame (\w+): ((?:[0-9a-f]{2} ?)+)$", text, re.M)
    assert {name for name, _ in dumps} >= {t.name for t in MsgType}
    for name, dump in dumps:
        frame, n = decode_frame(bytes.fromhex(dump))
        assert isinstance(frame, Frame), name
        assert frame.type.name == name
        assert n == len(bytes.fromhex(dump))
