"""Commands from the server (``Down.CMD``): one handler per ``CommandOp`` in ``HANDLERS``.

A handler gets the parts of the gateway it may use (``Ports``) and the command, and returns the
``CommandResult`` the uplink publishes on ``Up.CMD_RESULT``. Bad arguments are a result with
``ok=False`` saying why; a handler that fails unexpectedly is logged, counted
(``command_errors``) and answered the same way, so it never costs the MQTT session. A new
command is a ``CommandOp`` in the contract and a handler in the table.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from gateway.credentials import Credential, CredentialsFile
from gateway.emitter import Emit
from gateway.events import EventDraft
from gateway.provisioning import Provisioning
from gateway.registry import Registry
from gateway.transports.ble import BleLink
from kernel.contract import Command, CommandOp, CommandResult, EventType, Heartbeat

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ports:
    """What command handlers may use."""

    gw: str
    emit: Emit
    provisioning: Provisioning
    registry: Registry
    ble_link: BleLink | None
    status: Callable[[], Heartbeat]
    counters: Counter[str]
    credentials: CredentialsFile | None = None  # the broker identity (gateway.credentials)
    reconnect: Callable[[], None] = lambda: None  # log in again after this command's result


Handler = Callable[[Ports, Command], Awaitable[CommandResult]]


async def test_alarm(p: Ports, cmd: Command) -> CommandResult:
    """A test event (not an alarm) from ``device`` (default: the gateway itself)."""
    device = str(cmd.args.get("device", f"gw-{p.gw}"))
    n = p.emit(EventDraft(EventType.TEST, device, data={"command": cmd.id}))
    return CommandResult(id=cmd.id, ok=True, detail=f"test event {n}")


async def pair(p: Ports, cmd: Command) -> CommandResult:
    try:
        p.provisioning.pair(str(cmd.args["device"]), str(cmd.args["model"]),
                            str(cmd.args.get("label", "")))
    except (KeyError, ValueError) as exc:
        return CommandResult(id=cmd.id, ok=False, detail=f"pair: {exc}")
    return CommandResult(id=cmd.id, ok=True, detail="paired")


async def unpair(p: Ports, cmd: Command) -> CommandResult:
    ok = p.provisioning.unpair(str(cmd.args.get("device", "")))
    return CommandResult(id=cmd.id, ok=ok, detail="unpaired" if ok else "not paired")


async def prewarn(p: Ports, cmd: Command) -> CommandResult:
    """The inactivity pre-warning; the resident cancels it by pressing a button."""
    # A dongle with a speaker would say "are you well? press your button" here.
    p.counters["prewarnings"] += 1
    log.warning("inactivity pre-warning for resident %s", cmd.args.get("resident"))
    return CommandResult(id=cmd.id, ok=True, detail="pre-warning given")


async def scan(p: Ports, cmd: Command) -> CommandResult:
    """BLE devices advertising nearby, and RF devices heard but not paired."""
    found = await p.ble_link.scan(float(cmd.args.get("timeout", 5))) if p.ble_link else []
    heard = [{"device": d, "frames": c, "rssi": r} for d, c, _, r in p.registry.heard()]
    return CommandResult(id=cmd.id, ok=True, data={
        "ble": [{"address": a.address, "name": a.name, "rssi": a.rssi} for a in found],
        "heard_unpaired": heard})


async def status(p: Ports, cmd: Command) -> CommandResult:
    """A heartbeat, now."""
    return CommandResult(id=cmd.id, ok=True, data=p.status().model_dump())


async def rotate_credentials(p: Ports, cmd: Command) -> CommandResult:
    """A new broker identity from the server: kept beside the current one and tried at the
    next login, right after this result (``gateway.credentials``). The server deletes the old
    identity once it sees the gateway online under the new one."""
    if p.credentials is None:
        return CommandResult(id=cmd.id, ok=False, detail="rotate_credentials: this gateway's "
                             "identity is not in a credentials file (provision it)")
    username, password = cmd.args.get("username"), cmd.args.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not (
            username and password):
        return CommandResult(id=cmd.id, ok=False,
                             detail="rotate_credentials: needs username and password")
    p.credentials.stage(Credential(username, password))
    p.reconnect()
    return CommandResult(id=cmd.id, ok=True, detail=f"logging in as {username}")


HANDLERS: Mapping[CommandOp, Handler] = {
    CommandOp.TEST_ALARM: test_alarm,
    CommandOp.PAIR: pair,
    CommandOp.UNPAIR: unpair,
    CommandOp.PREWARN: prewarn,
    CommandOp.SCAN: scan,
    CommandOp.STATUS: status,
    CommandOp.ROTATE_CREDENTIALS: rotate_credentials,
}


class Commands:
    """Runs each command through its handler."""

    def __init__(self, ports: Ports, handlers: Mapping[CommandOp, Handler] = HANDLERS) -> None:
        self.ports = ports
        self.handlers = handlers

    async def handle(self, cmd: Command) -> CommandResult:
        handler = self.handlers.get(cmd.op)
        if handler is None:
            self.ports.counters["command_unknown"] += 1
            return CommandResult(id=cmd.id, ok=False, detail=f"no handler for {cmd.op.value}")
        try:
            return await handler(self.ports, cmd)
        except Exception as exc:  # one command's outer edge: logged, counted, answered
            self.ports.counters["command_errors"] += 1
            log.exception("gateway %s: command %s (%s) failed", self.ports.gw, cmd.id,
                          cmd.op.value)
            return CommandResult(id=cmd.id, ok=False, detail=f"{cmd.op.value} failed: {exc}")
