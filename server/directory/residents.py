"""Residents: the elders a home's devices watch over — who they are, their care categories,
their status (away until …, in hospital, moved, deceased), their own vital-sign limits and
inactivity windows.

Reads of health details (conditions, medication, allergies) are in
``server.directory.sensitive``; here: the writes, each confined to the actor's regions, one
transaction, audited field by field, the search terms refreshed. Residents are never deleted
here: one who moved or died gets that status (and is no longer watched); erasing a resident is
the privacy service's admin action.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import Field, field_validator, model_validator

from analytics.inactivity import RuleSettings
from analytics.vitals import VitalLimits
from server.alerts.model import SYSTEM, Actor
from server.api.types import Id, Instant, Text
from server.directory import audit
from server.directory.care_tags import CareTag
from server.directory.homes import Home, get_home, locked_home
from server.directory.records import Input, insert, one, update, writing
from server.directory.search import refresh_terms
from server.scope import ALL, Scope

if TYPE_CHECKING:
    from server.directory.contacts import Contact

Status = Literal["active", "away", "in_hospital", "moved", "deceased"]
STATUSES: tuple[Status, ...] = ("active", "away", "in_hospital", "moved", "deceased")
AWAY: tuple[Status, ...] = ("away", "in_hospital")  # inactivity alarms paused
GONE: tuple[Status, ...] = ("moved", "deceased")  # no longer watched

Item = Annotated[Text, Field(max_length=200)]
Items = Annotated[list[Item], Field(max_length=100)]
Language = Annotated[Text, Field(max_length=40)]
PhotoUrl = Annotated[str, Field(max_length=500, pattern=r"^(https?://|/)[^\s\"'<>]*$")]


class ResidentIn(Input):
    home_id: Id
    name: Text = Field(min_length=1, max_length=80)
    sex: str | None = Field(default=None, pattern="^(F|M)$")
    birth_date: date | None = None
    phone: Text | None = Field(default=None, max_length=40)
    care_tags: list[CareTag] = Field(default_factory=list, max_length=20)
    conditions: Items = Field(default_factory=list)
    medications: Items = Field(default_factory=list)
    allergies: Items = Field(default_factory=list)
    languages: list[Language] = Field(default_factory=list, max_length=20)  # and dialects
    photo_url: PhotoUrl | None = None


class ResidentEdit(Input):
    """The fields to change (absent: unchanged); ``home_id``: moves to another home."""

    home_id: Id | None = None
    name: Text | None = Field(default=None, min_length=1, max_length=80)
    sex: str | None = Field(default=None, pattern="^(F|M)$")
    birth_date: date | None = None
    phone: Text | None = Field(default=None, max_length=40)
    care_tags: list[CareTag] | None = Field(default=None, max_length=20)
    conditions: Items | None = None
    medications: Items | None = None
    allergies: Items | None = None
    languages: list[Language] | None = Field(default=None, max_length=20)
    photo_url: PhotoUrl | None = None

    @field_validator("home_id", "name", "care_tags", "conditions", "medications", "allergies",
                     "languages")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, not set to null")
        return value


class StatusIn(Input):
    """A status from ``since`` (default now); ``until`` ends an away period (needed for
    ``away``, optional for ``in_hospital``, none for the others)."""

    status: Status
    since: Instant | None = None
    until: Instant | None = None
    note: Text = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _period(self) -> StatusIn:
        if self.status == "away" and self.until is None:
            raise ValueError("away needs an end (until)")
        if self.status not in AWAY and self.until is not None:
            raise ValueError(f"{self.status} has no end (leave until out)")
        start = self.since or datetime.now(UTC)
        if self.until is not None and _aware(self.until) <= _aware(start):
            raise ValueError("until must be after since (and after now)")
        return self


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


class VitalLimitsIn(Input):
    """Per-resident vital-sign limits; absent: the default (``analytics.vitals.VitalLimits``)."""

    hr_low: float | None = Field(default=None, ge=20, le=100)
    hr_high: float | None = Field(default=None, ge=60, le=250)
    spo2_low: float | None = Field(default=None, ge=70, le=99)
    hr_hysteresis: float | None = Field(default=None, ge=0, le=30)
    spo2_hysteresis: float | None = Field(default=None, ge=0, le=10)
    min_duration_s: float | None = Field(default=None, ge=10, le=3600)
    clear_duration_s: float | None = Field(default=None, ge=10, le=3600)
    max_gap_s: float | None = Field(default=None, ge=10, le=3600)

    @model_validator(mode="after")
    def _ordered(self) -> VitalLimitsIn:
        limits = VitalLimits().override(**self.overrides())
        if limits.hr_low >= limits.hr_high:
            raise ValueError(f"hr_low ({limits.hr_low:g}) must be below hr_high "
                             f"({limits.hr_high:g})")
        return self

    def overrides(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


Hour = Annotated[float, Field(ge=0, le=24)]


class InactivityIn(Input):
    """Per-resident inactivity windows (hours of the day, local time); absent: the default
    (``analytics.inactivity.RuleSettings``)."""

    continuous_h: float | None = Field(default=None, ge=1, le=24)
    morning_start_h: Hour | None = None
    morning_end_h: Hour | None = None
    day_gap_h: float | None = Field(default=None, ge=1, le=16)
    day_start_h: Hour | None = None
    day_end_h: Hour | None = None
    sleep_start_h: Hour | None = None
    sleep_end_h: Hour | None = None
    prewarn_min: int | None = Field(default=None, ge=0, le=120)

    def overrides(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class LimitsIn(Input):
    """A resident's own limits, replacing the ones set before (empty: the defaults)."""

    vital: VitalLimitsIn = Field(default_factory=VitalLimitsIn)
    inactivity: InactivityIn = Field(default_factory=InactivityIn)


