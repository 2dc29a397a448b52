"""The ingest's lean paho client against a real Mosquitto: every packet shape arrives once, whole.

Bursts larger than its read buffer, packets split across reads, messages with MQTT 5 properties,
QoS 0 and retained ones (paho's general path) all reach the handler with the right payloads,
without waiting for more traffic; PUBACKs sent in batches with ``ack_many`` end the broker's
redelivery.
"""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kernel.services.broker import BrokerAddress
from server.ingest.lean import CHUNK, LeanClient
from tests.fixtures.waiting import eventually_sync


class Receiver:
    """A LeanClient on ``root/#`` with a persistent session; records what arrives and how."""

    def __init__(self, broker: BrokerAddress, root: str, client_id: str) -> None:
        self.got: list[tuple[str, bytes, int, str]] = []  # topic, payload, qos, path
        self.unacked: list[int] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.disconnected = threading.Event()
        self.client = LeanClient(CallbackAPIVersion.VERSION2, client_id=client_id,
                                 protocol=paho.MQTTv5, manual_ack=True,
                                 on_publish_fast=self._fast)
        self.client.on_message = self._general
        self.client.on_connect = lambda c, *_: c.subscribe(f"{root}/#", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 300
        props.ReceiveMaximum = 10_000  # as the ingest: all of the burst in flight, unacked
        broker.apply(self.client)
        self.client.connect(broker.host, broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _fast(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        with self.lock:
            self.got.append((topic, payload, qos, "lean"))
            self.unacked.append(mid)

    def _general(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.got.append((msg.topic, bytes(msg.payload), msg.qos, "paho"))
        self.client.ack(msg.mid, msg.qos)

    def ack_all(self) -> None:
        """PUBACK what the lean path received, in batches as the ingest's writers do."""
        with self.lock:
            mids, self.unacked = self.unacked, []
        for i in range(0, len(mids), 500):
            self.client.ack_many(mids[i:i + 500])

    def count(self) -> int:
        with self.lock:
            return len(self.got)

    def close(self) -> None:
        # a QoS 1 round trip first: Mosquitto drops PUBACKs that arrive just before a DISCONNECT
        self.client.publish(f"sync/{uuid.uuid4().hex}", b"", qos=1).wait_for_publish(10)
        self.client.disconnect()
        assert self.disconnected.wait(10)
        self.client.loop_stop()


def test_every_packet_shape_arrives_once_and_acked_messages_are_not_redelivered(
        mqtt_broker: BrokerAddress) -> None:
    root = f"t-{uuid.uuid4().hex[:12]}"
    client_id = f"lean-{root}"
    rx = Receiver(mqtt_broker, root, client_id)
    pub = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(1000)
    mqtt_broker.apply(pub).connect(mqtt_broker.host, mqtt_broker.port)
    pub.loop_start()
    expiry = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    expiry.MessageExpiryInterval = 600
    sent: list[tuple[str, bytes, int, str]] = []
    try:
        # a burst of small packets: many per read, and packets split between reads
        for i in range(3000):
            sent.append((f"{root}/acc/{i % 7}", i.to_bytes(4, "big") * 85, 1, "lean"))
        sent.append((f"{root}/big", bytes(range(256)) * (CHUNK // 256 * 2 + 3), 1, "lean"))
        sent.append((f"{root}/props", b"with expiry", 1, "paho"))
        sent.append((f"{root}/qos0", b"at most once", 0, "paho"))
        for topic, payload, qos, _path in sent:
            props = expiry if topic.endswith("/props") else None
            pub.publish(topic, payload, qos=qos, properties=props).wait_for_publish(10)
        eventually_sync(lambda: rx.count() >= len(sent), 20, "every message")
        assert sorted(rx.got) == sorted(sent)
        rx.ack_all()
        # ordered per topic as published (MQTT's ordering guarantee holds through our buffer)
        acc0 = [p for t, p, _q, _w in rx.got if t == f"{root}/acc/0"]
        assert acc0 == [p for t, p, _q, _w in sent if t == f"{root}/acc/0"]
    finally:
        rx.close()
    # every QoS 1 message was PUBACKed (before the DISCONNECT, in order on the socket): the
    # session holds nothing for a reconnect
    pub.publish(f"{root}/marker", b"end", qos=1).wait_for_publish(10)
    again = Receiver(mqtt_broker, root, client_id)
    try:
        eventually_sync(lambda: again.count() >= 1, 10, "the marker")
        assert [(t, p) for t, p, _q, _w in again.got] == [(f"{root}/marker", b"end")]
    finally:
        again.close()
        pub.loop_stop()
