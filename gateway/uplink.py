"""MQTT 5 uplink: persistent session, LWT, retained status, outbox pump, downlink handling.

The outbox is the source of truth. This module only moves its rows to the broker (QoS 1, a bounded
window in flight, alarms first) and turns downlink messages (acks, config, commands) into calls:
``on_config`` with each retained config, ``on_command`` with each command, whose result it
publishes on ``Up.CMD_RESULT``. It sends whenever ``wake`` is set (the outbox sets it as it adds).

It logs in as the identity of ``gateway.credentials`` (or the one given by hand), over TLS when
configured. During a rotation it tries the next identity first: accepted, it becomes the only
one; refused by the broker, it is dropped. ``reconnect()`` (the rotation command) ends the
session after the current command's result is published, and the next one starts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.credentials import Credential
from gateway.outbox import Item, Kind, Outbox
from gateway.settings import GatewaySettings
from kernel import __version__
from kernel.backoff import Backoff, stop_if_cancelled
from kernel.contract import (
    Ack,
    Command,
    CommandResult,
    ContractError,
    Down,
    GatewayConfig,
    Status,
    Topics,
    Up,
    dump,
    parse,
)
from kernel.tasks import until_first_ends

log = logging.getLogger(__name__)

# CONNACK reason codes of a login the broker refuses (MQTT 5; 4 and 5 in MQTT 3.1.1)
REFUSED_LOGIN = frozenset({134, 135, 4, 5})


class _Reconnect(Exception):
    """Ends the session so that the next one logs in again (a rotated identity)."""


def _refused_login(error: BaseException) -> bool:
    rc = getattr(error, "rc", None)
    return isinstance(error, aiomqtt.MqttCodeError) and getattr(rc, "value", rc) in REFUSED_LOGIN


class Uplink:
    """Keeps one MQTT session alive and pumps the outbox through it."""

    def __init__(self, settings: GatewaySettings, outbox: Outbox, counters: Counter[str], *,
                 wake: asyncio.Event,
                 on_config: Callable[[GatewayConfig], Awaitable[None]],
                 on_command: Callable[[Command], Awaitable[CommandResult]]) -> None:
        self.settings = settings
        self.topics = Topics(settings.mqtt.root)
        self.outbox = outbox
        self.counters = counters
        self.on_config = on_config
        self.on_command = on_command
        self.connected = asyncio.Event()
        self._wake = wake
        self._client: aiomqtt.Client | None = None
        self._inflight: set[int] = set()
        self._sent_at: dict[int, float] = {}
        self._published_telemetry: list[int] = []
        self._reconnect = False
        self.identity: Credential | None = None  # who the current session logged in as

    def reconnect(self) -> None:
        """Log in again once the command being handled has its result published."""
        self._reconnect = True

    def _login(self) -> tuple[Credential | None, bool]:
        """Who to log in as now, and whether that is a rotation's next identity."""
        file = self.settings.mqtt.credentials()
        if file is None:
            return self.settings.mqtt.login(), False
        current, nxt = file.read()
        return (nxt, True) if nxt is not None else (current, False)

    def _client_for_session(self, login: Credential | None) -> aiomqtt.Client:
        s = self.settings
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = s.mqtt.session_expiry_s
        offline = Status(state="offline", version=__version__)
        client = aiomqtt.Client(
            **s.mqtt.address(login).aiomqtt_args(), identifier=s.id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False, properties=props, keepalive=s.mqtt.keepalive_s, timeout=10,
            will=aiomqtt.Will(self.topics.up(s.id, Up.STATUS), dump(offline), qos=1, retain=True),
            max_inflight_messages=s.inflight, max_queued_incoming_messages=10_000,
        )
        client.pending_calls_threshold = s.inflight + 10  # our window, not a warning
        return client

    async def run(self) -> None:
        """Connect, serve, and reconnect with jittered backoff, until cancelled."""
        backoff = Backoff(initial=0.5, maximum=30.0)
        while True:
            login, trying_next = self._login()
            again = False
            try:
                async with self._client_for_session(login) as client:
                    backoff.reset()
                    if trying_next:
                        self._rotated(login)
                        trying_next = False
                    self.identity = login
                    try:
                        await self._session(client)
                    except asyncio.CancelledError:
                        await self._say_offline(client)
                        raise
            except* _Reconnect:
                self._reconnect, again = False, True  # log in again at once
            except* aiomqtt.MqttError as group:
                self.counters["mqtt_disconnects"] += 1
                if trying_next and _refused_login(group.exceptions[0]):
                    self._refused_next(login)
                log.warning("MQTT %s:%d: %s", self.settings.mqtt.host, self.settings.mqtt.port,
                            str(group.exceptions[0]))  # text: the error holds its socket
            except* Exception as group:  # the task's outer edge: log, count, reconnect
                self.counters["uplink_errors"] += 1
                log.error("gateway %s uplink failed; reconnecting", self.settings.id,
                          exc_info=group)
            finally:
                self._client = None
                self.connected.clear()
                self._inflight.clear()
                self._sent_at.clear()
            if not again:
                await backoff.sleep()

    def _rotated(self, login: Credential | None) -> None:
        """The broker accepted the next identity: it is the only one now."""
        file = self.settings.mqtt.credentials()
        if file is not None:
            file.promote()
        self.counters["credentials_rotated"] += 1
        log.warning("gateway %s: logged in as %s, its new broker identity", self.settings.id,
                    login.username if login else "-")

    def _refused_next(self, login: Credential | None) -> None:
        """The broker refused the next identity: keep the current one."""
        file = self.settings.mqtt.credentials()
        if file is not None:
            file.discard_next()
        self.counters["credentials_refused"] += 1
        log.error("gateway %s: the broker refused the new identity %s; keeping the current one",
                  self.settings.id, login.username if login else "-")

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        """On a clean stop the broker sends no LWT: publish the offline status ourselves."""
        offline = Status(state="offline", ts=time.time(), version=__version__)
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await asyncio.wait_for(client.publish(
                self.topics.up(self.settings.id, Up.STATUS), dump(offline), qos=1, retain=True), 2)

    async def _session(self, client: aiomqtt.Client) -> None:
        gw = self.settings.id
        await client.subscribe(self.topics.gateway_down_all(gw), qos=1)
        online = Status(state="online", ts=time.time(), version=__version__,
                        user=self.identity.username if self.identity else None)
        await client.publish(self.topics.up(gw, Up.STATUS), dump(online), qos=1, retain=True)
        self.outbox.resend_all_now()
        self._client = client
        self.connected.set()
        self.counters["mqtt_connects"] += 1
        log.info("MQTT connected to %s:%d as %s (user %s%s)", self.settings.mqtt.host,
                 self.settings.mqtt.port, gw, self.identity.username if self.identity else "-",
                 ", TLS" if self.settings.mqtt.tls else "")
        publishing: set[asyncio.Task[None]] = set()
        await until_first_ends(
            asyncio.create_task(self._receive(client), name="uplink-receive"),
            asyncio.create_task(self._pump(client, publishing), name="uplink-pump"),
            also=publishing)

    async def publish(self, channel: Up, payload: bytes, qos: int = 1) -> bool:
        """Publish outside the outbox (heartbeats, command results); False when offline."""
        client = self._client
        if client is None:
            return False
        try:
            await client.publish(self.topics.up(self.settings.id, channel), payload, qos=qos)
        except aiomqtt.MqttError as exc:
            log.info("publish on %s failed: %s", channel, exc)
            return False
        finally:
            stop_if_cancelled()  # on 3.11 aiomqtt's wait_for can swallow the caller's cancel
        return True

    # ------------------------------------------------------------------------------ outbox pump

    async def _pump(self, client: aiomqtt.Client, publishing: set[asyncio.Task[None]]) -> None:
        window = asyncio.Semaphore(self.settings.inflight)
        while True:
            self._flush_published()
            items = self.outbox.due(self.settings.inflight, frozenset(self._inflight))
            if not items:
                await self._sleep_until_due()
                continue
            self.outbox.mark_sent(items)
            now = time.monotonic()
            for item in items:
                if item.kind != Kind.TELEMETRY:
                    self._sent_at[item.n] = now
                await window.acquire()
                self._inflight.add(item.n)
                task = asyncio.create_task(self._publish_item(client, item, window))
                publishing.add(task)
                task.add_done_callback(publishing.discard)

    async def _sleep_until_due(self) -> None:
        self._wake.clear()
        timeout = self.outbox.next_due_in()
        if timeout is not None and timeout <= 0 and self._inflight:
            timeout = 0.05  # only in-flight rows are due: wait for their PUBACKs
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns instead of raising
        # when a cancel arrives as the wait ends, and this loop would never stop
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _publish_item(self, client: aiomqtt.Client, item: Item,
                            window: asyncio.Semaphore) -> None:
        try:
            await client.publish(self.topics.up(self.settings.id, item.channel), item.payload,
                                 qos=1)
            self.counters[f"published_{item.kind.name.lower()}"] += 1
            if item.kind == Kind.TELEMETRY:
                self._published_telemetry.append(item.n)
        except aiomqtt.MqttError as exc:
            self.counters["publish_failures"] += 1
            log.debug("publish #%d failed: %s", item.n, exc)
        finally:
            self._inflight.discard(item.n)
            window.release()
            self._wake.set()

    def _flush_published(self) -> None:
        if self._published_telemetry:
            done, self._published_telemetry = self._published_telemetry, []
            self.outbox.telemetry_published(done)

    # ------------------------------------------------------------------------------ downlink

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            try:
                _, channel = self.topics.parse(topic)
                await self._dispatch(channel, payload)
            except ContractError as exc:
                self.counters[f"bad_downlink_{exc.reason}"] += 1
                log.warning("gateway %s: bad message on %s: %s", self.settings.id, topic, exc)

    def _on_ack(self, ack: Ack) -> None:
        """Forget the acknowledged events of this incarnation. An ack for another one (queued
        by the broker for the state this gateway had before a reset) is counted and ignored:
        its numbers mean other events here."""
        mine = [n for n in ack.ids if self.outbox.owns(ack.inc, n)]
        if len(mine) < len(ack.ids):
            self.counters["stale_acks"] += len(ack.ids) - len(mine)
            log.warning("gateway %s (incarnation %s): ignored an ack of %d event(s) of "
                        "incarnation %s", self.settings.id, self.outbox.incarnation,
                        len(ack.ids) - len(mine), ack.inc or "(legacy)")
        now = time.monotonic()
        for n in mine:
            sent = self._sent_at.pop(n, None)
            if sent is not None:
                self.outbox.observe_ack_delay(now - sent)
        self.counters["acked"] += self.outbox.acked(mine)
        self.counters["ack_messages"] += 1

    async def _dispatch(self, channel: Up | Down, payload: bytes) -> None:
        if channel == Down.ACK:
            self._on_ack(parse(Ack, payload))
        elif channel == Down.CONFIG:
            if payload:  # an empty retained message clears the config: keep the current one
                await self.on_config(parse(GatewayConfig, payload))
        elif channel == Down.CMD:
            result = await self.on_command(parse(Command, payload))
            await self.publish(Up.CMD_RESULT, dump(result))
            if self._reconnect:
                raise _Reconnect
        else:
            raise ContractError("bad_topic", f"not a downlink channel: {channel}")
