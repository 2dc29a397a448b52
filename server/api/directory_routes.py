"""Residents, homes, contacts, regions, gateways, devices and users (reads for every role,
writes for supervisors and admins; users for admins)."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from hardware.catalog import MODELS
from server import directory
from server.alerts.model import Role
from server.api.deps import CurrentUser, Db, region_filter, require
from server.api.errors import RESPONSES, FieldError
from server.api.types import Id, Text
from server.auth.users import User, create_user

router = APIRouter(prefix="/api", tags=["directory"], responses=RESPONSES)
Manager = Annotated[User, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[User, Depends(require())]
Installer = Annotated[User, Depends(require(Role.TECHNICIAN, Role.SUPERVISOR))]


def _rows(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    cols = [d.name for d in cur.description or ()]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


# Fields of the request models that refer to a row: field -> (table, what it is called).
REFERENCES = {"parent_id": ("regions", "region"), "region_id": ("regions", "region"),
              "home_id": ("homes", "home"), "resident_id": ("residents", "resident"),
              "gateway_id": ("gateways", "gateway"), "regions": ("regions", "region")}


def check_references(conn: Db, body: BaseModel) -> None:
    """404 naming the field when a body refers to a row that does not exist."""
    for field, (table, noun) in REFERENCES.items():
        value = getattr(body, field, None)
        wanted = value if isinstance(value, list) else [] if value is None else [value]
        if not wanted:
            continue
        found = {r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id = ANY (%s)",
                                            (wanted,))}
        missing = [v for v in wanted if v not in found]
        if missing:
            raise FieldError(404, field, f"no {noun} {missing[0]!r}")


def _created(conn: Db, write: Any, body: BaseModel) -> dict[str, Any]:
    check_references(conn, body)
    try:
        with conn.transaction():
            return {"id": write(conn, body)}
    except psycopg.errors.ForeignKeyViolation:  # deleted since it was checked
        raise HTTPException(409, "a row this refers to was removed meanwhile") from None
    except (psycopg.errors.UniqueViolation, psycopg.errors.CheckViolation) as exc:
        raise HTTPException(409, exc.diag.message_primary or "conflict") from None


@router.get("/regions")
def regions(_user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT id, parent_id, name, level FROM regions ORDER BY id"))


@router.post("/regions", status_code=201)
def add_region(body: directory.RegionIn, _user: Admin, conn: Db) -> dict[str, Any]:
    return _created(conn, directory.add_region, body)


@router.get("/residents")
def residents(user: CurrentUser, conn: Db,
              q: Annotated[Text, Query(max_length=100)] = "") -> list[dict[str, Any]]:
    where, args = region_filter(user, "h.region_id")
    return _rows(conn.execute(
        f"SELECT r.id, r.name, r.care_tags, h.id AS home_id, h.address FROM residents r "
        f"JOIN homes h ON h.id = r.home_id WHERE {where} AND (r.name ILIKE %s OR h.address "
        f"ILIKE %s) ORDER BY r.name LIMIT 200", [*args, f"%{q}%", f"%{q}%"]))


@router.get("/residents/{resident_id}")
def resident(resident_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    where, args = region_filter(user, "h.region_id")
    rows = _rows(conn.execute(
        f"SELECT r.*, h.address, h.region_id FROM residents r JOIN homes h ON h.id = r.home_id "
        f"WHERE r.id = %s AND {where}", [resident_id, *args]))
    if not rows:
        raise HTTPException(404, f"no resident {resident_id}")
    return {**rows[0], "contacts": directory.contacts_of(conn, [resident_id])}


@router.post("/homes", status_code=201)
def add_home(body: directory.HomeIn, _user: Manager, conn: Db) -> dict[str, Any]:
    return _created(conn, directory.add_home, body)


@router.post("/residents", status_code=201)
def add_resident(body: directory.ResidentIn, _user: Manager, conn: Db) -> dict[str, Any]:
    return _created(conn, directory.add_resident, body)


@router.post("/contacts", status_code=201)
def add_contact(body: directory.ContactIn, _user: Manager, conn: Db) -> dict[str, Any]:
    return _created(conn, directory.add_contact, body)


@router.post("/gateways", status_code=201)
def add_gateway(body: directory.GatewayIn, _user: Installer, conn: Db) -> dict[str, Any]:
    return _created(conn, directory.add_gateway, body)


@router.post("/devices", status_code=201)
def add_device(body: directory.DeviceIn, _user: Installer, conn: Db) -> dict[str, Any]:
    """Pair a device; its ``model`` must be one of the catalogue (404 otherwise)."""
    if body.model not in MODELS:
        raise FieldError(404, "model", f"unknown device model {body.model!r} "
                                       f"(known: {', '.join(MODELS)})")
    return _created(conn, directory.add_device, body)


@router.get("/gateways")
def gateways(user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    where, args = region_filter(user, "h.region_id")
    return _rows(conn.execute(
        f"SELECT g.id, g.home_id, h.address, g.state, g.state_since, g.last_seen, "
        f"g.last_heartbeat->'outbox' AS outbox FROM gateways g LEFT JOIN homes h ON "
        f"h.id = g.home_id WHERE {where} OR g.home_id IS NULL ORDER BY g.id", args))


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9_.-]{2,40}$")
    display_name: Text = Field(min_length=1, max_length=80)
    role: Role
    password: Text = Field(min_length=10, max_length=200)
    language: str = Field(default="zh-CN", pattern="^(zh-CN|en)$")
    regions: list[Id] = Field(default_factory=list, max_length=100)


@router.get("/users")
def users(_user: Admin, conn: Db) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT id, username, display_name, role, language, active "
                              "FROM users ORDER BY id"))


@router.post("/users", status_code=201)
def add_user(body: UserIn, _user: Admin, conn: Db) -> dict[str, Any]:
    if body.role == Role.SYSTEM:
        raise FieldError(422, "role", "'system' is not a role a user can have", "value_error")
    return _created(conn, lambda c, b: create_user(
        c, b.username, b.display_name, b.role, b.password, language=b.language,
        regions=tuple(dict.fromkeys(b.regions))), body)
