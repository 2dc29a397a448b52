"""Background telemetry of ``bench/alarm_latency.py``: ≥ 1,000 wearables through paho, QoS 1.

Run as its own process (``python bench/alarm_latency_load.py '<FleetSpec as JSON>'``). One
AccBlock (50 int16 x/y/z samples) per wearable per second, encoded before the run and re-stamped
in place (t0 = its send time, seq); Vitals with one reading per second, sent every
``vitals_every`` s per wearable (as a gateway flushes them) and a Heartbeat listing the
gateway's wearables every ``heartbeat_every`` s per gateway, both encoded a second ahead (they
carry wall-clock times the server acts on). The second's messages are spread over
``slices_per_s`` slices, each wearable and gateway at its own phase, on one MQTT 5 connection
that publishes on each gateway's own topics.

Protocol on stdin/stdout: prints ``ready``; waits for ``go``; publishes until ``stop`` (or the
spec's ``seconds``); prints ``result <JSON>`` (sent, acknowledged, lag, CPU) and exits.
:class:`LoadProcess` is the parent's side of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import paho.mqtt.client as paho
from _common import logged_in
from paho.mqtt.enums import CallbackAPIVersion

from hardware.catalog import DeviceKind
from kernel.contract import (
    AccBlock,
    DeviceHealth,
    Heartbeat,
    OutboxHealth,
    Topics,
    Up,
    VitalReading,
    Vitals,
    dump,
)

_T0_SEQ = struct.Struct("<qI")  # AccBlock header: t0 µs and seq at byte offset 4
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """The simulated fleet: gateways carrying 2, 1, 2, 1, … wearables (1.5 on average)."""

    host: str
    port: int
    root: str
    wearables: int = 1000
    seconds: int = 60
    slices_per_s: int = 50
    vitals_every: int = 5
    heartbeat_every: int = 30
    ack_wait_s: float = 10.0  # after the last publish, for outstanding PUBACKs

    @property
    def gateways(self) -> int:
        return (self.wearables * 2 + 2) // 3

    @staticmethod
    def gateway_id(g: int) -> str:
        return f"bg-gw-{g:05d}"

    @staticmethod
    def device(w: int) -> str:
        return f"ble-c0ffee{w:06x}"

    def layout(self) -> list[tuple[str, list[str]]]:
        """``(gateway id, its wearables' uids)`` for every gateway."""
        out, w = [], 0
        for g in range(self.gateways):
            k = min(2 - g % 2, self.wearables - w)
            out.append((self.gateway_id(g), [self.device(i) for i in range(w, w + k)]))
            w += k
        return out


Message = tuple[str, bytes]


def _acc_templates(spec: FleetSpec, topics: Topics) -> list[tuple[str, bytearray]]:
    rng = np.random.default_rng(7)
    out = []
    for gw, devices in spec.layout():
        for device in devices:
            # someone sitting still: 1 g on z (1/256 g per count), ~0.03 g of movement
            samples = np.rint(rng.normal(0.0, 8.0, size=(50, 3))).astype(np.int16)
            samples[:, 2] += 256
            block = AccBlock(device, 0, 0, 50.0, 1 / 256, samples)
            out.append((topics.up(gw, Up.ACC), bytearray(block.encode())))
    return out


class Extras:
    """Vitals and heartbeats, encoded a second ahead with that second's wall-clock time (the
    server judges gateways by heartbeat time, so payloads cannot be encoded long before)."""

    def __init__(self, spec: FleetSpec, topics: Topics) -> None:
        self.spec = spec
        self.vitals: list[tuple[int, str, str, str, int]] = []  # slot, topic, gw, device, w
        self.heartbeats: list[tuple[int, str, str, list[str]]] = []  # slot, topic, gw, devices
        w = 0
        for g, (gw, devices) in enumerate(spec.layout()):
            for device in devices:
                self.vitals.append((w % spec.vitals_every, topics.up(gw, Up.VITALS), gw, device,
                                    w))
                w += 1
            self.heartbeats.append((g % spec.heartbeat_every, topics.up(gw, Up.HEARTBEAT), gw,
                                    devices))

    def second(self, k: int, now: float) -> list[Message]:
        spec, out = self.spec, []
        for slot, topic, gw, device, w in self.vitals:
            if slot == k % spec.vitals_every:
                readings = [VitalReading(ts=now - i, hr=62 + (w + i) % 20, contact=True,
                                         spo2=97.0) for i in range(spec.vitals_every)]
                out.append((topic, dump(Vitals(gw=gw, device=device, readings=readings))))
        for slot, topic, gw, devices in self.heartbeats:
            if slot == k % spec.heartbeat_every:
                health = [DeviceHealth(device=d, kind=DeviceKind.WEARABLE.value, last_seen=now,
                                       battery_pct=80) for d in devices]
                out.append((topic, dump(Heartbeat(
                    gw=gw, ts=now, uptime_s=3600.0 + k, interval_s=spec.heartbeat_every,
                    outbox=OutboxHealth(depth=0, alarms=0, shed=0), devices=health))))
        return out


class Publisher:
    """One paho MQTT 5 client (network loop in its thread); counts PUBACKs."""

    def __init__(self, spec: FleetSpec) -> None:
        self.acked = 0
        self.client = paho.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"alarm-bench-load-{os.getpid()}",
                                  protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(2000)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        logged_in(self.client).connect(spec.host, spec.port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + 10
        while not self.client.is_connected():
            if time.monotonic() > deadline:
                raise ConnectionError(f"no CONNACK from {spec.host}:{spec.port}")
            time.sleep(0.01)

    def _on_publish(self, *_: Any) -> None:
        self.acked += 1

    def publish(self, messages: list[Message]) -> None:
        for topic, payload in messages:
            self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(spec: FleetSpec, go: threading.Event, stop: threading.Event) -> dict[str, Any]:
    """Publish second by second until ``stop`` or the end of the spec; the figures."""
    topics = Topics(spec.root)
    acc = _acc_templates(spec, topics)
    extras = Extras(spec, topics)
    pub = Publisher(spec)
    print("ready", flush=True)
    go.wait()
    cpu0, start, n = time.process_time(), time.monotonic(), spec.slices_per_s
    wall0 = time.time()
    extra = extras.second(0, wall0)
    sent: Counter[str] = Counter()
    lag = 0.0
    for k in range(spec.seconds):
        this, extra = extra, []
        for i in range(n):
            if stop.is_set():
                break
            due = start + k + i / n
            late = time.monotonic() - due
            if late < 0:
                time.sleep(-late)
            lag = max(lag, late)
            now_us = int(time.time() * 1e6)  # t0 = send time: received_at - t0 is the lag
            blocks = acc[i::n]
            for _, block in blocks:
                _T0_SEQ.pack_into(block, 4, now_us, k)
            pub.publish([(t, bytes(b)) for t, b in blocks] + this[i::n])
            sent["acc"] += len(blocks)
            sent["vitals_or_heartbeat"] += len(this[i::n])
            if i == n - 1:  # in the last slice's slack: the next second's vitals, heartbeats
                extra = extras.second(k + 1, wall0 + k + 1)
        if stop.is_set():
            break
    elapsed = time.monotonic() - start
    total = sum(sent.values())
    deadline = time.monotonic() + spec.ack_wait_s
    while pub.acked < total and time.monotonic() < deadline:
        time.sleep(0.05)
    pub.close()
    return {"sent": dict(sent), "acked": pub.acked, "seconds": round(elapsed, 2),
            "msgs_per_s": round(total / elapsed, 1) if elapsed else 0.0,
            "lag_max_ms": round(lag * 1000, 1), "cpu_s": round(time.process_time() - cpu0, 2)}


def spec_json(spec: FleetSpec) -> str:
    return json.dumps(asdict(spec))


class LoadProcess:
    """``alarm_latency_load.py`` in its own session: ``ready`` → ``go`` → ``stop`` → result."""

    def __init__(self, spec: FleetSpec, log_path: Path) -> None:
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), spec_json(spec)], cwd=REPO,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True, text=True)
        self.log_path = log_path

    def _line(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise RuntimeError(f"load generator exited ({self.proc.wait()}):\n"
                           f"{self.log_path.read_text()[-2000:]}")

    def wait_ready(self) -> None:
        self._line("ready")

    def _send(self, word: str) -> None:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        stdin.write(word + "\n")
        stdin.flush()

    def go(self) -> None:
        self._send("go")

    def finish(self) -> dict[str, Any]:
        self._send("stop")
        result: dict[str, Any] = json.loads(self._line("result"))
        self.proc.wait(15)
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()  # the generator stops when its stdin closes
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)



def main() -> int:
    spec = FleetSpec(**json.loads(sys.argv[1]))
    go, stop = threading.Event(), threading.Event()

    def control() -> None:
        for line in sys.stdin:
            (go if line.strip() == "go" else stop).set()
        go.set()  # stdin closed: the parent is gone
        stop.set()

    threading.Thread(target=control, name="control", daemon=True).start()
    result = run(spec, go, stop)
    print("result " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
