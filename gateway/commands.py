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

from pydantic import ValidationError

from gateway.credentials import Credential, CredentialsFile
from gateway.emitter import Emit
from gateway.events import EventData, EventDraft
from gateway.prompts import Prompt, Prompts
from gateway.provisioning import Provisioning
from gateway.registry import Registry
from gateway.transports.ble import BleLink
from hardware.ble import AlertLevel
from kernel.contract import (
    AlertWearerArgs,
    Command,
    CommandOp,
    CommandResult,
    EventType,
    Heartbeat,
    PrewarnArgs,
    PromptKind,
)

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
    prompts: Prompts
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
    """The inactivity pre-warning: the gateway asks the resident whether they are all right (a
    mild alert on their wearables); a press of any paired panic button within the window answers
    it. Unanswered, the server raises the inactivity alarm when the window ends."""
    try:
        args = PrewarnArgs.model_validate(cmd.args)
    except ValidationError as exc:
        return CommandResult(id=cmd.id, ok=False, detail=f"prewarn: {_first(exc)}")
    if args.until is not None and p.prompts.clock() > args.until:
        p.counters["prompts_too_late"] += 1
        return CommandResult(id=cmd.id, ok=False, detail="prewarn: arrived after its window")
    wearables = tuple(d for d in args.wearables if d in p.registry.devices)
    echo: EventData = {"resident": args.resident, "rule": args.rule,
                       "inactive_min": args.inactive_min}
    await p.prompts.ask(Prompt(PromptKind.PREWARN, cmd.id, wearables, AlertLevel.MILD,
                               args.window_s, echo))
    p.counters["prewarnings"] += 1
    return CommandResult(id=cmd.id, ok=True, detail=f"pre-warning given for {args.window_s:g} "
                         f"s ({len(wearables)} wearable(s) alerted)")


async def alert_wearer(p: Ports, cmd: Command) -> CommandResult:
    """A detected fall: the wearable alerts its wearer, who may cancel within the window (level
    0: the server withdraws the prompt, e.g. the wearer got up)."""
    try:
        args = AlertWearerArgs.model_validate(cmd.args)
    except ValidationError as exc:
        return CommandResult(id=cmd.id, ok=False, detail=f"alert_wearer: {_first(exc)}")
    if args.level == AlertLevel.NONE:
        closed = p.prompts.withdraw(args.ref)
        return CommandResult(id=cmd.id, ok=True, detail=f"{closed} prompt(s) withdrawn")
    if args.until is not None and p.prompts.clock() > args.until:
        p.counters["prompts_too_late"] += 1
        return CommandResult(id=cmd.id, ok=False, detail="alert_wearer: arrived after its window")
    if args.device not in p.registry.devices:
        return CommandResult(id=cmd.id, ok=False, detail=f"alert_wearer: {args.device} is not "
                             "paired here")
    asked = await p.prompts.ask(Prompt(args.kind, args.ref, (args.device,),
                                       AlertLevel(args.level), args.window_s))
    if asked.ref != args.ref:
        return CommandResult(id=cmd.id, ok=True, detail=f"already asking (prompt {asked.ref})")
    return CommandResult(id=cmd.id, ok=True, detail=f"wearer alerted for {args.window_s:g} s")


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(x) for x in error['loc'])}: {error['msg']}"


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


async def restart_uplink(p: Ports, cmd: Command) -> CommandResult:
    """Drop the MQTT session once this result is published and log in again at once; the
    outbox is untouched (whatever was not acknowledged is sent again)."""
    p.reconnect()
    return CommandResult(id=cmd.id, ok=True, detail="reconnecting")


HANDLERS: Mapping[CommandOp, Handler] = {
    CommandOp.TEST_ALARM: test_alarm,
    CommandOp.PAIR: pair,
    CommandOp.UNPAIR: unpair,
    CommandOp.PREWARN: prewarn,
    CommandOp.ALERT_WEARER: alert_wearer,
    CommandOp.SCAN: scan,
    CommandOp.STATUS: status,
    CommandOp.ROTATE_CREDENTIALS: rotate_credentials,
    CommandOp.RESTART_UPLINK: restart_uplink,
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
