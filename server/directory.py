"""The directory: regions, homes, residents, contacts, gateways and devices (writes and reads)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from hardware.catalog import get_model


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegionIn(_In):
    name: str = Field(min_length=1, max_length=80)
    level: str = Field(pattern="^(街道|社区)$")
    parent_id: int | None = None


class HomeIn(_In):
    region_id: int
    address: str = Field(min_length=1, max_length=200)
    key_safe_code: str | None = Field(default=None, max_length=40)
    notes: str = ""


class ResidentIn(_In):
    home_id: int
    name: str = Field(min_length=1, max_length=80)
    sex: str | None = Field(default=None, pattern="^(F|M)$")
    birth_date: date | None = None
    phone: str | None = None
    care_tags: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    medications: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)


class ContactIn(_In):
    resident_id: int
    name: str = Field(min_length=1, max_length=80)
    relation: str = ""
    phone: str = Field(min_length=3, max_length=40)
    call_order: int = Field(default=1, ge=1)


class GatewayIn(_In):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,31}$")
    home_id: int | None = None


class DeviceIn(_In):
    uid: str = Field(min_length=3, max_length=64)
    gateway_id: str
    model: str
    label: str = ""
    resident_id: int | None = None


def _insert(conn: psycopg.Connection[Any], table: str, data: dict[str, Any],
            key: str = "id") -> Any:
    cols = ", ".join(data)
    marks = ", ".join(["%s"] * len(data))
    row = conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING {key}",
                       list(data.values())).fetchone()
    assert row is not None
    return row[0]


def add_region(conn: psycopg.Connection[Any], r: RegionIn) -> int:
    return int(_insert(conn, "regions", r.model_dump()))


def add_home(conn: psycopg.Connection[Any], h: HomeIn) -> int:
    return int(_insert(conn, "homes", h.model_dump()))


def add_resident(conn: psycopg.Connection[Any], r: ResidentIn) -> int:
    return int(_insert(conn, "residents", r.model_dump()))


def add_contact(conn: psycopg.Connection[Any], c: ContactIn) -> int:
    return int(_insert(conn, "contacts", c.model_dump()))


def add_gateway(conn: psycopg.Connection[Any], g: GatewayIn) -> str:
    return str(_insert(conn, "gateways", {**g.model_dump(), "mqtt_username": g.id}))


def add_device(conn: psycopg.Connection[Any], d: DeviceIn) -> str:
    """Pair a device to a gateway (kind from the catalogue; unknown models are refused)."""
    model = get_model(d.model)
    data = {**d.model_dump(), "kind": model.kind.value, "paired_at": "now"}
    return str(_insert(conn, "devices", data, key="uid"))


def residents_of_home(conn: psycopg.Connection[Any], home_id: int) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT id, name, sex, birth_date, phone, care_tags, conditions, medications, languages, "
        "photo_url FROM residents WHERE home_id = %s ORDER BY id", (home_id,))
    cols = [d.name for d in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def contacts_of(conn: psycopg.Connection[Any], resident_ids: list[int]) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT id, resident_id, name, relation, phone, call_order FROM contacts "
                       "WHERE resident_id = ANY (%s) ORDER BY resident_id, call_order",
                       (resident_ids,))
    cols = [d.name for d in cur.description or ()]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
