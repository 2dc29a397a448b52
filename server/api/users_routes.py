"""Users, sessions, lockouts and the user-management audit trail (over
``server.directory.users`` and ``server.auth``).

Admins manage accounts and see every session; supervisors (and admins) see and clear login
lockouts; auditors (and admins) read the audit trail. Every change is an audit row.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from server.alerts.model import Role
from server.api.deps import ClientInfo, Db, Limits, require
from server.api.errors import RESPONSES
from server.api.types import Id, Text
from server.auth import audit, throttle
from server.auth.sessions import list_sessions
from server.auth.throttle import Subject
from server.auth.users import User
from server.directory import users as accounts

router = APIRouter(prefix="/api", tags=["users"], responses=RESPONSES)
Admin = Annotated[User, Depends(require())]
Supervisor = Annotated[User, Depends(require(Role.SUPERVISOR))]
Auditor = Annotated[User, Depends(require(Role.AUDITOR))]


@router.get("/users")
def users(_user: Admin, conn: Db) -> list[dict[str, Any]]:
    return [asdict(u) for u in accounts.list_users(conn)]


@router.post("/users", status_code=201)
def add_user(body: accounts.UserIn, user: Admin, conn: Db, client: ClientInfo) -> dict[str, Any]:
    """Create an account; its password must meet the policy (422 naming ``password``)."""
    return {"id": accounts.add_user(conn, body, user.actor, client.address)}


@router.get("/users/{user_id}")
def user(user_id: Id, _user: Admin, conn: Db) -> dict[str, Any]:
    return asdict(accounts.get_account(conn, user_id))


@router.patch("/users/{user_id}")
def update_user(user_id: Id, body: accounts.UserChange, user: Admin, conn: Db,
                client: ClientInfo) -> dict[str, Any]:
    """Change name, role, language or regions (``[]``: every region). The last active admin
    keeps the role (409)."""
    return asdict(accounts.update_user(conn, user_id, body, user.actor, client.address))


@router.post("/users/{user_id}/deactivate")
def deactivate(user_id: Id, user: Admin, conn: Db, client: ClientInfo) -> dict[str, Any]:
    """The account can no longer sign in, and its sessions end now. Not the last active admin
    (409)."""
    return asdict(accounts.set_active(conn, user_id, False, user.actor, client.address))


@router.post("/users/{user_id}/activate")
def activate(user_id: Id, user: Admin, conn: Db, client: ClientInfo) -> dict[str, Any]:
    return asdict(accounts.set_active(conn, user_id, True, user.actor, client.address))


@router.post("/users/{user_id}/reset")
def reset_password(user_id: Id, user: Admin, conn: Db, client: ClientInfo) -> dict[str, Any]:
    """A one-time code (shown only in this answer) for the user to sign in with and set a new
    password, valid for an hour; their old password and their sessions end now."""
    issued = accounts.issue_reset(conn, user_id, user.actor, client.address)
    return {"code": issued.code, "expires_at": issued.expires_at}


@router.delete("/users/{user_id}/sessions")
def end_user_sessions(user_id: Id, user: Admin, conn: Db, client: ClientInfo,
                      ) -> dict[str, Any]:
    """End every session of a user; ``ended``: how many."""
    return {"ended": accounts.end_sessions(conn, user_id, user.actor, client.address)}


@router.get("/sessions")
def sessions(_user: Admin, conn: Db, user_id: Id | None = None) -> list[dict[str, Any]]:
    """Active sessions of everyone (or of one user), most recently used first."""
    return [asdict(s) for s in list_sessions(conn, user_id)]


@router.delete("/sessions/{session_id}", status_code=204)
def end_session(session_id: Id, user: Admin, conn: Db, client: ClientInfo) -> None:
    accounts.end_session(conn, session_id, user.actor, client.address)


@router.get("/lockouts")
def lockouts(_user: Supervisor, conn: Db, limits: Limits) -> list[dict[str, Any]]:
    """Accounts and source addresses with recent failed sign-ins; ``wait_s`` > 0: an attempt
    now would be refused for that long."""
    return [asdict(lock) for lock in throttle.lockouts(conn, limits)]


@router.delete("/lockouts/{kind}/{subject}", status_code=204)
def clear_lockout(kind: Subject, subject: Annotated[Text, Path(max_length=200)],
                  user: Supervisor, conn: Db, client: ClientInfo) -> None:
    """Forget an account's (or address's) failed sign-ins: it may try again at once."""
    accounts.clear_lockout(conn, kind, subject, user.actor, client.address)


@router.get("/audit/users")
def user_audit(_user: Auditor, conn: Db, user_id: Id | None = None,
               before_id: Id | None = None,
               limit: int = Query(default=100, ge=1, le=500)) -> list[dict[str, Any]]:
    """The user-management audit trail, newest first (of one account, when given)."""
    return [asdict(r) for r in audit.trail(conn, target_id=user_id, before_id=before_id,
                                            limit=limit)]
