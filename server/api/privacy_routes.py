"""Privacy: the access log (supervisors, admins, auditors), the consent ledger (supervisors
record and withdraw; operators read), the emergency override and its inform-afterwards tasks,
a resident's export and erasure (admins)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from server.alerts import queries
from server.alerts.model import Role
from server.api.deps import Db, require
from server.api.errors import RESPONSES
from server.api.types import Id, Instant, Text
from server.auth.users import User
from server.directory import resident_summary
from server.privacy import access_log, consent, override, subject
from server.scope import Scope

router = APIRouter(prefix="/api", tags=["privacy"], responses=RESPONSES)

Admin = Annotated[User, Depends(require())]
Manager = Annotated[User, Depends(require(Role.SUPERVISOR))]
Reader = Annotated[User, Depends(require(Role.SUPERVISOR, Role.AUDITOR))]
Staff = Annotated[User, Depends(require(Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR))]
Responder = Annotated[User, Depends(require(Role.OPERATOR, Role.SUPERVISOR))]
Short = Annotated[Text, Field(max_length=200)]


@router.get("/access-log")
def access_log_search(user: Reader, conn: Db, resident_id: Id | None = None,
                      user_id: Id | None = None, since: Instant | None = None,
                      until: Instant | None = None,
                      field: Annotated[Text | None, Query(max_length=60)] = None,
                      before_id: Id | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Reads of sensitive fields and exports about the user's regions, newest first: by
    resident, user, time (``since`` ≤ ts < ``until``), field; page with ``before_id``."""
    return [asdict(r) for r in access_log.search(conn, access_log.Search(
        resident_id, user_id, since, until, field, before_id, limit), Scope.of(user))]


class ConsentIn(BaseModel):
    scope: consent.Scope
    granted_by: consent.GrantedBy
    granted_by_name: Annotated[Text, Field(min_length=1, max_length=100)]
    document: Short = ""
    granted_at: Instant | None = None


class WithdrawIn(BaseModel):
    withdrawn_by: Annotated[Text, Field(min_length=1, max_length=100)]


@router.get("/residents/{resident_id}/consents")
def consents(resident_id: Id, user: Staff, conn: Db) -> dict[str, Any]:
    """The resident's consent ledger, and the scopes in force."""
    resident_summary(conn, Scope.of(user), resident_id)  # 404 outside the scope
    return {"in_force": sorted(s.value for s in consent.in_force(conn, resident_id)),
            "ledger": [asdict(c) for c in consent.ledger(conn, resident_id)]}


@router.post("/residents/{resident_id}/consents", status_code=201)
def grant(resident_id: Id, body: ConsentIn, user: Manager, conn: Db) -> dict[str, Any]:
    """Record a consent (409 while the same scope is in force)."""
    resident_summary(conn, Scope.of(user), resident_id)
    return asdict(consent.grant(conn, user.actor, resident_id, body.scope, body.granted_by,
                                body.granted_by_name, body.document, body.granted_at))


@router.post("/residents/{resident_id}/consents/{scope}/withdraw")
def withdraw(resident_id: Id, scope: consent.Scope, body: WithdrawIn, user: Manager,
             conn: Db) -> dict[str, Any]:
    """Withdraw the consent in force of ``scope`` (404 when none is)."""
    resident_summary(conn, Scope.of(user), resident_id)
    return asdict(consent.withdraw(conn, user.actor, resident_id, scope, body.withdrawn_by))


class OverrideIn(BaseModel):
    reason: Annotated[Text, Field(min_length=1, max_length=500)]


@router.post("/alerts/{alert_id}/override")
def emergency_override(alert_id: Id, body: OverrideIn, user: Responder,
                       conn: Db) -> list[dict[str, Any]]:
    """Show the withheld family contacts' phones of the alert's residents (no consent to
    sharing with family): logged, and an inform-afterwards task per resident."""
    alert = queries.visible(conn, alert_id, Scope.of(user))
    return override.family_phones(conn, user.actor, alert, body.reason)


@router.get("/inform-tasks")
def inform_tasks(user: Manager, conn: Db, include_closed: bool = False) -> list[dict[str, Any]]:
    """Residents of the user's regions to tell about an emergency override (the open tasks,
    unless ``include_closed``)."""
    return [asdict(t) for t in override.tasks(conn, Scope.of(user),
                                              open_only=not include_closed)]


class CloseIn(BaseModel):
    note: Annotated[Text, Field(max_length=500)] = ""


@router.post("/inform-tasks/{task_id}/close")
def close_task(task_id: Id, body: CloseIn, user: Manager, conn: Db) -> dict[str, Any]:
    """The resident or their guardian was told."""
    return asdict(override.close(conn, user.actor, Scope.of(user), task_id, body.note))


@router.get("/residents/{resident_id}/export")
def export(resident_id: Id, user: Admin, conn: Db) -> dict[str, Any]:
    """Everything held about the resident (JSON); logged in the access log and the audit."""
    return subject.export(conn, user.actor, resident_id)


@router.get("/residents/{resident_id}/export.txt", response_model=None,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def export_summary(resident_id: Id, user: Admin, conn: Db) -> PlainTextResponse:
    """The same export as a readable zh-CN summary (text/plain; errors are JSON)."""
    return PlainTextResponse(subject.summary(subject.export(conn, user.actor, resident_id)))


@router.post("/residents/{resident_id}/erase")
def erase(resident_id: Id, user: Admin, conn: Db) -> dict[str, Any]:
    """Anonymise a resident who moved away or died (409 otherwise)."""
    subject.erase(conn, user.actor, resident_id)
    return {"erased": resident_id, "at": datetime.now().astimezone().isoformat()}
