"""一屏 the dashboard over ``server.dashboard``: live counts per community in the caller's
regions (operators, supervisors, admins, auditors; technicians have the maintenance pages)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from server import dashboard as board
from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.errors import RESPONSES
from server.auth.users import User
from server.scope import Scope

router = APIRouter(prefix="/api", tags=["dashboard"], responses=RESPONSES)
Viewer = Annotated[User, Depends(require(Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR))]


@router.get("/dashboard")
def dashboard(user: Viewer, conn: Db) -> dict[str, Any]:
    """Open alerts by priority, elders served by care tag, devices and gateways online,
    today's visits and care calls: per community of the caller's regions, and in total."""
    return asdict(board.dashboard(conn, Scope.of(user)))
