"""User accounts and everything an admin does to them: create, edit role / regions / name /
language, deactivate and activate, one-time reset codes, ending sessions, clearing lockouts.

Each action is one transaction with one row in the user-management audit trail
(``server.auth.audit``: who, when, what, before → after). The last active admin can be neither
deactivated nor given another role (``Conflict``): every change that could remove an admin
first locks all active admins (in id order), so two admins demoting each other at once cannot
both succeed. Passwords, sessions, codes and the login throttle are ``server.auth``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from pydantic import BaseModel, Field

from server.alerts.model import SYSTEM, Actor, Role
from server.api.types import Id, Text
from server.auth import audit, resets, sessions, throttle
from server.auth.audit import Target, UserAction
from server.auth.policy import check_password
from server.auth.resets import Issued
from server.auth.sessions import SessionInfo, end_user_sessions
from server.auth.throttle import Subject
from server.auth.users import create_user
from server.directory.records import Input, create, fetch
from server.errors import Conflict, Invalid, NotFound

LANGUAGE = "^(zh-CN|en)$"


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9_.-]{2,40}$")
    display_name: Text = Field(min_length=1, max_length=80)
    role: Role
    password: Text = Field(max_length=200, description="must meet the password policy "
                           "(server.auth.policy): 422 naming the rule otherwise")
    language: str = Field(default="zh-CN", pattern=LANGUAGE)
    regions: list[Id] = Field(default_factory=list, max_length=100)


class UserChange(Input):
    """What an admin changes of an account; fields left out stay as they are."""

    display_name: Text | None = Field(default=None, min_length=1, max_length=80)
    role: Role | None = None
    language: str | None = Field(default=None, pattern=LANGUAGE)
    regions: list[Id] | None = Field(default=None, max_length=100)  # []: every region


@dataclass(frozen=True, slots=True)
class UserAccount:
    id: int
    username: str
    display_name: str
    role: str
    language: str
    active: bool
    regions: list[int]  # empty: every region
    created_at: datetime
    last_login_at: datetime | None
    sessions: int  # active sessions


_ACCOUNTS = sql.SQL(
    "SELECT u.id, u.username, u.display_name, u.role, u.language, u.active, "
    "coalesce(array_agg(r.region_id ORDER BY r.region_id) FILTER (WHERE r.region_id IS NOT NULL),"
    " '{{}}') AS regions, u.created_at, u.last_login_at, (SELECT count(*) FROM sessions s "
    "WHERE s.user_id = u.id AND s.expires_at > now())::int AS sessions "
    "FROM users u LEFT JOIN user_regions r ON r.user_id = u.id WHERE {} GROUP BY u.id "
    "ORDER BY u.id")


def list_users(conn: psycopg.Connection[Any]) -> list[UserAccount]:
    return fetch(conn, UserAccount, _ACCOUNTS.format(sql.SQL("TRUE")))


def get_account(conn: psycopg.Connection[Any], user_id: int) -> UserAccount:
    found = fetch(conn, UserAccount, _ACCOUNTS.format(sql.SQL("u.id = %s")), (user_id,))
    if not found:
        raise NotFound(f"no user {user_id}")
    return found[0]


def _target(account: UserAccount) -> Target:
    return Target(account.id, account.username)


def _no_system(role: Role | None) -> None:
    if role == Role.SYSTEM:
        raise Invalid("'system' is not a role a user can have", field="role")


def add_user(conn: psycopg.Connection[Any], u: UserIn, actor: Actor = SYSTEM,
             client: str = "") -> int:
    """Create a user with these regions (none: every region); the password must meet the
    policy; ``system`` is no user's role."""
    _no_system(u.role)
    check_password(u.password, u.username, field="password")
    regions = tuple(dict.fromkeys(u.regions))

    def write(c: psycopg.Connection[Any]) -> int:
        user_id = create_user(c, u.username, u.display_name, u.role, u.password,
                              language=u.language, regions=regions)
        audit.record(c, actor, UserAction.CREATE, Target(user_id, u.username),
                     {"display_name": u.display_name, "role": u.role.value,
                      "language": u.language, "regions": list(regions)}, client)
        return user_id

    return create(conn, u, write)


def _locked(conn: psycopg.Connection[Any], user_id: int) -> tuple[UserAccount, list[int]]:
    """Lock every active admin (id order), then the account; the account and the admins."""
    admins = [int(r[0]) for r in conn.execute(
        "SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE")]
    if conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user_id,)).fetchone() \
            is None:
        raise NotFound(f"no user {user_id}")
    return get_account(conn, user_id), admins


def _keep_an_admin(account: UserAccount, admins: list[int], what: str) -> None:
    if account.role == Role.ADMIN.value and account.active and admins == [account.id]:
        raise Conflict(f"{account.username} is the last active admin: make another user an "
                       f"admin before {what} this one")


