"""Sign in (cookie and bearer token), sign out, who am I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from server.api.deps import CurrentUser, Db, token_of
from server.auth.sessions import (
    COOKIE,
    SESSION_TTL,
    close_session,
    open_session,
    record_failure,
    too_many_failures,
)
from server.auth.users import User, verify_password

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role.value, "language": user.language, "regions": list(user.regions)}


@router.post("/login")
def login(body: Login, request: Request, response: Response, conn: Db) -> dict[str, Any]:
    """Check the password; set the session cookie and return the same token for API clients.

    After 5 failed attempts for one username from one client in 5 minutes: 429.
    """
    client = request.client.host if request.client else "?"
    if too_many_failures(conn, body.username, client):
        raise HTTPException(429, "too many failed sign-ins; wait a few minutes",
                            headers={"Retry-After": "300"})
    user = verify_password(conn, body.username, body.password)
    if user is None:
        record_failure(conn, body.username, client)
        raise HTTPException(401, "wrong username or password")
    token = open_session(conn, user)
    response.set_cookie(COOKIE, token, max_age=int(SESSION_TTL.total_seconds()), httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return {"token": token, "user": user_json(user)}


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, conn: Db) -> None:
    token = token_of(request)
    if token:
        close_session(conn, token)
    response.delete_cookie(COOKIE)


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    return user_json(user)
