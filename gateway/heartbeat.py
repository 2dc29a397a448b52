"""The gateway's health: the heartbeat it publishes every ``heartbeat_s`` (QoS 0, outside the
outbox: a lost one is replaced by the next) and the paired devices that went silent.

A heartbeat gathers the outbox's depth, each paired device's health, the devices heard but not
paired, every counter (the gateway's own, the supervisor's restarts, the serial links') and the
config revision applied. A heartbeat goes out at once (``wake``) when a config was applied or
a device not paired is first heard: the technician's console sees either without waiting for
the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence

from gateway.emitter import Emit
from gateway.events import silent_event
from gateway.outbox import Outbox
from gateway.provisioning import Provisioning
from gateway.registry import Registry
from gateway.transports.serial import SerialTransport
from gateway.uplink import Uplink
from kernel.contract import Heartbeat, OutboxHealth, Up, dump
from kernel.supervisor import Supervised, Supervisor

WAKE_GAP_S = 0.5  # at most two heartbeats a second, however often something wakes them


class Heartbeats:
    """Builds heartbeats from the gateway's parts, publishes them, reports silent devices."""

    def __init__(self, gw: str, *, outbox: Outbox, registry: Registry, counters: Counter[str],
                 supervisor: Supervisor, serial: Sequence[SerialTransport],
                 provisioning: Provisioning, emit: Emit,
                 clock: Callable[[], float] = time.time) -> None:
        self.gw = gw
        self.outbox = outbox
        self.registry = registry
        self.counters = counters
        self.supervisor = supervisor
        self.serial = serial
        self.provisioning = provisioning
        self.emit = emit
        self.clock = clock
        self.started = clock()
        # set: send a heartbeat now (a config was applied, a device not paired was first heard)
        self.wake = asyncio.Event()

    def build(self) -> Heartbeat:
        st = self.outbox.stats()
        now = self.clock()
        return Heartbeat(
            gw=self.gw, ts=now, uptime_s=round(now - self.started, 1),
            interval_s=self.provisioning.heartbeat_s,
            outbox=OutboxHealth(depth=st.depth, alarms=st.alarms, shed=st.shed,
                                oldest_s=None if st.oldest_created is None else
                                round(now - st.oldest_created, 1)),
            devices=self.registry.health(), heard=(heard := self.registry.heard_devices()),
            heard_unpaired=[h.device for h in heard],
            counters=self.all_counters(), config_rev=self.provisioning.config_rev)

    def all_counters(self) -> dict[str, int]:
        out = dict(self.counters)
        out["task_restarts"] = sum(t.restarts for t in self.supervisor.health())
        for t in self.serial:
            s = t.deframer.stats
            out["serial_garbage_bytes"] = out.get("serial_garbage_bytes", 0) + s.garbage_bytes
            out["serial_crc_errors"] = out.get("serial_crc_errors", 0) + s.crc_errors
            out["serial_link_errors"] = out.get("serial_link_errors", 0) + t.errors
            out["serial_frame_errors"] = out.get("serial_frame_errors", 0) + t.frame_errors
        return out

    async def run(self, me: Supervised, uplink: Uplink) -> None:
        """Publish one heartbeat per interval while connected (the supervised task)."""
        while True:
            await uplink.connected.wait()
            if await uplink.publish(Up.HEARTBEAT, dump(self.build()), qos=0):
                me.ok()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.provisioning.heartbeat_s)
                await asyncio.sleep(WAKE_GAP_S)  # woken: what else changes goes in the same one
            self.wake.clear()

    def report_silent(self) -> None:
        """A ``device_silent`` event for each paired device that newly missed its reports."""
        for device in self.registry.silent():
            self.emit(silent_event(device.uid, device.seen.last_seen))
