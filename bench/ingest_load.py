"""Load generator of ``bench/ingest.py``: simulated gateways publishing QoS 1 through the broker.

Each generator process owns a share of the fleet and one MQTT 5 connection, over which it
publishes on its gateways' own topics (``{root}/gw/{id}/up/...``), paced per second: one
AccBlock per wearable (50 int16 x/y/z samples, encoded once with ``AccBlock.encode`` and
re-stamped per second), a Vitals message per wearable every ``vitals_every`` seconds and an
event per gateway every ``event_every`` seconds, PIR motion or (one in ten) a button press
(both pre-encoded with ``contract.dump``).

Messages go out through ``ingest_mqtt.RawPublisher`` (``ceiling_paho`` measures paho for
comparison), which records which ones the broker acknowledged (PUBACK), so the caller can count
losses.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from _common import logged_in
from ingest_mqtt import KEY_SHIFT, RawPublisher, utf8
from paho.mqtt.enums import CallbackAPIVersion

from kernel.contract import (
    AccBlock,
    Event,
    EventType,
    Topics,
    Up,
    VitalReading,
    Vitals,
    dump,
    event_id,
)

_T0_SEQ = struct.Struct("<qI")  # AccBlock header fields t0 µs and seq, at offset 4
_EVENT_N_BASE = 1
INC = "10ad00000001"  # every simulated gateway's incarnation


@dataclass(frozen=True, slots=True)
class Fleet:
    """The simulated fleet of one phase: gateways with 1–2 wearables each (1.5 on average)."""

    root: str
    tag: str  # makes gateway ids and device uids unique to the phase
    wearables: int
    vitals_every: int = 10
    event_every: int = 100

    @property
    def gateways(self) -> int:
        return (self.wearables * 2 + 2) // 3

    def gateway_id(self, g: int) -> str:
        return f"{self.tag}-gw-{g:06d}"

    def device(self, w: int) -> str:
        return f"{self.tag}-wr-{w:06d}"

    def layout(self) -> list[tuple[int, list[int]]]:
        """``(gateway index, wearable indices)`` for every gateway: 2, 1, 2, 1, … wearables."""
        out, w = [], 0
        for g in range(self.gateways):
            k = min(2 - g % 2, self.wearables - w)
            out.append((g, list(range(w, w + k))))
            w += k
        return out

    def offered_per_s(self) -> dict[str, float]:
        return {"acc": float(self.wearables), "vitals": self.wearables / self.vitals_every,
                "event": self.gateways / self.event_every}


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What one generator process does: its share ``part`` of ``parts`` of the fleet."""

    host: str
    port: int
    fleet: Fleet
    part: int
    parts: int
    duration_s: float
    slices_per_s: int = 50
    drain_s: float = 30.0  # wait this long at most for the last PUBACKs
    overrun_s: float = 5.0  # stop publishing this long after the schedule's end, even if behind


# ------------------------------------------------------------------------------ messages


@dataclass(slots=True)
class _Share:
    """The pre-built part of one process's fleet share."""

    acc: list[tuple[bytes, bytearray, int]] = field(default_factory=list)  # head, block, w
    vitals: list[tuple[int, bytes, int, str, str]] = field(default_factory=list)
    events: list[tuple[int, bytes, int, str]] = field(default_factory=list)


def _topic(topics: Topics, gw: str, channel: Up) -> bytes:
    return utf8(topics.up(gw, channel))


def build_share(spec: LoadSpec) -> _Share:
    fleet, topics, share = spec.fleet, Topics(spec.fleet.root), _Share()
    rng = np.random.default_rng(spec.part)
    for g, wearables in fleet.layout()[spec.part :: spec.parts]:
        gw = fleet.gateway_id(g)
        for w in wearables:
            samples = rng.integers(-300, 300, size=(50, 3), dtype=np.int16)
            samples[:, 2] += 256  # 1 g on z at 1/256 g per count
            block = AccBlock(fleet.device(w), 0, 0, 50.0, 1 / 256, samples)
            share.acc.append((_topic(topics, gw, Up.ACC), bytearray(block.encode()), w))
            share.vitals.append((w % fleet.vitals_every, _topic(topics, gw, Up.VITALS), w, gw,
                                 fleet.device(w)))
        share.events.append((g % fleet.event_every, _topic(topics, gw, Up.EVENT), g, gw))
    return share


def _vitals(gw: str, device: str, t_end: float, n: int) -> bytes:
    readings = [VitalReading(ts=t_end - i, hr=60 + (i * 7) % 30, contact=True)
                for i in range(n)]
    payload: bytes = dump(Vitals(gw=gw, device=device, readings=readings))
    return payload


def _event(gw: str, g: int, n: int, ts: float) -> bytes:
    """A PIR motion event; one in ten a button press (which raises an alert)."""
    press = (g + n) % 10 == 0
    kind, device = (EventType.PRESS, f"rf-{gw}") if press else (EventType.MOTION, f"pir-{gw}")
    payload: bytes = dump(Event(id=event_id(gw, INC, n), gw=gw, inc=INC, n=n, ts=ts,
                                device=device, dseq=n % 65_536, type=kind, rssi=-61,
                                battery_mv=2950))
    return payload


