"""Signing in: the password check, the rate limit on failures, the session.

Credentials no user can have (a NUL, undecodable bytes, a huge string) are simply wrong, with
the same work as any wrong password, and never reach the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from server.auth.sessions import open_session, record_failure, too_many_failures
from server.auth.users import User, plausible_login, verify_password


class SignInRefused(Exception):
    """Base of why a sign-in was refused; nothing says whether the username exists."""


class WrongCredentials(SignInRefused):
    def __init__(self) -> None:
        super().__init__("wrong username or password")


class TooManyFailures(SignInRefused):
    def __init__(self) -> None:
        super().__init__("too many failed sign-ins; wait a few minutes")


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user and the token that stands for them (cookie or bearer)."""

    token: str
    user: User


def sign_in(conn: psycopg.Connection[Any], username: str, password: str,
            client: str) -> Session:
    """Check the password and open a session. After 5 failures for this username from this
    client in 5 minutes (``sessions.MAX_FAILURES`` / ``FAILURE_WINDOW``): TooManyFailures."""
    if not plausible_login(username, password):
        verify_password(conn, username, password)  # the same work, no query
        raise WrongCredentials
    if too_many_failures(conn, username, client):
        raise TooManyFailures
    user = verify_password(conn, username, password)
    if user is None:
        record_failure(conn, username, client)
        raise WrongCredentials
    return Session(open_session(conn, user), user)
