"""Button presses through a real pty while the broker and the gateway fail: is any alarm lost?

    .venv/bin/python bench/gateway_outage.py [--quick] [--json]

The gateway runs as a real process (``pinganling gateway run``) so it can be ``kill -9``'d; the
baseline, a naive forwarder (each frame published at QoS 1 as it is read, no outbox, no
application ack), runs beside it on a pty of its own and is put through the same phases. Every
press goes to both ptys, only while both processes have their port open. The server is played
by a persistent MQTT 5 session (as ``server/ingest/mqtt.py`` has it) that acknowledges every
event (``_common.AckServer``); a spy (``pinganling.monitor.monitor`` without acks) tells
when the broker has accepted a message. See bench/README.md for the phases.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
from _common import (
    AckServer,
    ChildProcess,
    bench_address,
    bench_broker,
    cancel,
    emit,
    logged_in,
    mqtt_login,
    parse_args,
    press_frame,
    wait_for,
)

from firmware_sim.link import PtyLink
from gateway.registry import Registry
from hardware.catalog import rf_uid
from kernel.contract import Event, Topics, Up, parse
from kernel.services.broker import BrokerOptions
from pinganling.monitor import monitor

GW_ID = "gw-bench-0001"
NAIVE_ID = "gw-naive-0001"
BUTTONS = tuple(0x0B1E0000 + i for i in range(4))
PHASES = ("normal", "broker_stopped", "broker_restarted", "gateway_kill9", "gateway_restarted",
          "broker_kill9", "broker_kill9_stock", "offline_kill9")
# persistence, autosave after 1,000 changes (as the platform runs it); the benchmark's identity
PLATFORM = BrokerOptions(superuser=True)
STOCK = BrokerOptions(autosave_on_changes=None, superuser=True)  # Mosquitto's 1800 s autosave
Key = tuple[str, int]  # (device uid, device seq): one press


# ------------------------------------------------------------------------------- the baseline


def naive_forwarder(serial_url: str, port: int, root: str) -> None:
    """The baseline, run as its own process: publish each frame at QoS 1 as soon as it is read.

    paho's in-memory queue carries messages over a broker outage and a PUBACK ends the
    forwarder's responsibility: no outbox, no application ack, nothing on disk.
    """
    import paho.mqtt.client as mqtt
    import serial
    from paho.mqtt.enums import CallbackAPIVersion

    from gateway.events import frame_event
    from gateway.outbox import new_incarnation
    from hardware.frames import Deframer
    from kernel.contract import dump

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=NAIVE_ID,
                         protocol=mqtt.MQTTv5)
    client.reconnect_delay_set(1, 30)  # about the gateway's uplink backoff (0.5 … 30 s)
    logged_in(client)
    client.connect_async("127.0.0.1", port)
    client.loop_start()
    topic = Topics(root).up(NAIVE_ID, Up.EVENT)
    link = serial.serial_for_url(serial_url, timeout=0.05)
    print(f"serial link {serial_url} open", flush=True)
    deframer = Deframer()
    inc = new_incarnation()  # no state: a new incarnation each run
    while True:
        for frame in deframer.feed(link.read(4096)):
            device = rf_uid(frame.device_id)
            draft = frame_event(frame, device)
            if draft is None:
                continue
            event = draft.payload(NAIVE_ID, inc, time.time_ns() // 1000, time.time())
            client.publish(topic, dump(event), qos=1)
            print(f"read {device} {frame.seq}", flush=True)


# ------------------------------------------------------------------------------- the server


class Spy:
    """``monitor`` without acks: what it has seen, the broker has accepted (and PUBACKed)."""

    def __init__(self, port: int, topics: Topics) -> None:
        self.port, self.topics = port, topics
        self.seen: set[tuple[str, str, int | None]] = set()
        self.out = io.StringIO()

    @property
    def subscribed(self) -> bool:
        return self.out.getvalue().startswith("monitoring")  # monitor's first line

    async def run(self) -> None:
        while True:
            self.out = io.StringIO()
            with contextlib.suppress(aiomqtt.MqttError):
                await monitor(bench_address(self.port), self.topics, ack=False, telemetry=False,
                              out=self.out,
                              on_event=lambda e: self.seen.add((e.gw, e.device, e.dseq)))
            self.out = io.StringIO()
            await asyncio.sleep(0.1)


# ------------------------------------------------------------------------------- the rig


@dataclass(frozen=True, slots=True)
class Press:
    phase: str
    device: str
    dseq: int


class Rig:
    """Broker, gateway and naive forwarder (each on its own pty), server, spy, presses."""

    def __init__(self, work: Path, stack: ExitStack) -> None:
        self.topics = Topics("bench/v1")
        self.broker = bench_broker(work / "broker", PLATFORM)
        stack.callback(self.broker.kill)
        self.ptys = {GW_ID: PtyLink(), NAIVE_ID: PtyLink()}
        for link in self.ptys.values():
            stack.callback(link.close)
        self.db_path = work / GW_ID / "gateway.sqlite3"
        config = work / "gateway.toml"
        config.write_text(
            f'id = "{GW_ID}"\nstate_dir = "{work / GW_ID}"\nserial = ["{self.ptys[GW_ID].path}"]\n'
            f'[mqtt]\nport = {self.broker.port}\nroot = "{self.topics.root}"\n'
            f'username = "{mqtt_login()["username"]}"\npassword = "{mqtt_login()["password"]}"\n')
        registry = Registry(self.db_path)
        for device in BUTTONS:
            registry.pair(rf_uid(device), "PB-433")
        registry.close()
        self.procs = {
            GW_ID: ChildProcess(["-m", "pinganling.cli", "gateway", "run", "-c", str(config)],
                                work / "gateway.log"),
            NAIVE_ID: ChildProcess([str(Path(__file__).resolve()), "--naive-forwarder",
                                    self.ptys[NAIVE_ID].path, str(self.broker.port),
                                    self.topics.root], work / "naive.log"),
        }
        for proc in self.procs.values():
            stack.callback(proc.stop)
        self.server = AckServer(self.broker.port, self.topics, persistent=True)
        self.spy = Spy(self.broker.port, self.topics)
        self.presses: list[Press] = []
        self.undrained: list[str] = []  # phases after which the gateway did not drain in time

    # -- forwarders

    async def start_forwarders(self) -> None:
        for proc in self.procs.values():
            proc.start()
        for gw, proc in self.procs.items():
            await proc.wait_logged(f"serial link {self.ptys[gw].path} open")

    def kill9_forwarders(self) -> None:
        for proc in self.procs.values():
            proc.kill9()

    # -- presses and what became of them

    async def press(self, phase: str, n: int, spacing: float = 0.02) -> None:
        for _ in range(n):
            k = len(self.presses)
            device = BUTTONS[k % len(BUTTONS)]
            for link in self.ptys.values():
                link.write(press_frame(device, k))
            self.presses.append(Press(phase, rf_uid(device), k))
            await asyncio.sleep(spacing)

    def pressed(self, phase: str | None = None) -> set[Key]:
        return {(p.device, p.dseq) for p in self.presses if phase in (None, p.phase)}

    def delivered(self, gw: str) -> set[Key]:
        return {(e.device, e.dseq or 0) for e in self.server.deliveries if e.gw == gw}

    def outbox_holds(self) -> set[Key]:
        """Events in the gateway's outbox (read from its SQLite file, as a technician would)."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=5)) as db:
            rows = db.execute("SELECT payload FROM outbox WHERE kind < 2").fetchall()
        events = [parse(Event, bytes(row[0])) for row in rows]
        return {(e.device, e.dseq or 0) for e in events}

    async def held(self, phase: str) -> None:
        """Both forwarders have read this phase's presses; the gateway's outbox holds them."""
        keys, last = self.pressed(phase), self.presses[-1]
        await wait_for(lambda: keys <= self.outbox_holds(), 15, f"{phase} presses in the outbox")
        await self.procs[NAIVE_ID].wait_logged(f"read {last.device} {last.dseq}", 15)

    async def accepted(self, phase: str) -> None:
        """The broker has accepted (PUBACKed) this phase's presses from both forwarders."""
        want = {(gw, d, s) for d, s in self.pressed(phase) for gw in self.procs}
        await wait_for(lambda: want <= self.spy.seen, 15, f"{phase} presses at the broker")

    async def settle(self, timeout: float) -> float:
        """Wait until the gateway's outbox is empty (every press delivered and acknowledged)
        and the baseline delivers nothing more; return the seconds the gateway took."""
        start = time.monotonic()
        try:
            await wait_for(lambda: self.pressed() <= self.delivered(GW_ID)
                           and not self.outbox_holds(), timeout, "the gateway's outbox to drain",
                           poll=0.05)
        except TimeoutError:
            self.undrained.append(self.presses[-1].phase)
        drained = time.monotonic() - start
        count, quiet_since = -1, time.monotonic()
        while not self.pressed() <= self.delivered(NAIVE_ID) \
                and time.monotonic() - start < timeout:
            if len(self.server.deliveries) != count:
                count, quiet_since = len(self.server.deliveries), time.monotonic()
            elif time.monotonic() - quiet_since > 1.0:
                break  # the baseline delivers nothing more
            await asyncio.sleep(0.05)
        return drained

    # -- the run

    async def run(self, n: int, timeout: float) -> float:
        """All phases; return the seconds the gateway took to drain after the last fault."""
        asyncio.get_running_loop().set_exception_handler(_quiet)
        self.broker.start()
        self.server.back()
        spy = asyncio.create_task(self.spy.run(), name="spy")
        try:
            await self.start_forwarders()
            await self.press("normal", n)
            await self.settle(timeout)

            self.broker.stop()
            await self.press("broker_stopped", n)
            await self.held("broker_stopped")
            self.broker.start()
            await self.press("broker_restarted", n)
            await self.settle(timeout)

            await self.server.away()
            await wait_for(lambda: self.spy.subscribed, 15, "the spy")
            await self.press("gateway_kill9", n)
            await self.accepted("gateway_kill9")
            await self.held("gateway_kill9")  # PUBACKed, not acknowledged: still in the outbox
            self.kill9_forwarders()
            self.server.back()
            await self.start_forwarders()
            await self.press("gateway_restarted", n)
            await self.settle(timeout)

            for phase, next_options in (("broker_kill9", STOCK), ("broker_kill9_stock", PLATFORM)):
                await self.server.away()  # the broker queues for the server's session
                await wait_for(lambda: self.spy.subscribed, 15, "the spy")
                await self.press(phase, n, spacing=0)  # a burst, then kill -9 at once:
                await self.accepted(phase)  # Mosquitto PUBACKs before it persists
                self.broker.kill()
                self.broker.options = next_options  # takes effect at this start
                self.broker.start()
                self.server.back()
                await self.settle(timeout)

            self.broker.stop()  # a power cut: the uplink goes first, then the gateway
            await self.press("offline_kill9", n)
            await self.held("offline_kill9")
            self.kill9_forwarders()
            await self.start_forwarders()
            self.broker.start()
            return await self.settle(timeout)
        finally:
            await cancel(spy)
            await self.server.away()


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Our clients' 'Unexpected disconnection' futures when a broker dies are expected noise."""
    if not isinstance(context.get("exception"), aiomqtt.MqttError):
        loop.default_exception_handler(context)