def update_user(conn: psycopg.Connection[Any], user_id: int, change: UserChange,
                actor: Actor, client: str = "") -> UserAccount:
    """Change an account's name, role, language or regions (at once for its sessions: every
    request reads the user anew); audited with before → after."""
    _no_system(change.role)

    def write(c: psycopg.Connection[Any]) -> UserAccount:
        before, admins = _locked(c, user_id)
        if change.role is not None and change.role != Role.ADMIN:
            _keep_an_admin(before, admins, "demoting")
        c.execute("UPDATE users SET display_name = coalesce(%s, display_name), "
                  "role = coalesce(%s, role), language = coalesce(%s, language), "
                  "updated_at = now() WHERE id = %s",
                  (change.display_name, change.role and change.role.value, change.language,
                   user_id))
        if change.regions is not None:
            c.execute("DELETE FROM user_regions WHERE user_id = %s", (user_id,))
            for region in dict.fromkeys(change.regions):
                c.execute("INSERT INTO user_regions VALUES (%s, %s)", (user_id, region))
        after = get_account(c, user_id)
        diff = {f: [getattr(before, f), getattr(after, f)]
                for f in ("display_name", "role", "language", "regions")
                if getattr(before, f) != getattr(after, f)}
        if diff:
            audit.record(c, actor, UserAction.UPDATE, _target(after), diff, client)
        return after

    return create(conn, change, write)


def set_active(conn: psycopg.Connection[Any], user_id: int, active: bool, actor: Actor,
               client: str = "") -> UserAccount:
    """Deactivate (every session of the account ends at once, its unused reset codes too) or
    activate an account; the last active admin stays."""
    with conn.transaction():
        before, admins = _locked(conn, user_id)
        if before.active == active:
            return before
        if not active:
            _keep_an_admin(before, admins, "deactivating")
        conn.execute("UPDATE users SET active = %s, updated_at = now() WHERE id = %s",
                     (active, user_id))
        data: dict[str, Any] = {}
        if not active:
            data["sessions_ended"] = end_user_sessions(conn, user_id)
            resets.forget_codes(conn, user_id)
        audit.record(conn, actor, UserAction.ACTIVATE if active else UserAction.DEACTIVATE,
                     _target(before), data, client)
        return get_account(conn, user_id)


def issue_reset(conn: psycopg.Connection[Any], user_id: int, actor: Actor,
                client: str = "") -> Issued:
    """A one-time code for the user to set a new password with (shown once); their password
    and sessions end now. Not for one's own account: that is a password change."""
    if actor.id == user_id:
        raise Conflict("this is your own account: change your password under My account")
    with conn.transaction():
        if conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE",
                        (user_id,)).fetchone() is None:
            raise NotFound(f"no user {user_id}")
        account = get_account(conn, user_id)
        if not account.active:
            raise Conflict(f"{account.username} is deactivated: activate the account first")
        issued = resets.issue(conn, user_id, actor.id)
        ended = end_user_sessions(conn, user_id)
        audit.record(conn, actor, UserAction.RESET_ISSUED, _target(account),
                     {"expires_at": issued.expires_at.isoformat(), "sessions_ended": ended},
                     client)
        return issued


def end_sessions(conn: psycopg.Connection[Any], user_id: int, actor: Actor,
                 client: str = "") -> int:
    """End every session of a user; how many ended."""
    with conn.transaction():
        account = get_account(conn, user_id)
        ended = end_user_sessions(conn, user_id)
        audit.record(conn, actor, UserAction.SESSIONS_ENDED, _target(account),
                     {"sessions_ended": ended}, client)
        return ended


def end_session(conn: psycopg.Connection[Any], session_id: int, actor: Actor,
                client: str = "", *, owner: int | None = None) -> SessionInfo:
    """End one session (only of ``owner``, when given: one's own)."""
    with conn.transaction():
        ended = sessions.end_session(conn, session_id, owner)
        if ended is None:
            raise NotFound(f"no session {session_id}")
        audit.record(conn, actor, UserAction.SESSION_ENDED,
                     Target(ended.user_id, ended.username),
                     {"session": session_id, "client": ended.client}, client)
        return ended


def clear_lockout(conn: psycopg.Connection[Any], kind: Subject, subject: str, actor: Actor,
                  client: str = "") -> None:
    """Forget the failed sign-ins of an account or a source address."""
    with conn.transaction():
        if not throttle.clear(conn, kind, subject):
            raise NotFound(f"no failed sign-ins recorded for {kind.value} {subject!r}")
        row = conn.execute("SELECT id FROM users WHERE username = %s", (subject,)).fetchone() \
            if kind == Subject.ACCOUNT else None
        audit.record(conn, actor, UserAction.LOCKOUT_CLEARED,
                     Target(row[0] if row else None, subject if kind == Subject.ACCOUNT else ""),
                     {"kind": kind.value, "subject": subject}, client)