@dataclass(frozen=True, slots=True)
class Defaults:
    """What applies where a resident has no limit of their own."""

    vital: dict[str, float]
    inactivity: dict[str, float]


def defaults() -> Defaults:
    return Defaults({f.name: getattr(VitalLimits(), f.name) for f in fields(VitalLimits)},
                    {f.name: getattr(RuleSettings(), f.name) for f in fields(RuleSettings)})


@dataclass(frozen=True, slots=True)
class ResidentCard:
    """What an operator reads about a resident of an alert's home (health details included:
    read only through ``server.directory.sensitive``). ``status`` is as of now: an away
    period that ended reads ``active``."""

    id: int
    name: str
    sex: str | None
    birth_date: date | None
    phone: str | None
    care_tags: list[str]
    conditions: list[str]
    medications: list[str]
    allergies: list[str]
    languages: list[str]
    photo_url: str | None
    status: str
    status_since: datetime
    status_note: str
    away_until: datetime | None


CARD_COLUMNS = (
    "r.id, r.name, r.sex, r.birth_date, r.phone, r.care_tags, r.conditions, r.medications, "
    "r.allergies, r.languages, r.photo_url, CASE WHEN r.status IN ('away', 'in_hospital') AND "
    "r.away_until <= now() THEN 'active' ELSE r.status END AS status, r.status_since, "
    "r.status_note, r.away_until")


@dataclass(frozen=True, slots=True)
class Resident(ResidentCard):
    """A resident in full: their row, their home, their contacts, their own limits."""

    home_id: int
    created_at: datetime
    updated_at: datetime
    vital_limits: dict[str, Any]
    inactivity_rules: dict[str, Any]
    address: str
    region_id: int
    home: Home
    contacts: list[Contact]


@dataclass(frozen=True, slots=True)
class ResidentSummary:
    """A resident without health details or contacts: what an installer needs."""

    id: int
    name: str
    sex: str | None
    phone: str | None
    status: str
    away_until: datetime | None
    home: Home


def locked_resident(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
                    field: str | None = None) -> dict[str, Any]:
    """Lock a resident in ``scope`` (their row and home id) for a write; NotFound (naming
    ``field``) otherwise."""
    return one(conn, sql.SQL(
        "SELECT r.*, h.region_id FROM residents r JOIN homes h ON h.id = r.home_id "
        "WHERE r.id = %s AND {} FOR UPDATE OF r").format(scope.where("h.region_id")),
        (resident_id,), f"no resident {resident_id}", field)


