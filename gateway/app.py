"""The home gateway process: devices in, durable outbox, MQTT out. One asyncio loop.

Only wiring: each concept is a component of its own module, given what it uses through its
constructor (see README 'Gateway'):

=================  ==================================================================
``rf``             RF frames → events, repeats dropped (:mod:`gateway.rf`, :mod:`gateway.events`)
``ble``            one supervised stream per paired wearable (:mod:`gateway.ble_streams`)
``edge``           the fall detector on the gateway's own blocks (:mod:`gateway.edge`)
``prompts``        questions to the elder and their answers (:mod:`gateway.prompts`)
``events``         every event committed to the ``outbox`` first (:mod:`gateway.emitter`)
``provisioning``   desired config and pairing (:mod:`gateway.provisioning`)
``commands``       the server's commands, a table of handlers (:mod:`gateway.commands`)
``heartbeats``     health published every interval, silent devices (:mod:`gateway.heartbeat`)
``uplink``         the MQTT session that moves the outbox (:mod:`gateway.uplink`)
=================  ==================================================================

Every long-running task runs under the ``supervisor``, which restarts one that fails. Under
systemd the gateway says when it is ready and feeds the watchdog while the supervisor reports
every task healthy (:mod:`gateway.sd_notify`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable

from gateway.ble_streams import BleStreams
from gateway.commands import Commands, Ports
from gateway.edge import EdgeFalls
from gateway.emitter import Emitter
from gateway.heartbeat import Heartbeats
from gateway.outbox import Outbox
from gateway.prompts import Announcer, LogAnnouncer, Prompts
from gateway.provisioning import Provisioning
from gateway.registry import Registry
from gateway.rf import RfIntake
from gateway.sd_notify import Watchdog, notify, watchdog_period
from gateway.settings import GatewaySettings
from gateway.transports.ble import BleLink
from gateway.transports.serial import SerialTransport
from gateway.uplink import Uplink
from kernel.contract import Event
from kernel.supervisor import MIN_DEADLINE_S, Supervised, Supervisor, plain

log = logging.getLogger(__name__)


class Gateway:
    """Builds the gateway's components, wires them, and runs their tasks."""

    def __init__(self, settings: GatewaySettings, ble_link: BleLink | None = None,
                 clock: Callable[[], float] = time.time, *,
                 on_event: Callable[[Event], None] | None = None,
                 announcer: Announcer | None = None) -> None:
        """``ble_link``: any BLE adapter (None: no BLE); ``on_event`` sees each event stored;
        ``announcer`` sounds or shows prompts to the elder (default: logged)."""
        s = self.settings = settings
        self.clock = clock
        self.counters: Counter[str] = Counter()
        self.supervisor = Supervisor(f"gateway {s.id}")
        rows_added = asyncio.Event()
        self.outbox = Outbox(s.db_path, max_telemetry=s.max_telemetry_rows,
                             resend_initial_s=s.resend_initial_s, resend_max_s=s.resend_max_s,
                             clock=clock, on_added=lambda _kind: rows_added.set())
        self.registry = Registry(s.db_path, clock=clock)
        self.events = Emitter(s.id, self.outbox, self.counters, clock=clock, on_event=on_event)
        emit = self.events.emit
        self.prompts = Prompts(ble_link, self.registry, emit, self.counters,
                               announcer or LogAnnouncer(s.id), clock=clock)
        self.rf = RfIntake(self.registry, self.prompts.emit, self.counters,
                           dedupe_s=s.rf_dedupe_s, clock=clock,
                           on_first_heard=lambda: self.heartbeats.wake.set())
        self.serial = [SerialTransport(url, self.rf.on_frame, baudrate=s.baudrate)
                       for url in s.serial]
        self.edge = EdgeFalls(self.registry.model, emit, prompts=self.prompts,
                              event_id=self.events.event_id,
                              cancel_s=s.fall_cancel_s) if s.edge_falls else None
        self.ble = BleStreams(ble_link, self.registry, self.outbox, self.supervisor,
                              self.counters, gw=s.id, block_s=s.acc_block_s,
                              on_block=self.edge.on_block if self.edge else None, clock=clock)
        self.provisioning = Provisioning(self.registry, self.counters, heartbeat_s=s.heartbeat_s,
                                         on_devices_changed=self.ble.sync,
                                         on_applied=lambda: self.heartbeats.wake.set())
        self.heartbeats = Heartbeats(s.id, outbox=self.outbox, registry=self.registry,
                                     counters=self.counters, supervisor=self.supervisor,
                                     serial=self.serial, provisioning=self.provisioning,
                                     emit=emit, clock=clock)
        self.commands = Commands(Ports(s.id, emit, self.provisioning, self.registry, ble_link,
                                       self.heartbeats.build, self.counters, self.prompts,
                                       credentials=s.mqtt.credentials(),
                                       reconnect=lambda: self.uplink.reconnect()))
        self.uplink = Uplink(s, self.outbox, self.counters, wake=rows_added,
                             on_config=self.provisioning.apply_config,
                             on_command=self.commands.handle)

    async def run(self) -> None:
        """Run until cancelled: each task under the supervisor, which restarts any that fails
        (with backoff, logged and counted in the heartbeat's ``task_restarts``)."""
        sup = self.supervisor
        try:
            sup.start("uplink", plain(self.uplink.run))
            for transport in self.serial:
                sup.start(f"serial {transport.url}", plain(transport.run))
            sup.start("heartbeat", functools.partial(self.heartbeats.run, uplink=self.uplink))
            sup.start("housekeeping", self._housekeeping,
                      deadline_s=max(3 * self.settings.vitals_flush_s, MIN_DEADLINE_S))
            period = watchdog_period()
            if period is not None:
                watchdog = Watchdog(sup, period, status=self._status)
                sup.start("watchdog", plain(watchdog.run))
            self.ble.start()
            notify(f"READY=1\nSTATUS={self._status()}")
            await asyncio.Event().wait()
        finally:
            notify("STOPPING=1")
            self.ble.stop()
            self.prompts.stop()
            try:
                await sup.stop()
            finally:
                self.close()

    def close(self) -> None:
        self.registry.close()
        self.outbox.close()

    def _status(self) -> str:
        """One line for ``systemctl status``."""
        stats = self.outbox.stats()
        return (f"MQTT {'connected' if self.uplink.connected.is_set() else 'not connected'}, "
                f"outbox {stats.depth} ({stats.alarms} alarms)")

    async def _housekeeping(self, me: Supervised) -> None:
        while True:
            await asyncio.sleep(self.settings.vitals_flush_s)
            try:
                self._tidy()
                me.ok()
            except Exception:  # the periodic job's outer edge: log, count, try again next time
                self.counters["housekeeping_errors"] += 1
                log.exception("gateway %s: housekeeping failed", self.settings.id)

    def _tidy(self) -> None:
        self.ble.flush_vitals()
        self.registry.flush_heard()
        self.heartbeats.report_silent()
        self.rf.tidy()
