"""Incoming MQTT messages → typed contract values, or a rejection reason (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kernel.contract import (
    AccBlock,
    CommandResult,
    ContractError,
    Event,
    Heartbeat,
    Status,
    Topics,
    Up,
    Vitals,
    parse,
)
from server.store import BadRow, validate_event

Decoded = Event | AccBlock | Vitals | Heartbeat | Status | CommandResult


@dataclass(slots=True)
class Incoming:
    """One message as the MQTT thread received it; ``mid`` and ``generation`` ack it later."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received: float
    generation: int


def decode(topics: Topics, msg: Incoming,
           known: Callable[[str], bool] | None = None) -> tuple[str, Decoded]:
    """``(gateway, value)`` or ContractError with a counter reason (never anything else).

    Every value is one the database can store (the contract's types). ``known``: whether the
    server knows a gateway, asked before the payload is read (reason ``unknown_gateway``).
    """
    gw, channel = topics.parse(msg.topic)
    if known is not None and not known(gw):
        raise ContractError("unknown_gateway", f"gateway {gw!r} is not provisioned")
    if channel == Up.ACC:
        return gw, AccBlock.decode(msg.payload)
    value: Decoded
    if channel == Up.EVENT:
        value = parse(Event, msg.payload)
        try:
            validate_event(value)
        except BadRow as exc:
            raise ContractError(exc.reason, str(exc)) from None
    elif channel == Up.VITALS:
        value = parse(Vitals, msg.payload)
    elif channel == Up.HEARTBEAT:
        value = parse(Heartbeat, msg.payload)
    elif channel == Up.STATUS:
        value = parse(Status, msg.payload) if msg.payload else Status(state="offline")
    elif channel == Up.CMD_RESULT:
        value = parse(CommandResult, msg.payload)
    else:
        raise ContractError("bad_topic", f"not an uplink channel: {msg.topic}")
    claimed = getattr(value, "gw", gw)
    if claimed != gw:
        raise ContractError("gw_mismatch", f"payload says gateway {claimed!r}, topic {gw!r}")
    return gw, value
