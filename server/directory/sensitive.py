"""Every read of a sensitive field, and nothing else: health details (conditions, medication,
allergies), contacts' phone numbers, the key-safe code, a resident's full record.

Each function takes the ``Access`` it serves — who reads, for which alert or which page — and
reports it to ``accessed`` before returning, which is where an access log hooks in (PIPL:
who saw what, when, why). Nothing else in the server selects these columns for display: the
queue and the search show names, tags, status and the address line only.
"""

from __future__ import annotations

from collections.abc import Sequence
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

__all__ = ["Access", "accessed", "contacts_for", "key_safe_code", "resident_cards",
           "resident_record"]

HEALTH = ("conditions", "medications", "allergies")
PHONES = ("contacts.phones",)


def resident_cards(conn: psycopg.Connection[Any], home_id: int,
                   access: Access) -> list[ResidentCard]:
    """The cards (with health details) of everyone at a home who is not gone, by id."""
    cards = fetch(conn, ResidentCard, sql.SQL(
        "SELECT {} FROM residents r WHERE r.home_id = %s AND r.status NOT IN "
        "('moved', 'deceased') ORDER BY r.id").format(sql.SQL(CARD_COLUMNS)), (home_id,))
    accessed(access, HEALTH, [c.id for c in cards], home_id)
    return cards


def contacts_for(conn: psycopg.Connection[Any], resident_ids: Sequence[int],
                 access: Access) -> list[Contact]:
    """The residents' active contacts with their phone numbers, by resident, in call order."""
    found = fetch(conn, Contact, sql.SQL(
        "SELECT {} FROM contacts WHERE resident_id = ANY (%s) AND active "
        "ORDER BY resident_id, call_order").format(sql.SQL(CONTACT_COLUMNS)),
        (list(resident_ids),))
    accessed(access, PHONES, resident_ids)
    return found


def resident_record(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
                    access: Access) -> Resident:
    """A resident in full — health, contacts with phones (deactivated ones too, last),
    home, own limits; NotFound outside ``scope`` (nothing leaks)."""
    row = one(conn, sql.SQL(
        "SELECT {}, r.home_id, r.created_at, r.updated_at, r.vital_limits, r.inactivity_rules, "
        "h.address, h.region_id FROM residents r JOIN homes h ON h.id = r.home_id "
        "WHERE r.id = %s AND {}").format(sql.SQL(CARD_COLUMNS), scope.where("h.region_id")),
        (resident_id,), f"no resident {resident_id}")
    contacts = fetch(conn, Contact, sql.SQL(
        "SELECT {} FROM contacts WHERE resident_id = %s ORDER BY active DESC, call_order, id"
    ).format(sql.SQL(CONTACT_COLUMNS)), (resident_id,))
    accessed(access, (*HEALTH, *PHONES), [resident_id], row["home_id"])
    return Resident(**row, home=get_home(conn, ALL, row["home_id"]), contacts=contacts)
