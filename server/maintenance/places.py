"""Where a gateway or device is, limited to a user's regions (a gateway at no home yet is every
technician's, as in ``server.enrol``); outside them it is "not found"."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from server.errors import NotFound
from server.scope import Scope


def gateway_in(conn: psycopg.Connection[Any], scope: Scope, gateway: str) -> None:
    """NotFound unless ``gateway`` exists within ``scope``."""
    row = conn.execute(sql.SQL(
        "SELECT 1 FROM gateways g LEFT JOIN homes h ON h.id = g.home_id "
        "WHERE g.id = %s AND {}").format(scope.where("h.region_id", unplaced=True)),
        (gateway,)).fetchone()
    if row is None:
        raise NotFound(f"no gateway {gateway!r}", field="gateway_id")


def device_in(conn: psycopg.Connection[Any], scope: Scope, device: str) -> str:
    """The gateway of ``device`` (paired, within ``scope``), or NotFound."""
    row = conn.execute(sql.SQL(
        "SELECT d.gateway_id FROM devices d JOIN gateways g ON g.id = d.gateway_id "
        "LEFT JOIN homes h ON h.id = g.home_id WHERE d.uid = %s AND {}").format(
            scope.where("h.region_id", unplaced=True)), (device,)).fetchone()
    if row is None:
        raise NotFound(f"no device {device!r}", field="device")
    return str(row[0])
