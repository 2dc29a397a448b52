"""Alert Level (0x2A06, Immediate Alert Service): the one byte the gateway writes to a wearable."""

from __future__ import annotations

import pytest

from hardware import ble
from hardware.ble import AlertLevel, BlePayloadError, encode_alert_level, parse_alert_level


def test_uuids_are_the_sig_assigned_numbers() -> None:
    assert ble.IMMEDIATE_ALERT_SERVICE == "00001802-0000-1000-8000-00805f9b34fb"
    assert ble.ALERT_LEVEL == "00002a06-0000-1000-8000-00805f9b34fb"


def test_the_three_levels_are_one_byte_each() -> None:
    """The spec's own example: 0x01 is "Mild Alert"."""
    assert [encode_alert_level(level) for level in AlertLevel] == [b"\x00", b"\x01", b"\x02"]
    assert parse_alert_level(b"\x01") is AlertLevel.MILD
    for level in AlertLevel:
        assert parse_alert_level(encode_alert_level(level)) is level
    assert encode_alert_level(2) == b"\x02"  # a plain int in range is a level too


@pytest.mark.parametrize("payload", [b"", b"\x03", b"\xff", b"\x01\x00"])
def test_reserved_values_and_wrong_lengths_are_refused(payload: bytes) -> None:
    with pytest.raises(BlePayloadError):
        parse_alert_level(payload)


@pytest.mark.parametrize("level", [-1, 3, 256, 1.0, True])
def test_only_the_three_levels_can_be_built(level: object) -> None:
    with pytest.raises(BlePayloadError):
        encode_alert_level(level)  # type: ignore[arg-type]
