"""Sign in (cookie and bearer token; or with a one-time reset code), sign out, who am I, change
one's own password, one's own sessions (over ``server.auth``).

Credentials no user can have (a NUL, undecodable bytes, a huge string) are simply wrong: 401,
with the same work as any wrong password, and they never reach the database
(``server.auth.signin``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, PlainValidator
from pydantic_core import PydanticCustomError

from server.api.deps import ClientInfo, Db, Limits, SignedIn, token_of
from server.api.errors import RESPONSES, documented
from server.api.types import Id
from server.auth.sessions import COOKIE, SESSION_TTL, close_session, list_sessions, session_id
from server.auth.signin import (
    Session,
    TooManyFailures,
    WrongCode,
    WrongCredentials,
    change_password,
    sign_in,
    sign_in_with_code,
)
from server.auth.users import User
from server.directory import users as accounts


class _LenientJson(Request):
    """A request whose JSON may hold bytes that are not UTF-8 (they become lone surrogates,
    which no credential has): a password typed in another encoding is wrong, not malformed."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads((await self.body()).decode("utf-8", "surrogateescape"))
        return self._json


class _LenientJsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def lenient(request: Request) -> Response:
            return await handler(_LenientJson(request.scope, request.receive))

        return lenient


router = APIRouter(prefix="/api/auth", tags=["auth"], responses=RESPONSES,
                   route_class=_LenientJsonRoute)


def _any_string(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    return value


# Any string at all (even one that cannot be stored): judged by the password check, not here.
Credential = Annotated[str, PlainValidator(_any_string, json_schema_input_type=str)]


class Login(BaseModel):
    username: Credential
    password: Credential


class CodeLogin(BaseModel):
    """A one-time code from an admin, and the new password to set with it."""

    username: Credential
    code: Credential
    new_password: Credential


class PasswordChange(BaseModel):
    current_password: Credential
    new_password: Credential


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role.value, "language": user.language, "regions": list(user.regions)}


def _signed_in(session: Session, request: Request, response: Response) -> dict[str, Any]:
    response.set_cookie(COOKIE, session.token, max_age=int(SESSION_TTL.total_seconds()),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return {"token": session.token, "user": user_json(session.user)}


def _wait(exc: TooManyFailures) -> HTTPException:
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


@router.post("/login", responses=documented(429))
def login(body: Login, request: Request, response: Response, conn: Db, limits: Limits,
          client: ClientInfo) -> dict[str, Any]:
    """Check the password; set the session cookie and return the same token for API clients.

    After 5 failures of an account (20 of a source address) each further attempt must wait,
    2 s, then 4, 8 … up to 15 min: meanwhile 429 with ``Retry-After`` (seconds), and nothing is
    counted. The right password is accepted whenever an attempt is allowed.
    """
    try:
        session = sign_in(conn, limits, body.username, body.password, client)
    except WrongCredentials as exc:
        raise HTTPException(401, str(exc)) from None
    except TooManyFailures as exc:
        raise _wait(exc) from None
    return _signed_in(session, request, response)


@router.post("/reset", responses=documented(429))
def reset(body: CodeLogin, request: Request, response: Response, conn: Db, limits: Limits,
          client: ClientInfo) -> dict[str, Any]:
    """Sign in with a one-time code from an admin, setting a new password (which must meet the
    policy: 422 naming ``new_password``, and the code stays usable). A wrong, used or expired
    code is 401; it is throttled like a password."""
    try:
        session = sign_in_with_code(conn, limits, body.username, body.code, body.new_password,
                                    client)
    except WrongCode as exc:
        raise HTTPException(401, str(exc)) from None
    except TooManyFailures as exc:
        raise _wait(exc) from None
    return _signed_in(session, request, response)


@router.post("/password", status_code=204, responses=documented(429))
def change_own_password(body: PasswordChange, request: Request, user: SignedIn, conn: Db,
                        limits: Limits, client: ClientInfo) -> None:
    """Change one's own password (the current one is checked and throttled like a sign-in: a
    wrong one is 422 naming ``current_password``). Every other session of the user ends."""
    try:
        change_password(conn, limits, user, body.current_password, body.new_password, client,
                        keep=token_of(request))
    except TooManyFailures as exc:
        raise _wait(exc) from None


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, conn: Db) -> None:
    token = token_of(request)
    if token:
        close_session(conn, token)
    response.delete_cookie(COOKIE)


@router.get("/me")
def me(user: SignedIn) -> dict[str, Any]:
    return user_json(user)


@router.get("/sessions")
def my_sessions(request: Request, user: SignedIn, conn: Db) -> list[dict[str, Any]]:
    """One's own active sessions (``current``: the one asking)."""
    token = token_of(request)
    current = session_id(conn, token) if token else None
    return [{**asdict(s), "current": s.id == current} for s in list_sessions(conn, user.id)]


@router.delete("/sessions/{session_id}", status_code=204)
def end_my_session(session_id: Id, user: SignedIn, conn: Db, client: ClientInfo) -> None:
    """End one of one's own sessions (another's: 404)."""
    accounts.end_session(conn, session_id, user.actor, client.address, owner=user.id)
