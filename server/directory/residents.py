"""Residents: the elders a home's devices watch over, their care categories and health notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

import psycopg
from psycopg import sql
from pydantic import Field

from server.api.types import Id, Text
from server.directory.contacts import Contact, contacts_for
from server.directory.records import Input, create, fetch, insert, one
from server.scope import Scope

CareTag = Literal["高龄", "独居", "空巢", "失能", "经济困难", "计划生育特殊家庭", "重残"]
"""The care categories of the community's elder-care registry (residents.care_tags)."""
SEARCH_LIMIT = 200


class ResidentIn(Input):
    home_id: Id
    name: Text = Field(min_length=1, max_length=80)
    sex: str | None = Field(default=None, pattern="^(F|M)$")
    birth_date: date | None = None
    phone: Text | None = Field(default=None, max_length=40)
    care_tags: list[CareTag] = Field(default_factory=list, max_length=20)
    conditions: list[Annotated[Text, Field(max_length=200)]] = Field(default_factory=list,
                                                                       max_length=100)
    medications: list[Annotated[Text, Field(max_length=200)]] = Field(default_factory=list,
                                                                        max_length=100)
    languages: list[Annotated[Text, Field(max_length=40)]] = Field(default_factory=list,
                                                                     max_length=20)


@dataclass(frozen=True, slots=True)
class ResidentListing:
    """A line of the resident search."""

    id: int
    name: str
    care_tags: list[str]
    home_id: int
    address: str


@dataclass(frozen=True, slots=True)
class ResidentCard:
    """What an operator reads about a resident of an alert's home."""

    id: int
    name: str
    sex: str | None
    birth_date: date | None
    phone: str | None
    care_tags: list[str]
    conditions: list[str]
    medications: list[str]
    languages: list[str]
    photo_url: str | None


@dataclass(frozen=True, slots=True)
class Resident(ResidentCard):
    """A resident in full: their row, their home's address and region, their contacts."""

    home_id: int
    created_at: datetime
    vital_limits: dict[str, Any]
    away_until: datetime | None
    address: str
    region_id: int
    contacts: list[Contact]


def search_residents(conn: psycopg.Connection[Any], scope: Scope,
                     text: str = "") -> list[ResidentListing]:
    """Residents in scope whose name or address contains ``text``, by name (at most 200)."""
    pattern = f"%{text}%"
    return fetch(conn, ResidentListing, sql.SQL(
        "SELECT r.id, r.name, r.care_tags, h.id AS home_id, h.address FROM residents r "
        "JOIN homes h ON h.id = r.home_id WHERE {} AND (r.name ILIKE %s OR h.address ILIKE %s) "
        "ORDER BY r.name LIMIT {}").format(scope.where("h.region_id"), SEARCH_LIMIT),
        (pattern, pattern))


def get_resident(conn: psycopg.Connection[Any], scope: Scope, resident_id: int) -> Resident:
    """The resident with their contacts; NotFound also outside the scope (nothing leaks)."""
    row = one(conn, sql.SQL(
        "SELECT r.id, r.name, r.sex, r.birth_date, r.phone, r.care_tags, r.conditions, "
        "r.medications, r.languages, r.photo_url, r.home_id, r.created_at, r.vital_limits, "
        "r.away_until, h.address, h.region_id "
        "FROM residents r JOIN homes h ON h.id = r.home_id WHERE r.id = %s AND {}"
    ).format(scope.where("h.region_id")), (resident_id,), f"no resident {resident_id}")
    return Resident(**row, contacts=contacts_for(conn, [resident_id]))


def residents_at_home(conn: psycopg.Connection[Any], home_id: int) -> list[ResidentCard]:
    return fetch(conn, ResidentCard, sql.SQL(
        "SELECT id, name, sex, birth_date, phone, care_tags, conditions, medications, languages, "
        "photo_url FROM residents WHERE home_id = %s ORDER BY id"), (home_id,))


def add_resident(conn: psycopg.Connection[Any], r: ResidentIn) -> int:
    return int(create(conn, r, lambda c: insert(c, "residents", r.model_dump())))
