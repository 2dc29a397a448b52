"""Residents, homes, contacts, regions, gateways and devices (reads for every role, writes for
supervisors and admins), over the directory service. Users: ``users_routes``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from server import directory
from server.alerts.model import Role
from server.api.deps import CurrentUser, Db, require
from server.api.errors import RESPONSES
from server.api.types import Id, Text
from server.auth.users import User
from server.scope import Scope

router = APIRouter(prefix="/api", tags=["directory"], responses=RESPONSES)
Manager = Annotated[User, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[User, Depends(require())]
Installer = Annotated[User, Depends(require(Role.TECHNICIAN, Role.SUPERVISOR))]


@router.get("/regions")
def regions(_user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    return [asdict(r) for r in directory.list_regions(conn)]


@router.post("/regions", status_code=201)
def add_region(body: directory.RegionIn, _user: Admin, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_region(conn, body)}


@router.get("/residents")
def residents(user: CurrentUser, conn: Db,
              q: Annotated[Text, Query(max_length=100)] = "") -> list[dict[str, Any]]:
    return [asdict(r) for r in directory.search_residents(conn, Scope.of(user), q)]


@router.get("/residents/{resident_id}")
def resident(resident_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    return asdict(directory.get_resident(conn, Scope.of(user), resident_id))


@router.post("/homes", status_code=201)
def add_home(body: directory.HomeIn, _user: Manager, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_home(conn, body)}


@router.post("/residents", status_code=201)
def add_resident(body: directory.ResidentIn, _user: Manager, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_resident(conn, body)}


@router.post("/contacts", status_code=201)
def add_contact(body: directory.ContactIn, _user: Manager, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_contact(conn, body)}


@router.post("/gateways", status_code=201)
def add_gateway(body: directory.GatewayIn, _user: Installer, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_gateway(conn, body)}


@router.post("/devices", status_code=201)
def add_device(body: directory.DeviceIn, _user: Installer, conn: Db) -> dict[str, Any]:
    """Pair a device; its ``model`` must be one of the catalogue (404 otherwise)."""
    return {"id": directory.add_device(conn, body)}


@router.get("/gateways")
def gateways(user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    return [asdict(g) for g in directory.list_gateways(conn, Scope.of(user))]
