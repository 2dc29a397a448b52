"""User accounts as the directory lists and creates them (passwords and sessions: server.auth)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from pydantic import BaseModel, Field

from server.alerts.model import Role
from server.api.types import Id, Text
from server.auth.users import create_user
from server.directory.records import create, fetch
from server.errors import Invalid


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9_.-]{2,40}$")
    display_name: Text = Field(min_length=1, max_length=80)
    role: Role
    password: Text = Field(min_length=10, max_length=200)
    language: str = Field(default="zh-CN", pattern="^(zh-CN|en)$")
    regions: list[Id] = Field(default_factory=list, max_length=100)


@dataclass(frozen=True, slots=True)
class UserAccount:
    id: int
    username: str
    display_name: str
    role: str
    language: str
    active: bool


def list_users(conn: psycopg.Connection[Any]) -> list[UserAccount]:
    return fetch(conn, UserAccount, sql.SQL(
        "SELECT id, username, display_name, role, language, active FROM users ORDER BY id"))


def add_user(conn: psycopg.Connection[Any], u: UserIn) -> int:
    """Create a user with these regions (none: every region); ``system`` is no user's role."""
    if u.role == Role.SYSTEM:
        raise Invalid("'system' is not a role a user can have", field="role")
    return create(conn, u, lambda c: create_user(
        c, u.username, u.display_name, u.role, u.password, language=u.language,
        regions=tuple(dict.fromkeys(u.regions))))
