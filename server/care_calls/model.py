"""What care calls (主动关爱) are made of: the kinds of call task, a call's outcome, the inputs,
and the rows the service returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

AFTER_HOSPITAL_DAYS = 7  # daily calls for a week after a hospital stay
CONCERN_VISIT_DAYS = 3  # a concern raised on a call: a visit within this many days


class CallKind(StrEnum):
    SCHEDULE = "schedule"
    AFTER_HOSPITAL = "after_hospital"
    CAMPAIGN = "campaign"
    RETRY = "retry"
    NEXT = "next"


class Outcome(StrEnum):
    WELL = "well"  # answered, all well
    CONCERN = "concern"  # answered, with a concern: a visit follows
    NO_ANSWER = "no_answer"


class CampaignReason(StrEnum):
    HEAT = "heat"
    COLD = "cold"
    HOLIDAY = "holiday"
    EPIDEMIC = "epidemic"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CallTask:
    """A call to make, with what the caller needs on one line."""

    id: int
    resident_id: int
    resident: str
    phone: str | None
    address: str
    care_tags: list[str]
    kind: str
    campaign: str | None
    due_on: date
    status: str
    last_outcome: str | None
    last_called_at: datetime | None
    risk: int = 0  # more is called first among tasks due the same day


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    task_id: int | None
    resident_id: int
    caller: str
    called_at: datetime
    outcome: str
    notes: str
    concern: str
    next_on: date | None


@dataclass(frozen=True, slots=True)
class Called:
    """A recorded call and what it set in motion."""

    call_id: int
    visit_task: int | None = None  # a concern, or two calls unanswered (missed action "visit")
    alert_id: int | None = None  # two calls unanswered (missed action "alert")
    retry_task: int | None = None
    next_task: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "visit_task": self.visit_task,
                "alert_id": self.alert_id, "retry_task": self.retry_task,
                "next_task": self.next_task}
