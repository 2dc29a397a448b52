"""Users and their passwords (argon2id), roles and regions."""

from __future__ import annotations

import contextlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.alerts.model import Actor, Role

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
USERNAME = re.compile(r"[a-z0-9_.-]{2,40}")  # the users.username CHECK
MAX_PASSWORD = 1024  # longer is never a password of ours (the API sets at most 200)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    language: str
    regions: tuple[int, ...]  # empty: every region

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.display_name, self.role)

    def sees_all_regions(self) -> bool:
        return not self.regions


def hash_password(password: str) -> str:
    """The argon2id hash stored for ``password``."""
    return _hasher.hash(password)


def create_user(conn: psycopg.Connection[Any], username: str, display_name: str, role: Role,
                password: str, *, language: str = "zh-CN", regions: tuple[int, ...] = ()) -> int:
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, language) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (username, display_name, hash_password(password), role.value, language)).fetchone()
        assert row is not None
        for region in regions:
            conn.execute("INSERT INTO user_regions VALUES (%s, %s)", (row[0], region))
    return int(row[0])


def set_password(conn: psycopg.Connection[Any], username: str, password: str) -> bool:
    """Replace a user's password; False if there is no such user."""
    cur = conn.execute("UPDATE users SET password_hash = %s, updated_at = now() "
                       "WHERE username = %s", (hash_password(password), username))
    return cur.rowcount == 1


def replace_password(conn: psycopg.Connection[Any], user_id: int, password: str) -> None:
    """Store a new password for ``user_id``."""
    conn.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                 (hash_password(password), user_id))


def get_user(conn: psycopg.Connection[Any], user_id: int) -> User | None:
    row = conn.execute(
        "SELECT u.id, u.username, u.display_name, u.role, u.language, "
        "coalesce(array_agg(r.region_id) FILTER (WHERE r.region_id IS NOT NULL), '{}') "
        "FROM users u LEFT JOIN user_regions r ON r.user_id = u.id "
        "WHERE u.id = %s AND u.active GROUP BY u.id", (user_id,)).fetchone()
    if row is None:
        return None
    return User(row[0], row[1], row[2], Role(row[3]), row[4], tuple(row[5]))


def plausible_login(username: str, password: str) -> bool:
    """Whether these could be some user's credentials at all: a well-formed username, and a
    password of at most MAX_PASSWORD characters without NUL that UTF-8 can encode."""
    if USERNAME.fullmatch(username) is None or len(password) > MAX_PASSWORD or "\x00" in password:
        return False
    try:
        password.encode()
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes or a bad \u escape
        return False
    return True


def verify_password(conn: psycopg.Connection[Any], username: str, password: str) -> User | None:
    """The user if the password is right (constant work whether or not the user exists, also
    for credentials no user can have, which never reach the database)."""
    if not plausible_login(username, password):
        _spend_a_verification()
        return None
    row = conn.execute("SELECT id, password_hash FROM users WHERE username = %s AND active",
                       (username,)).fetchone()
    try:
        _hasher.verify(row[1] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return get_user(conn, row[0]) if row else None


def _spend_a_verification() -> None:
    with contextlib.suppress(VerificationError):
        _hasher.verify(_DUMMY_HASH, "-")


def generate_password() -> str:
    """A readable random password for generated dev logins (never stored in the repo)."""
    return "-".join(secrets.token_hex(3) for _ in range(3))
