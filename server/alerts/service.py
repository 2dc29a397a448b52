"""Every alert action, one function each: routes, the engine, escalation and the detectors call
these, and nothing else changes an alert.

Each takes a connection, the actor (user actions) and typed arguments, and does the whole
action in one transaction (the caller's, or its own): lock the alert — within the caller's
``scope``: an alert outside it is ``NotFound``, as if it did not exist — check the action
against the rule table (``server.alerts.machine.RULES``; opening too), change, audit, notify.
It returns a typed result (mostly the alert afterwards) or raises an ``AlertError``
(``NotFound``, ``Forbidden``, ``InvalidTransition``) that the API maps to one HTTP status.

========================  ===========  ===================================================
action                    who          function
========================  ===========  ===================================================
open, or attach (bump)    system       ``raise_alert``
phone-in (inbound call)   call takers  ``phone_in``
claim, release            handlers     ``claim``, ``release``
note                      handlers     ``note`` (the system too)
call, dispatch            call takers  ``call``, ``dispatch``, ``dispatch_status`` (the holder)
key-safe code             call takers  ``reveal_key_safe``
resolve                   handlers     ``resolve`` (the holder)
resident's cancel         system       ``cancel``
escalate, remind          system       ``escalate``, ``remind``
auto-resolve, priority    system       ``auto_resolve``, ``reprioritise``
wearer asked, cancelled   system       ``prompt_wearer``, ``wearer_cancel``
pre-warning answered      system       ``prewarning_answered``
========================  ===========  ===================================================

"Call takers": operators, supervisors, admins. "Handlers": call takers, and technicians for
test and technical (P3) alerts only. Auditors take no action. The table is ``machine.RULES``.
"The holder": whoever claimed the alert, or a supervisor.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Literal

import psycopg

from server.alerts import machine
from server.alerts.context import Context, raised_priority, resident_context
from server.alerts.model import (
    ACTIVE,
    SYSTEM,
    Action,
    Actor,
    Alert,
    AlertType,
    CallOutcome,
    DispatchKind,
    DispatchStatus,
    NewAlert,
    NotFound,
    Outcome,
    Priority,
    State,
)
from server.directory.access import Access, key_safe_code
from server.directory.care_rules import list_rules
from server.scope import Scope

CANCEL_WINDOW_S = 30.0
CANCELLED_FALL = Priority.P2  # a fall its wearer cancelled: still called back, no longer P1
_OPEN_ATTEMPTS = 3  # open, or attach to the active alert; again if that one closed meanwhile

_ACTIVE_BY_CORRELATION = """
SELECT id FROM alerts WHERE correlation = %s AND state = ANY (%s) FOR UPDATE
"""

# The active panic alert of an incident; whether only this device's events raised it.
_CANCELLABLE = """
SELECT a.id, a.state, extract(epoch FROM now() - a.opened_at)::float8, NOT EXISTS (
    SELECT 1 FROM alert_events ae JOIN events e ON e.id = ae.event_id
    WHERE ae.alert_id = a.id AND e.device <> %s AND e.type <> 'cancel')
