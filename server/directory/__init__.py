"""The directory service: regions, homes, residents, contacts, gateways, devices and users.

Every read and write the API needs is a function here taking a connection (and the reader's
``server.scope.Scope`` where rows belong to a region) and returning typed rows (frozen
dataclasses; routes shape them with ``dataclasses.asdict``). Each write is one transaction: it
checks the rows its input refers to (``NotFound`` naming the field), then writes; a constraint
the database still enforces is a ``Conflict`` (``server.errors``; the API answers 404 / 409 /
422). Inputs are pydantic models built from ``server.api.types``.

One module per thing held: ``regions``, ``homes``, ``residents``, ``contacts``, ``gateways``,
``devices``, ``users``; ``records`` has what they share.
"""

from __future__ import annotations

from server.directory.contacts import Contact, ContactIn, add_contact, contacts_for
from server.directory.devices import DeviceIn, add_device, wearables_of
from server.directory.gateways import GatewayIn, GatewayStatus, add_gateway, list_gateways
from server.directory.homes import HomeIn, add_home
from server.directory.regions import Region, RegionIn, add_region, list_regions
from server.directory.residents import (
    CareTag,
    Resident,
    ResidentCard,
    ResidentIn,
    ResidentListing,
    add_resident,
    get_resident,
    residents_at_home,
    search_residents,
)
from server.directory.users import UserAccount, UserIn, add_user, list_users

__all__ = [
    "CareTag",
    "Contact",
    "ContactIn",
    "DeviceIn",
    "GatewayIn",
    "GatewayStatus",
    "HomeIn",
    "Region",
    "RegionIn",
    "Resident",
    "ResidentCard",
    "ResidentIn",
    "ResidentListing",
    "UserAccount",
    "UserIn",
    "add_contact",
    "add_device",
    "add_gateway",
    "add_home",
    "add_region",
    "add_resident",
    "add_user",
    "contacts_for",
    "get_resident",
    "list_gateways",
    "list_regions",
    "list_users",
    "residents_at_home",
    "search_residents",
    "wearables_of",
]
