"""Residents, homes, contacts, regions, gateways, devices and users (reads for every role,
writes for supervisors and admins; users for admins)."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from server import directory
from server.alerts.model import Role
from server.api.deps import CurrentUser, Db, region_filter, require
from server.auth.users import User, create_user

router = APIRouter(prefix="/api", tags=["directory"])
Manager = Annotated[User, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[User, Depends(require())]
Installer = Annotated[User, Depends(require(Role.TECHNICIAN, Role.SUPERVISOR))]


def _rows(cur: psycopg.Cursor[Any]) -> list[dict[str, Any]]:
    cols = [d.name for d in cur.description or ()]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _created(conn: Db, write: Any, body: Any) -> dict[str, Any]:
    try:
        with conn.transaction():
            return {"id": write(conn, body)}
    except psycopg.errors.ForeignKeyViolation as exc:
        detail = exc.diag.message_detail or "a referenced row does not exist"
        raise HTTPException(422, f"refers to something that does not exist: {detail}") from None
    except (psycopg.errors.UniqueViolation, psycopg.errors.CheckViolation) as exc:
        raise HTTPException(409, exc.diag.message_primary or "conflict") from None


@router.get("/regions")
def regions(_user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT id, parent_id, name, level FROM regions ORDER BY id"))


@router.post("/regions", status_code=201)
def add_region(body: directory.RegionIn, _user: Admin, conn: Db) -> dict[str, Any]:
    return _created(conn, directory.add_region, body)


@router.get("/residents")
def residents(user: CurrentUser, conn: Db, q: str = "") -> list[dict[str, Any]]:
    where, args = region_filter(user, "h.region_id")
    return _rows(conn.execute(
        f"SELECT r.id, r.name, r.care_tags, h.id AS home_id, h.address FROM residents r "
        f"JOIN homes h ON h.id = r.home_id WHERE {where} AND (r.name ILIKE %s OR h.address "
        f"ILIKE %s) ORDER BY r.name LIMIT 200", [*args, f"%{q}%", f"%{q}%"]))


@router.get("/residents/{resident_id}")
def resident(resident_id: int, user: CurrentUser, conn: Db) -> dict[str, Any]:
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
    display_name: str = Field(min_length=1, max_length=80)
    role: Role
    password: str = Field(min_length=10, max_length=200)
    language: str = Field(default="zh-CN", pattern="^(zh-CN|en)$")
    regions: list[int] = Field(default_factory=list)


@router.get("/users")
def users(_user: Admin, conn: Db) -> list[dict[str, Any]]:
    return _rows(conn.execute("SELECT id, username, display_name, role, language, active "
                              "FROM users ORDER BY id"))


@router.post("/users", status_code=201)
def add_user(body: UserIn, _user: Admin, conn: Db) -> dict[str, Any]:
    if body.role == Role.SYSTEM:
        raise HTTPException(422, "'system' is not a role a user can have")
    return _created(conn, lambda c, b: create_user(
        c, b.username, b.display_name, b.role, b.password, language=b.language,
        regions=tuple(b.regions)), body)
