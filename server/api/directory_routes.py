"""Residents, homes, contacts, regions, gateways, devices and users, over the directory service.

Homes, residents and contacts: supervisors and admins edit them (within their regions: a row
outside them is 404, as if it did not exist), operators read them in full, technicians read
what an installation needs (names, addresses, access notes, devices; no health details,
contacts or history). Every edit is audited and shows in the resident's history. Users:
``users_routes``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from server import directory
from server.alerts import queries
from server.alerts.model import Role
from server.api.deps import CurrentUser, Db, require
from server.api.errors import RESPONSES
from server.api.types import Id, Text
from server.auth.users import User
from server.directory.sensitive import Access
from server.scope import Scope

router = APIRouter(prefix="/api", tags=["directory"], responses=RESPONSES)
Manager = Annotated[User, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[User, Depends(require())]
Installer = Annotated[User, Depends(require(Role.TECHNICIAN, Role.SUPERVISOR))]
# who reads the history of the care rules: those who answer for the service, and auditors
Overseer = Annotated[User, Depends(require(Role.SUPERVISOR, Role.AUDITOR))]
# who reads a resident's alerts and the history of their record: the call centre, and auditors
Staff = Annotated[User, Depends(require(Role.OPERATOR, Role.SUPERVISOR, Role.AUDITOR))]


class Deactivate(BaseModel):
    note: Text = Field(default="", max_length=200)


@router.get("/regions")
def regions(_user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    return [asdict(r) for r in directory.list_regions(conn)]


@router.post("/regions", status_code=201)
def add_region(body: directory.RegionIn, _user: Admin, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_region(conn, body)}


@router.get("/directory/vocabulary")
def vocabulary(_user: CurrentUser) -> dict[str, Any]:
    """Care tags, resident statuses, and the default limits a resident's own replace."""
    return asdict(directory.vocabulary())


@router.get("/residents")
def residents(user: CurrentUser, conn: Db,
              q: Annotated[Text, Query(max_length=100)] = "",
              include_inactive: bool = False,
              tag: Annotated[list[directory.CareTag] | None, Query(max_length=4)] = None,
              ) -> list[dict[str, Any]]:
    """Search by name (characters, pinyin, initials: ``wxy`` finds 王秀英), phone (a
    resident's or a contact's; the last four digits do), address or device id; ``tag``
    (repeatable): only residents with every one of these care tags."""
    return [asdict(r) for r in directory.search_residents(
        conn, Scope.of(user), q, include_inactive=include_inactive, tags=tag or ())]


@router.get("/directory/tag-counts")
def tag_counts(user: CurrentUser, conn: Db, include_inactive: bool = False) -> dict[str, Any]:
    """How many residents (in the caller's regions) carry each care tag, and in all."""
    counts = directory.tag_counts(conn, Scope.of(user), include_inactive=include_inactive)
    return {"total": counts.pop("", 0), "tags": counts}


@router.get("/residents/{resident_id}/care-plan")
def care_plan(resident_id: Id, user: Staff, conn: Db) -> dict[str, Any]:
    """How often the resident is visited and called, and whether their P2 alarms are raised
    to P1, as the care rules make it of their tags (not for technicians: tags such as 失智
    are health details)."""
    return asdict(directory.resident_plan(conn, Scope.of(user), resident_id))


