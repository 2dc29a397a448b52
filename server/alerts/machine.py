"""The alert state machine: one transition function, used by the API, the console and the engine.

Every call writes one audit row (who, when, from, to, note), one change-feed row (and NOTIFY), and
bumps the alert's version, in the caller's transaction or its own. Invalid transitions raise
``InvalidTransition`` and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from server.alerts import notify
from server.alerts.feed import record_change
from server.alerts.model import (
    ACTIVE,
    Action,
    Actor,
    Alert,
    AlreadyClaimed,
    Forbidden,
    InvalidTransition,
    NotFound,
    Outcome,
    Priority,
    Role,
    State,
)


@dataclass(frozen=True, slots=True)
class Rule:
    """Which states an action is allowed from, the state it leads to, and who may take it."""

    sources: tuple[State, ...]
    target: State | None = None  # None: the state does not change
    system_only: bool = False
    holder_only: bool = False  # only the claimer (or a supervisor) may


RULES: dict[Action, Rule] = {
    Action.BUMP: Rule(ACTIVE, system_only=True),
    Action.CLAIM: Rule((State.OPEN,), State.CLAIMED),
    Action.RELEASE: Rule((State.CLAIMED,), State.OPEN, holder_only=True),
    Action.NOTE: Rule((*ACTIVE, State.RESOLVED, State.CANCELLED)),
    Action.CALL: Rule((State.CLAIMED, State.DISPATCHED), holder_only=True),
    Action.DISPATCH: Rule((State.CLAIMED, State.DISPATCHED), State.DISPATCHED, holder_only=True),
    Action.DISPATCH_STATUS: Rule((State.DISPATCHED,), holder_only=True),
    Action.RESOLVE: Rule((State.CLAIMED, State.DISPATCHED), State.RESOLVED, holder_only=True),
    Action.CANCEL: Rule((State.OPEN,), State.CANCELLED, system_only=True),
    Action.AUTO_RESOLVE: Rule(ACTIVE, State.RESOLVED, system_only=True),
    Action.ESCALATE: Rule((State.OPEN,), system_only=True),
    Action.REMIND: Rule((State.CLAIMED, State.DISPATCHED), system_only=True),
    Action.REPRIORITISE: Rule(ACTIVE, system_only=True),
    Action.REVEAL_KEY_SAFE: Rule((*ACTIVE, State.RESOLVED, State.CANCELLED)),
}
SYSTEM_OUTCOME = {Action.CANCEL: Outcome.CANCELLED_BY_RESIDENT,
                  Action.AUTO_RESOLVE: Outcome.CLEARED, Action.RESOLVE: Outcome.GENUINE}
OPERATOR_OUTCOMES = frozenset(Outcome) - {Outcome.CLEARED, Outcome.CANCELLED_BY_RESIDENT}


def load(conn: psycopg.Connection[Any], alert_id: int, *, lock: bool = False) -> Alert:
    sql = f"SELECT {Alert.COLUMNS} FROM alerts WHERE id = %s" + (" FOR UPDATE" if lock else "")
    row = conn.execute(sql, (alert_id,)).fetchone()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return Alert.from_row(row)


def transition(conn: psycopg.Connection[Any], alert_id: int, action: Action, actor: Actor, *,
               note: str = "", data: dict[str, Any] | None = None,
               outcome: Outcome | None = None, priority: Priority | None = None) -> Alert:
    """Apply ``action`` to an alert as ``actor``; returns the alert as it is afterwards."""
    with conn.transaction():
        alert = load(conn, alert_id, lock=True)
        rule = RULES[action]
        _check(conn, alert, action, rule, actor, outcome)
        target = rule.target or alert.state
        sets, args = _changes(action, actor, target, outcome, priority)
        conn.execute(f"UPDATE alerts SET {', '.join(sets)}, version = version + 1 "
                     "WHERE id = %s", (*args, alert_id))
        audit(conn, alert_id, actor, action, alert.state, target, note,
              {**(data or {}), **({"outcome": outcome.value} if outcome else {}),
               **({"priority": priority.value} if priority else {})})
        notify.enqueue(conn, alert_id, action)
        return load(conn, alert_id)


def _check(conn: psycopg.Connection[Any], alert: Alert, action: Action, rule: Rule,
           actor: Actor, outcome: Outcome | None) -> None:
    if rule.system_only and not actor.is_system:
        raise Forbidden(f"{action.value} is done by the system, not by users")
    if action == Action.CLAIM and alert.claimed_by and alert.state in ACTIVE:
        raise AlreadyClaimed(alert.id, holder_name(conn, alert.claimed_by))
    if alert.state not in rule.sources:
        allowed = ", ".join(s.value for s in rule.sources)
        raise InvalidTransition(f"cannot {action.value} alert {alert.id}: it is "
                                f"{alert.state.value} (allowed from: {allowed})")
    if rule.holder_only and not actor.oversees and alert.claimed_by != actor.id:
        holder = holder_name(conn, alert.claimed_by) if alert.claimed_by else "nobody"
        raise Forbidden(f"alert {alert.id} is claimed by {holder}; only they or a supervisor "
                        f"may {action.value} it")
    if action == Action.CLAIM and actor.role == Role.TECHNICIAN \
            and alert.priority in (Priority.P1, Priority.P2):
        raise Forbidden("technicians claim test and technical alerts only")
    if action == Action.RESOLVE and (outcome is None or outcome not in OPERATOR_OUTCOMES):
        raise InvalidTransition("resolve needs an outcome: " + ", ".join(sorted(OPERATOR_OUTCOMES)))


def _changes(action: Action, actor: Actor, target: State, outcome: Outcome | None,
             priority: Priority | None) -> tuple[list[str], list[Any]]:
    sets, args = ["state = %s"], [target.value]
    if action == Action.CLAIM:
        sets += ["claimed_by = %s", "claimed_at = now()",
                 "answered_at = coalesce(answered_at, now())"]
        args.append(actor.id)
    elif action == Action.RELEASE:
        sets += ["claimed_by = NULL", "claimed_at = NULL"]
    elif action in (Action.RESOLVE, Action.CANCEL, Action.AUTO_RESOLVE):
        sets += ["closed_at = now()", "outcome = %s"]
        args.append((outcome or SYSTEM_OUTCOME[action]).value)
    elif action == Action.ESCALATE:
        sets += ["escalated = true", "escalated_at = now()"]
    elif action == Action.REMIND:
        sets += ["reminded_at = now()"]
    elif action == Action.BUMP:
        sets += ["event_count = event_count + 1", "last_event_at = now()"]
    elif action == Action.REPRIORITISE and priority is not None:
        sets += ["priority = %s"]
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
