"""Timestamps of ``bench/alarm_latency.py``: where each press is seen, on the wall clock.

``press``   bytes written to the pty (the bench, just before ``os.write``)
``outbox``  the gateway's ``on_event``: the event row is committed to its SQLite outbox
``publish`` the uplink pump hands the alarm to aiomqtt (after ``due()`` and ``mark_sent()``)
``puback``  aiomqtt's publish returned: the broker's PUBACK arrived
``broker``  the broker delivered the event to a plain (non-shared) subscriber, here
``ingest``  ``events.received_at``: the ingest writer began the event's transaction
``change``  ``alert_changes.ts``: the alert's change row, just before that commit
``notify``  the NOTIFY for that change reached a LISTEN connection, here
``ws``      the operator's WebSocket client received the change (``open``) for the alert

Every probe runs in its own thread so the bench's event loop (gateways, presses) cannot delay it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
from _common import logged_in, mqtt_login
from alarm_latency_stack import BUTTON_MODEL, HomeSpec
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import sql
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from firmware_sim.link import PtyLink
from gateway.app import Gateway
from gateway.outbox import Item, Kind
from gateway.settings import GatewaySettings, MqttSettings
from hardware.frames import Frame, MsgType, encode_frame, input_data
from kernel.contract import Event, EventType, Topics, Up
from server.alerts.feed import channel, parse_notify

STAGES = ("press", "outbox", "publish", "puback", "broker", "ingest", "change", "notify", "ws")


class Recorder:
    """First time each stage saw each press (keyed by button uid); safe across threads."""

    def __init__(self) -> None:
        self.stamps: dict[str, dict[str, float]] = {s: {} for s in STAGES}
        self.event_device: dict[int, str] = {}  # the gateway's event number → device
        self.alert_device: dict[int, str] = {}
        self.notify_at: dict[int, float] = {}
        self.ws_actions: Counter[str] = Counter()
        self.ws_seqs: list[tuple[float, int]] = []  # (received, seq) of every change
        self.change_seq: dict[str, int] = {}  # press → seq of its alert's ``open`` change

    def stamp(self, stage: str, device: str, at: float | None = None) -> None:
        self.stamps[stage].setdefault(device, time.time() if at is None else at)

    def seen(self, stage: str, devices: list[str]) -> int:
        return sum(1 for d in devices if d in self.stamps[stage])


class _Thread(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.serve()
        # the thread's outer edge: start_and_wait() and the report show the error
        except Exception as exc:  # noqa: BLE001
            self.error = exc
            self.ready.set()

    def serve(self) -> None:
        raise NotImplementedError

    def start_and_wait(self, timeout: float = 10.0) -> None:
        self.start()
        if not self.ready.wait(timeout) or self.error is not None:
            raise RuntimeError(f"{self.name} did not start: {self.error!r}")

    def close(self) -> None:
        self.stop_event.set()
        self.join(5)


class WsProbe(_Thread):
    """The operator's console: a WebSocket on /api/live; stamps ``ws`` on an alert's ``open``."""

    def __init__(self, url: str, rec: Recorder) -> None:
        super().__init__("ws-probe")
        self.url, self.rec = url, rec

    def serve(self) -> None:
        with connect(self.url, proxy=None, open_timeout=10) as ws:
            hello = json.loads(ws.recv(10))
            assert hello["type"] == "hello", hello
            self.ready.set()
            while not self.stop_event.is_set():
                try:
                    raw = ws.recv(0.2)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                at = time.time()
                msg = json.loads(raw)
                if msg.get("type") != "change":
                    continue
                self.rec.ws_actions[msg["action"]] += 1
                self.rec.ws_seqs.append((at, int(msg["seq"])))
                alert = msg.get("alert") or {}
                if msg["action"] == "open" and alert.get("device"):
                    self.rec.alert_device[int(msg["alert_id"])] = alert["device"]
                    self.rec.stamp("ws", alert["device"], at)


class NotifyProbe(_Thread):
    """LISTEN on the schema's alert channel; stamps the arrival of each ``open`` NOTIFY."""

    def __init__(self, conninfo: str, schema: str, rec: Recorder) -> None:
        super().__init__("notify-probe")
        self.conninfo, self.schema, self.rec = conninfo, schema, rec

    def serve(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel(self.schema))))
            self.ready.set()
            while not self.stop_event.is_set():
                for note in conn.notifies(timeout=0.2):
                    at = time.time()
                    data = parse_notify(note.payload)
                    if data.get("action") == "open":
                        self.rec.notify_at.setdefault(int(data["alert_id"]), at)


