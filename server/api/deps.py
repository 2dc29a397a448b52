"""Request dependencies: what the lifespan built (pool, live-feed fan-out), a pooled
database connection, the signed-in user, role checks, the sign-in limits and where a request
comes from.

Each part is one named attribute of ``app.state``, set in the lifespan (``server.app``);
routes name the parts they use as parameters and never reach for the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request
from psycopg_pool import ConnectionPool
from starlette.requests import HTTPConnection

from server.alerts.model import Role
from server.auth.sessions import COOKIE, session_user
from server.auth.signin import Client
from server.auth.throttle import LoginLimits
from server.auth.users import User
from server.fanout import Fanout
from server.settings import Settings


def pool(conn: HTTPConnection) -> ConnectionPool[Any]:
    """The API's connection pool (``server.database.pool``)."""
    found: ConnectionPool[Any] = conn.app.state.pool
    return found


Pool = Annotated[ConnectionPool[Any], Depends(pool)]


def fanout(conn: HTTPConnection) -> Fanout:
    """The live feed's LISTEN fan-out (``server.fanout``)."""
    found: Fanout = conn.app.state.fanout
    return found


LiveFanout = Annotated[Fanout, Depends(fanout)]


def db(pool: Pool) -> Iterator[psycopg.Connection[Any]]:
    """A connection from the pool for the request, returned to it afterwards."""
    with pool.connection() as conn:
        yield conn


Db = Annotated[psycopg.Connection[Any], Depends(db)]


def login_limits(conn: HTTPConnection) -> LoginLimits:
    """How the sign-in throttle counts and waits (``server.auth.throttle``), from the settings."""
    settings: Settings = conn.app.state.settings
    return settings.login_limits()


Limits = Annotated[LoginLimits, Depends(login_limits)]


def client_of(request: Request) -> Client:
    """Where the request comes from: its source address (behind a reverse proxy, the one the
    proxy forwards; see uvicorn's ``--forwarded-allow-ips``) and the browser's name."""
    return Client(request.client.host if request.client else "?",
                  request.headers.get("user-agent", ""))


ClientInfo = Annotated[Client, Depends(client_of)]


def token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(COOKIE)


def signed_in_user(request: Request, conn: Db) -> User:
    """Whoever holds a session, visitors included (their own account, the visits pages)."""
    token = token_of(request)
    user = session_user(conn, token) if token else None
    if user is None:
        raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
    return user


SignedIn = Annotated[User, Depends(signed_in_user)]


def current_user(user: SignedIn) -> User:
    """A signed-in member of the service's staff: visitors (grid workers, volunteers) reach
    their own account and the visits pages only, whatever else a route would admit."""
    if user.role == Role.VISITOR:
        raise HTTPException(403, "visitors use the visits pages only")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> Callable[[User], User]:
    """A dependency admitting only the given roles (admins always)."""
    allowed = {*roles, Role.ADMIN}

    def check(user: SignedIn) -> User:
        if user.role not in allowed:
            raise HTTPException(403, f"this needs the role {' or '.join(sorted(allowed))}")
        return user

    return check
