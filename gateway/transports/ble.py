"""BLE links behind one small interface: bleak for real adapters, an in-memory hub for the sim."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

Notify = Callable[[str, str, bytes], None]
"""Called with (address, characteristic uuid, payload) for every notification."""


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


class BleakLink:
    """A real adapter through bleak (BlueZ on Linux)."""

    async def stream(self, address: str, uuids: Sequence[str], on_notify: Notify) -> None:
        from bleak import BleakClient
        from bleak.exc import BleakError

        lost = asyncio.Event()
        try:
            async with BleakClient(address, disconnected_callback=lambda _c: lost.set()) as client:
                offered = {c.uuid for s in client.services for c in s.characteristics}
                for uuid in (u for u in uuids if u in offered):
                    await client.start_notify(uuid, _forward(on_notify, address, uuid))
                await lost.wait()
        except (BleakError, OSError, TimeoutError) as exc:
            log.info("BLE %s: %s", address, exc)

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
