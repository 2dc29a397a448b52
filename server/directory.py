"""The directory: regions, homes, residents, contacts, gateways and devices (writes and reads)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from hardware.catalog import get_model
from server.api.types import Id, Rank, Text

CareTag = Literal["高龄", "独居", "空巢", "失能", "经济困难", "计划生育特殊家庭", "重残"]
"""The care categories of the community's elder-care registry (residents.care_tags)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegionIn(_In):
    name: Text = Field(min_length=1, max_length=80)
    level: str = Field(pattern="^(街道|社区)$")
    parent_id: Id | None = None


class HomeIn(_In):
    region_id: Id
    address: Text = Field(min_length=1, max_length=200)
    key_safe_code: Text | None = Field(default=None, max_length=40)
    notes: Text = Field(default="", max_length=4000)


class ResidentIn(_In):
    home_id: Id
    name: Text = Field(min_length=1, max_length=80)
    sex: str | None = Field(default=None, pattern="^(F|M)$")
    birth_date: date | None = None
    phone: Text | None = Field(default=None, max_length=40)
    care_tags: list[CareTag] = Field(default_factory=list, max_length=20)
    conditions: list[Annotated[Text, Field(max_length=200)]] = Field(default_factory=list,
                                                                       max_length=100)
    medications: list[Annotated[Text, Field(max_length=200)]] = Field(default_factory=list,
                                                                        max_length=100)
    languages: list[Annotated[Text, Field(max_length=40)]] = Field(default_factory=list,
                                                                     max_length=20)


class ContactIn(_In):
    resident_id: Id
    name: Text = Field(min_length=1, max_length=80)
    relation: Text = Field(default="", max_length=40)
    phone: Text = Field(min_length=3, max_length=40)
    call_order: Rank = 1


class GatewayIn(_In):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,31}$")
    home_id: Id | None = None


class DeviceIn(_In):
    uid: Text = Field(min_length=3, max_length=64)
    gateway_id: Text = Field(max_length=32)
    model: Text = Field(max_length=40)
    label: Text = Field(default="", max_length=80)
    resident_id: Id | None = None


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
