"""Supervisor figures: how fast alarms were answered (share within 60 s / 180 s, p50 / p90)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from server.alerts import queries
from server.alerts.model import Role
from server.api.deps import Db, region_filter, require
from server.api.errors import RESPONSES
from server.api.types import Instant
from server.auth.users import User

router = APIRouter(prefix="/api/reports", tags=["reports"], responses=RESPONSES)
Supervisor = Annotated[User, Depends(require(Role.SUPERVISOR))]


@router.get("/answer-times")
def answer_times(user: Supervisor, conn: Db, since: Instant | None = None,
                 until: Instant | None = None) -> dict[str, Any]:
    """P1/P2 alarms opened in [since, until) (default: the last 24 h) against the industry
    target of 97.5 % answered within 60 s and 99 % within 180 s."""
    until = until or datetime.now(UTC)
    since = since or until - timedelta(hours=24)
    where, args = region_filter(user, "a.region_id")
    return queries.answer_times(conn, since, until, where, args)
