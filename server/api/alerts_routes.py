"""Alerts: the live queue, history, one alert in full, and every operator action.

Routes parse, authorise and shape responses; each action is one call of the alert service
(``server.alerts.service``) — the functions the engine and the detectors call too — and each
read one of ``server.alerts.queries``. An operator sees only alerts of their regions (their
``Scope``), and the unassigned ones (no region: nobody could place them); anything else is 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator

from server.alerts import queries, service
from server.alerts.machine import OPERATOR_OUTCOMES, permitted
from server.alerts.model import (
    CallOutcome,
    DispatchKind,
    DispatchStatus,
    Outcome,
    Priority,
    State,
)
from server.api.deps import CurrentUser, Db
from server.api.errors import RESPONSES
from server.api.types import Id, Instant, Text
from server.auth.users import User
from server.directory.sensitive import Access
from server.scope import Scope

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=RESPONSES)


class NoteIn(BaseModel):
    text: Text = Field(min_length=1, max_length=2000)


class CallIn(BaseModel):
    outcome: CallOutcome
    contact_id: Id | None = None
    number: Text | None = Field(default=None, max_length=40)
    note: Text = Field(default="", max_length=2000)


class DispatchIn(BaseModel):
    kind: DispatchKind
    target: Text = Field(default="", max_length=200)
    note: Text = Field(default="", max_length=2000)


class DispatchUpdate(BaseModel):
    status: DispatchStatus
    note: Text = Field(default="", max_length=2000)


class ResolveIn(BaseModel):
    outcome: Outcome
    note: Text = Field(default="", max_length=2000)

    @field_validator("outcome")
    @classmethod
    def _operator_outcome(cls, value: Outcome) -> Outcome:
        if value not in OPERATOR_OUTCOMES:
            raise ValueError(f"{value.value} is set by the system, not by operators")
        return value


class PhoneInIn(BaseModel):
    """An inbound call: who called (and from which number, their relation to the resident),
    on which line, about which resident (none: not in the directory), why, how urgent;
    ``take``: the operator on the line works it now (default), else it waits in the queue."""

    caller: Text = Field(min_length=1, max_length=80)
    caller_phone: Text = Field(default="", max_length=40)
    relation: Text = Field(default="", max_length=40)
    channel: Literal["landline", "hotline_12349", "other"] = "landline"
    resident_id: Id | None = None
    reason: Text = Field(min_length=1, max_length=2000)
    priority: Literal[Priority.P1, Priority.P2, Priority.P3] = Priority.P2
    take: bool = True


def visible(conn: Db, user: User, alert_id: int) -> dict[str, Any]:
    """The alert's summary if this user may see it; 404 otherwise. Kept for charts_routes
    until it calls ``queries.visible(conn, alert_id, Scope.of(user))`` itself."""
    return queries.visible(conn, alert_id, Scope.of(user))


@router.get("/queue")
def live_queue(user: CurrentUser, conn: Db, include_test: bool = False) -> list[dict[str, Any]]:
    """Open, claimed and dispatched alerts: P1 first, oldest first within a priority."""
    return queries.queue(conn, Scope.of(user), include_test)


@router.get("")
def history(user: CurrentUser, conn: Db, state: State | None = None,
            priority: Priority | None = None,
            type: Annotated[Text | None, Query(max_length=40)] = None,
            q: Annotated[Text | None, Query(max_length=100)] = None,
            since: Instant | None = None, until: Instant | None = None,
            limit: int = Query(default=50, ge=1, le=500),
            before_id: Id | None = None) -> list[dict[str, Any]]:
    """Past and present alerts, newest first; filter by state, priority, type, text, time."""
    return queries.search(conn, Scope.of(user), state=state and state.value,
                          priority=priority and priority.value, kind=type, text=q,
                          since=since, until=until, limit=limit, before_id=before_id)


@router.post("/phone-in", status_code=201)
def phone_in(body: PhoneInIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Open an alert for an inbound call (operators, supervisors, admins); a second call about
    a resident whose phone-in alert is active is a note on it (``opened`` false)."""
    scope = Scope.of(user)
    raised = service.phone_in(conn, user.actor, service.PhoneCall(**body.model_dump()),
                              scope=scope)
    return {**queries.visible(conn, raised.alert.id, scope), "opened": raised.opened}


@router.get("/{alert_id}")
def one(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """The alert in full; ``may``: the actions this user's role may take on it (states aside:
    the rule table's ``who``)."""
    summary = queries.visible(conn, alert_id, Scope.of(user))
    found = queries.detail(conn, summary, Access(user.actor, "alert", alert_id))
    may = permitted(user.role, Priority(found["priority"]))
    return {**found, "may": [a.value for a in may]}


@router.post("/{alert_id}/claim")
def claim(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Take the alert. If someone else has it: 409 with ``holder``."""
    scope = Scope.of(user)
    service.claim(conn, user.actor, alert_id, scope=scope)
    return queries.visible(conn, alert_id, scope)


@router.post("/{alert_id}/release")
def release(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    scope = Scope.of(user)
    service.release(conn, user.actor, alert_id, scope=scope)
    return queries.visible(conn, alert_id, scope)


@router.post("/{alert_id}/notes")
def note(alert_id: Id, body: NoteIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    scope = Scope.of(user)
    service.note(conn, user.actor, alert_id, body.text, scope=scope)
    return queries.visible(conn, alert_id, scope)


@router.post("/{alert_id}/calls")
def call(alert_id: Id, body: CallIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Record a call made for this alert and its outcome."""
    scope = Scope.of(user)
    made = service.Call(body.outcome, body.contact_id, body.number)
    service.call(conn, user.actor, alert_id, made, body.note, scope=scope)
    return queries.visible(conn, alert_id, scope)


@router.post("/{alert_id}/dispatches")
def dispatch(alert_id: Id, body: DispatchIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Send someone: a contact, the community worker, or an ambulance (120)."""
    scope = Scope.of(user)
    service.dispatch(conn, user.actor, alert_id, body.kind, body.target, body.note, scope=scope)
    return queries.visible(conn, alert_id, scope)


@router.patch("/{alert_id}/dispatches/{dispatch_id}")
def dispatch_status(alert_id: Id, dispatch_id: Id, body: DispatchUpdate, user: CurrentUser,
                    conn: Db) -> dict[str, Any]:
    scope = Scope.of(user)
    service.dispatch_status(conn, user.actor, alert_id, dispatch_id, body.status, body.note,
                            scope=scope)
    return queries.visible(conn, alert_id, scope)


@router.post("/{alert_id}/resolve")
def resolve(alert_id: Id, body: ResolveIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    scope = Scope.of(user)
    service.resolve(conn, user.actor, alert_id, body.outcome, body.note, scope=scope)
    return queries.visible(conn, alert_id, scope)


@router.post("/{alert_id}/key-safe")
def key_safe(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Reveal the home's key-safe code; every reveal is an audit row."""
    return {"code": service.reveal_key_safe(conn, user.actor, alert_id, scope=Scope.of(user))}