def resident_summary(conn: psycopg.Connection[Any], scope: Scope,
                     resident_id: int) -> ResidentSummary:
    """The resident without health details or contacts (for installers); NotFound outside
    ``scope``."""
    row = one(conn, sql.SQL(
        "SELECT r.id, r.name, r.sex, r.phone, CASE WHEN r.status IN ('away', 'in_hospital') "
        "AND r.away_until <= now() THEN 'active' ELSE r.status END AS status, r.away_until, "
        "r.home_id FROM residents r JOIN homes h ON h.id = r.home_id WHERE r.id = %s AND {}"
    ).format(scope.where("h.region_id")), (resident_id,), f"no resident {resident_id}")
    return ResidentSummary(**{k: v for k, v in row.items() if k != "home_id"},
                           home=get_home(conn, ALL, row["home_id"]))


def add_resident(conn: psycopg.Connection[Any], r: ResidentIn, *, actor: Actor = SYSTEM,
                 scope: Scope = ALL) -> int:
    """Add a resident to a home in the actor's regions."""
    data = r.model_dump()
    with writing(conn):
        locked_home(conn, scope, r.home_id, "home_id")
        resident_id = int(insert(conn, "residents", data))
        audit.record(conn, actor, "resident", resident_id, "create", audit.diff({}, data),
                     home_id=r.home_id, residents=[resident_id])
        refresh_terms(conn, [resident_id])
        return resident_id


def edit_resident(conn: psycopg.Connection[Any], resident_id: int, edit: ResidentEdit, *,
                  actor: Actor = SYSTEM, scope: Scope = ALL) -> None:
    """Change a resident's fields; a move to another home needs that home in scope too."""
    wanted = edit.model_dump(exclude_unset=True)
    with writing(conn):
        before = locked_resident(conn, scope, resident_id)
        if "home_id" in wanted and wanted["home_id"] != before["home_id"]:
            locked_home(conn, scope, wanted["home_id"], "home_id")
        changes = audit.diff(before, wanted)
        if not changes:
            return
        update(conn, "residents", resident_id, {k: wanted[k] for k in changes})
        audit.record(conn, actor, "resident", resident_id, "update", changes,
                     home_id=wanted.get("home_id", before["home_id"]), residents=[resident_id])
        if {"name", "phone"} & changes.keys():
            refresh_terms(conn, [resident_id])


def set_status(conn: psycopg.Connection[Any], resident_id: int, s: StatusIn, *,
               actor: Actor = SYSTEM, scope: Scope = ALL) -> None:
    """Record a resident's status: away until …, in hospital, back (active), moved, deceased
    (the last two end their watch: this is how a resident is deactivated)."""
    wanted = {"status": s.status, "status_since": s.since or datetime.now(UTC),
              "away_until": s.until, "status_note": s.note}
    with writing(conn):
        before = locked_resident(conn, scope, resident_id)
        changes = audit.diff(before, wanted)
        update(conn, "residents", resident_id, wanted)
        audit.record(conn, actor, "resident", resident_id, "status", changes,
                     home_id=before["home_id"], residents=[resident_id], note=s.note)


def set_limits(conn: psycopg.Connection[Any], resident_id: int, limits: LimitsIn, *,
               actor: Actor = SYSTEM, scope: Scope = ALL) -> None:
    """Replace a resident's own vital-sign limits and inactivity windows."""
    wanted = {"vital_limits": limits.vital.overrides(),
              "inactivity_rules": limits.inactivity.overrides()}
    with writing(conn):
        before = locked_resident(conn, scope, resident_id)
        changes = audit.diff(before, wanted)
        if not changes:
            return
        update(conn, "residents", resident_id, {k: Jsonb(wanted[k]) for k in changes})
        audit.record(conn, actor, "resident", resident_id, "limits", changes,
                     home_id=before["home_id"], residents=[resident_id])
