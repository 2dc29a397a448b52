"""Every read of a sensitive field, and nothing else: health details (conditions, medication,
allergies), contacts' phone numbers, the key-safe code, a resident's full record.

Each function takes the ``Access`` it serves — who reads, for which alert or which page — and
reports it to ``accessed`` in the same transaction as the read: a row of the access log
(``server.privacy.access_log``; PIPL: who saw what, when, why). Nothing else in the server
selects these columns for display: the queue and the search show names, tags, status and the
address line only (``contacts_withheld`` shows contacts without their phones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import psycopg
from psycopg import sql

from server.directory.access import Access, accessed, key_safe_code
from server.directory.contacts import COLUMNS as CONTACT_COLUMNS
from server.directory.contacts import Contact
from server.directory.homes import get_home
from server.directory.records import fetch, one
from server.directory.residents import CARD_COLUMNS, Resident, ResidentCard
from server.scope import ALL, Scope

__all__ = ["Access", "accessed", "contacts_for", "contacts_withheld", "key_safe_code",
           "resident_cards", "resident_record"]

HEALTH = ("conditions", "medications", "allergies")
PHONES = ("contacts.phones",)


def resident_cards(conn: psycopg.Connection[Any], home_id: int,
                   access: Access) -> list[ResidentCard]:
    """The cards (with health details) of everyone at a home who is not gone, by id."""
    with conn.transaction():
        cards = fetch(conn, ResidentCard, sql.SQL(
            "SELECT {} FROM residents r WHERE r.home_id = %s AND r.status NOT IN "
            "('moved', 'deceased') ORDER BY r.id").format(sql.SQL(CARD_COLUMNS)), (home_id,))
        accessed(conn, access, HEALTH, [c.id for c in cards], home_id)
    return cards


def contacts_for(conn: psycopg.Connection[Any], resident_ids: Sequence[int],
                 access: Access) -> list[Contact]:
    """The residents' active contacts with their phone numbers, by resident, in call order."""
    with conn.transaction():
        found = fetch(conn, Contact, sql.SQL(
            "SELECT {} FROM contacts WHERE resident_id = ANY (%s) AND active "
            "ORDER BY resident_id, call_order").format(sql.SQL(CONTACT_COLUMNS)),
            (list(resident_ids),))
        accessed(conn, access, PHONES, resident_ids)
    return found


def contacts_withheld(conn: psycopg.Connection[Any],
                      resident_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The residents' active contacts without their phones (``withheld``: the resident has not
    consented to sharing with family; an emergency override shows them). Not a sensitive read."""
    rows = fetch(conn, Contact, sql.SQL(
        "SELECT {} FROM contacts WHERE resident_id = ANY (%s) AND active "
        "ORDER BY resident_id, call_order").format(sql.SQL(CONTACT_COLUMNS)),
        (list(resident_ids),))
    return [{**asdict(c), "phone": None, "phones": [], "withheld": True} for c in rows]


def resident_record(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
                    access: Access) -> Resident:
    """A resident in full — health, contacts with phones (deactivated ones too, last),
    home, own limits; NotFound outside ``scope`` (nothing leaks)."""
    with conn.transaction():
        return _record(conn, scope, resident_id, access)


def _record(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
            access: Access) -> Resident:
    row = one(conn, sql.SQL(
        "SELECT {}, r.home_id, r.created_at, r.updated_at, r.vital_limits, r.inactivity_rules, "
        "h.address, h.region_id FROM residents r JOIN homes h ON h.id = r.home_id "
        "WHERE r.id = %s AND {}").format(sql.SQL(CARD_COLUMNS), scope.where("h.region_id")),
        (resident_id,), f"no resident {resident_id}")
    contacts = fetch(conn, Contact, sql.SQL(
        "SELECT {} FROM contacts WHERE resident_id = %s ORDER BY active DESC, call_order, id"
    ).format(sql.SQL(CONTACT_COLUMNS)), (resident_id,))
    accessed(conn, access, (*HEALTH, *PHONES), [resident_id], row["home_id"])
    return Resident(**row, home=get_home(conn, ALL, row["home_id"]), contacts=contacts)
