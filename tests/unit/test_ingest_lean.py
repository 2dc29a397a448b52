"""The ingest's lean PUBLISH decoding agrees with paho's own decoder, or defers to it."""

from __future__ import annotations

import struct

import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion

from server.ingest.lean import decode_plain_publish


def publish(topic: str, payload: bytes, *, qos: int = 1, mid: int = 7, retain: bool = False,
            dup: bool = False, props: bytes = b"") -> tuple[int, bytes]:
    """(fixed-header byte, variable header + payload) of an MQTT 5 PUBLISH."""
    command = 0x30 | (dup << 3) | (qos << 1) | retain
    t = topic.encode()
    body = struct.pack("!H", len(t)) + t
    if qos:
        body += struct.pack("!H", mid)
    body += bytes([len(props)]) + props + payload
    return command, body


@pytest.mark.parametrize(("topic", "payload", "mid", "dup"), [
    ("pal/gw/G1/up/acc", bytes(range(256)) * 2, 1, False),
    ("pal/gw/网关-1/up/vitals", b"{}", 65535, True),
    ("t", b"", 300, False),
])
def test_plain_qos1_publish_decodes_as_paho_does(topic: str, payload: bytes, mid: int,
                                                 dup: bool) -> None:
    command, body = publish(topic, payload, mid=mid, dup=dup)
    ours = decode_plain_publish(command, bytearray(body))
    theirs = _packet.decode_publish(command, bytearray(body), MQTTProtocolVersion.MQTTv5)
    assert ours == (theirs.topic.decode(), bytes(theirs.payload), theirs.mid)


@pytest.mark.parametrize("shape", [
    publish("a/b", b"x", qos=0),
    publish("a/b", b"x", retain=True),
    publish("a/b", b"x", props=bytes([0x02, 0, 0, 0, 60])),  # message expiry interval
    (0x32, b"\x00\x05a/b"),  # truncated: topic length beyond the packet
    (0x32, b"\x00\x02\xff\xfe\x00\x01\x00x"),  # topic is not UTF-8
])
def test_anything_else_goes_to_pahos_general_path(shape: tuple[int, bytes]) -> None:
    assert decode_plain_publish(shape[0], bytearray(shape[1])) is None
