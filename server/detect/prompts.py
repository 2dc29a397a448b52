"""What the detectors ask of a home's gateway, as commands: alert a wearer after a fall (they may
cancel it), withdraw that, and ask a resident whether they are all right (a pre-warning)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from hardware.ble import AlertLevel
from kernel.contract import AlertWearerArgs, Command, CommandOp, PrewarnArgs

_WEARABLES = """
SELECT uid FROM devices WHERE resident_id = %s AND kind = 'wearable' AND unpaired_at IS NULL
ORDER BY uid
"""


@dataclass(frozen=True, slots=True)
class Prewarning:
    """An inactivity pre-warning due: ``resident``, behind ``gateway``, has ``window_min``
    minutes to answer before rule ``rule`` (inactive ``inactive_min`` minutes) raises the alarm."""

    gateway: str
    resident: int
    rule: str
    inactive_min: int
    window_min: int


def _id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def fall_command(device: str, ref: str, window_s: float) -> Command:
    """Alert ``device``'s wearer (high) about fall ``ref`` for ``window_s``: too late after."""
    args = AlertWearerArgs(device=device, level=AlertLevel.HIGH, ref=ref, window_s=window_s,
                           until=time.time() + window_s)
    return Command(id=_id("fall"), op=CommandOp.ALERT_WEARER, args=args.args())


def withdraw_command(device: str, ref: str) -> Command:
    """Stop asking about fall ``ref`` (the wearer got up): level 0."""
    args = AlertWearerArgs(device=device, level=AlertLevel.NONE, ref=ref)
    return Command(id=_id("withdraw"), op=CommandOp.ALERT_WEARER, args=args.args())


def prewarn_command(conn: psycopg.Connection[Any], p: Prewarning) -> Command:
    """The pre-warning for ``p.resident``: their gateway asks them, their wearables alert."""
    wearables = [uid for (uid,) in conn.execute(_WEARABLES, (p.resident,))]
    window_s = p.window_min * 60.0
    args = PrewarnArgs(resident=p.resident, devices=",".join(wearables), window_s=window_s,
                       until=time.time() + window_s, rule=p.rule, inactive_min=p.inactive_min)
    return Command(id=_id("prewarn"), op=CommandOp.PREWARN, args=args.args())
