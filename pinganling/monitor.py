"""``pinganling monitor``: watch gateway traffic; ``--ack`` acknowledges events like the server.

The server sends an event's ack only after its database commit. Without a server (a technician at
a bench, the tests of the gateway), this monitor can play that part: it acks what it has received.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import aiomqtt

from kernel.contract import (
    AccBlock,
    Ack,
    ContractError,
    Down,
    Event,
    Heartbeat,
    Status,
    Topics,
    Up,
    Vitals,
    dump,
    parse,
)
from kernel.services.broker import BrokerAddress


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--username", default=os.environ.get("PINGANLING_MQTT_USERNAME"),
                        help="broker identity (default $PINGANLING_MQTT_USERNAME); a monitor "
                             "identity reads up/ only")
    parser.add_argument("--password-file", type=Path,
                        help="file holding its password (default $PINGANLING_MQTT_PASSWORD)")
    parser.add_argument("--tls", action="store_true", help="connect over TLS")
    parser.add_argument("--ca", type=Path, help="CA certificate to verify the broker with")
    parser.add_argument("--root", default=Topics().root, help="topic root")
    parser.add_argument("--ack", action="store_true",
                        help="acknowledge events (only where no server runs!)")
    parser.add_argument("--telemetry", action="store_true", help="also print every acc block")


def run(args: argparse.Namespace) -> int:
    password = (args.password_file.read_text().strip() if args.password_file
                else os.environ.get("PINGANLING_MQTT_PASSWORD"))
    broker = BrokerAddress(args.host, args.port, args.username, password, args.tls or bool(
        args.ca), args.ca)
    try:
        asyncio.run(monitor(broker, Topics(args.root), ack=args.ack, telemetry=args.telemetry))
    except aiomqtt.MqttError as exc:
        print(f"pinganling monitor: broker {broker.url}: {exc}", file=sys.stderr)
        return 1
    return 0


def describe(topics: Topics, topic: str, payload: bytes, telemetry: bool = True) -> str | None:
    """One human-readable line for a message, or None to skip it."""
    clock = time.strftime("%H:%M:%S")
    try:
        gw, channel = topics.parse(topic)
        if channel == Up.EVENT:
            e = parse(Event, payload)
            tag = "ALARM" if e.is_alarm else "event"
            extra = "".join(f" {k}={v}" for k, v in e.data.items())
            batt = f" battery {e.battery_mv} mV" if e.battery_mv else ""
            rssi = f" rssi {e.rssi} dBm" if e.rssi is not None else ""
            return f"{clock} {gw} {tag:5} {e.type.value:12} {e.device} #{e.n}{rssi}{batt}{extra}"
        if channel == Up.ACC:
            if not telemetry:
                return None
            b = AccBlock.decode(payload)
            return f"{clock} {gw} acc   {b.device} {len(b.samples)} samples @ {b.rate_hz:g} Hz"
        if channel == Up.VITALS:
            v = parse(Vitals, payload)
            parts = [f"HR {r.hr}" if r.hr is not None else f"SpO2 {r.spo2}" for r in v.readings]
            return f"{clock} {gw} vital {v.device} " + ", ".join(parts[-4:])
        if channel == Up.STATUS:
            return f"{clock} {gw} status {parse(Status, payload).state}"
        if channel == Up.HEARTBEAT:
            h = parse(Heartbeat, payload)
            return (f"{clock} {gw} heartbeat: outbox {h.outbox.depth} (alarms {h.outbox.alarms},"
                    f" shed {h.outbox.shed}), {len(h.devices)} devices")
        return f"{clock} {gw} {channel.value} {payload[:120]!r}"
    except ContractError as exc:
        return f"{clock} malformed message on {topic}: {exc}"


class Acker:
    """Batches event acks per gateway incarnation and publishes them, like the server does
    after commit."""

    MAX_PENDING, MAX_WAIT_S = 500, 0.05

    def __init__(self, client: aiomqtt.Client, topics: Topics) -> None:
        self.client = client
        self.topics = topics
        self.pending: dict[tuple[str, str | None], list[int]] = defaultdict(list)
        self.count = 0
        self.since: float | None = None

    def add(self, event: Event) -> None:
        self.pending[(event.gw, event.inc)].append(event.n)
        self.count += 1
        self.since = self.since or time.monotonic()

    def due(self, idle: bool) -> bool:
        """Flush when nothing else is waiting, or enough is pending, or it has waited enough."""
        return self.count > 0 and (idle or self.count >= self.MAX_PENDING or (
            self.since is not None and time.monotonic() - self.since >= self.MAX_WAIT_S))

    async def flush(self) -> None:
        pending, self.pending, self.count, self.since = self.pending, defaultdict(list), 0, None
        for (gw, inc), ids in pending.items():
            for ack in Ack.batches(ids, inc):
                await self.client.publish(self.topics.down(gw, Down.ACK), dump(ack), qos=1)


async def monitor(broker: BrokerAddress, topics: Topics, *, ack: bool, telemetry: bool,
                  out: TextIO = sys.stdout,
                  on_event: Callable[[Event], None] | None = None,
                  on_subscribed: Callable[[], None] | None = None) -> None:
    """Print every uplink message; acknowledge events when ``ack``. A subscription the broker
    refuses (an identity without the right) is an ``aiomqtt.MqttError``."""
    async with aiomqtt.Client(**broker.aiomqtt_args(),
                              protocol=aiomqtt.ProtocolVersion.V5) as client:
        granted = await client.subscribe(topics.all_up(), qos=1)
        refused = [code for code in granted or () if getattr(code, "is_failure", False)]
        if refused:
            raise aiomqtt.MqttCodeError(refused[0], f"subscription to {topics.all_up()} refused")
        if on_subscribed:
            on_subscribed()
        acker = Acker(client, topics)
        print(f"monitoring {broker.url}/{topics.all_up()}"
              f"{' (acknowledging events)' if ack else ''}", file=out, flush=True)
        async for message in client.messages:
            topic, payload = str(message.topic), bytes(message.payload or b"")
            line = describe(topics, topic, payload, telemetry)
            if line:
                print(line, file=out, flush=True)
            if topic.endswith(f"/up/{Up.EVENT.value}"):
                try:
                    event = parse(Event, payload)
                except ContractError:
                    continue
                if on_event:
                    on_event(event)
                if ack:
                    acker.add(event)
            if ack and acker.due(idle=len(client.messages) == 0):
                await acker.flush()
