"""Contacts: the people to call for a resident, in call order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from pydantic import Field

from server.api.types import Id, Rank, Text
from server.directory.records import Input, create, fetch, insert


class ContactIn(Input):
    resident_id: Id
    name: Text = Field(min_length=1, max_length=80)
    relation: Text = Field(default="", max_length=40)
    phone: Text = Field(min_length=3, max_length=40)
    call_order: Rank = 1


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    resident_id: int
    name: str
    relation: str
    phone: str
    call_order: int


def contacts_for(conn: psycopg.Connection[Any], resident_ids: Sequence[int]) -> list[Contact]:
    """The residents' contacts, by resident, then in call order."""
    return fetch(conn, Contact, sql.SQL(
        "SELECT id, resident_id, name, relation, phone, call_order FROM contacts "
        "WHERE resident_id = ANY (%s) ORDER BY resident_id, call_order"), (list(resident_ids),))


def add_contact(conn: psycopg.Connection[Any], c: ContactIn) -> int:
    return int(create(conn, c, lambda cn: insert(cn, "contacts", c.model_dump())))
