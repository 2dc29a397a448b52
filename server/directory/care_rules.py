"""The care rules: what a resident's care tags mean for visits (探访), care calls (主动关爱)
and alarm priority, as a table admins edit (``care_rules``, seeded by migration 0018).

A rule applies to a resident who carries every one of its tags (高龄 also counts from a birth
date 80 or more years ago, as the registry may lag behind a birthday). A resident's **plan**
takes, over the rules that apply, the shortest visit interval, the shortest call interval, and
raises P2 alarms to P1 if any rule says so. Every change of a rule is in the directory's audit
trail (entity ``care_rule``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from pydantic import Field, field_validator

from server.alerts.model import SYSTEM, Actor
from server.directory import audit
from server.directory.care_tags import CareTag
from server.directory.records import Input, fetch, insert, one, update, writing
from server.errors import Conflict
from server.scope import Scope

AGED_YEARS = 80
_COLUMNS = "id, tags, visit_every_days, call_every_days, raise_priority, note, updated_at"


@dataclass(frozen=True, slots=True)
class CareRule:
    id: int
    tags: list[str]
    visit_every_days: int | None
    call_every_days: int | None
    raise_priority: bool
    note: str
    updated_at: datetime

    def applies(self, tags: frozenset[str]) -> bool:
        return set(self.tags) <= tags


class CareRuleIn(Input):
    """A rule as an admin writes it (a whole rule: a PUT replaces it)."""

    tags: list[CareTag] = Field(min_length=1, max_length=4)
    visit_every_days: int | None = Field(default=None, ge=1, le=366)
    call_every_days: int | None = Field(default=None, ge=1, le=366)
    raise_priority: bool = False
    note: str = Field(default="", max_length=200)

    @field_validator("tags")
    @classmethod
    def _distinct(cls, tags: list[CareTag]) -> list[CareTag]:
        """Each tag once, in the vocabulary's order (so one set of tags is one rule)."""
        order = list(CareTag)
        return sorted(set(tags), key=order.index)

    def row(self) -> dict[str, Any]:
        data = self.model_dump()
        data["tags"] = [t.value for t in self.tags]
        return data


@dataclass(frozen=True, slots=True)
class CarePlan:
    """What the rules make of one resident's tags."""

    tags: list[str]  # the tags the rules saw (with 高龄 from the birth date)
    visit_every_days: int | None
    call_every_days: int | None
    raise_priority: bool
    rules: list[int] = field(default_factory=list)  # the ids of the rules that apply


def effective_tags(tags: Iterable[str], birth_date: date | None,
                   today: date | None = None) -> frozenset[str]:
    """The resident's tags, with 高龄 added when the birth date says 80 or more."""
    out = set(tags)
    if birth_date is not None and _years(birth_date, today or date.today()) >= AGED_YEARS:
        out.add(CareTag.AGED.value)
    return frozenset(out)


def _years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def plan_for(tags: Iterable[str], birth_date: date | None, rules: Sequence[CareRule],
             today: date | None = None) -> CarePlan:
    """The plan the rules give a resident with these tags and birth date."""
    seen = effective_tags(tags, birth_date, today)
    applying = [r for r in rules if r.applies(seen)]
    visits = [r.visit_every_days for r in applying if r.visit_every_days is not None]
    calls = [r.call_every_days for r in applying if r.call_every_days is not None]
    order = [t.value for t in CareTag]
    return CarePlan(sorted(seen, key=lambda t: order.index(t) if t in order else len(order)),
                    min(visits, default=None), min(calls, default=None),
                    any(r.raise_priority for r in applying), [r.id for r in applying])


def list_rules(conn: psycopg.Connection[Any]) -> list[CareRule]:
    """Every rule, in id order."""
    return fetch(conn, CareRule, sql.SQL(f"SELECT {_COLUMNS} FROM care_rules ORDER BY id"))


def _locked(conn: psycopg.Connection[Any], rule_id: int) -> dict[str, Any]:
    return one(conn, sql.SQL("SELECT {} FROM care_rules WHERE id = %s FOR UPDATE").format(
        sql.SQL(_COLUMNS)), (rule_id,), f"no care rule {rule_id}")


_TAKEN = "a rule for this set of tags exists already: edit that one"


def add_rule(conn: psycopg.Connection[Any], body: CareRuleIn, *,
             actor: Actor = SYSTEM) -> int:
    """A new rule (Conflict: the same set of tags has one)."""
    data = body.row()
    try:
        with writing(conn):
            rule_id = int(insert(conn, "care_rules", data))
            audit.record(conn, actor, "care_rule", rule_id, "create",
                         audit.diff({}, data), home_id=None, residents=())
    except psycopg.errors.UniqueViolation:
        raise Conflict(_TAKEN, field="tags") from None
    return rule_id


def edit_rule(conn: psycopg.Connection[Any], rule_id: int, body: CareRuleIn, *,
              actor: Actor = SYSTEM) -> None:
    """Replace a rule (NotFound: no such rule; Conflict: its new tags have a rule)."""
    wanted = body.row()
    try:
        with writing(conn):
            before = _locked(conn, rule_id)
            changes = audit.diff(before, wanted)
            if not changes:
                return
            update(conn, "care_rules", rule_id, {k: wanted[k] for k in changes})
            audit.record(conn, actor, "care_rule", rule_id, "update",
                         {"tags": [before["tags"], wanted["tags"]], **changes},
                         home_id=None, residents=())
    except psycopg.errors.UniqueViolation:
        raise Conflict(_TAKEN, field="tags") from None


def delete_rule(conn: psycopg.Connection[Any], rule_id: int, *, actor: Actor = SYSTEM) -> None:
    """Remove a rule (the audit trail keeps what it was)."""
    with writing(conn):
        before = _locked(conn, rule_id)
        conn.execute("DELETE FROM care_rules WHERE id = %s", (rule_id,))
        kept = {k: v for k, v in before.items() if k not in ("id", "updated_at")}
        audit.record(conn, actor, "care_rule", rule_id, "delete", audit.diff(kept, {
            k: None for k in kept}), home_id=None, residents=())


def rule_history(conn: psycopg.Connection[Any]) -> list[audit.AuditEntry]:
    """Every change of the rules, newest first."""
    return fetch(conn, audit.AuditEntry, sql.SQL(
        "SELECT id, ts, actor, entity, entity_id, action, changes, note FROM directory_audit "
        "WHERE entity = 'care_rule' ORDER BY id DESC LIMIT %s"), (audit.HISTORY_LIMIT,))


def resident_plan(conn: psycopg.Connection[Any], scope: Scope, resident_id: int,
                  today: date | None = None) -> CarePlan:
    """A resident's plan under today's rules; NotFound outside ``scope``."""
    row = one(conn, sql.SQL(
        "SELECT r.care_tags, r.birth_date FROM residents r JOIN homes h ON h.id = r.home_id "
        "WHERE r.id = %s AND {}").format(scope.where("h.region_id")), (resident_id,),
        f"no resident {resident_id}")
    return plan_for(row["care_tags"], row["birth_date"], list_rules(conn), today)
