"""Gateway presence from the retained ``status`` topic (online on connect, offline by LWT).

Not a shared subscription: retained messages are not sent to shared subscriptions, and presence is
low volume. Every server replica records the same transitions; recording is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aiomqtt

from pinganling.backoff import Backoff
from pinganling.contract import ContractError, Status, Topics, Up, parse
from pinganling.services.broker import BrokerAddress

log = logging.getLogger(__name__)

OnStatus = Callable[[str, Status], Awaitable[None]]


class PresenceListener:
    """Subscribes to every gateway's status and hands each change to ``on_status``."""

    def __init__(self, broker: BrokerAddress, topics: Topics, on_status: OnStatus,
                 client_id: str | None = None) -> None:
        self.broker, self.topics, self.on_status = broker, topics, on_status
        self.client_id = client_id
        self.counters: Counter[str] = Counter()
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        backoff = Backoff(initial=0.5, maximum=15.0)
        while True:
            try:
                async with aiomqtt.Client(self.broker.host, self.broker.port,
                                          username=self.broker.username,
                                          password=self.broker.password,
                                          identifier=self.client_id,
                                          protocol=aiomqtt.ProtocolVersion.V5) as client:
                    await client.subscribe(self.topics.all_of(Up.STATUS), qos=1)
                    self.subscribed.set()
                    backoff.reset()
                    async for message in client.messages:
                        await self._handle(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                self.subscribed.clear()
                log.warning("presence: MQTT %s: %s", self.broker.url, exc)
            await backoff.sleep()

    async def _handle(self, topic: str, payload: object) -> None:
        raw = payload if isinstance(payload, bytes) else b""
        try:
            gw, _ = self.topics.parse(topic)
            status = parse(Status, raw) if raw else Status(state="offline", ts=time.time())
        except ContractError as exc:
            self.counters[f"rejected_{exc.reason}"] += 1
            log.warning("presence: bad status on %s: %s", topic, exc)
            return
        self.counters[f"status_{status.state}"] += 1
        if status.ts is None:  # an LWT is composed at connect time: it happened now
            status = status.model_copy(update={"ts": time.time()})
        await self.on_status(gw, status)