@router.get("/care-rules")
def care_rules(_user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    """The rule table: what care tags mean for visits, care calls and alarm priority."""
    return [asdict(r) for r in directory.list_rules(conn)]


@router.get("/care-rules/history")
def care_rules_history(_user: Overseer, conn: Db) -> list[dict[str, Any]]:
    """Every change of the rule table (who, when, before → after), newest first."""
    return [asdict(e) for e in directory.rule_history(conn)]


@router.post("/care-rules", status_code=201)
def add_care_rule(body: directory.CareRuleIn, user: Admin, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_rule(conn, body, actor=user.actor)}


@router.put("/care-rules/{rule_id}", status_code=204)
def edit_care_rule(rule_id: Id, body: directory.CareRuleIn, user: Admin, conn: Db) -> None:
    directory.edit_rule(conn, rule_id, body, actor=user.actor)


@router.delete("/care-rules/{rule_id}", status_code=204)
def delete_care_rule(rule_id: Id, user: Admin, conn: Db) -> None:
    directory.delete_rule(conn, rule_id, actor=user.actor)


@router.get("/residents/{resident_id}")
def resident(resident_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    """A resident in full (technicians: without health details and contacts)."""
    scope = Scope.of(user)
    if user.role == Role.TECHNICIAN:
        return asdict(directory.resident_summary(conn, scope, resident_id))
    return asdict(directory.resident_record(conn, scope, resident_id,
                                            Access(user.actor, "resident_page")))


@router.get("/residents/{resident_id}/devices")
def resident_devices(resident_id: Id, user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    """The devices at the resident's home, theirs first."""
    found = directory.resident_summary(conn, Scope.of(user), resident_id)
    return [asdict(d) for d in directory.devices_at_home(conn, found.home.id)]


@router.get("/residents/{resident_id}/alerts")
def resident_alerts(resident_id: Id, user: Staff, conn: Db) -> dict[str, Any]:
    """The resident's open and past alerts, and the calls and notes made on them."""
    scope = Scope.of(user)
    directory.resident_summary(conn, scope, resident_id)  # 404 outside the scope
    return {"alerts": queries.of_resident(conn, scope, resident_id),
            "calls": queries.calls_and_notes(conn, scope, resident_id)}


@router.get("/residents/{resident_id}/history")
def resident_history(resident_id: Id, user: Staff, conn: Db) -> list[dict[str, Any]]:
    """Every change of the resident, their home and their contacts: who, when, field by
    field before → after; newest first."""
    directory.resident_summary(conn, Scope.of(user), resident_id)  # 404 outside the scope
    return [asdict(e) for e in directory.history(conn, resident_id)]


@router.post("/residents", status_code=201)
def add_resident(body: directory.ResidentIn, user: Manager, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_resident(conn, body, actor=user.actor, scope=Scope.of(user))}


@router.patch("/residents/{resident_id}")
def edit_resident(resident_id: Id, body: directory.ResidentEdit, user: Manager,
                  conn: Db) -> dict[str, Any]:
    directory.edit_resident(conn, resident_id, body, actor=user.actor, scope=Scope.of(user))
    return {"id": resident_id}


@router.put("/residents/{resident_id}/status")
def resident_status(resident_id: Id, body: directory.StatusIn, user: Manager,
                    conn: Db) -> dict[str, Any]:
    """Away until …, in hospital (both pause inactivity alarms), back, moved, deceased (no
    longer watched; the resident is kept)."""
    directory.set_status(conn, resident_id, body, actor=user.actor, scope=Scope.of(user))
    return {"id": resident_id}


@router.put("/residents/{resident_id}/limits")
def resident_limits(resident_id: Id, body: directory.LimitsIn, user: Manager,
                    conn: Db) -> dict[str, Any]:
    """The resident's own vital-sign limits and inactivity windows (absent: the defaults)."""
    directory.set_limits(conn, resident_id, body, actor=user.actor, scope=Scope.of(user))
    return {"id": resident_id}


@router.put("/residents/{resident_id}/contacts/order")
def contact_order(resident_id: Id, body: directory.Reorder, user: Manager,
                  conn: Db) -> dict[str, Any]:
    """The resident's active contacts in their new call order."""
    directory.reorder_contacts(conn, resident_id, body, actor=user.actor, scope=Scope.of(user))
    return {"id": resident_id}


@router.get("/homes/{home_id}")
def home(home_id: Id, user: CurrentUser, conn: Db) -> dict[str, Any]:
    return asdict(directory.get_home(conn, Scope.of(user), home_id))


@router.post("/homes", status_code=201)
def add_home(body: directory.HomeIn, user: Manager, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_home(conn, body, actor=user.actor, scope=Scope.of(user))}


@router.patch("/homes/{home_id}")
def edit_home(home_id: Id, body: directory.HomeEdit, user: Manager,
              conn: Db) -> dict[str, Any]:
    """Change a home (``key_safe_code``: set a new code, or null to clear it; it is never
    read back here)."""
    return asdict(directory.edit_home(conn, home_id, body, actor=user.actor,
                                      scope=Scope.of(user)))


@router.post("/homes/{home_id}/deactivate")
def deactivate_home(home_id: Id, body: Deactivate, user: Manager,
                    conn: Db) -> dict[str, Any]:
    """The home is no longer served (409 while someone who has not moved lives there)."""
    return asdict(directory.deactivate_home(conn, home_id, body.note, actor=user.actor,
                                            scope=Scope.of(user)))


@router.post("/contacts", status_code=201)
def add_contact(body: directory.ContactIn, user: Manager, conn: Db) -> dict[str, Any]:
    """Add a contact to a resident's call list (last, or at ``call_order``)."""
    return {"id": directory.add_contact(conn, body, actor=user.actor, scope=Scope.of(user))}


@router.patch("/contacts/{contact_id}")
def edit_contact(contact_id: Id, body: directory.ContactEdit, user: Manager,
                 conn: Db) -> dict[str, Any]:
    directory.edit_contact(conn, contact_id, body, actor=user.actor, scope=Scope.of(user))
    return {"id": contact_id}


@router.post("/contacts/{contact_id}/deactivate")
def deactivate_contact(contact_id: Id, body: Deactivate, user: Manager,
                       conn: Db) -> dict[str, Any]:
    """Take the contact off the call list (kept for the history)."""
    directory.deactivate_contact(conn, contact_id, body.note, actor=user.actor,
                                 scope=Scope.of(user))
    return {"id": contact_id}


@router.post("/gateways", status_code=201)
def add_gateway(body: directory.GatewayIn, _user: Installer, conn: Db) -> dict[str, Any]:
    return {"id": directory.add_gateway(conn, body)}


@router.post("/devices", status_code=201)
def add_device(body: directory.DeviceIn, _user: Installer, conn: Db) -> dict[str, Any]:
    """Pair a device; its ``model`` must be one of the catalogue (404 otherwise)."""
    return {"id": directory.add_device(conn, body)}


@router.get("/gateways")
def gateways(user: CurrentUser, conn: Db) -> list[dict[str, Any]]:
    return [asdict(g) for g in directory.list_gateways(conn, Scope.of(user))]
