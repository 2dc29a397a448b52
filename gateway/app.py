"""The home gateway process: devices in, durable outbox, MQTT out. One asyncio loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable

from analytics.bank import FallBank
from analytics.events import FallEvent, FaultKind, SensorFault
from gateway.outbox import Outbox
from gateway.registry import Registry
from gateway.settings import GatewaySettings
from gateway.transports.ble import BleLink
from gateway.transports.serial import SerialTransport
from gateway.uplink import Uplink
from gateway.wearables import SUBSCRIBED, WearableStream
from hardware.catalog import Transport, rf_uid
from hardware.errors import FrameError
from hardware.frames import Frame, MsgType, data_fields
from kernel.backoff import Backoff
from kernel.contract import (
    ALARM_TYPES,
    AccBlock,
    Command,
    CommandOp,
    CommandResult,
    EventType,
    GatewayConfig,
    Heartbeat,
    OutboxHealth,
    Up,
    Vitals,
    dump,
    event_id,
)
from kernel.contract import Event as EventPayload
from kernel.supervisor import Supervised, Supervisor, plain

log = logging.getLogger(__name__)

FRAME_EVENT = {
    MsgType.PRESS: EventType.PRESS,
    MsgType.LONG_PRESS: EventType.LONG_PRESS,
    MsgType.CANCEL: EventType.CANCEL,
    MsgType.LOW_BATTERY: EventType.LOW_BATTERY,
    MsgType.TAMPER: EventType.TAMPER,
    MsgType.MOTION: EventType.MOTION,
}


EventData = dict[str, float | int | str | bool | None]


def frame_event(frame: Frame) -> tuple[EventType, EventData] | None:
    """The contract event a frame becomes; None for supervision heartbeats (health only).

    Data bytes that do not parse never cost the event: a press is forwarded without its details.
    """
    if frame.type == MsgType.SUPERVISION:
        return None
    try:
        data: EventData = dict(data_fields(frame))
    except FrameError as exc:
        data = {"data_error": str(exc)}
    if frame.type == MsgType.DOOR:
        return (EventType.DOOR_OPEN if data.get("open") else EventType.DOOR_CLOSED), {}
    return FRAME_EVENT[frame.type], data


def ble_address(uid: str) -> str:
    """'ble-c47c8d6a1234' → 'C4:7C:8D:6A:12:34'."""
    hexes = uid.removeprefix("ble-").upper()
    return ":".join(hexes[i : i + 2] for i in range(0, 12, 2))


class Gateway:
    """Wires transports, registry, outbox and uplink; see README 'Gateway'."""

    def __init__(self, settings: GatewaySettings, ble_link: BleLink | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.started = clock()
        self.counters: Counter[str] = Counter()
        self.outbox = Outbox(settings.db_path, max_telemetry=settings.max_telemetry_rows,
                             resend_initial_s=settings.resend_initial_s,
                             resend_max_s=settings.resend_max_s, clock=clock)
        self.registry = Registry(settings.db_path, clock=clock)
        self.uplink = Uplink(settings, self.outbox, self.counters, on_config=self.apply_config,
                             on_command=self.run_command)
        self.serial = [SerialTransport(url, self.on_frame, baudrate=settings.baudrate)
                       for url in settings.serial]
        self.ble_link = ble_link
        self.heartbeat_s = settings.heartbeat_s
        self.config_rev = 0
        self.wearables: dict[str, WearableStream] = {}
        self._ble_tasks: set[str] = set()
        self._recent: dict[tuple[str, int, int], float] = {}
        self.supervisor = Supervisor(f"gateway {settings.id}")
        self._running = False
        self.edge = FallBank() if settings.edge_falls else None
        self.on_event: Callable[[EventPayload], None] = lambda e: None

    async def run(self) -> None:
        """Run until cancelled: each task under the supervisor, which restarts any that fails
        (with backoff, logged and counted in the heartbeat's ``task_restarts``)."""
        sup = self.supervisor
        try:
            self._running = True
            sup.start("uplink", plain(self.uplink.run))
            for transport in self.serial:
                sup.start(f"serial {transport.url}", plain(transport.run))
            sup.start("heartbeat", self._heartbeats)
            sup.start("housekeeping", self._housekeeping)
            self._sync_ble()
            await asyncio.Event().wait()
        finally:
            self._running = False
            try:
                await sup.stop()
            finally:
                self.close()

    def close(self) -> None:
        self.registry.close()
        self.outbox.close()

    # ------------------------------------------------------------------------------ events

    def on_frame(self, frame: Frame) -> None:
        """A decoded RF frame: paired devices' events go to the outbox, the rest are counted."""
        self.counters["frames"] += 1
        uid = rf_uid(frame.device_id)
        device = self.registry.seen(uid, frame.rssi, frame.battery_mv)
        if device is None:
            self.counters["frames_unpaired"] += 1
            return
        now = self.clock()
        key = (uid, frame.seq, int(frame.type))
        if now - self._recent.get(key, -1e18) < self.settings.rf_dedupe_s:
            self.counters["frames_repeated"] += 1  # RF devices repeat each transmission
            return
        self._recent[key] = now
        mapped = frame_event(frame)
        if mapped is not None:
            etype, data = mapped
            self.emit(etype, uid, dseq=frame.seq, rssi=frame.rssi,
                      battery_mv=frame.battery_mv or None, data=data)

    def emit(self, etype: EventType, device: str, *, dseq: int | None = None,
             rssi: int | None = None, battery_mv: int | None = None,
             data: dict[str, float | int | str | bool | None] | None = None) -> int:
        """Commit one event to the outbox (before anything else happens to it)."""
        gw, inc, ts = self.settings.id, self.outbox.incarnation, self.clock()
        made: list[EventPayload] = []

        def build(n: int) -> bytes:
            made.append(EventPayload(id=event_id(gw, inc, n), gw=gw, inc=inc, n=n, ts=ts,
                                     device=device, dseq=dseq, type=etype, rssi=rssi,
                                     battery_mv=battery_mv, data=data or {}))
            return dump(made[0])

        n = self.outbox.add_event(build, alarm=etype in ALARM_TYPES)
        self.counters[f"events_{etype.value}"] += 1
        self.on_event(made[0])
        log.info("event %s %s from %s", made[0].id, etype.value, device)
        return n

    # ------------------------------------------------------------------------------ wearables

    def _sync_ble(self) -> None:
        """One streaming task per paired BLE device; stop tasks of unpaired ones."""
        if self.ble_link is None or not self._running:
            return
        wanted = {uid for uid, d in self.registry.devices.items()
                  if d.model.transport == Transport.BLE}
        for uid in self._ble_tasks - wanted:
            self._ble_tasks.discard(uid)
            self.supervisor.cancel(f"ble {uid}")
            self.wearables.pop(uid, None)
        for uid in wanted - self._ble_tasks:
            stream = WearableStream(uid, self.settings.acc_block_s, self.counters,
                                    on_block=self._acc_block,
                                    on_battery=lambda pct, u=uid: self._battery(u, pct),
                                    clock=self.clock)
            self.wearables[uid] = stream
            self._ble_tasks.add(uid)
            self.supervisor.start(f"ble {uid}",
                                  plain(functools.partial(self._stream_ble, uid, stream)))

    async def _stream_ble(self, uid: str, stream: WearableStream) -> None:
        assert self.ble_link is not None
        backoff = Backoff(initial=1.0, maximum=60.0)
        while True:
            started = self.clock()
            await self.ble_link.stream(ble_address(uid), SUBSCRIBED, stream.notify)
            stream.flush()
            self.counters["ble_link_lost"] += 1
            if self.clock() - started > 30:
                backoff.reset()
            await backoff.sleep()

    def _acc_block(self, block: AccBlock) -> None:
        self.registry.seen(block.device)
        self.outbox.add_telemetry([(Up.ACC, block.encode())])
        if self.edge is not None:
            self._edge_detect(block)

    def _edge_detect(self, block: AccBlock) -> None:
        """Edge mode: the server's fall detector (same code, same parameters) runs here, so a
        fall is an alarm in the outbox even while the link is down."""
        assert self.edge is not None
        device = self.registry.devices.get(block.device)
        if device is None or device.model.placement is None:
            return
        if block.device not in self.edge:
            self.edge.add(block.device, device.model.placement, block.rate_hz)
        for found in self.edge.process_acc([block]):
            if isinstance(found, FallEvent):
                self.emit(EventType.FALL, block.device, data={
                    "confidence": round(found.confidence, 3), "placement": found.placement,
                    "t_impact": found.t_impact, "edge": True})
            elif isinstance(found, SensorFault) and found.active and found.kind != FaultKind.GAP:
                self.emit(EventType.SENSOR_FAULT, block.device,
                          data={"fault": found.kind.value, "edge": True})

    def _battery(self, uid: str, pct: int) -> None:
        device = self.registry.devices.get(uid)
        if device is not None:
            device.seen.battery_pct = pct

    def flush_vitals(self) -> None:
        msgs = []
        for uid, stream in self.wearables.items():
            readings = stream.take_readings()
            if readings:
                self.registry.seen(uid)
                msgs += [(Up.VITALS, dump(v))
                         for v in Vitals.batches(self.settings.id, uid, readings)]
        self.outbox.add_telemetry(msgs)

    # ------------------------------------------------------------------------------ periodic

    def heartbeat(self) -> Heartbeat:
        st = self.outbox.stats()
        now = self.clock()
        return Heartbeat(
            gw=self.settings.id, ts=now, uptime_s=round(now - self.started, 1),
            interval_s=self.heartbeat_s,
            outbox=OutboxHealth(depth=st.depth, alarms=st.alarms, shed=st.shed,
                                oldest_s=None if st.oldest_created is None else
                                round(now - st.oldest_created, 1)),
            devices=self.registry.health(), heard_unpaired=[h[0] for h in self.registry.heard()],
            counters=self._all_counters(), config_rev=self.config_rev)

    def _all_counters(self) -> dict[str, int]:
        out = dict(self.counters)
        out["task_restarts"] = sum(t.restarts for t in self.supervisor.health())
        for t in self.serial:
            s = t.deframer.stats
            out["serial_garbage_bytes"] = out.get("serial_garbage_bytes", 0) + s.garbage_bytes
            out["serial_crc_errors"] = out.get("serial_crc_errors", 0) + s.crc_errors
            out["serial_link_errors"] = out.get("serial_link_errors", 0) + t.errors
            out["serial_frame_errors"] = out.get("serial_frame_errors", 0) + t.frame_errors
        return out

    async def _heartbeats(self, me: Supervised) -> None:
        while True:
            await self.uplink.connected.wait()
            if await self.uplink.publish(Up.HEARTBEAT, dump(self.heartbeat()), qos=0):
                me.ok()
            await asyncio.sleep(self.heartbeat_s)

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
        self.flush_vitals()
        self.registry.flush_heard()
        for device in self.registry.silent():
            self.emit(EventType.DEVICE_SILENT, device.uid,
                      data={"last_seen": device.seen.last_seen})
        cutoff = self.clock() - self.settings.rf_dedupe_s
        self._recent = {k: t for k, t in self._recent.items() if t >= cutoff}

    # ------------------------------------------------------------------------------ control

    async def apply_config(self, config: GatewayConfig) -> None:
        """Apply the retained desired config without a restart."""
        if config.rev < self.config_rev:
            log.info("ignoring config rev %d < current %d", config.rev, self.config_rev)
            return
        self.heartbeat_s = config.heartbeat_s
        if config.devices is not None:
            added, removed = self.registry.replace_all(config.devices)
            log.info("config rev %d: paired %s, unpaired %s", config.rev, added, removed)
            self._sync_ble()
        self.config_rev = config.rev
        self.counters["config_applied"] += 1

    async def run_command(self, cmd: Command) -> None:
        result = await self._command(cmd)
        await self.uplink.publish(Up.CMD_RESULT, dump(result))

    async def _command(self, cmd: Command) -> CommandResult:
        if cmd.op == CommandOp.TEST_ALARM:
            device = str(cmd.args.get("device", f"gw-{self.settings.id}"))
            n = self.emit(EventType.TEST, device, data={"command": cmd.id})
            return CommandResult(id=cmd.id, ok=True, detail=f"test event {n}")
        if cmd.op == CommandOp.PAIR:
            try:
                self.registry.pair(str(cmd.args["device"]), str(cmd.args["model"]),
                                   str(cmd.args.get("label", "")))
            except (KeyError, ValueError) as exc:
                return CommandResult(id=cmd.id, ok=False, detail=f"pair: {exc}")
            self._sync_ble()
            return CommandResult(id=cmd.id, ok=True, detail="paired")
        if cmd.op == CommandOp.UNPAIR:
            ok = self.registry.unpair(str(cmd.args.get("device", "")))
            self._sync_ble()
            return CommandResult(id=cmd.id, ok=ok, detail="unpaired" if ok else "not paired")
        if cmd.op == CommandOp.PREWARN:
            # A dongle with a speaker would say "are you well? press your button" here.
            self.counters["prewarnings"] += 1
            log.warning("inactivity pre-warning for resident %s", cmd.args.get("resident"))
            return CommandResult(id=cmd.id, ok=True, detail="pre-warning given")
        if cmd.op == CommandOp.SCAN:
            found = await self.ble_link.scan(float(cmd.args.get("timeout", 5))) \
                if self.ble_link else []
            heard = [{"device": d, "frames": c, "rssi": r} for d, c, _, r in self.registry.heard()]
            return CommandResult(id=cmd.id, ok=True, data={
                "ble": [{"address": a.address, "name": a.name, "rssi": a.rssi} for a in found],
                "heard_unpaired": heard})
        return CommandResult(id=cmd.id, ok=True, data=self.heartbeat().model_dump())