class EventTap(_Thread):
    """A plain MQTT subscriber of every gateway's events: when the broker forwards a press."""

    def __init__(self, host: str, port: int, topics: Topics, rec: Recorder) -> None:
        super().__init__("event-tap")
        self.host, self.port, self.topics, self.rec = host, port, topics, rec

    def serve(self) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="alarm-bench-tap",
                             protocol=paho.MQTTv5)
        client.on_connect = lambda c, *_: c.subscribe(self.topics.all_of(Up.EVENT), qos=0)
        client.on_subscribe = lambda *_: self.ready.set()
        client.on_message = self._on_message
        logged_in(client).connect(self.host, self.port, keepalive=30)
        while not self.stop_event.is_set():
            client.loop(0.1)
        client.disconnect()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        at = time.time()
        data = json.loads(msg.payload)
        if data.get("type") == EventType.PRESS.value:
            self.rec.stamp("broker", data["device"], at)


class SchedProbe(_Thread):
    """How late a thread wakes from a 1 ms sleep: the run-queue wait every hand-off between
    processes on the alarm path pays on a busy machine."""

    def __init__(self) -> None:
        super().__init__("sched-probe")
        self.samples: list[tuple[float, float]] = []  # (wall time, seconds late)

    def serve(self) -> None:
        self.ready.set()
        while not self.stop_event.is_set():
            t = time.perf_counter()
            time.sleep(0.001)
            self.samples.append((time.time(), time.perf_counter() - t - 0.001))

    def late_ms(self, start: float, end: float) -> dict[str, float]:
        late = sorted(v for t, v in self.samples if start <= t <= end)
        if not late:
            return {}

        def pick(q: float) -> float:
            return round(late[min(len(late) - 1, int(q * len(late)))] * 1000, 2)

        return {"p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": pick(1.0)}


class Home:
    """A home: the dongle's pty, an in-process ``Gateway`` with every button paired, and hooks
    that stamp ``outbox``, ``publish`` and ``puback`` for its alarms."""

    def __init__(self, spec: HomeSpec, state: Path, mqtt_port: int, rec: Recorder) -> None:
        self.spec, self.rec = spec, rec
        self.pty = PtyLink()
        self.gateway = Gateway(GatewaySettings(
            id=spec.gateway, state_dir=state / spec.gateway, serial=(self.pty.path,),
            mqtt=MqttSettings(host="127.0.0.1", port=mqtt_port, **mqtt_login())),  # type: ignore[arg-type]
            on_event=self._on_event)
        for uid in spec.buttons:
            self.gateway.registry.pair(uid, BUTTON_MODEL, "床头")
        original = self.gateway.uplink._publish_item
        setattr(self.gateway.uplink, "_publish_item", self._timed_publish(original))  # noqa: B010
        self.task: asyncio.Task[None] | None = None

    def _on_event(self, event: Event) -> None:
        if event.type == EventType.PRESS:
            self.rec.stamp("outbox", event.device)
            self.rec.event_device[event.n] = event.device

    def _timed_publish(self, original: Callable[..., Awaitable[None]],
                       ) -> Callable[..., Awaitable[None]]:
        async def publish(client: Any, item: Item, window: asyncio.Semaphore) -> None:
            device = self.rec.event_device.get(item.n) if item.kind == Kind.ALARM else None
            if device:
                self.rec.stamp("publish", device)
            await original(client, item, window)
            if device:
                self.rec.stamp("puback", device)

        return publish

    async def start(self) -> None:
        self.task = asyncio.create_task(self.gateway.run(), name=self.spec.gateway)
        await asyncio.wait_for(self.gateway.uplink.connected.wait(), 15)
        await asyncio.wait_for(self.gateway.serial[0].connected.wait(), 15)

    def press(self, device_id: int, uid: str) -> None:
        """One PRESS frame on the pty (a single RF transmission), stamped just before."""
        frame = encode_frame(Frame(MsgType.PRESS, device_id, 1, rssi=-60, battery_mv=2950,
                                   data=input_data()))
        self.rec.stamp("press", uid)
        self.pty.write(frame)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.wait([self.task], timeout=10)
        self.pty.close()