def tally(rig: Rig, gw: str) -> dict[str, Any]:
    """pressed / delivered_unique / lost / duplicates of one forwarder, overall and per phase."""
    phase_of = {(p.device, p.dseq): p.phase for p in rig.presses}
    events = [e for e in rig.server.deliveries if e.gw == gw]
    per_id = Counter(e.id for e in events)
    key_of = {e.id: (e.device, e.dseq or 0) for e in events}
    delivered = {key_of[i] for i in per_id} & set(phase_of)
    phases: dict[str, dict[str, int]] = {}
    for name in PHASES:
        keys = rig.pressed(name)
        dups = sum(c - 1 for i, c in per_id.items() if phase_of.get(key_of[i]) == name)
        phases[name] = {"pressed": len(keys), "lost": len(keys - delivered), "duplicates": dups}
    return {"pressed": len(phase_of), "delivered_unique": len(delivered),
            "lost": len(set(phase_of) - delivered),
            "duplicates": sum(c - 1 for c in per_id.values()), "phases": phases}


def main() -> int:
    if sys.argv[1:2] == ["--naive-forwarder"]:
        naive_forwarder(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return 0
    args = parse_args("gateway outage benchmark (alarms lost across broker / gateway failures)")
    logging.getLogger("mqtt").setLevel(logging.CRITICAL)  # our clients' "connection reset"
    n, timeout = (4, 20.0) if args.quick else (30, 60.0)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp, ExitStack() as stack:
        rig = Rig(Path(tmp), stack)
        drain_s = asyncio.run(rig.run(n, timeout))
        gateway, naive = tally(rig, GW_ID), tally(rig, NAIVE_ID)
    result: dict[str, Any] = {
        **{k: v for k, v in gateway.items() if k != "phases"},
        **{f"baseline_{k}": v for k, v in naive.items() if k != "phases"},
        "drain_s": round(drain_s, 2), "undrained": rig.undrained,
        "elapsed_s": round(time.monotonic() - started, 1),
        "phases": {name: {**gateway["phases"][name],
                          **{f"baseline_{k}": v for k, v in naive["phases"][name].items()
                             if k != "pressed"}} for name in PHASES},
    }
    lines = [f"{'phase':18} {'pressed':>7} {'lost':>5} {'dups':>5}   baseline lost  dups"]
    for name, p in result["phases"].items():
        lines.append(f"{name:18} {p['pressed']:7} {p['lost']:5} {p['duplicates']:5}   "
                     f"{p['baseline_lost']:13} {p['baseline_duplicates']:5}")
    lines += [f"gateway:  pressed {gateway['pressed']}, delivered {gateway['delivered_unique']}, "
              f"lost {gateway['lost']}, duplicates {gateway['duplicates']}, "
              f"drained {drain_s:.2f} s after the last fault",
              f"baseline: pressed {naive['pressed']}, delivered {naive['delivered_unique']}, "
              f"lost {naive['lost']}, duplicates {naive['duplicates']}",
              f"elapsed {result['elapsed_s']} s"]
    emit(result, lines, args.json)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started was stopped on the way out
        sys.exit(130)