def pre_encode(spec: LoadSpec, share: _Share, t0: float) -> list[list[tuple[str, int, bytes,
                                                                            bytes]]]:
    """Vitals and events of every second of the run: ``(kind, key, topic head, payload)``."""
    fleet, seconds = spec.fleet, int(spec.duration_s)
    out: list[list[tuple[str, int, bytes, bytes]]] = [[] for _ in range(seconds)]
    for k in range(seconds):
        for slot, head, w, gw, device in share.vitals:
            if slot == k % fleet.vitals_every:
                payload = _vitals(gw, device, t0 + k, fleet.vitals_every)
                out[k].append(("vitals", w << KEY_SHIFT | k, head, payload))
        for slot, head, g, gw in share.events:
            if slot == k % fleet.event_every:
                n = _EVENT_N_BASE + k // fleet.event_every
                out[k].append(("event", g << KEY_SHIFT | n, head, _event(gw, g, n, t0 + k)))
    return out


# ----------------------------------------------------------------------------- processes


def generator_main(pipe: Connection) -> None:
    """Process entry: run jobs ``(target, spec)`` from ``pipe`` until told ``exit``.

    Each job builds its share, connects, says ``ready``, waits for ``go`` (a wall-clock start),
    publishes and sends ``done`` with its figures; the process serves the whole run.
    """
    while True:
        job = pipe.recv()
        if job[0] == "exit":
            return
        target, spec = job
        pipe.send(("done", (schedule if target == "schedule" else ceiling)(spec, pipe)))


def schedule(spec: LoadSpec, pipe: Connection) -> dict[str, Any]:
    """The fleet's messages at their pace: every second an AccBlock per wearable, etc."""
    share = build_share(spec)
    t_wall = time.time()
    extra = pre_encode(spec, share, t_wall)
    pub = RawPublisher(spec.host, spec.port, f"bench-load-{os.getpid()}")
    pipe.send(("ready", len(share.acc)))
    _, start_at = pipe.recv()
    try:
        return _publish(spec, share, extra, pub, start_at, int(t_wall * 1e6))
    finally:
        pub.close()


def _publish(spec: LoadSpec, share: _Share, extra: list[list[tuple[str, int, bytes, bytes]]],
             pub: RawPublisher, start_at: float, t0_us: int) -> dict[str, Any]:
    cpu0, n = time.process_time(), spec.slices_per_s
    lag = 0.0
    time.sleep(max(0.0, start_at - time.time()))
    start = time.monotonic()
    pub.deadline = start + spec.duration_s + spec.overrun_s  # far behind: stop offering
    for k in range(int(spec.duration_s)):
        if time.monotonic() > pub.deadline:
            break
        messages = []
        for head, block, w in share.acc:
            _T0_SEQ.pack_into(block, 4, t0_us + k * 1_000_000, k)
            messages.append(("acc", w << KEY_SHIFT | k, head, bytes(block)))
        messages += extra[k]
        step = (len(messages) + n - 1) // n
        for i in range(n):
            due, now = start + k + i / n, time.monotonic()
            if now > pub.deadline:
                break
            if due > now:
                pub.read(due - now)
            else:
                lag = max(lag, now - due)
            pub.publish(messages[i * step : (i + 1) * step])
    send_end = time.monotonic()
    sent = pub.sent()
    pub.drain(spec.drain_s)
    return {"sent": sent, "acked": {k: np.asarray(v, np.int64) for k, v in
                                          pub.acked.items()},
            "unacked": len(pub.pending), "refused": dict(pub.refused), "lag_max_s": lag,
            "start": start, "send_s": send_end - start, "cpu_s": time.process_time() - cpu0}


def ceiling(spec: LoadSpec, pipe: Connection) -> dict[str, Any]:
    """Acc blocks as fast as the raw publisher and the broker take them."""
    share = build_share(spec)
    pub = RawPublisher(spec.host, spec.port, f"bench-ceiling-{os.getpid()}")
    pipe.send(("ready", len(share.acc)))
    _, start_at = pipe.recv()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, start, k = time.process_time(), time.monotonic(), 0
    pub.deadline = start + spec.duration_s + spec.overrun_s
    while time.monotonic() - start < spec.duration_s:
        batch = []
        for _ in range(500):
            head, block, _w = share.acc[k % len(share.acc)]
            _T0_SEQ.pack_into(block, 4, 0, k)
            batch.append(("acc", k, head, bytes(block)))
            k += 1
        pub.publish(batch)
    pub.drain(spec.drain_s)
    elapsed = time.monotonic() - start
    pub.close()
    return {"acked": len(pub.acked["acc"]), "elapsed_s": elapsed,
            "cpu_s": time.process_time() - cpu0}


def ceiling_paho(host: str, port: int, root: str, seconds: float) -> dict[str, float]:
    """The same with paho (MQTT 5, QoS 1, own loop, window 10,000): its messages/s and CPU."""
    acked = 0

    def on_publish(*_: object) -> None:
        nonlocal acked
        acked += 1

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(0)  # unlimited: paho's own limit walks all in flight
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    logged_in(client).connect(host, port)
    while not client.is_connected():
        client.loop(0.05)
    payload = AccBlock("paho-ceiling", 0, 0, 50.0, 1 / 256,
                       np.zeros((50, 3), np.int16)).encode()
    topic = Topics(root).up("paho-ceiling", Up.ACC)
    cpu0, start, sent = time.process_time(), time.monotonic(), 0
    while time.monotonic() - start < seconds:
        for _ in range(100):
            client.publish(topic, payload, qos=1)
        sent += 100
        client.loop_read()
        while sent - acked > 10_000:
            client.loop(0.01)
    while acked < sent and time.monotonic() - start < seconds + 10:
        client.loop(0.01)
    elapsed = time.monotonic() - start
    client.disconnect()
    return {"messages_per_s": acked / elapsed, "cpu_us_per_msg":
            (time.process_time() - cpu0) / max(acked, 1) * 1e6}
