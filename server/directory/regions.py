"""Regions: districts (区), their streets (街道) and the streets' communities (社区), the unit of
every user's scope. A home is in a community (or a street); its street and district are the
region's ancestors. A district covers its streets and their communities (``server.scope``).

Why a level rather than a district field on homes: the district is where a home is *and* a
unit of work (a district's civil-affairs office supervises its streets), so it is a region a
user can be given; a field on homes would repeat it on every home and scope nobody."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from pydantic import Field

from server.api.types import Id, Text
from server.directory.records import Input, create, fetch, insert
from server.errors import Invalid

PARENT_LEVEL = {"区": (None,), "街道": (None, "区"), "社区": ("街道",)}


class RegionIn(Input):
    name: Text = Field(min_length=1, max_length=80)
    level: str = Field(pattern="^(区|街道|社区)$")
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
    """A region under a parent one level up: a 社区 under a 街道, a 街道 under a 区 (or none),
    a 区 at the top."""

    def write(c: psycopg.Connection[Any]) -> int:
        row = None if r.parent_id is None else c.execute(
            "SELECT level FROM regions WHERE id = %s", (r.parent_id,)).fetchone()
        if (row and row[0]) not in PARENT_LEVEL[r.level]:
            above = " or ".join(str(p) for p in PARENT_LEVEL[r.level] if p) or "no region"
            raise Invalid(f"a {r.level} goes under {above}", field="parent_id")
        return int(insert(c, "regions", r.model_dump()))

    return int(create(conn, r, write))
