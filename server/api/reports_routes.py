"""Supervisor figures: how fast alarms were answered (share within 60 s / 180 s, p50 / p90),
over ``server.reports``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from server import reports
from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.errors import RESPONSES
from server.api.types import Instant
from server.auth.users import User
from server.scope import Scope

router = APIRouter(prefix="/api/reports", tags=["reports"], responses=RESPONSES)
Supervisor = Annotated[User, Depends(require(Role.SUPERVISOR))]


@router.get("/answer-times")
def answer_times(user: Supervisor, conn: Db, since: Instant | None = None,
                 until: Instant | None = None) -> dict[str, Any]:
    """P1/P2 alarms opened in [since, until) (default: the last 24 h) against the industry
    target of 97.5 % answered within 60 s and 99 % within 180 s."""
    return asdict(reports.answer_times(conn, Scope.of(user), since, until))
