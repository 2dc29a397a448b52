"""Alerts: the live queue, history, one alert in full, and every operator action.

Each action goes through ``server.alerts.machine.transition`` — the same function the engine uses.
An operator sees only alerts of their regions, and the unassigned ones (no region: nobody could
place them); anything else is 404.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, field_validator

from server.alerts import queries
from server.alerts.machine import OPERATOR_OUTCOMES, transition
from server.alerts.model import Action, Outcome, Priority, State
from server.api.deps import CurrentUser, Db, region_filter
from server.api.errors import RESPONSES
from server.api.types import Id, Instant, Text
from server.auth.users import User

router = APIRouter(prefix="/api/alerts", tags=["alerts"], responses=RESPONSES)


class NoteIn(BaseModel):
    text: Text = Field(min_length=1, max_length=2000)


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    VOICEMAIL = "voicemail"


class CallIn(BaseModel):
    outcome: CallOutcome
    contact_id: Id | None = None
    number: Text | None = Field(default=None, max_length=40)
    note: Text = Field(default="", max_length=2000)


class DispatchKind(StrEnum):
    CONTACT = "contact"
    COMMUNITY_WORKER = "community_worker"
    AMBULANCE = "ambulance"


class DispatchIn(BaseModel):
    kind: DispatchKind
    target: Text = Field(default="", max_length=200)
    note: Text = Field(default="", max_length=2000)


class DispatchStatus(StrEnum):
    EN_ROUTE = "en_route"
    ARRIVED = "arrived"
    CANCELLED = "cancelled"


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


def visible(conn: Db, user: User, alert_id: int) -> dict[str, Any]:
    """The alert's summary if this user may see it; 404 otherwise (existence is not leaked)."""
    where, args = region_filter(user, "a.region_id", unplaced=True)
    alert = queries.summary(conn, alert_id)
    if alert is not None and where != "TRUE":
        row = conn.execute(f"SELECT 1 FROM alerts a WHERE a.id = %s AND {where}",
                           [alert_id, *args]).fetchone()
        alert = alert if row else None
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    return alert


@router.get("/queue")
def live_queue(user: CurrentUser, conn: Db, include_test: bool = False) -> list[dict[str, Any]]:
    """Open, claimed and dispatched alerts: P1 first, oldest first within a priority."""
    where, args = region_filter(user, "a.region_id", unplaced=True)
    return queries.queue(conn, where, args, include_test)


@router.get("")
def history(user: CurrentUser, conn: Db, state: State | None = None,
            priority: Priority | None = None,
            type: Annotated[Text | None, Query(max_length=40)] = None,
            q: Annotated[Text | None, Query(max_length=100)] = None,
            since: Instant | None = None, until: Instant | None = None,
            limit: int = Query(default=50, ge=1, le=500),
            before_id: Id | None = None) -> list[dict[str, Any]]:
    """Past and present alerts, newest first; filter by state, priority, type, text, time."""
    where, args = region_filter(user, "a.region_id", unplaced=True)
    return queries.search(conn, where, args, state=state and state.value,
                          priority=priority and priority.value, kind=type, text=q,
                          since=since, until=until, limit=limit, before_id=before_id)


@router.get("/{alert_id}")
def one(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    return queries.detail(conn, visible(conn, user, alert_id))


def _act(conn: Db, user: User, alert_id: Id, action: Action, **kw: Any) -> dict[str, Any]:
    visible(conn, user, alert_id)
    transition(conn, alert_id, action, user.actor, **kw)
    return visible(conn, user, alert_id)


@router.post("/{alert_id}/claim")
def claim(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Take the alert. If someone else has it: 409 with ``holder``."""
    return _act(conn, user, alert_id, Action.CLAIM)


@router.post("/{alert_id}/release")
def release(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    return _act(conn, user, alert_id, Action.RELEASE)


@router.post("/{alert_id}/notes")
def note(alert_id: Id, body: NoteIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    return _act(conn, user, alert_id, Action.NOTE, note=body.text)


@router.post("/{alert_id}/calls")
def call(alert_id: Id, body: CallIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Record a call made for this alert and its outcome."""
    return _act(conn, user, alert_id, Action.CALL, note=body.note,
                data=body.model_dump(exclude={"note"}, mode="json"))


@router.post("/{alert_id}/dispatches")
def dispatch(alert_id: Id, body: DispatchIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Send someone: a contact, the community worker, or an ambulance (120)."""
    visible(conn, user, alert_id)
    with conn.transaction():
        row = conn.execute("INSERT INTO dispatches (alert_id, kind, target, created_by) "
                           "VALUES (%s, %s, %s, %s) RETURNING id",
                           (alert_id, body.kind.value, body.target, user.id)).fetchone()
        assert row is not None
        transition(conn, alert_id, Action.DISPATCH, user.actor, note=body.note,
                   data={"dispatch": row[0], "kind": body.kind.value, "target": body.target})
    return visible(conn, user, alert_id)


@router.patch("/{alert_id}/dispatches/{dispatch_id}")
def dispatch_status(alert_id: Id, dispatch_id: Id, body: DispatchUpdate, user: CurrentUser,
                    conn: Db) -> dict[str, Any]:
    visible(conn, user, alert_id)
    with conn.transaction():
        updated = conn.execute("UPDATE dispatches SET status = %s, updated_at = now() "
                               "WHERE id = %s AND alert_id = %s",
                               (body.status.value, dispatch_id, alert_id)).rowcount
        if not updated:
            raise HTTPException(404, f"no dispatch {dispatch_id} on alert {alert_id}")
        transition(conn, alert_id, Action.DISPATCH_STATUS, user.actor, note=body.note,
                   data={"dispatch": dispatch_id, "status": body.status.value})
    return visible(conn, user, alert_id)


@router.post("/{alert_id}/resolve")
def resolve(alert_id: Id, body: ResolveIn, user: CurrentUser, conn: Db) -> dict[str, Any]:
    return _act(conn, user, alert_id, Action.RESOLVE, outcome=body.outcome, note=body.note)


@router.post("/{alert_id}/key-safe")
def key_safe(alert_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """Reveal the home's key-safe code; every reveal is an audit row."""
    alert = visible(conn, user, alert_id)
    row = conn.execute("SELECT key_safe_code FROM homes WHERE id = %s",
                       (alert["home_id"],)).fetchone()
    if row is None or row[0] is None:
        raise HTTPException(404, "this home has no key safe on record")
    transition(conn, alert_id, Action.REVEAL_KEY_SAFE, user.actor)
    return {"code": row[0]}
