"""BLE stream supervision: one supervised task per paired wearable, reconnecting with backoff.

Each task streams the wearable's notifications from the ``BleLink`` (a real adapter or the
in-memory air) into a :class:`~gateway.wearables.WearableStream`, which decodes them. Finished
accelerometer blocks go to the outbox as telemetry and to ``on_block`` (edge detection);
vital-sign readings wait for ``flush_vitals``, which batches them. ``sync`` follows pairing.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable

from gateway.outbox import Outbox
from gateway.registry import Registry
from gateway.transports.ble import BleLink
from gateway.wearables import SUBSCRIBED, WearableStream
from hardware.catalog import Transport
from kernel.backoff import Backoff
from kernel.contract import AccBlock, Up, Vitals, dump
from kernel.supervisor import Supervisor, plain

STABLE_S = 30.0  # a link that stayed up this long starts the reconnect backoff over


def ble_address(uid: str) -> str:
    """'ble-c47c8d6a1234' → 'C4:7C:8D:6A:12:34'."""
    hexes = uid.removeprefix("ble-").upper()
    return ":".join(hexes[i : i + 2] for i in range(0, 12, 2))


def task_name(uid: str) -> str:
    return f"ble {uid}"


class BleStreams:
    """The streaming tasks of the paired BLE devices, under the gateway's supervisor."""

    def __init__(self, link: BleLink | None, registry: Registry, outbox: Outbox,
                 supervisor: Supervisor, counters: Counter[str], *, gw: str, block_s: float,
                 on_block: Callable[[AccBlock], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.link = link
        self.registry = registry
        self.outbox = outbox
        self.supervisor = supervisor
        self.counters = counters
        self.gw = gw
        self.block_s = block_s
        self.on_block = on_block
        self.clock = clock
        self.streams: dict[str, WearableStream] = {}  # uid → its decoder, while its task runs
        self._running = False

    def start(self) -> None:
        """Start streaming (from the gateway's run); pairing changes are followed from now on."""
        self._running = True
        self.sync()

    def stop(self) -> None:
        """Stop following pairing; the supervisor stops the tasks."""
        self._running = False
        self.streams.clear()

    def sync(self) -> None:
        """One streaming task per paired BLE device; stop the tasks of unpaired ones."""
        if self.link is None or not self._running:
            return
        wanted = {uid for uid, d in self.registry.devices.items()
                  if d.model.transport == Transport.BLE}
        for uid in set(self.streams) - wanted:
            del self.streams[uid]
            self.supervisor.cancel(task_name(uid))
        for uid in wanted - set(self.streams):
            stream = WearableStream(uid, self.block_s, self.counters, on_block=self._block,
                                    on_battery=functools.partial(self.registry.battery_level,
                                                                 uid),
                                    clock=self.clock)
            self.streams[uid] = stream
            self.supervisor.start(task_name(uid),
                                  plain(functools.partial(self._stream, self.link, uid, stream)))

    async def _stream(self, link: BleLink, uid: str, stream: WearableStream) -> None:
        backoff = Backoff(initial=1.0, maximum=60.0)
        while True:
            started = self.clock()
            await link.stream(ble_address(uid), SUBSCRIBED, stream.notify)
            stream.flush()
            self.counters["ble_link_lost"] += 1
            if self.clock() - started > STABLE_S:
                backoff.reset()
            await backoff.sleep()

    def _block(self, block: AccBlock) -> None:
        self.registry.seen(block.device)
        self.outbox.add_telemetry([(Up.ACC, block.encode())])
        if self.on_block is not None:
            self.on_block(block)

    def flush_vitals(self) -> None:
        """The vital-sign readings gathered since the last flush, as telemetry (one commit)."""
        msgs = []
        for uid, stream in self.streams.items():
            readings = stream.take_readings()
            if readings:
                self.registry.seen(uid)
                msgs += [(Up.VITALS, dump(v)) for v in Vitals.batches(self.gw, uid, readings)]
        self.outbox.add_telemetry(msgs)
