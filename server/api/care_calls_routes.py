"""主动关爱 care calls over ``server.care_calls``: the call list, recording a call, campaigns,
a resident's calls. Call takers (operators, supervisors, admins) call; supervisors and admins
start campaigns; all within the caller's regions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.requests import HTTPConnection

from server import care_calls
from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.errors import RESPONSES
from server.api.types import Id
from server.auth.users import User
from server.directory.care_tags import CareTag
from server.directory.residents import resident_summary
from server.scope import Scope
from server.settings import Settings

router = APIRouter(prefix="/api", tags=["care calls"], responses=RESPONSES)
Caller = Annotated[User, Depends(require(Role.OPERATOR, Role.SUPERVISOR))]
Planner = Annotated[User, Depends(require(Role.SUPERVISOR))]
Reader = Annotated[User, Depends(require(Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR))]


def missed_action(conn: HTTPConnection) -> care_calls.Missed:
    """What two unanswered calls in a row start (``Settings.care_call_missed``)."""
    settings: Settings = conn.app.state.settings
    return settings.care_call_missed


MissedAction = Annotated[care_calls.Missed, Depends(missed_action)]


@router.get("/care-calls")
def call_list(user: Caller, conn: Db,
              tag: Annotated[list[CareTag] | None, Query(max_length=4)] = None,
              ) -> list[dict[str, Any]]:
    """Calls due by today in the caller's regions, soonest first, the riskiest first among
    those due the same day; ``tag`` (repeatable): residents with every one of these."""
    return [asdict(t) for t in care_calls.call_list(conn, Scope.of(user), tags=tag or ())]


@router.post("/care-calls", status_code=201)
def record(body: care_calls.CallIn, user: Caller, conn: Db,
           missed: MissedAction) -> dict[str, Any]:
    """Record a call (closing its task); says what it started: a visit task (a concern, or
    two calls unanswered), a welfare-check alert, a retry, the next call."""
    return care_calls.record_call(conn, Scope.of(user), user.actor, body, missed).as_dict()


@router.post("/care-calls/campaigns", status_code=201)
def campaign(body: care_calls.CampaignIn, user: Planner, conn: Db) -> dict[str, Any]:
    """Call every active resident of a community (or of all the caller's regions) with the
    given care tags: a heat or cold warning, a holiday."""
    campaign_id, residents = care_calls.start_campaign(conn, Scope.of(user), user.actor, body)
    return {"id": campaign_id, "residents": residents}


@router.get("/residents/{resident_id}/care-calls")
def resident_calls(resident_id: Id, user: Reader, conn: Db) -> list[dict[str, Any]]:
    """A resident's care calls, newest first."""
    resident_summary(conn, Scope.of(user), resident_id)  # 404 outside the scope
    return [asdict(c) for c in care_calls.resident_calls(conn, resident_id)]
