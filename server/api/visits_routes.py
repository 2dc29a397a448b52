"""探访 visits over ``server.visits``: the month's plan, task lists, assigning, recording a visit
at the door, a resident's visits, and compliance with the monthly target.

Visitors (grid workers, volunteers) and the call centre's staff record visits; supervisors and
admins plan, assign and read compliance; everything is confined to the caller's regions (a
resident or task outside them is 404)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from server import visits
from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.errors import RESPONSES
from server.api.types import Id, Month, month_start
from server.auth.users import User
from server.directory.care_tags import CareTag
from server.directory.residents import resident_summary
from server.scope import Scope

router = APIRouter(prefix="/api", tags=["visits"], responses=RESPONSES)
Planner = Annotated[User, Depends(require(Role.SUPERVISOR))]
# who visits or records a visit: visitors, and the service's own staff
Visiting = Annotated[User, Depends(require(Role.VISITOR, Role.OPERATOR, Role.SUPERVISOR))]
Reader = Annotated[User, Depends(require(Role.VISITOR, Role.OPERATOR, Role.SUPERVISOR,
                                         Role.AUDITOR))]


class Planned(BaseModel):
    added: int


@router.post("/visits/plan", status_code=201)
def make_plan(user: Planner, conn: Db, month: Month | None = None) -> Planned:
    """Make the month's visit plan from the care rules (what is there already stays)."""
    return Planned(added=visits.make_plan(conn, month_start(month)))


@router.get("/visits/tasks")
def tasks(user: Visiting, conn: Db, status: visits.TaskStatus | None = visits.TaskStatus.OPEN,
          overdue: bool = False, mine: bool = False,
          tag: Annotated[list[CareTag] | None, Query(max_length=4)] = None,
          ) -> list[dict[str, Any]]:
    """Tasks in the caller's regions (a visitor: theirs and the unassigned ones), soonest
    first; ``overdue``: open and past their day (the supervisor's chase list); ``tag``
    (repeatable): residents with every one of these care tags."""
    return [asdict(t) for t in visits.list_tasks(conn, Scope.of(user), user.actor,
                                                 status=status, overdue=overdue, mine=mine,
                                                 tags=tag or ())]


@router.get("/visits/visitors")
def visitors(user: Planner, conn: Db) -> list[dict[str, Any]]:
    """Who may be given a visit task in the caller's regions: visitors first, then staff."""
    return [asdict(v) for v in visits.visitors(conn, Scope.of(user))]


@router.put("/visits/tasks/{visit_task_id}/assignee", status_code=204)
def assign(visit_task_id: Id, body: visits.AssignIn, user: Planner, conn: Db) -> None:
    """Give an open task to someone working in its region (``user_id`` null: nobody)."""
    visits.assign(conn, Scope.of(user), visit_task_id, body.user_id)


@router.post("/visits", status_code=201)
def record(body: visits.VisitIn, user: Visiting, conn: Db) -> dict[str, Any]:
    """Record a visit (closing its task); says which follow-up or second-attempt task it
    made."""
    return visits.record_visit(conn, Scope.of(user), user.actor, body).as_dict()


@router.get("/visits/compliance")
def compliance(user: Planner, conn: Db, month: Month | None = None) -> dict[str, Any]:
    """Residents due a visit in the month and those visited at home, per community, street
    and district and per care tag, against the 100 % target; visits that found nobody; open
    tasks past their day."""
    return visits.compliance(conn, Scope.of(user), month_start(month)).as_dict()


@router.get("/residents/{resident_id}/visits")
def resident_visits(resident_id: Id, user: Reader, conn: Db) -> dict[str, Any]:
    """A resident's visits (newest first) and visit tasks (open first)."""
    scope = Scope.of(user)
    summary = resident_summary(conn, scope, resident_id)  # 404 outside the scope
    return {"resident": {"id": summary.id, "name": summary.name,
                         "address": summary.home.address, "grid": summary.home.grid},
            "visits": [asdict(v) for v in visits.resident_visits(conn, resident_id)],
            "tasks": [asdict(t) for t in visits.resident_tasks(conn, scope, resident_id)]}
