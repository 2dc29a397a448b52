"""Signing in, with a password or a one-time reset code, and changing one's own password.

Each attempt is first admitted by the login throttle (``server.auth.throttle``: per account and
per source address, exponential waits, atomic under concurrency), then checked. Credentials no
user can have (a NUL, undecodable bytes, a huge string) are simply wrong, with the same work as
any wrong password, and never reach the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from server.auth import audit, resets, throttle
from server.auth.audit import Target, UserAction
from server.auth.policy import PasswordRefused, check_password
from server.auth.sessions import end_user_sessions, open_session
from server.auth.throttle import LoginLimits, TooManyFailures
from server.auth.users import User, plausible_login, replace_password, verify_password

__all__ = ["Client", "Session", "SignInRefused", "TooManyFailures", "WrongCode",
           "WrongCredentials", "change_password", "sign_in", "sign_in_with_code"]


class SignInRefused(Exception):
    """Base of why a sign-in was refused; nothing says whether the username exists."""


class WrongCredentials(SignInRefused):
    def __init__(self) -> None:
        super().__init__("wrong username or password")


class WrongCode(SignInRefused):
    def __init__(self) -> None:
        super().__init__("wrong username or code, or the code was used or has expired; "
                         "ask an administrator for a new one")


@dataclass(frozen=True, slots=True)
class Client:
    """Where an attempt comes from: its source address (throttled) and browser (recorded)."""

    address: str
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user and the token that stands for them (cookie or bearer)."""

    token: str
    user: User


def sign_in(conn: psycopg.Connection[Any], limits: LoginLimits, username: str, password: str,
            client: Client) -> Session:
    """Check the password and open a session; ``TooManyFailures`` while the account or the
    address must wait, ``WrongCredentials`` otherwise."""
    if not plausible_login(username, password):
        verify_password(conn, username, password)  # the same work, no query
        raise WrongCredentials
    throttle.admit(conn, limits, username, client.address)
    user = verify_password(conn, username, password)
    if user is None:
        raise WrongCredentials
    throttle.succeeded(conn, limits, username, client.address)
    return Session(open_session(conn, user, client.address, client.user_agent), user)


def sign_in_with_code(conn: psycopg.Connection[Any], limits: LoginLimits, username: str,
                      code: str, new_password: str, client: Client) -> Session:
    """Use a one-time reset code, set ``new_password`` (which must meet the policy: checked
    first, so a refused password does not spend the code) and open a session."""
    if not plausible_login(username, code):
        raise WrongCode
    check_password(new_password, username)
    throttle.admit(conn, limits, username, client.address)
    with conn.transaction():
        user = resets.redeem(conn, username, code, new_password)
        if user is None:
            raise WrongCode
        end_user_sessions(conn, user.id)
        audit.record(conn, user.actor, UserAction.RESET_USED, Target(user.id, user.username),
                     client=client.address)
    throttle.succeeded(conn, limits, username, client.address)
    return Session(open_session(conn, user, client.address, client.user_agent), user)


def change_password(conn: psycopg.Connection[Any], limits: LoginLimits, user: User,
                    current: str, new_password: str, client: Client, keep: str | None) -> None:
    """Change ``user``'s own password (knowing the current one, which the throttle guards like
    a sign-in); every other session of theirs ends, the one of token ``keep`` stays."""
    check_password(new_password, user.username)
    if new_password == current:
        raise PasswordRefused("password_unchanged", "the new password must differ from the "
                              "current one", "new_password")
    throttle.admit(conn, limits, user.username, client.address)
    if verify_password(conn, user.username, current) is None:
        raise PasswordRefused("password_wrong", "the current password is not right",
                              "current_password")
    with conn.transaction():
        replace_password(conn, user.id, new_password)
        ended = end_user_sessions(conn, user.id, keep=keep)
        audit.record(conn, user.actor, UserAction.PASSWORD_CHANGED,
                     Target(user.id, user.username), {"sessions_ended": ended},
                     client=client.address)
    throttle.succeeded(conn, limits, user.username, client.address)