FROM alerts a WHERE a.correlation = %s AND a.state = ANY (%s)
FOR UPDATE OF a
"""


@dataclass(frozen=True, slots=True)
class Raised:
    """The alert an incident raised, and whether it opened it or attached to the active one."""

    alert: Alert
    opened: bool


@dataclass(frozen=True, slots=True)
class Call:
    """A call an operator made for an alert."""

    outcome: CallOutcome
    contact_id: int | None = None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class PhoneCall:
    """An inbound call an operator opens an alert for: who called, on which line, about whom
    (None: someone not in the directory), why, how urgent; ``take``: the operator on the line
    works it (claimed at once), else it waits in the queue, escalated if nobody claims it."""

    caller: str
    channel: Literal["landline", "hotline_12349", "other"]
    reason: str
    priority: Priority
    resident_id: int | None = None
    caller_phone: str = ""
    relation: str = ""
    take: bool = True


@dataclass(frozen=True, slots=True)
class Dispatched:
    """The alert after a dispatch, and the dispatch row (for its status updates)."""

    alert: Alert
    dispatch_id: int


# ---- system: opening, the resident's cancel, the engine's and escalation's actions ----

def raise_alert(conn: psycopg.Connection[Any], kind: AlertType, priority: Priority,
                ctx: Context, details: dict[str, Any] | None = None, *,
                event_id: str | None = None) -> Raised:
    """Open an alert for an incident (by the OPEN rule), or attach to the active one for the
    same incident (BUMP); link the event that raised it, if any."""
    new = NewAlert(kind, raised_priority(priority, ctx, list_rules(conn)),
                   ctx.correlation(kind), ctx.title(kind), ctx.region_id, ctx.home_id,
                   ctx.resident_id, ctx.gateway_id, ctx.device, details or {})
    with machine.atomic(conn):
        raised = _open_or_attach(conn, new, event_id)
        if event_id is not None:
            _link_event(conn, raised.alert.id, event_id)
        return raised


def _open_or_attach(conn: psycopg.Connection[Any], new: NewAlert,
                    event_id: str | None) -> Raised:
    for _ in range(_OPEN_ATTEMPTS):
        opened = machine.open_alert(conn, new, data={"event": event_id})
        if opened is not None:
            return Raised(opened, True)
        row = conn.execute(_ACTIVE_BY_CORRELATION,
                           (new.correlation, [s.value for s in ACTIVE])).fetchone()
        if row is not None:  # locked and active: the bump cannot be refused
            return Raised(machine.transition(conn, row[0], Action.BUMP, SYSTEM,
                                             data={"event": event_id}), False)
    raise RuntimeError(f"incident {new.correlation}: its active alert kept closing while "
                       f"{_OPEN_ATTEMPTS} attempts tried to attach to it")


def _link_event(conn: psycopg.Connection[Any], alert_id: int, event_id: str) -> None:
    conn.execute("INSERT INTO alert_events VALUES (%s, %s) ON CONFLICT DO NOTHING",
                 (alert_id, event_id))


def cancel(conn: psycopg.Connection[Any], ctx: Context, event_id: str,
           device: str) -> Alert | None:
    """The resident pressed cancel: within CANCEL_WINDOW_S an open panic alert raised by this
    device alone is cancelled; otherwise the cancel is recorded on it for the operator to
    judge. None when the resident has no active panic alert."""
    with conn.transaction():
        row = conn.execute(_CANCELLABLE, (device, ctx.correlation(AlertType.PANIC),
                                          [s.value for s in ACTIVE])).fetchone()
        if row is None:
            return None
        alert_id, state, age, own = int(row[0]), State(row[1]), float(row[2]), bool(row[3])
        _link_event(conn, alert_id, event_id)
        if state == State.OPEN and age <= CANCEL_WINDOW_S and own:
            return machine.transition(conn, alert_id, Action.CANCEL, SYSTEM,
                                      data={"event": event_id, "reason": "resident_cancel"},
                                      note="resident pressed cancel")
        return machine.transition(
            conn, alert_id, Action.NOTE, SYSTEM,
            data={"event": event_id, "reason": "late_cancel", "seconds": round(age)},
            note=f"resident pressed cancel {age:.0f} s after the alarm")


def link_detection(conn: psycopg.Connection[Any], alert_id: int, event_id: str, *,
                   by: str) -> Alert:
    """Another detection of the fall an alert is about (``by`` the server's detector or an
    edge gateway): linked to it and noted, whatever its state; nothing else changes."""
    with conn.transaction():
        _link_event(conn, alert_id, event_id)
        return machine.transition(conn, alert_id, Action.NOTE, SYSTEM,
                                  data={"event": event_id, "reason": "same_fall", "by": by},
                                  note=f"the same fall, detected by the {by} too")


def prompt_wearer(conn: psycopg.Connection[Any], alert_id: int, *, device: str,
                  window_s: float, via: str, ref: str, at: float | None = None) -> Alert:
    """The wearer of ``device`` was asked (their wearable alerts them; ``via``: the server's
    command, or the gateway on its own; ``ref``: the fall event the gateway's prompt names):
    they may cancel the fall within ``window_s``. On the timeline, and in ``details.wearer``
    for the queue."""
    with conn.transaction():
        alert = machine.locked(conn, alert_id, Action.PROMPT_WEARER, SYSTEM)
        wearer = {**(alert.details.get("wearer") or {}), "prompted_at": at or time.time(),
                  "window_s": window_s, "device": device, "via": via, "ref": ref}
        return machine.apply(conn, alert, Action.PROMPT_WEARER, SYSTEM, details={
            "wearer": wearer}, data={"reason": "wearer_prompted", "seconds": round(window_s),
                                     "device": device, "via": via},
            note=f"wearer alerted on {device}: may cancel within {window_s:.0f} s")


def wearer_cancel(conn: psycopg.Connection[Any], alert_id: int, *, by: str, device: str,
                  after_s: float | None, at: float | None = None,
                  event_id: str | None = None) -> Alert:
    """The wearer cancelled a detected fall in its window (``by``: ``press``, ``cancel`` — a
    button of the home — or ``got_up``). Not a resolution: the alert stays with the operators,
    lowered (P1 → ``CANCELLED_FALL``) and marked ``details.wearer.cancelled_at``, for one of
    them to call back and resolve. A second cancel, or one for a closed alert, is a note."""
    with conn.transaction():
        alert = machine.load(conn, alert_id, lock=True)
        if event_id is not None:
            _link_event(conn, alert_id, event_id)
        wearer = dict(alert.details.get("wearer") or {})
        seconds = None if after_s is None else round(after_s, 1)
        data = {"reason": "wearer_cancel", "by": by, "device": device, "seconds": seconds,
                "event": event_id}
        if alert.state not in ACTIVE or "cancelled_at" in wearer:
            machine.check(conn, alert, Action.NOTE, SYSTEM)
            return machine.apply(conn, alert, Action.NOTE, SYSTEM,
                                 data={**data, "reason": "wearer_cancel_again"},
                                 note=f"the wearer cancelled again ({by})")
        machine.check(conn, alert, Action.WEARER_CANCEL, SYSTEM)
        wearer.update(cancelled_at=at or time.time(), cancelled_by=by, cancel_device=device,
                      after_s=seconds)
        lower = CANCELLED_FALL if alert.priority == Priority.P1 else None
        return machine.apply(conn, alert, Action.WEARER_CANCEL, SYSTEM, priority=lower,
                             details={"wearer": wearer}, data=data,
                             note=f"cancelled by the wearer ({by}): call back")


def prewarning_answered(conn: psycopg.Connection[Any], ctx: Context, *, prompt: str,
                        event_id: str, device: str, after_s: float | None, at: float,
                        rule: str = "", inactive_min: int = 0) -> Alert:
    """The resident answered an inactivity pre-warning (a press within its window): nothing
    for the operators to do, so its record is born closed — opened, prompted and cancelled by
    the resident in one transaction (never in the queue, no answer time) — with the press that
    answered it, for history. Its priority is P3, nothing urgent; the one the inactivity alarm
    would have had is in ``details.prewarning.priority``."""
    seconds = None if after_s is None else round(after_s, 1)
    kind = AlertType.INACTIVITY
    prewarning = {"prompt": prompt, "answered_at": at, "after_s": seconds, "device": device,
                  "rule": rule, "inactive_min": inactive_min,
                  "priority": raised_priority(Priority.P2, ctx, list_rules(conn)).value}
    new = NewAlert(kind, Priority.P3,
                   f"{ctx.correlation(kind)}:prewarning:{prompt}", ctx.title(kind),
                   ctx.region_id, ctx.home_id, ctx.resident_id, ctx.gateway_id, device,
                   {"prewarning": prewarning})
    with machine.atomic(conn):
        alert = machine.open_alert(conn, new, data={"event": event_id, "reason": "prewarning"})
        if alert is None:  # its correlation is this prompt's alone, and it closes at once
            raise RuntimeError(f"pre-warning {prompt}: an active record already exists")
        _link_event(conn, alert.id, event_id)
        machine.transition(conn, alert.id, Action.PROMPT_WEARER, SYSTEM, data={
            "reason": "prewarn_prompted", "at": at - (after_s or 0.0), "rule": rule,
            "inactive_min": inactive_min}, note="inactivity pre-warning: the resident was asked")
        return machine.transition(conn, alert.id, Action.CANCEL, SYSTEM, data={
            "event": event_id, "reason": "prewarn_answered", "seconds": seconds},
            note="the resident answered the pre-warning")


def auto_resolve(conn: psycopg.Connection[Any], alert_id: int, *, reason: str,
                 note: str) -> Alert:
    """The condition went away by itself (outcome ``cleared``)."""
    return machine.transition(conn, alert_id, Action.AUTO_RESOLVE, SYSTEM,
                              data={"reason": reason}, note=note)


def escalate(conn: psycopg.Connection[Any], alert_id: int, unclaimed_s: float) -> Alert:
    """Nobody claimed it within ``unclaimed_s``: flag it, notify supervisors (webhooks)."""
    return machine.transition(conn, alert_id, Action.ESCALATE, SYSTEM,
                              data={"reason": "unclaimed", "seconds": round(unclaimed_s)},
                              note=f"not claimed within {unclaimed_s:.0f} s: "
                                   "supervisors notified")


def remind(conn: psycopg.Connection[Any], alert_id: int, remind_s: float) -> Alert:
    """Claimed but still unresolved ``remind_s`` later."""
    return machine.transition(conn, alert_id, Action.REMIND, SYSTEM,
                              data={"reason": "unresolved", "minutes": round(remind_s / 60)},
                              note=f"still unresolved {remind_s / 60:.0f} min after it was "
                                   "claimed")


def reprioritise(conn: psycopg.Connection[Any], alert_id: int, priority: Priority,
                 note: str) -> Alert:
    return machine.transition(conn, alert_id, Action.REPRIORITISE, SYSTEM, priority=priority,
                              note=note)


# ---- users (and the system, for notes) ----

def phone_in(conn: psycopg.Connection[Any], actor: Actor, call: PhoneCall, *,
             scope: Scope) -> Raised:
    """Open an alert for an inbound call (the PHONE_IN rule: operators, supervisors, admins),
    with the operator as its opener; from then on it is an alert like any other (claim,
    escalation, reminders, the answer-time report). A second call about a resident whose
    phone-in alert is still active is a note on that one. ``take``: claimed by the operator
    at once (answered when the call was)."""
    with conn.transaction():
        ctx = _caller_context(conn, call, scope)
        details = {k: v for k, v in asdict(call).items() if k not in ("priority", "take")}
        correlation = ctx.correlation(AlertType.PHONE_IN) if call.resident_id is not None \
            else f"phone_in:{uuid.uuid4().hex}"
        new = NewAlert(AlertType.PHONE_IN, call.priority, correlation,
                       ctx.resident or call.caller, ctx.region_id, ctx.home_id, ctx.resident_id,
                       ctx.gateway_id, None, details)
        opened = machine.open_alert(conn, new, actor, action=Action.PHONE_IN, data=details,
                                    note=call.reason)
        if opened is None:
            row = conn.execute(_ACTIVE_BY_CORRELATION,
                               (correlation, [s.value for s in ACTIVE])).fetchone()
            assert row is not None  # the insert found it active; it is locked now
            alert = machine.transition(conn, row[0], Action.NOTE, actor, scope=scope,
                                       note=call.reason, data={"phone_in": details})
        else:
            alert = opened
        if call.take and alert.state == State.OPEN:
            alert = machine.transition(conn, alert.id, Action.CLAIM, actor, scope=scope)
        return Raised(alert, opened is not None)


def _caller_context(conn: psycopg.Connection[Any], call: PhoneCall, scope: Scope) -> Context:
    """Where the call's resident belongs; NotFound if they are not in the operator's scope."""
    if call.resident_id is None:
        return Context()
    ctx = resident_context(conn, call.resident_id)
    if ctx.region_id is None or not scope.covers(conn, ctx.region_id):
        raise NotFound(f"no resident {call.resident_id}")
    return ctx


def claim(conn: psycopg.Connection[Any], actor: Actor, alert_id: int, *,
          scope: Scope) -> Alert:
    """Take the alert; ``AlreadyClaimed`` (naming the holder) if someone else has it."""
    return machine.transition(conn, alert_id, Action.CLAIM, actor, scope=scope)


def release(conn: psycopg.Connection[Any], actor: Actor, alert_id: int, *,
            scope: Scope) -> Alert:
    """Give a claimed alert back to the queue."""
    return machine.transition(conn, alert_id, Action.RELEASE, actor, scope=scope)


def note(conn: psycopg.Connection[Any], actor: Actor, alert_id: int, text: str, *,
         scope: Scope, data: dict[str, Any] | None = None) -> Alert:
    return machine.transition(conn, alert_id, Action.NOTE, actor, scope=scope, note=text,
                              data=data)


def call(conn: psycopg.Connection[Any], actor: Actor, alert_id: int, made: Call,
         note: str = "", *, scope: Scope) -> Alert:
    """Record a call made for the alert and its outcome."""
    data = {"outcome": made.outcome.value, "contact_id": made.contact_id,
            "number": made.number}
    return machine.transition(conn, alert_id, Action.CALL, actor, scope=scope, note=note,
                              data=data)


def dispatch(conn: psycopg.Connection[Any], actor: Actor, alert_id: int, kind: DispatchKind,
             target: str = "", note: str = "", *, scope: Scope) -> Dispatched:
    """Send someone (a contact, the community worker, an ambulance): a dispatch row and the
    DISPATCH transition, together."""
    with conn.transaction():
        alert = machine.locked(conn, alert_id, Action.DISPATCH, actor, scope=scope)
        row = conn.execute("INSERT INTO dispatches (alert_id, kind, target, created_by) "
                           "VALUES (%s, %s, %s, %s) RETURNING id",
                           (alert_id, kind.value, target, actor.id)).fetchone()
        assert row is not None
        after = machine.apply(conn, alert, Action.DISPATCH, actor, note=note, data={
            "dispatch": row[0], "kind": kind.value, "target": target})
        return Dispatched(after, int(row[0]))


def dispatch_status(conn: psycopg.Connection[Any], actor: Actor, alert_id: int,
                    dispatch_id: int, status: DispatchStatus, note: str = "", *,
                    scope: Scope) -> Alert:
    """A dispatch is en route, has arrived, or was called off."""
    with conn.transaction():
        alert = machine.load(conn, alert_id, lock=True, scope=scope)
        if conn.execute("SELECT 1 FROM dispatches WHERE id = %s AND alert_id = %s",
                        (dispatch_id, alert_id)).fetchone() is None:
            raise NotFound(f"no dispatch {dispatch_id} on alert {alert_id}")
        machine.check(conn, alert, Action.DISPATCH_STATUS, actor)
        conn.execute("UPDATE dispatches SET status = %s, updated_at = now() WHERE id = %s",
                     (status.value, dispatch_id))
        return machine.apply(conn, alert, Action.DISPATCH_STATUS, actor, note=note,
                             data={"dispatch": dispatch_id, "status": status.value})


def reveal_key_safe(conn: psycopg.Connection[Any], actor: Actor, alert_id: int, *,
                    scope: Scope) -> str:
    """The code of the alert's home's key safe; every reveal is an audit row."""
    with conn.transaction():
        alert = machine.locked(conn, alert_id, Action.REVEAL_KEY_SAFE, actor, scope=scope)
        code = None if alert.home_id is None else key_safe_code(
            conn, alert.home_id, Access(actor, "alert", alert_id))
        if code is None:
            raise NotFound("this home has no key safe on record")
        machine.apply(conn, alert, Action.REVEAL_KEY_SAFE, actor)
        return code


def resolve(conn: psycopg.Connection[Any], actor: Actor, alert_id: int, outcome: Outcome,
            note: str = "", *, scope: Scope) -> Alert:
    """Close the alert with an operator's outcome (genuine, false alarm, …)."""
    return machine.transition(conn, alert_id, Action.RESOLVE, actor, scope=scope,
                              outcome=outcome, note=note)

