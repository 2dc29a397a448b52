"""A few lines of MQTT 5 on a socket, for ``bench/ingest.py``'s load generator and checks.

Not paho: paho's publisher spends ~100 µs of CPU per QoS 1 message (it decodes each PUBACK into
property and reason-code objects and sends each packet with its own ``send()``), a whole core at
the benchmark's rate on a 2-core box. Here packets are written in batches and PUBACKs parsed in
bulk, ~20 µs per message. It also reads back what is still queued in a stopped worker's session.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import time
from collections import Counter

import numpy as np
from _common import mqtt_login

from kernel.contract import ACC_HEADER

KEY_SHIFT = 32  # message keys: (wearable or gateway index) << 32 | seq or n


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = n >> 7, n & 0x7F
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s: str) -> bytes:
    raw = s.encode()
    return struct.pack(">H", len(raw)) + raw


_PROP_SIZES = {0x01: 1, 0x02: 4, 0x11: 4, 0x13: 2, 0x17: 1, 0x19: 1, 0x21: 2, 0x22: 2, 0x24: 1,
               0x25: 1, 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1}


def _connack_props(data: bytes) -> dict[int, int]:
    """Integer properties of a CONNACK (receive maximum 0x21 is the one we need)."""
    length, pos, shift = 0, 2, 0
    while True:
        b = data[pos]
        length |= (b & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not b & 0x80:
            break
    out, end = {}, pos + length
    while pos < end:
        pid = data[pos]
        pos += 1
        if pid in _PROP_SIZES:
            size = _PROP_SIZES[pid]
            out[pid] = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        elif pid == 0x26:  # user property: two strings
            for _ in range(2):
                pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
        else:  # a string or binary property
            pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
    return out


def mqtt_connect(host: str, port: int, client_id: str, *, resume: bool = False,
                 ) -> tuple[socket.socket, dict[int, int]]:
    """An MQTT 5 connection (blocking socket) and the CONNACK's integer properties.

    ``resume``: take over the persistent session of ``client_id`` (session expiry 1 h,
    receive maximum 65,535) instead of a clean, non-persistent one.
    """
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    props = b"\x11" + (3600).to_bytes(4, "big") + b"\x21\xff\xff" if resume else b""
    login = mqtt_login()  # the benchmark broker's identity: no broker lets anyone in
    flags = (0x00 if resume else 0x02) | (0xC0 if login["username"] else 0)
    body = (utf8("MQTT") + bytes([5, flags]) + struct.pack(">H", 0)
            + _varint(len(props)) + props + utf8(client_id))
    if login["username"]:
        body += utf8(login["username"]) + utf8(login["password"] or "")
    sock.sendall(b"\x10" + _varint(len(body)) + body)
    head = _read_exact(sock, 2)
    rest = _read_exact(sock, head[1]) if head[1] < 128 else b""
    if head[0] != 0x20 or len(rest) < 2 or rest[1] != 0:
        raise ConnectionError(f"CONNACK refused: {head.hex()} {rest.hex()}")
    return sock, _connack_props(rest)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return data


class RawPublisher:
    """MQTT 5 QoS 1 publisher: batched writes, PUBACKs parsed in bulk, a bounded window."""

    def __init__(self, host: str, port: int, client_id: str, window: int = 20_000) -> None:
        self.sock, props = mqtt_connect(host, port, client_id)
        self.window = min(window, props.get(0x21, 65_535), 60_000)
        self.sock.setblocking(False)
        self.pending: dict[int, tuple[str, int]] = {}
        self.acked: dict[str, list[int]] = {"acc": [], "vitals": [], "event": []}
        self.refused: Counter[str] = Counter()
        self.deadline = float("inf")  # time.monotonic() after which publish() gives up
        self._mid = 0
        self._inbuf = b""

    def packet(self, head: bytes, payload: bytes, kind: str, key: int) -> bytes:
        """One PUBLISH packet (``head``: the topic, length-prefixed); remembers its mid."""
        mid = self._mid = self._mid % 65_535 + 1
        self.pending[mid] = (kind, key)
        rest = head + mid.to_bytes(2, "big") + b"\x00" + payload
        return b"\x32" + _varint(len(rest)) + rest

    def read(self, timeout: float = 0.0) -> None:
        """Take in what the broker sent (PUBACKs) within ``timeout``."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        while ready:
            try:
                chunk = self.sock.recv(1 << 18)
            except BlockingIOError:
                break
            if not chunk:
                raise ConnectionError("broker closed the connection")
            self._parse(self._inbuf + chunk)
            ready, _, _ = select.select([self.sock], [], [], 0)

    def _parse(self, buf: bytes) -> None:
        pos, end = 0, len(buf)
        while pos + 2 <= end:
            kind, rl = buf[pos], buf[pos + 1]
            if rl >= 128:
                raise ConnectionError(f"unexpected packet 0x{kind:02x} from the broker")
            if pos + 2 + rl > end:
                break
            if kind == 0x40:
                mid = (buf[pos + 2] << 8) | buf[pos + 3]
                reason = buf[pos + 4] if rl >= 3 else 0
                what, key = self.pending.pop(mid)
                if reason < 0x80:
                    self.acked[what].append(key)
                else:
                    self.refused[f"{what}_0x{reason:02x}"] += 1
            elif kind == 0xE0:
                raise ConnectionError(f"broker disconnected us: {buf[pos:pos + 2 + rl].hex()}")
            pos += 2 + rl
        self._inbuf = buf[pos:]

    def publish(self, messages: list[tuple[str, int, bytes, bytes]]) -> None:
        """Publish ``(kind, key, topic head, payload)`` items within the window; read PUBACKs."""
        i = 0
        while i < len(messages) and time.monotonic() < self.deadline:
            room = self.window - len(self.pending)
            if room <= 0:
                self.read(0.05)
                continue
            chunk = messages[i : i + room]
            i += len(chunk)
            self._write(b"".join([self.packet(h, p, k, key) for k, key, h, p in chunk]))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and time.monotonic() < self.deadline:
            _, writable, _ = select.select([], [self.sock], [], 0.05)
            if writable:
                with contextlib.suppress(BlockingIOError):
                    view = view[self.sock.send(view[: 1 << 18]) :]
            self.read()

    def sent(self) -> dict[str, int]:
        """Messages written so far, by kind (acknowledged, refused or still in flight)."""
        out = Counter({k: len(v) for k, v in self.acked.items()})
        out.update(kind for kind, _ in self.pending.values())
        for key, n in self.refused.items():
            out[key.rsplit("_", 1)[0]] += n
        return dict(out)

    def drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            self.read(0.05)

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")
        except OSError:
            pass
        self.sock.close()


