"""Gateway access over the enrolment service (``server.enrol``): register a gateway for a home
(its claim code, shown once), a new claim code, rotate, revoke, the audit log; and the claim a
gateway makes with its code (no session: the code is the credential; wrong codes are limited
per address, 429).

Technicians, supervisors and admins, within their regions. A broker that cannot do it now is
503 (nothing changed).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.requests import HTTPConnection

from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.errors import RESPONSES, documented
from server.api.types import Id
from server.auth.users import User
from server.directory.records import Input
from server.enrol import service
from server.enrol.broker import BrokerAccess, BrokerUnavailable
from server.enrol.service import TooManyClaims
from server.scope import Scope
from server.settings import Settings

router = APIRouter(prefix="/api/enrol", tags=["enrolment"], responses=RESPONSES)
Installer = Annotated[User, Depends(require(Role.TECHNICIAN, Role.SUPERVISOR))]
GatewayId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{2,31}$")]


class Registration(Input):
    """A gateway to install at a home (its id is on the box's label)."""

    gateway_id: GatewayId
    home_id: Id


def broker_access(conn: HTTPConnection) -> BrokerAccess:
    """The broker's administrator side (``server.enrol.broker``), built in the lifespan."""
    found: BrokerAccess = conn.app.state.broker_access
    return found


def settings(conn: HTTPConnection) -> Settings:
    found: Settings = conn.app.state.settings
    return found


Broker = Annotated[BrokerAccess, Depends(broker_access)]
Config = Annotated[Settings, Depends(settings)]


def _unavailable(exc: BrokerUnavailable) -> HTTPException:
    return HTTPException(503, f"the broker cannot do this now: {exc}",
                         headers={"Retry-After": "5"})


@router.get("/gateways")
def gateways(user: Installer, conn: Db) -> list[dict[str, Any]]:
    """Gateways in the user's regions with the state of their broker identity."""
    return [asdict(g) for g in service.list_access(conn, Scope.of(user))]


@router.get("/homes")
def homes(user: Installer, conn: Db) -> list[dict[str, Any]]:
    """Homes in the user's regions a gateway can be registered for."""
    return [asdict(h) for h in service.homes(conn, Scope.of(user))]


@router.post("/gateways", status_code=201, responses=documented(503))
def register(body: Registration, user: Installer, conn: Db, broker: Broker,
             config: Config) -> dict[str, Any]:
    """Register a gateway for a home: its broker role and a claim code (shown only here)."""
    try:
        access, code = service.register(conn, broker, config, user, body.gateway_id,
                                        body.home_id)
    except BrokerUnavailable as exc:
        raise _unavailable(exc) from None
    return {"gateway": asdict(access), "claim_code": code.code, "expires_at": code.expires_at}


@router.post("/gateways/{gateway_id}/claim-code", status_code=201)
def claim_code(gateway_id: GatewayId, user: Installer, conn: Db,
               config: Config) -> dict[str, Any]:
    """A new claim code for the gateway (shown only here); the previous one stops working."""
    code = service.issue_code(conn, config, user, gateway_id)
    return {"claim_code": code.code, "expires_at": code.expires_at}


@router.post("/gateways/{gateway_id}/rotate", responses=documented(503))
def rotate(gateway_id: GatewayId, user: Installer, conn: Db, broker: Broker,
           config: Config) -> dict[str, Any]:
    """Send the gateway a new identity; the old one is deleted once it is online as the new."""
    try:
        return asdict(service.rotate(conn, broker, config, user, gateway_id))
    except BrokerUnavailable as exc:
        raise _unavailable(exc) from None


@router.post("/gateways/{gateway_id}/revoke", responses=documented(503))
def revoke(gateway_id: GatewayId, user: Installer, conn: Db, broker: Broker) -> dict[str, Any]:
    """Lock the gateway out of the broker at once (connection cut, logins refused)."""
    try:
        return asdict(service.revoke(conn, broker, user, gateway_id))
    except BrokerUnavailable as exc:
        raise _unavailable(exc) from None


@router.get("/gateways/{gateway_id}/audit")
def audit(gateway_id: GatewayId, user: Installer, conn: Db) -> list[dict[str, Any]]:
    """Who did what to the gateway's access, newest first."""
    return [asdict(e) for e in service.audit_log(conn, Scope.of(user), gateway_id)]


class Claim(BaseModel):
    code: str = Field(min_length=1, max_length=32, description="as given, e.g. ABCD-EFGH")


@router.post("/claim", responses=documented(429, 503))
def claim(body: Claim, request: Request, conn: Db, broker: Broker,
          config: Config) -> dict[str, Any]:
    """A gateway trades its claim code for its credentials (the only answer holding them)."""
    client = request.client.host if request.client else "?"
    try:
        return service.claim(conn, broker, config, body.code, client).json()
    except TooManyClaims as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "600"}) from None
    except BrokerUnavailable as exc:
        raise _unavailable(exc) from None
