"""Pair, unpair, replace and relabel a gateway's devices: each change is one transaction that
writes the server's list, takes a new config revision and records who did it
(``device_changes``); the caller then publishes the revision (``server.devices.config``).

An unpaired device keeps its row (its events, where it was) with ``unpaired_at``; a replaced
one also names its successor (``replaced_by``), which takes its label, resident and place.
Supervision and the config follow the paired ones only. Gateways at homes outside the actor's
regions are "not found".
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import Field

from hardware.catalog import MODELS, get_model, parse_uid
from hardware.errors import CatalogError
from server.api.types import Id, Text
from server.auth.users import User
from server.devices import config
from server.directory.records import Input, writing
from server.errors import Conflict, NotFound
from server.scope import Scope

Uid = Field(min_length=3, max_length=64, description="e.g. rf-0a1b2c3d, ble-c82e470a1b2c")


class Pair(Input):
    device: Text = Uid
    model: Text = Field(max_length=40, description="a catalogue model, e.g. PB-433")
    label: Text = Field(default="", max_length=80)
    resident_id: Id | None = None


class Unpair(Input):
    device: Text = Uid


class Relabel(Input):
    device: Text = Uid
    label: Text = Field(max_length=80)


class Replace(Input):
    device: Text = Uid
    new_device: Text = Uid
    model: Text | None = Field(default=None, max_length=40,
                               description="the new device's model (default: the old one's)")


def locate(conn: psycopg.Connection[Any], scope: Scope, gateway: str, *,
           lock: bool = False) -> None:
    """NotFound unless the gateway exists at a home in ``scope`` (or at none yet)."""
    query = sql.SQL("SELECT g.id FROM gateways g LEFT JOIN homes h ON h.id = g.home_id "
                    "WHERE g.id = %s AND {} {}").format(
        scope.where("h.region_id", unplaced=True),
        sql.SQL("FOR UPDATE OF g" if lock else ""))
    if conn.execute(query, (gateway,)).fetchone() is None:
        raise NotFound(f"no gateway {gateway!r}")


def _model(model_id: str) -> str:
    if model_id not in MODELS:
        raise NotFound(f"unknown device model {model_id!r} (known: {', '.join(MODELS)})",
                       field="model")
    return model_id


def _uid(uid: str, field: str = "device") -> str:
    try:
        parse_uid(uid)
    except CatalogError as exc:
        raise NotFound(str(exc), field=field) from None
    return uid


def _record(conn: psycopg.Connection[Any], gateway: str, device: str, action: str,
            actor: User, detail: dict[str, Any] | None = None) -> int:
    rev = config.bump(conn, gateway)
    conn.execute("INSERT INTO device_changes (gateway_id, device, action, rev, actor, detail) "
                 "VALUES (%s, %s, %s, %s, %s, %s)",
                 (gateway, device, action, rev, actor.username, Jsonb(detail or {})))
    return rev


def _claim_uid(conn: psycopg.Connection[Any], gateway: str, uid: str, model: str, label: str,
               resident_id: int | None) -> None:
    """Make ``uid`` a paired device of ``gateway`` (its row reused if it was unpaired)."""
    row = conn.execute("SELECT gateway_id, unpaired_at IS NULL FROM devices WHERE uid = %s "
                       "FOR UPDATE", (uid,)).fetchone()
    kind = get_model(model).kind.value
    if row is None:
        conn.execute("INSERT INTO devices (uid, gateway_id, model, kind, label, resident_id, "
                     "paired_at) VALUES (%s, %s, %s, %s, %s, %s, now())",
                     (uid, gateway, model, kind, label, resident_id))
        return
    owner, paired = row
    if paired and owner is not None:
        where = "here" if owner == gateway else "to another gateway"
        raise Conflict(f"{uid} is already paired {where}", field="device")
    conn.execute("UPDATE devices SET gateway_id = %s, model = %s, kind = %s, label = %s, "
                 "resident_id = %s, paired_at = now(), unpaired_at = NULL, replaced_by = NULL, "
                 "silent_since = NULL WHERE uid = %s",
                 (gateway, model, kind, label, resident_id, uid))


def _paired(conn: psycopg.Connection[Any], gateway: str, uid: str) -> tuple[str, str, int | None]:
    """(model, label, resident) of ``uid`` paired to ``gateway``, locked; else NotFound."""
    row = conn.execute("SELECT model, label, resident_id FROM devices WHERE uid = %s AND "
                       "gateway_id = %s AND unpaired_at IS NULL FOR UPDATE",
                       (uid, gateway)).fetchone()
    if row is None:
        raise NotFound(f"{uid} is not paired to {gateway}", field="device")
    return row[0], row[1], row[2]


def pair(conn: psycopg.Connection[Any], actor: User, gateway: str, body: Pair) -> int:
    """Pair a device to the gateway; the new revision."""
    with writing(conn):
        locate(conn, Scope.of(actor), gateway, lock=True)
        _claim_uid(conn, gateway, _uid(body.device), _model(body.model), body.label,
                   _resident_at(conn, gateway, body.resident_id))
        return _record(conn, gateway, body.device, "pair", actor,
                       {"model": body.model, "label": body.label})


def unpair(conn: psycopg.Connection[Any], actor: User, gateway: str, body: Unpair) -> int:
    with writing(conn):
        locate(conn, Scope.of(actor), gateway, lock=True)
        _paired(conn, gateway, body.device)
        conn.execute("UPDATE devices SET unpaired_at = now() WHERE uid = %s", (body.device,))
        return _record(conn, gateway, body.device, "unpair", actor)


def relabel(conn: psycopg.Connection[Any], actor: User, gateway: str, body: Relabel) -> int:
    with writing(conn):
        locate(conn, Scope.of(actor), gateway, lock=True)
        _, before, _ = _paired(conn, gateway, body.device)
        conn.execute("UPDATE devices SET label = %s WHERE uid = %s", (body.label, body.device))
        return _record(conn, gateway, body.device, "relabel", actor,
                       {"before": before, "after": body.label})


def replace(conn: psycopg.Connection[Any], actor: User, gateway: str, body: Replace) -> int:
    """The new device takes the old one's place (label, resident); the old one is unpaired,
    its row and events kept, ``replaced_by`` the new."""
    with writing(conn):
        locate(conn, Scope.of(actor), gateway, lock=True)
        model, label, resident = _paired(conn, gateway, body.device)
        if body.new_device == body.device:
            raise Conflict("a device cannot replace itself", field="new_device")
        new_model = _model(body.model or model)
        conn.execute("UPDATE devices SET unpaired_at = now(), replaced_by = %s WHERE uid = %s",
                     (body.new_device, body.device))
        _claim_uid(conn, gateway, _uid(body.new_device, "new_device"), new_model, label,
                   resident)
        return _record(conn, gateway, body.device, "replace", actor,
                       {"new_device": body.new_device, "model": new_model})


def _resident_at(conn: psycopg.Connection[Any], gateway: str,
                 resident_id: int | None) -> int | None:
    """The resident, who must live at the gateway's home (NotFound otherwise)."""
    if resident_id is None:
        return None
    row = conn.execute("SELECT 1 FROM residents r JOIN gateways g ON g.home_id = r.home_id "
                       "WHERE r.id = %s AND g.id = %s", (resident_id, gateway)).fetchone()
    if row is None:
        raise NotFound(f"no resident {resident_id} at the gateway's home", field="resident_id")
    return resident_id
