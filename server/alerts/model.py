"""Alert vocabulary: states, priorities, types, actions, outcomes, calls and dispatches, who
acts, and an alert as stored (``Alert``) or about to be (``NewAlert``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlertError(Exception):
    """Base of the alert engine's errors; the API maps each to one HTTP status."""

    status = 400
    code = "alert_error"


class NotFound(AlertError):
    status, code = 404, "not_found"


class InvalidTransition(AlertError):
    status, code = 409, "invalid_transition"


class AlreadyClaimed(InvalidTransition):
    code = "already_claimed"

    def __init__(self, alert_id: int, holder: str) -> None:
        super().__init__(f"alert {alert_id} is already claimed by {holder}")
        self.holder = holder


class Forbidden(AlertError):
    status, code = 403, "forbidden"


class State(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DISPATCHED = "dispatched"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


ACTIVE = (State.OPEN, State.CLAIMED, State.DISPATCHED)


class Priority(StrEnum):
    P1 = "P1"  # panic, fall: someone may be hurt
    P2 = "P2"  # vital signs, inactivity
    P3 = "P3"  # technical: battery, offline, tamper, supervision
    TEST = "TEST"  # installation tests: never in the emergency queue


class AlertType(StrEnum):
    PANIC = "panic"
    FALL = "fall"
    VITALS = "vitals"
    INACTIVITY = "inactivity"
    LOW_BATTERY = "low_battery"
    TAMPER = "tamper"
    DEVICE_SILENT = "device_silent"
    GATEWAY_OFFLINE = "gateway_offline"
    SENSOR_FAULT = "sensor_fault"
    TEST = "test"
    PHONE_IN = "phone_in"  # opened by an operator for an inbound call (landline, 12349)


class Action(StrEnum):
    OPEN = "open"
    BUMP = "bump"
    CLAIM = "claim"
    RELEASE = "release"
    NOTE = "note"
    CALL = "call"
    DISPATCH = "dispatch"
    DISPATCH_STATUS = "dispatch_status"
    RESOLVE = "resolve"
    CANCEL = "cancel"
    AUTO_RESOLVE = "auto_resolve"
    ESCALATE = "escalate"
    REMIND = "remind"
    REPRIORITISE = "reprioritise"
    REVEAL_KEY_SAFE = "reveal_key_safe"
    PHONE_IN = "phone_in"  # an operator opens an alert for an inbound call
    PROMPT_WEARER = "prompt_wearer"  # the wearer was asked (fall: may cancel; pre-warning)
    WEARER_CANCEL = "wearer_cancel"  # the wearer cancelled a detected fall in its window


class Outcome(StrEnum):
    GENUINE = "genuine"
    FALSE_ALARM = "false_alarm"
    ACCIDENTAL = "accidental"
    TEST = "test"
    NO_RESPONSE = "no_response"
    RESOLVED_BY_PHONE = "resolved_by_phone"
    TECHNICAL = "technical"
    CLEARED = "cleared"  # the condition went away by itself (system only)
    CANCELLED_BY_RESIDENT = "cancelled_by_resident"  # cancel pressed in the window (system only)


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    VOICEMAIL = "voicemail"


class DispatchKind(StrEnum):
    CONTACT = "contact"
    COMMUNITY_WORKER = "community_worker"
    AMBULANCE = "ambulance"  # 120


class DispatchStatus(StrEnum):
    EN_ROUTE = "en_route"
    ARRIVED = "arrived"
    CANCELLED = "cancelled"


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    TECHNICIAN = "technician"
    ADMIN = "admin"
    AUDITOR = "auditor"  # reads audit trails (and the access log); takes no actions
    VISITOR = "visitor"  # grid worker, volunteer…: their visit tasks only (server.visits)
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user (id, display name, role) or the system."""

    id: int | None
    name: str
    role: Role

    @property
    def is_system(self) -> bool:
        return self.role == Role.SYSTEM

    @property
    def oversees(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN, Role.SYSTEM)


SYSTEM = Actor(None, "system", Role.SYSTEM)


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    type: AlertType
    priority: Priority
    state: State
    escalated: bool
    region_id: int | None
    home_id: int | None
    resident_id: int | None
    gateway_id: str | None
    device: str | None
    title: str
    details: dict[str, Any]
    event_count: int
    opened_at: datetime
    last_event_at: datetime | None
    claimed_by: int | None
    claimed_at: datetime | None
    answered_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    version: int

    COLUMNS = ("id, type, priority, state, escalated, region_id, home_id, resident_id, "
               "gateway_id, device, title, details, event_count, opened_at, last_event_at, "
               "claimed_by, claimed_at, answered_at, closed_at, outcome, version")

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Alert:
        values = list(row)
        values[1], values[2], values[3] = AlertType(row[1]), Priority(row[2]), State(row[3])
        return cls(*values)


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to open: what, how urgent, for which incident (``correlation``), and where."""

    type: AlertType
    priority: Priority
    correlation: str  # one active alert per correlation: a repeat attaches to it
    title: str
    region_id: int | None = None
    home_id: int | None = None
    resident_id: int | None = None
    gateway_id: str | None = None
    device: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
