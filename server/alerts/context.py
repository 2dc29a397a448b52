"""Where an alert belongs (resident, home, region, gateway, device), read from the directory;
its incident key (correlation) and its priority as the resident's care tags raise it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg

from server.alerts.model import AlertType, Priority
from server.directory.care_rules import CareRule, plan_for

PERSONAL = frozenset({AlertType.PANIC, AlertType.FALL, AlertType.VITALS, AlertType.INACTIVITY,
                      AlertType.PHONE_IN})

_CONTEXT = """
SELECT d.uid, d.resident_id, g.id, g.home_id, h.region_id, r.name, h.address,
       r.care_tags, r.birth_date
FROM devices d LEFT JOIN gateways g ON g.id = d.gateway_id
     LEFT JOIN homes h ON h.id = g.home_id LEFT JOIN residents r ON r.id = d.resident_id
WHERE d.uid = ANY (%s)
"""

_GATEWAY_CONTEXT = """
SELECT g.id, g.home_id, h.region_id, h.address FROM gateways g
LEFT JOIN homes h ON h.id = g.home_id WHERE g.id = %s
"""

_RESIDENT_CONTEXT = """
SELECT r.id, r.home_id, h.region_id, r.name, h.address, r.care_tags, r.birth_date,
       (SELECT g.id FROM gateways g WHERE g.home_id = r.home_id ORDER BY g.id LIMIT 1)
FROM residents r JOIN homes h ON h.id = r.home_id WHERE r.id = %s
"""


@dataclass(frozen=True, slots=True)
class Context:
    """Where an alert belongs: resident, home, region, gateway, device."""

    gateway_id: str | None = None
    device: str | None = None
    resident_id: int | None = None
    home_id: int | None = None
    region_id: int | None = None
    resident: str | None = None
    address: str | None = None
    care_tags: tuple[str, ...] = ()
    birth_date: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def correlation(self, kind: AlertType) -> str:
        """The incident key: one active alert per resident (or home, or gateway) and personal
        type; per gateway for gateway-offline; per device for the other technical types."""
        if kind in PERSONAL:
            if self.resident_id is not None:
                return f"resident:{self.resident_id}:{kind.value}"
            if self.home_id is not None:
                return f"home:{self.home_id}:{kind.value}"
            return f"gateway:{self.gateway_id}:{kind.value}"
        if kind == AlertType.GATEWAY_OFFLINE:
            return f"gateway:{self.gateway_id}:{kind.value}"
        return f"device:{self.device}:{kind.value}"

    def title(self, kind: AlertType) -> str:
        return self.resident or self.address or self.device or self.gateway_id or kind.value


def raised_priority(priority: Priority, ctx: Context, rules: Sequence[CareRule],
                    today: date | None = None) -> Priority:
    """P2 raised to P1 when a care rule that applies to the resident says so (the defaults:
    失能, 失智, or 80+ — 高龄 or the birth date — and 独居)."""
    if priority != Priority.P2:
        return priority
    if plan_for(ctx.care_tags, ctx.birth_date, rules, today).raise_priority:
        return Priority.P1
    return priority


def contexts(conn: psycopg.Connection[Any], devices: Sequence[str]) -> dict[str, Context]:
    """The context of each known device (unknown ones are left out)."""
    out = {}
    for uid, res, gw, home, region, name, address, tags, born in conn.execute(
            _CONTEXT, (list(devices),)):
        out[uid] = Context(gw, uid, res, home, region, name, address, tuple(tags or ()), born)
    return out


def resident_context(conn: psycopg.Connection[Any], resident: int) -> Context:
    row = conn.execute(_RESIDENT_CONTEXT, (resident,)).fetchone()
    if row is None:
        return Context(resident_id=resident)
    return Context(gateway_id=row[7], resident_id=row[0], home_id=row[1], region_id=row[2],
                   resident=row[3], address=row[4], care_tags=tuple(row[5] or ()),
                   birth_date=row[6])


def gateway_context(conn: psycopg.Connection[Any], gateway: str) -> Context:
    row = conn.execute(_GATEWAY_CONTEXT, (gateway,)).fetchone()
    if row is None:
        return Context(gateway_id=gateway)
    return Context(gateway_id=row[0], home_id=row[1], region_id=row[2], address=row[3])
