"""The alert state machine: a declarative rule table and the one way to change an alert.

Every action — opening one included — is checked against ``RULES``: the states it is allowed
from (``NEW``: no alert yet, the action creates one), the state it leads to, and who may take
it. Each change locks the alert, checks, changes, writes one audit row (who, when, from, to,
note) and one change-feed row (NOTIFY at commit), queues its notifications and bumps the
version, all in one transaction (the caller's, or its own). A refused action raises
(``NotFound``, ``Forbidden``, ``InvalidTransition``) and changes nothing.

Who may take an action is the rule's ``who``: the roles admitted and, for each, the priorities
it may act on (technicians: test and technical alerts only; auditors: nothing). Users act on
alerts within their regions (the caller's ``scope``).

``open_alert`` creates, ``transition`` changes; an action that writes more than the alert (a
dispatch row) runs ``locked`` → its own write → ``apply`` in one transaction (see
``server.alerts.service``, which every caller goes through).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import psycopg
from psycopg import pq, sql
from psycopg.types.json import Jsonb

from server.alerts import notify
from server.alerts.feed import record_change
from server.alerts.model import (
    ACTIVE,
    SYSTEM,
    Action,
    Actor,
    Alert,
    AlreadyClaimed,
    Forbidden,
    InvalidTransition,
    NewAlert,
    NotFound,
    Outcome,
    Priority,
    Role,
    State,
)
from server.scope import ALL, Scope

NEW: Final = None  # the "state" before an alert exists: the source of a creating rule


EVERY: Final = frozenset(Priority)
TECHNICAL: Final = frozenset({Priority.P3, Priority.TEST})
# Who may take an action: role -> the priorities it may act on.
Who = Mapping[Role, frozenset[Priority]]
SYSTEM_ONLY: Final[Who] = MappingProxyType({Role.SYSTEM: EVERY})
CALL_TAKERS: Final[Who] = MappingProxyType(
    {Role.OPERATOR: EVERY, Role.SUPERVISOR: EVERY, Role.ADMIN: EVERY})
HANDLERS: Final[Who] = MappingProxyType({**CALL_TAKERS, Role.TECHNICIAN: TECHNICAL})
HANDLERS_AND_SYSTEM: Final[Who] = MappingProxyType({**HANDLERS, **SYSTEM_ONLY})


@dataclass(frozen=True, slots=True)
class Rule:
    """Which states an action is allowed from, the state it leads to, and who may take it."""

    sources: tuple[State | None, ...]  # NEW (None): the action creates the alert
    target: State | None  # None: the state does not change
    who: Who  # the roles admitted, each with the priorities it may act on
    holder_only: bool = False  # only the claimer (or a supervisor) may


RULES: dict[Action, Rule] = {
    Action.OPEN: Rule((NEW,), State.OPEN, SYSTEM_ONLY),
    Action.PHONE_IN: Rule((NEW,), State.OPEN, CALL_TAKERS),
    Action.BUMP: Rule(ACTIVE, None, SYSTEM_ONLY),
    Action.CLAIM: Rule((State.OPEN,), State.CLAIMED, HANDLERS),
    Action.RELEASE: Rule((State.CLAIMED,), State.OPEN, HANDLERS, holder_only=True),
    Action.NOTE: Rule((*ACTIVE, State.RESOLVED, State.CANCELLED), None, HANDLERS_AND_SYSTEM),
    Action.CALL: Rule((State.CLAIMED, State.DISPATCHED), None, CALL_TAKERS, holder_only=True),
    Action.DISPATCH: Rule((State.CLAIMED, State.DISPATCHED), State.DISPATCHED, CALL_TAKERS,
                          holder_only=True),
    Action.DISPATCH_STATUS: Rule((State.DISPATCHED,), None, CALL_TAKERS, holder_only=True),
    Action.RESOLVE: Rule((State.CLAIMED, State.DISPATCHED), State.RESOLVED, HANDLERS,
                         holder_only=True),
    Action.CANCEL: Rule((State.OPEN,), State.CANCELLED, SYSTEM_ONLY),
    Action.AUTO_RESOLVE: Rule(ACTIVE, State.RESOLVED, SYSTEM_ONLY),
    Action.ESCALATE: Rule((State.OPEN,), None, SYSTEM_ONLY),
    Action.REMIND: Rule((State.CLAIMED, State.DISPATCHED), None, SYSTEM_ONLY),
    Action.REPRIORITISE: Rule(ACTIVE, None, SYSTEM_ONLY),
    Action.REVEAL_KEY_SAFE: Rule((*ACTIVE, State.RESOLVED, State.CANCELLED), None, CALL_TAKERS),
    Action.PROMPT_WEARER: Rule(ACTIVE, None, SYSTEM_ONLY),
    # not a resolution: the alert stays with the operators (lower), who call back and resolve
    Action.WEARER_CANCEL: Rule(ACTIVE, None, SYSTEM_ONLY),
}
SYSTEM_OUTCOME = {Action.CANCEL: Outcome.CANCELLED_BY_RESIDENT,
                  Action.AUTO_RESOLVE: Outcome.CLEARED, Action.RESOLVE: Outcome.GENUINE}
OPERATOR_OUTCOMES = frozenset(Outcome) - {Outcome.CLEARED, Outcome.CANCELLED_BY_RESIDENT}

_COLUMNS = sql.SQL(Alert.COLUMNS)
_INSERT = sql.SQL(
    "INSERT INTO alerts (type, priority, correlation, region_id, home_id, resident_id, "
    "gateway_id, device, title, details, event_count, first_event_at, last_event_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, now(), now()) "
    "ON CONFLICT (correlation) WHERE state IN ('open', 'claimed', 'dispatched') DO NOTHING "
    "RETURNING {}").format(_COLUMNS)


def load(conn: psycopg.Connection[Any], alert_id: int, *, lock: bool = False,
         scope: Scope = ALL) -> Alert:
    """The alert, if it exists within ``scope`` (else ``NotFound``: existence is not leaked);
    ``lock``: FOR UPDATE, until the transaction ends."""
    query = sql.SQL("SELECT {} FROM alerts a WHERE a.id = %s AND {}{}").format(
        _COLUMNS, scope.where("a.region_id", unplaced=True),
        sql.SQL(" FOR UPDATE" if lock else ""))
    row = conn.execute(query, (alert_id,)).fetchone()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return Alert.from_row(row)


def open_alert(conn: psycopg.Connection[Any], new: NewAlert, actor: Actor = SYSTEM, *,
               data: dict[str, Any] | None = None, action: Action = Action.OPEN,
               note: str = "") -> Alert | None:
    """Create an alert by a creating rule (OPEN by the system, PHONE_IN by an operator):
    insert, audit, notify. None when an alert for the same incident (``correlation``) is
    active: the caller attaches to that one (BUMP)."""
    with atomic(conn):
        check(conn, None, action, actor)
        row = conn.execute(_INSERT, (
            new.type.value, new.priority.value, new.correlation, new.region_id, new.home_id,
            new.resident_id, new.gateway_id, new.device, new.title, Jsonb(new.details),
        )).fetchone()
        if row is None:
            return None
        alert = Alert.from_row(row)
        # The audit trail has no "new" state: an opening reads open → open.
        audit(conn, alert.id, actor, action, State.OPEN, State.OPEN, note,
              data={**(data or {}), "priority": alert.priority.value})
        notify.enqueue(conn, alert.id, Action.OPEN)
        return alert


@contextmanager
def atomic(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """A transaction of its own, or else the caller's as it is, without a savepoint: opening is
    on the alarm path (the ingest's transaction), where a failure fails the caller's
    transaction anyway — which then stores neither the alarm nor its alert."""
    if conn.info.transaction_status == pq.TransactionStatus.IDLE:
        with conn.transaction():
            yield
    else:
        yield


def transition(conn: psycopg.Connection[Any], alert_id: int, action: Action, actor: Actor, *,
               scope: Scope = ALL, note: str = "", data: dict[str, Any] | None = None,
               outcome: Outcome | None = None, priority: Priority | None = None,
               details: dict[str, Any] | None = None) -> Alert:
    """Apply ``action`` to an alert (within ``scope``) as ``actor``; returns it afterwards."""
    with conn.transaction():
        alert = locked(conn, alert_id, action, actor, scope=scope, outcome=outcome)
        return apply(conn, alert, action, actor, note=note, data=data, outcome=outcome,
                     priority=priority, details=details)


def locked(conn: psycopg.Connection[Any], alert_id: int, action: Action, actor: Actor, *,
           scope: Scope = ALL, outcome: Outcome | None = None) -> Alert:
    """Lock the alert and check ``action`` on it (inside the caller's transaction)."""
    alert = load(conn, alert_id, lock=True, scope=scope)
    check(conn, alert, action, actor, outcome)
    return alert


def check(conn: psycopg.Connection[Any], alert: Alert | None, action: Action, actor: Actor,
          outcome: Outcome | None = None) -> None:
    """Raise unless ``actor`` may take ``action`` on ``alert`` (None: no alert yet)."""
    rule = RULES[action]
    priorities = rule.who.get(actor.role)
    if priorities is None:
        raise Forbidden(_not_for(action, actor.role, rule))
    if alert is not None and alert.priority not in priorities:
        allowed = " and ".join(p.value for p in Priority if p in priorities)
        raise Forbidden(f"{_a(actor.role)} may {action.value} only {allowed} alerts "
                        f"(alert {alert.id} is {alert.priority.value})")
    state = alert.state if alert is not None else NEW
    if alert is not None and action == Action.CLAIM and alert.claimed_by \
            and alert.state in ACTIVE:
        raise AlreadyClaimed(alert.id, holder_name(conn, alert.claimed_by))
    if state not in rule.sources:
        allowed = ", ".join("new" if s is NEW else s.value for s in rule.sources)
        what = f"alert {alert.id}: it is {alert.state.value}" if alert else "a new alert"
        raise InvalidTransition(f"cannot {action.value} {what} (allowed from: {allowed})")
    if alert is None:
        return  # creating: nobody holds it yet
    if rule.holder_only and not actor.oversees and alert.claimed_by != actor.id:
        holder = holder_name(conn, alert.claimed_by) if alert.claimed_by else "nobody"
        raise Forbidden(f"alert {alert.id} is claimed by {holder}; only they or a supervisor "
                        f"may {action.value} it")
    if action == Action.RESOLVE and (outcome is None or outcome not in OPERATOR_OUTCOMES):
        raise InvalidTransition("resolve needs an outcome: " + ", ".join(sorted(OPERATOR_OUTCOMES)))


def _not_for(action: Action, role: Role, rule: Rule) -> str:
    if set(rule.who) == {Role.SYSTEM}:
        return f"{action.value} is done by the system, not by users"
    roles = ", ".join(r.value for r in Role if r in rule.who and r != Role.SYSTEM)
    return f"{_a(role)} may not {action.value} alerts (who may: {roles})"


def _a(role: Role) -> str:
    return f"{'an' if role.value[0] in 'aeiou' else 'a'} {role.value}"


def permitted(role: Role, priority: Priority) -> list[Action]:
    """The actions ``role`` may take on an existing alert of ``priority`` (states aside; not
    the rules that create one): what the console offers."""
    return [a for a, rule in RULES.items() if priority in rule.who.get(role, ())
            and role != Role.SYSTEM and rule.sources != (NEW,)]


def apply(conn: psycopg.Connection[Any], alert: Alert, action: Action, actor: Actor, *,
          note: str = "", data: dict[str, Any] | None = None, outcome: Outcome | None = None,
          priority: Priority | None = None, details: dict[str, Any] | None = None) -> Alert:
    """Change a locked, checked alert: update, audit, notify; returns it afterwards.
    ``details``: top-level keys merged into the alert's details (the system's actions only)."""
    target = RULES[action].target or alert.state
    sets, args = _changes(action, actor, target, outcome, priority)
    if details and actor.is_system:
        sets.append(sql.SQL("details = details || %s"))
        args.append(Jsonb(details))
    row = conn.execute(
        sql.SQL("UPDATE alerts SET {}, version = version + 1 WHERE id = %s RETURNING {}")
        .format(sql.SQL(", ").join(sets), _COLUMNS), (*args, alert.id)).fetchone()
    assert row is not None  # locked
    audit(conn, alert.id, actor, action, alert.state, target, note,
          {**(data or {}), **({"outcome": outcome.value} if outcome else {}),
           **({"priority": priority.value} if priority else {})})
    notify.enqueue(conn, alert.id, action)
    return Alert.from_row(row)


def _changes(action: Action, actor: Actor, target: State, outcome: Outcome | None,
             priority: Priority | None) -> tuple[list[sql.Composable], list[Any]]:
    sets: list[sql.Composable] = [sql.SQL("state = %s")]
    args: list[Any] = [target.value]
    if action == Action.CLAIM:
        sets += [sql.SQL("claimed_by = %s"), sql.SQL("claimed_at = now()"),
                 sql.SQL("answered_at = coalesce(answered_at, now())")]
        args.append(actor.id)
    elif action == Action.RELEASE:
        sets += [sql.SQL("claimed_by = NULL"), sql.SQL("claimed_at = NULL")]
    elif action in (Action.RESOLVE, Action.CANCEL, Action.AUTO_RESOLVE):
        sets += [sql.SQL("closed_at = now()"), sql.SQL("outcome = %s")]
        args.append((outcome or SYSTEM_OUTCOME[action]).value)
    elif action == Action.ESCALATE:
        sets += [sql.SQL("escalated = true"), sql.SQL("escalated_at = now()")]
    elif action == Action.REMIND:
        sets += [sql.SQL("reminded_at = now()")]
    elif action == Action.BUMP:
        sets += [sql.SQL("event_count = event_count + 1"), sql.SQL("last_event_at = now()")]
    elif action in (Action.REPRIORITISE, Action.WEARER_CANCEL) and priority is not None:
        sets += [sql.SQL("priority = %s")]
        args.append(priority.value)
    return sets, args


def audit(conn: psycopg.Connection[Any], alert_id: int, actor: Actor, action: Action,
          from_state: State, to_state: State, note: str = "",
          data: dict[str, Any] | None = None) -> None:
    """One audit row and one change-feed entry (NOTIFY at commit)."""
    conn.execute("INSERT INTO alert_audit (alert_id, actor_id, actor, action, from_state, "
                 "to_state, note, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                 (alert_id, actor.id, actor.name, action.value, from_state.value, to_state.value,
                  note, Jsonb(data or {})))
    record_change(conn, alert_id, action.value)


def holder_name(conn: psycopg.Connection[Any], user_id: int | None) -> str:
    row = conn.execute("SELECT display_name FROM users WHERE id = %s", (user_id,)).fetchone()
    return str(row[0]) if row else f"user {user_id}"
