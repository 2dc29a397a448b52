"""Regions: streets (街道) and their communities (社区), the unit of every user's scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from pydantic import Field

from server.api.types import Id, Text
from server.directory.records import Input, create, fetch, insert


class RegionIn(Input):
    name: Text = Field(min_length=1, max_length=80)
    level: str = Field(pattern="^(街道|社区)$")
    parent_id: Id | None = None


@dataclass(frozen=True, slots=True)
class Region:
    id: int
    parent_id: int | None
    name: str
    level: str


def list_regions(conn: psycopg.Connection[Any]) -> list[Region]:
    """Every region (names are not confidential: every user sees the tree)."""
    return fetch(conn, Region, sql.SQL("SELECT id, parent_id, name, level FROM regions "
                                       "ORDER BY id"))


def add_region(conn: psycopg.Connection[Any], r: RegionIn) -> int:
    return int(create(conn, r, lambda c: insert(c, "regions", r.model_dump())))
