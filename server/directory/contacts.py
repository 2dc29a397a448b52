"""Contacts: the people to call for a resident, in call order — several phone numbers each
(the first is tried first), when they can be reached, whether they hold a key.

A contact belongs to one resident's call list. When the same person is on the lists of two
residents of a home, each list has its own row: the call order, the relation (son of one,
son-in-law of the other) and consent to be called are per resident, and so is what is exported
or erased with a resident. The console copies a household member's contact in one step.

Reads of contacts' phone numbers are in ``server.directory.sensitive``; writes here, each
confined to the actor's regions, one transaction, audited. A deactivated contact leaves the
call list (its ``call_order`` is null) and stays for the history; nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from psycopg import sql
from pydantic import Field, field_validator

from server.alerts.model import SYSTEM, Actor
from server.api.types import Id, Rank, Text
from server.directory import audit
from server.directory.records import Input, insert, one, update, writing
from server.directory.residents import locked_resident
from server.directory.search import refresh_terms
from server.errors import Invalid
from server.scope import ALL, Scope

Phone = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[0-9+()\- ]+(转[0-9]+)?$")]
"""A phone number: digits, spaces, + - ( ), and an extension after 转."""
Phones = Annotated[list[Phone], Field(min_length=1, max_length=5)]


class ContactIn(Input):
    resident_id: Id
    name: Text = Field(min_length=1, max_length=80)
    relation: Text = Field(default="", max_length=40)
    phones: Phones
    availability: Text = Field(default="", max_length=200)
    has_key: bool = False
    call_order: Rank | None = None  # None: last; else inserted there, the rest move down


class ContactEdit(Input):
    """The fields to change (absent: unchanged)."""

    name: Text | None = Field(default=None, min_length=1, max_length=80)
    relation: Text | None = Field(default=None, max_length=40)
    phones: Phones | None = None
    availability: Text | None = Field(default=None, max_length=200)
    has_key: bool | None = None

    @field_validator("name", "relation", "phones", "availability", "has_key")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, not set to null")
        return value


class Reorder(Input):
    """The resident's active contacts, every one of them, in the new call order."""

    contact_ids: list[Id] = Field(min_length=1, max_length=50)


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    resident_id: int
    name: str
    relation: str
    phone: str  # the first of ``phones``
    phones: list[str]
    call_order: int | None
    availability: str
    has_key: bool
    active: bool


COLUMNS = ("id, resident_id, name, relation, phone, phones, call_order, availability, "
           "has_key, active")


def _locked_contact(conn: psycopg.Connection[Any], scope: Scope,
                    contact_id: int) -> dict[str, Any]:
    return one(conn, sql.SQL(
        "SELECT c.id, c.resident_id, c.name, c.relation, c.phones, c.availability, c.has_key, "
        "c.active, c.call_order, r.home_id FROM contacts c JOIN residents r ON r.id = "
        "c.resident_id JOIN homes h ON h.id = r.home_id WHERE c.id = %s AND {} "
        "FOR UPDATE OF c").format(scope.where("h.region_id")), (contact_id,),
        f"no contact {contact_id}")


def _order(conn: psycopg.Connection[Any], resident_id: int) -> list[tuple[int, str]]:
    return [(int(i), str(n)) for i, n in conn.execute(
        "SELECT id, name FROM contacts WHERE resident_id = %s AND active ORDER BY call_order",
        (resident_id,))]


def _renumber(conn: psycopg.Connection[Any], ids: list[int]) -> None:
    with conn.cursor() as cur:  # the unique call order is checked at commit (deferred)
        cur.executemany("UPDATE contacts SET call_order = %s WHERE id = %s",
                        [(n, cid) for n, cid in enumerate(ids, 1)])


def add_contact(conn: psycopg.Connection[Any], c: ContactIn, *, actor: Actor = SYSTEM,
                scope: Scope = ALL) -> int:
    """Add a contact to a resident's call list, last or at ``call_order``."""
    with writing(conn):
        resident = locked_resident(conn, scope, c.resident_id, "resident_id")
        order = [i for i, _ in _order(conn, c.resident_id)]
        at = len(order) if c.call_order is None else min(c.call_order - 1, len(order))
        data = c.model_dump(exclude={"call_order"})
        contact_id = int(insert(conn, "contacts", {**data, "call_order": len(order) + 1}))
        _renumber(conn, [*order[:at], contact_id, *order[at:]])
        audit.record(conn, actor, "contact", contact_id, "create",
                     audit.diff({}, {**data, "call_order": at + 1}),
                     home_id=resident["home_id"], residents=[c.resident_id])
        refresh_terms(conn, [c.resident_id])
        return contact_id


def edit_contact(conn: psycopg.Connection[Any], contact_id: int, edit: ContactEdit, *,
                 actor: Actor = SYSTEM, scope: Scope = ALL) -> None:
    """Change a contact's name, relation, phones, availability or key."""
    wanted = edit.model_dump(exclude_unset=True)
    with writing(conn):
        before = _locked_contact(conn, scope, contact_id)
        changes = audit.diff(before, wanted)
        if not changes:
            return
        update(conn, "contacts", contact_id, {k: wanted[k] for k in changes})
        audit.record(conn, actor, "contact", contact_id, "update",
                     {"contact": [before["name"], before["name"]], **changes},
                     home_id=before["home_id"], residents=[before["resident_id"]])
        if "phones" in changes:
            refresh_terms(conn, [before["resident_id"]])


def deactivate_contact(conn: psycopg.Connection[Any], contact_id: int, note: str = "", *,
                       actor: Actor = SYSTEM, scope: Scope = ALL) -> None:
    """Take a contact off the call list (kept for the history); the rest close up."""
    with writing(conn):
        before = _locked_contact(conn, scope, contact_id)
        if not before["active"]:
            return
        resident = before["resident_id"]
        update(conn, "contacts", contact_id, {"active": False, "call_order": None})
        _renumber(conn, [i for i, _ in _order(conn, resident)])
        audit.record(conn, actor, "contact", contact_id, "deactivate",
                     {"contact": [before["name"], before["name"]], "active": [True, False]},
                     home_id=before["home_id"], residents=[resident], note=note)
        refresh_terms(conn, [resident])


def reorder_contacts(conn: psycopg.Connection[Any], resident_id: int, body: Reorder, *,
                     actor: Actor = SYSTEM, scope: Scope = ALL) -> None:
    """Put the resident's active contacts in a new call order (all of them, each once)."""
    with writing(conn):
        resident = locked_resident(conn, scope, resident_id)
        before = _order(conn, resident_id)
        names = dict(before)
        if sorted(body.contact_ids) != sorted(names) or \
                len(set(body.contact_ids)) != len(body.contact_ids):
            raise Invalid(f"list each of the resident's {len(names)} active contacts once "
                          f"(ids {sorted(names)})", field="contact_ids")
        if body.contact_ids == [i for i, _ in before]:
            return
        _renumber(conn, body.contact_ids)
        audit.record(conn, actor, "resident", resident_id, "reorder_contacts",
                     {"contacts": [[n for _, n in before],
                                   [names[i] for i in body.contact_ids]]},
                     home_id=resident["home_id"], residents=[resident_id])

