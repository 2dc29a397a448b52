"""Sign in (cookie and bearer token), sign out, who am I (over ``server.auth``).

Credentials no user can have (a NUL, undecodable bytes, a huge string) are simply wrong: 401,
with the same work as any wrong password, and they never reach the database
(``server.auth.signin``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, PlainValidator
from pydantic_core import PydanticCustomError

from server.api.deps import CurrentUser, Db, token_of
from server.api.errors import RESPONSES, documented
from server.auth.sessions import COOKIE, SESSION_TTL, close_session
from server.auth.signin import TooManyFailures, WrongCredentials, sign_in
from server.auth.users import User


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


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role.value, "language": user.language, "regions": list(user.regions)}


@router.post("/login", responses=documented(429))
def login(body: Login, request: Request, response: Response, conn: Db) -> dict[str, Any]:
    """Check the password; set the session cookie and return the same token for API clients.

    After 5 failed attempts for one username from one client in 5 minutes: 429.
    """
    client = request.client.host if request.client else "?"
    try:
        session = sign_in(conn, body.username, body.password, client)
    except WrongCredentials as exc:
        raise HTTPException(401, str(exc)) from None
    except TooManyFailures as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": "300"}) from None
    response.set_cookie(COOKIE, session.token, max_age=int(SESSION_TTL.total_seconds()),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return {"token": session.token, "user": user_json(session.user)}


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, conn: Db) -> None:
    token = token_of(request)
    if token:
        close_session(conn, token)
    response.delete_cookie(COOKIE)


@router.get("/me")
def me(user: CurrentUser) -> dict[str, Any]:
    return user_json(user)
