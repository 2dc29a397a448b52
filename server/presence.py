"""Gateway presence from the retained ``status`` topic (online on connect, offline by LWT).

Not a shared subscription: retained messages are not sent to shared subscriptions, and presence is
low volume. Every server replica records the same transitions; recording is idempotent.

A status is recorded before the next one is read, so transitions keep their order. One the
database refuses (a timestamp it cannot store, say) is counted, logged and skipped; while the
database is unreachable the status is kept and retried with backoff until it is recorded, so an
LWT that arrives during a database restart still becomes the gateway's offline transition, with
the time it arrived. Anything else reaches the supervisor (``kernel.supervisor``), which
restarts the listener; the broker then sends every retained status again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aiomqtt
import psycopg
from psycopg_pool import PoolTimeout

from kernel.backoff import Backoff
from kernel.contract import ContractError, Status, Topics, Up, parse
from kernel.services.broker import BrokerAddress
from kernel.supervisor import Flag
from server.store.errors import BadRow

log = logging.getLogger(__name__)

OnStatus = Callable[[str, Status], Awaitable[None]]
# the database is away (restarting, unreachable): the status is kept and retried
UNAVAILABLE = (psycopg.OperationalError, PoolTimeout)


class PresenceListener:
    """Subscribes to every gateway's status and hands each change to ``on_status``."""

    def __init__(self, broker: BrokerAddress, topics: Topics, on_status: OnStatus,
                 client_id: str | None = None) -> None:
        self.broker, self.topics, self.on_status = broker, topics, on_status
        self.client_id = client_id
        self.counters: Counter[str] = Counter()
        self.subscribed = Flag()

    async def run(self) -> None:
        backoff = Backoff(initial=0.5, maximum=15.0)
        while True:
            try:
                async with aiomqtt.Client(**self.broker.aiomqtt_args(),
                                          identifier=self.client_id,
                                          protocol=aiomqtt.ProtocolVersion.V5) as client:
                    await client.subscribe(self.topics.all_of(Up.STATUS), qos=1)
                    self.subscribed.set()
                    backoff.reset()
                    async for message in client.messages:
                        await self._handle(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                log.warning("presence: MQTT %s: %s", self.broker.url, exc)
            finally:
                self.subscribed.clear()
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
        await self._record(gw, status)

    async def _record(self, gw: str, status: Status) -> None:
        """``on_status`` until it succeeds or refuses the status for good."""
        backoff = Backoff(initial=0.2, maximum=5.0)
        while True:
            try:
                await self.on_status(gw, status)
                if backoff.attempt:
                    log.info("presence: %s status of gateway %s recorded after %d retries",
                             status.state, gw, backoff.attempt)
                return
            except BadRow as exc:
                self.counters[f"rejected_{exc.reason}"] += 1
                log.warning("presence: %s status of gateway %s not recorded: %s", status.state,
                            gw, exc)
                return
            except UNAVAILABLE as exc:
                self.counters["db_retries"] += 1
                if backoff.attempt == 0:
                    log.warning("presence: database unavailable, keeping the %s status of "
                                "gateway %s until it is recorded: %s", status.state, gw, exc)
            except psycopg.Error as exc:  # the database refuses this status: never retried
                self.counters["rejected_db"] += 1
                log.warning("presence: %s status of gateway %s refused by the database: %s",
                            status.state, gw, exc)
                return
            await backoff.sleep()