def session_leftovers(host: str, port: int, client_ids: list[str],
                      quiet_s: float = 0.5) -> dict[str, np.ndarray]:
    """Keys of the acc blocks and events (and a 0 per vitals message) still queued in the
    persistent sessions of ``client_ids`` (owners stopped): taken over, read and PUBACKed."""
    keys: dict[str, list[int]] = {"acc": [], "event": [], "vitals": []}
    for client_id in client_ids:
        sock, _ = mqtt_connect(host, port, client_id, resume=True)
        buf, last = b"", time.monotonic()
        while time.monotonic() - last < quiet_s:
            if not select.select([sock], [], [], 0.1)[0]:
                continue
            chunk = sock.recv(1 << 18)
            if not chunk:
                break
            buf, acks = _take_publishes(buf + chunk, keys)
            sock.sendall(acks)
            last = time.monotonic()
        sock.sendall(b"\xe0\x00")
        sock.close()
    return {k: np.asarray(v, np.int64) for k, v in keys.items()}


def _take_publishes(buf: bytes, keys: dict[str, list[int]]) -> tuple[bytes, bytes]:
    """Parse whole packets off ``buf``; note acc/event keys; return (rest, PUBACKs to send)."""
    pos, acks = 0, []
    while pos + 2 <= len(buf):
        length, shift, i = 0, 0, pos + 1
        while i < len(buf) and buf[i] & 0x80:
            length |= (buf[i] & 0x7F) << shift
            shift, i = shift + 7, i + 1
        if i >= len(buf):
            break
        length |= buf[i] << shift
        start, end = i + 1, i + 1 + length
        if end > len(buf):
            break
        if buf[pos] >> 4 == 3:  # PUBLISH, QoS 1 (all we subscribe to)
            tlen = int.from_bytes(buf[start : start + 2], "big")
            topic = buf[start + 2 : start + 2 + tlen]
            mid_at = start + 2 + tlen
            acks.append(b"\x40\x02" + buf[mid_at : mid_at + 2])
            payload = buf[mid_at + 3 + buf[mid_at + 2] : end]  # props: ≤ 127 bytes
            if topic.endswith(b"/up/acc"):
                uid = payload[ACC_HEADER.size : ACC_HEADER.size + payload[3]]
                seq = int.from_bytes(payload[12:16], "little")
                keys["acc"].append(int(uid[-6:]) << KEY_SHIFT | seq)
            elif topic.endswith(b"/up/event"):
                event = json.loads(payload)
                keys["event"].append(int(event["gw"][-6:]) << KEY_SHIFT | int(event["n"]))
            elif topic.endswith(b"/up/vitals"):
                keys["vitals"].append(0)  # counted only
        pos = end
    return buf[pos:], b"".join(acks)
