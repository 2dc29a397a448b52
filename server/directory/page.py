"""What a resident's page shows besides their record: the devices at their home, and the
vocabulary the editor offers (care tags, statuses, the default limits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from server.directory.care_tags import CareTag
from server.directory.records import fetch
from server.directory.residents import STATUSES, Defaults, defaults


@dataclass(frozen=True, slots=True)
class HomeDevice:
    """A device paired at the home: the resident's own, or shared (a door sensor, a cord)."""

    uid: str
    model: str
    kind: str
    label: str
    resident_id: int | None
    gateway_id: str | None
    last_seen: datetime | None
    battery_pct: int | None


def devices_at_home(conn: psycopg.Connection[Any], home_id: int) -> list[HomeDevice]:
    """Devices on the home's gateways, the resident's own first (the caller checked scope)."""
    return fetch(conn, HomeDevice, sql.SQL(
        "SELECT d.uid, d.model, d.kind, d.label, d.resident_id, d.gateway_id, d.last_seen, "
        "d.battery_pct FROM devices d JOIN gateways g ON g.id = d.gateway_id "
        "WHERE g.home_id = %s AND d.unpaired_at IS NULL "
        "ORDER BY d.resident_id NULLS LAST, d.uid"), (home_id,))


@dataclass(frozen=True, slots=True)
class Vocabulary:
    care_tags: list[str]
    statuses: list[str]
    defaults: Defaults


def vocabulary() -> Vocabulary:
    return Vocabulary([t.value for t in CareTag], list(STATUSES), defaults())
