"""The ingest worker's MQTT side: a paho client on a shared subscription, with manual acks.

paho's network thread only queues what it receives; the writer threads ack each message to the
broker (PUBACK) after the database commit, so a worker killed mid-batch loses nothing: the broker
redelivers what it had not seen acknowledged. A full queue blocks the network thread, which is
the back-pressure: the broker keeps the rest.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from kernel.contract import Ack, Down, Topics, Up, dump
from kernel.services.broker import BrokerAddress
from server.ingest.decode import Incoming
from server.ingest.lean import LeanClient

log = logging.getLogger(__name__)

TELEMETRY = (Up.ACC, Up.VITALS, Up.HEARTBEAT, Up.CMD_RESULT)
# What a worker of each role subscribes to. Separate event workers keep alarms off the
# telemetry's socket, thread and GIL: under CPU pressure they do not queue behind it.
ROLES: dict[str, tuple[Up, ...]] = {"all": (Up.EVENT, *TELEMETRY), "events": (Up.EVENT,),
                                    "telemetry": TELEMETRY}
EVENT_SUFFIX = f"/up/{Up.EVENT.value}"


class IngestClient:
    """A persistent MQTT 5 session; routes events and telemetry to their own bounded queues."""

    def __init__(self, broker: BrokerAddress, topics: Topics, client_id: str, group: str, *,
                 events: queue.Queue[Incoming], telemetry: queue.Queue[Incoming],
                 channels: tuple[Up, ...] = ROLES["all"],
                 session_expiry_s: int = 3600, receive_maximum: int = 10_000,
                 on_subscribed: Callable[[bool], None] = lambda _: None) -> None:
        self.broker, self.topics, self.group = broker, topics, group
        self.client_id = client_id
        self.events, self.telemetry, self.channels = events, telemetry, channels
        self.generation = 0
        self.received = 0  # messages handed to the writers (only the network thread counts)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.on_subscribed = on_subscribed  # True once subscribed, False on each disconnect
        self.client = LeanClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=paho.MQTTv5, manual_ack=True,
                                 on_publish_fast=self._on_publish)
        broker.apply(self.client)  # its identity, and TLS when configured
        self.client.reconnect_delay_set(1, 10)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)  # app acks to many gateways at once
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._props.SessionExpiryInterval = session_expiry_s
        # Messages in flight to us until their batch commits: without this Mosquitto allows
        # its max_inflight_messages (20), i.e. ~100 msg/s per worker at 200 ms batches.
        self._props.ReceiveMaximum = receive_maximum

    def start(self) -> None:
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30,
                                  clean_start=False, properties=self._props)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect once the broker has processed the PUBACKs sent before, so a clean stop
        leaves it nothing to redeliver. Mosquitto (2.0.11 here) drops PUBACKs that arrive just
        before a DISCONNECT; it handles a connection's packets in order, so the PUBACK of one
        QoS 1 publish after them says it has seen them all."""
        if self.connected.is_set():
            sync = self.client.publish(self.topics.server_sync(self.client_id), b"", qos=1)
            with contextlib.suppress(RuntimeError, ValueError):
                sync.wait_for_publish(5)
        self.disconnected.clear()
        if self.client.disconnect() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.disconnected.wait(5)
        self.client.loop_stop()

    def _on_connect(self, client: paho.Client, _u: object, _f: object,
                    rc: ReasonCode, _p: object = None) -> None:
        if rc.is_failure:
            log.warning("ingest MQTT connect to %s refused: %s", self.broker.url, rc)
            return
        self.generation += 1
        opts = SubscribeOptions(qos=1)
        client.subscribe([(self.topics.shared_up(self.group, ch), opts) for ch in self.channels])

    def _on_subscribe(self, client: paho.Client, _u: object, _mid: int,
                      codes: list[ReasonCode], _p: object = None) -> None:
        failed = [str(c) for c in codes if c.is_failure]
        if failed:
            log.error("ingest: the broker refused the shared subscriptions: %s", failed)
            return
        self.connected.set()  # subscribed: from now on nothing published is missed
        self.on_subscribed(True)
        log.info("ingest %s connected to %s (group %s)", client._client_id.decode(),
                 self.broker.url, self.group)

    def _on_disconnect(self, _c: paho.Client, _u: object, _f: object,
                       rc: ReasonCode, _p: object = None) -> None:
        self.connected.clear()
        self.disconnected.set()
        self.on_subscribed(False)
        level = logging.WARNING if rc.is_failure else logging.INFO  # ours: a requested stop
        log.log(level, "ingest MQTT disconnected from %s: %s", self.broker.url, rc)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        self._on_publish(msg.topic, bytes(msg.payload), msg.mid, msg.qos)

    def _on_publish(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        item = Incoming(topic, payload, mid, qos, time.time(), self.generation)
        self.received += 1
        (self.events if topic.endswith(EVENT_SUFFIX) else self.telemetry).put(item)

    # ------------------------------------------------------------------------------ acks

    def puback(self, items: Iterable[Incoming]) -> None:
        """Tell the broker these are stored (or rejected for good): it may forget them."""
        generation = self.generation
        # an older connection's message is redelivered on this one and acked then
        self.client.ack_many([item.mid for item in items
                              if item.qos == 1 and item.generation == generation])

    def app_ack(self, numbers: dict[tuple[str, str | None], list[int]]) -> None:
        """The end-to-end ack: gateway ``gw`` in incarnation ``inc`` may forget events
        ``numbers[gw, inc]`` (committed)."""
        for (gw, inc), ids in numbers.items():
            for ack in Ack.batches(ids, inc):
                self.client.publish(self.topics.down(gw, Down.ACK), dump(ack), qos=1)


def group_numbers(events: Iterable[tuple[str, str | None, int]],
                  ) -> dict[tuple[str, str | None], list[int]]:
    """Event numbers ``(gateway, incarnation, n)`` by (gateway, incarnation): one Ack each."""
    out: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for gw, inc, n in events:
        out[(gw, inc)].append(n)
    return dict(out)
