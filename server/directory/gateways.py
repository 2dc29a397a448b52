"""Gateways: the box in each home that bridges its devices to the broker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from pydantic import Field

from server.api.types import Id
from server.directory.records import Input, create, fetch, insert
from server.scope import Scope


class GatewayIn(Input):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,31}$")
    home_id: Id | None = None


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A gateway, where it is, whether it is online, and its outbox from the last heartbeat."""

    id: str
    home_id: int | None
    address: str | None
    state: str
    state_since: datetime | None
    last_seen: datetime | None
    outbox: Any


def list_gateways(conn: psycopg.Connection[Any], scope: Scope) -> list[GatewayStatus]:
    """Gateways at homes in scope, and those not yet at any home (to be installed), by id."""
    return fetch(conn, GatewayStatus, sql.SQL(
        "SELECT g.id, g.home_id, h.address, g.state, g.state_since, g.last_seen, "
        "g.last_heartbeat->'outbox' AS outbox FROM gateways g LEFT JOIN homes h ON "
        "h.id = g.home_id WHERE {} ORDER BY g.id").format(
            scope.where("h.region_id", unplaced=True)))


def add_gateway(conn: psycopg.Connection[Any], g: GatewayIn) -> str:
    """Register a gateway; its MQTT username is its id."""
    return str(create(conn, g, lambda c: insert(
        c, "gateways", {**g.model_dump(), "mqtt_username": g.id})))
