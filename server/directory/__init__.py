"""The directory service: regions, homes, residents, contacts, gateways, devices and users.

Every read and write the API needs is a function here taking a connection (and the reader's
``server.scope.Scope`` where rows belong to a region) and returning typed rows (frozen
dataclasses; routes shape them with ``dataclasses.asdict``). Each write is one transaction: it
checks the rows its input refers to — and, for homes, residents and contacts, that they are in
the actor's regions (``NotFound`` naming the field otherwise) — then writes and, for those
three, adds an audit row per change (``audit``: who, when, field by field before → after). A
constraint the database still enforces is a ``Conflict`` (``server.errors``; the API answers
404 / 409 / 422). Inputs are pydantic models built from ``server.api.types``.

One module per thing held: ``regions``, ``homes``, ``residents``, ``contacts``, ``gateways``,
``devices``, ``users``; ``care_tags`` (the one vocabulary), ``care_rules`` (what the tags
mean for visits, calls and priority), ``search`` (resident search and its terms), ``audit``,
``sensitive`` and ``access`` (every read of health details, phones, key-safe codes, and who
read them), ``page`` (a resident page's devices, the editor's vocabulary); ``records`` has
what they share.
"""

from __future__ import annotations

from server.directory.audit import AuditEntry, history
from server.directory.care_rules import (
    CarePlan,
    CareRule,
    CareRuleIn,
    add_rule,
    delete_rule,
    edit_rule,
    list_rules,
    resident_plan,
    rule_history,
)
from server.directory.care_tags import CARE_TAGS, CareTag
from server.directory.contacts import (
    Contact,
    ContactEdit,
    ContactIn,
    Reorder,
    add_contact,
    deactivate_contact,
    edit_contact,
    reorder_contacts,
)
from server.directory.devices import DeviceIn, add_device, wearables_of
from server.directory.gateways import GatewayIn, GatewayStatus, add_gateway, list_gateways
from server.directory.homes import (
    Home,
    HomeEdit,
    HomeIn,
    add_home,
    deactivate_home,
    edit_home,
    get_home,
)
from server.directory.page import HomeDevice, Vocabulary, devices_at_home, vocabulary
from server.directory.regions import Region, RegionIn, add_region, list_regions
from server.directory.residents import (
    LimitsIn,
    Resident,
    ResidentCard,
    ResidentEdit,
    ResidentIn,
    ResidentSummary,
    StatusIn,
    add_resident,
    edit_resident,
    resident_summary,
    set_limits,
    set_status,
)
from server.directory.search import ResidentListing, search_residents, tag_counts
from server.directory.sensitive import (
    Access,
    contacts_for,
    key_safe_code,
    resident_cards,
    resident_record,
)
from server.directory.users import UserAccount, UserIn, add_user, list_users

__all__ = [
    "CARE_TAGS",
    "Access",
    "AuditEntry",
    "CarePlan",
    "CareRule",
    "CareRuleIn",
    "CareTag",
    "Contact",
    "ContactEdit",
    "ContactIn",
    "DeviceIn",
    "GatewayIn",
    "GatewayStatus",
    "Home",
    "HomeDevice",
    "HomeEdit",
    "HomeIn",
    "LimitsIn",
    "Region",
    "RegionIn",
    "Reorder",
    "Resident",
    "ResidentCard",
    "ResidentEdit",
    "ResidentIn",
    "ResidentListing",
    "ResidentSummary",
    "StatusIn",
    "UserAccount",
    "UserIn",
    "Vocabulary",
    "add_contact",
    "add_device",
    "add_gateway",
    "add_home",
    "add_region",
    "add_resident",
    "add_rule",
    "add_user",
    "contacts_for",
    "deactivate_contact",
    "deactivate_home",
    "delete_rule",
    "devices_at_home",
    "edit_contact",
    "edit_home",
    "edit_resident",
    "edit_rule",
    "get_home",
    "history",
    "key_safe_code",
    "list_gateways",
    "list_regions",
    "list_rules",
    "list_users",
    "reorder_contacts",
    "resident_cards",
    "resident_plan",
    "resident_record",
    "resident_summary",
    "rule_history",
    "search_residents",
    "set_limits",
    "set_status",
    "tag_counts",
    "vocabulary",
    "wearables_of",
]
