"""A paho client with a lean receive path for the ingest's high message rates.

Stock paho reads each packet with three ``recv`` calls after a ``select`` of its own, and builds
an ``MQTTMessage``, an MQTT 5 ``Properties`` object and a topic match for every PUBLISH: about
half of an ingest worker's CPU per message (profile in ``bench/README.md``). This subclass

- reads the socket in large chunks and hands paho its packets from that buffer, processing every
  complete packet it holds before paho waits on the socket again;
- decodes plain QoS 1 PUBLISH packets (no properties, not retained) itself and passes
  ``(topic, payload, mid, qos)`` to ``on_publish_fast``; everything else takes paho's general path.

``ack_many`` PUBACKs a batch of messages in one write. It relies on four of paho's internal hooks
(``_sock_recv``, ``_handle_publish``, ``loop_read``, ``_packet_queue``),
so paho is pinned below its next major version and ``tests/unit/test_ingest_lean.py`` checks the
decoding against paho's own on every packet shape it handles.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

CHUNK = 256 * 1024
_PUBACK = struct.Struct("!BBH")  # PUBACK, remaining length 2, packet id: success
FastHandler = Callable[[str, bytes, int, int], None]


class LeanClient(paho.Client):
    """``paho.Client`` whose QoS 1 PUBLISH packets without properties go to ``on_publish_fast``."""

    def __init__(self, *args: Any, on_publish_fast: FastHandler, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_publish_fast = on_publish_fast
        self._rbuf = b""
        self._rpos = 0
        self._rsock: object = None

    def _buffered(self) -> bool:
        return self._rsock is self._sock and self._rpos < len(self._rbuf)

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._buffered():
            data = super()._sock_recv(max(bufsize, CHUNK))  # raises BlockingIOError when empty
            self._rbuf, self._rpos, self._rsock = data, 0, self._sock
            if not data:
                return data  # the broker closed the connection
        start = self._rpos
        self._rpos = min(start + bufsize, len(self._rbuf))
        return self._rbuf[start:self._rpos]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        # what sits in our buffer would otherwise wait until the socket turns readable again
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._buffered():
            rc = super().loop_read(1)
        return rc

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK QoS 1 messages ``mids`` (received with ``manual_ack``) in one queued write:
        paho's ``ack`` queues and wakes its network thread once per message."""
        if mids:
            packet = b"".join([_PUBACK.pack(0x40, 2, mid) for mid in mids])
            self._packet_queue(0x40, packet, 0, 1)

    def _handle_publish(self) -> MQTTErrorCode:
        decoded = (decode_plain_publish(self._in_packet["command"], self._in_packet["packet"])
                   if self._manual_ack else None)
        if decoded is None:
            return super()._handle_publish()
        topic, payload, mid = decoded
        self.on_publish_fast(topic, payload, mid, 1)
        return MQTTErrorCode.MQTT_ERR_SUCCESS


def decode_plain_publish(command: int, packet: bytes | bytearray) -> tuple[str, bytes, int] | None:
    """``(topic, payload, mid)`` of an MQTT 5 QoS 1 PUBLISH without properties that is not
    retained; ``None`` for anything else (paho's general path decodes it or reports it)."""
    if command & 0x07 != 0x02:  # QoS 1, not retained (the DUP flag does not matter)
        return None
    try:
        tlen = (packet[0] << 8) | packet[1]
        pos = 2 + tlen
        mid = (packet[pos] << 8) | packet[pos + 1]
        if packet[pos + 2] != 0:  # property length: properties present
            return None
        topic = bytes(packet[2:pos]).decode("utf-8")
    except (IndexError, UnicodeDecodeError):
        return None
    return topic, bytes(packet[pos + 3:]), mid

