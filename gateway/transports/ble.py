"""BLE links behind one small interface: bleak for real adapters, an in-memory hub for the sim."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.errors import TransportError

log = logging.getLogger(__name__)

Notify = Callable[[str, str, bytes], None]
"""Called with (address, characteristic uuid, payload) for every notification."""
Written = Callable[[str, bytes], None]
"""A simulated device's handler for writes: (characteristic uuid, payload)."""


@dataclass(frozen=True, slots=True)
class Advert:
    address: str
    name: str | None
    rssi: int | None


class BleLink(Protocol):
    """What the gateway needs from a BLE adapter."""

    async def stream(self, address: str, uuids: Sequence[str], on_notify: Notify) -> None:
        """Connect, subscribe to ``uuids`` it offers, deliver notifications; return on link loss."""
        ...

    async def scan(self, timeout: float) -> list[Advert]:
        """Devices advertising nearby."""
        ...

    async def write(self, address: str, uuid: str, data: bytes) -> None:
        """Write ``data`` to characteristic ``uuid`` of a device the gateway is streaming from,
        without response (the Alert Level's only write); ``TransportError`` when it cannot."""
        ...


class BleakLink:
    """A real adapter through bleak (BlueZ on Linux)."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}  # address → its connected BleakClient, while streaming

    async def stream(self, address: str, uuids: Sequence[str], on_notify: Notify) -> None:
        from bleak import BleakClient
        from bleak.exc import BleakError

        lost = asyncio.Event()
        key = address.upper()
        try:
            async with BleakClient(address, disconnected_callback=lambda _c: lost.set()) as client:
                offered = {c.uuid for s in client.services for c in s.characteristics}
                for uuid in (u for u in uuids if u in offered):
                    await client.start_notify(uuid, _forward(on_notify, address, uuid))
                self._clients[key] = client
                await lost.wait()
        except (BleakError, OSError, TimeoutError) as exc:
            log.info("BLE %s: %s", address, exc)
        finally:
            self._clients.pop(key, None)

    async def write(self, address: str, uuid: str, data: bytes) -> None:
        from bleak.exc import BleakError

        client = self._clients.get(address.upper())
        if client is None:
            raise TransportError(f"BLE {address}: not connected, cannot write {uuid[:8]}")
        try:
            await client.write_gatt_char(uuid, data, response=False)
        except (BleakError, OSError, TimeoutError) as exc:
            raise TransportError(f"BLE {address}: write {uuid[:8]} failed: {exc}") from exc

    async def scan(self, timeout: float) -> list[Advert]:
        from bleak import BleakScanner

        found = await BleakScanner.discover(timeout=timeout, return_adv=True)
        return [Advert(d.address, adv.local_name, adv.rssi) for d, adv in found.values()]


def _forward(on_notify: Notify, address: str, uuid: str) -> Callable[[object, bytearray], None]:
    """bleak's notification callback, (characteristic, data), as a ``Notify`` call."""
    return lambda _char, data: on_notify(address, uuid, bytes(data))


class MemoryBle:
    """In-process BLE air: simulated wearables call ``notify``; the gateway ``stream``s as usual."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[tuple[frozenset[str], Notify]]] = defaultdict(list)
        self._adverts: dict[str, Advert] = {}
        self._links: dict[str, asyncio.Event] = {}
        self._devices: dict[str, Written] = {}
        self.written: list[tuple[str, str, bytes]] = []  # every write delivered, in order
        self.dropped = 0

    def advertise(self, address: str, name: str | None = None, rssi: int | None = -60) -> None:
        self._adverts[address.upper()] = Advert(address.upper(), name, rssi)

    async def notify(self, address: str, uuid: str, data: bytes) -> None:
        """A device sends a notification; it is lost (counted) when nobody is connected."""
        subs = self._subscribers.get(address.upper())
        if not subs:
            self.dropped += 1
            return
        for uuids, callback in subs:
            if uuid in uuids:
                callback(address.upper(), uuid, data)

    def on_write(self, address: str, handler: Written) -> None:
        """A simulated device at ``address`` receives the writes made to it."""
        self._devices[address.upper()] = handler

    async def write(self, address: str, uuid: str, data: bytes) -> None:
        """The gateway writes to a device it streams from; like a real adapter, not to one it
        is not connected to (``TransportError``)."""
        key = address.upper()
        if not self.connected(key):
            raise TransportError(f"BLE {address}: not connected, cannot write {uuid[:8]}")
        self.written.append((key, uuid, bytes(data)))
        handler = self._devices.get(key)
        if handler is not None:
            handler(uuid, bytes(data))

    def connected(self, address: str) -> bool:
        """Whether a gateway is streaming from ``address``."""
        return bool(self._subscribers.get(address.upper()))

    def drop_link(self, address: str) -> None:
        """Simulate the wearable going out of range."""
        event = self._links.get(address.upper())
        if event:
            event.set()

    async def stream(self, address: str, uuids: Sequence[str], on_notify: Notify) -> None:
        key = address.upper()
        entry = (frozenset(uuids), on_notify)
        lost = self._links.setdefault(key, asyncio.Event())
        lost.clear()
        self._subscribers[key].append(entry)
        try:
            await lost.wait()
        finally:
            self._subscribers[key].remove(entry)

    async def scan(self, timeout: float) -> list[Advert]:
        return list(self._adverts.values())
