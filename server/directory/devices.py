"""Devices: buttons, pull cords, wearables and sensors, each paired to a gateway."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from pydantic import Field

from hardware.catalog import MODELS, get_model
from server.api.types import Id, Text
from server.directory.records import Input, create, insert, one
from server.errors import NotFound
from server.scope import Scope


class DeviceIn(Input):
    uid: Text = Field(min_length=3, max_length=64)
    gateway_id: Text = Field(max_length=32)
    model: Text = Field(max_length=40)
    label: Text = Field(default="", max_length=80)
    resident_id: Id | None = None


def add_device(conn: psycopg.Connection[Any], d: DeviceIn) -> str:
    """Pair a device to a gateway; its kind comes from the catalogue (NotFound naming
    ``model`` for a model the catalogue does not have)."""
    if d.model not in MODELS:
        raise NotFound(f"unknown device model {d.model!r} (known: {', '.join(MODELS)})",
                       field="model")
    data = {**d.model_dump(), "kind": get_model(d.model).kind.value, "paired_at": "now"}
    return str(create(conn, d, lambda c: insert(c, "devices", data, key="uid")))


def wearables_of(conn: psycopg.Connection[Any], scope: Scope, resident_id: int) -> list[str]:
    """Uids of the resident's wearables; NotFound when the resident is not in scope."""
    return list(one(conn, sql.SQL(
        "SELECT coalesce(array_agg(d.uid ORDER BY d.uid) FILTER (WHERE d.uid IS NOT NULL), "
        "'{{}}') AS uids FROM residents r JOIN homes h ON h.id = r.home_id LEFT JOIN devices d "
        "ON d.resident_id = r.id AND d.kind = 'wearable' AND d.unpaired_at IS NULL "
        "WHERE r.id = %s AND {} GROUP BY r.id"
    ).format(scope.where("h.region_id")), (resident_id,), f"no resident {resident_id}")["uids"])
