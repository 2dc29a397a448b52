"""What visits are made of: who visits, what a task is, the follow-ups a visit can flag (each
with the priority and the time it must be acted on), and the rows the service returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from server.api.types import Id, Text
from server.directory.records import Input

SECOND_ATTEMPT_DAYS = 2  # "not at home": try again this many days later
TEXT = 1000


class VisitorKind(StrEnum):
    GRID_WORKER = "grid_worker"  # 网格员
    VOLUNTEER = "volunteer"  # 志愿者
    PROPERTY = "property"  # 物业人员
    HEALTH_WORKER = "health_worker"  # 社区卫生人员
    SOCIAL_ORG = "social_org"  # 社会组织
    STAFF = "staff"  # the service's own staff


class TaskKind(StrEnum):
    PLAN = "plan"
    SECOND_ATTEMPT = "second_attempt"
    FOLLOW_UP = "follow_up"
    MANUAL = "manual"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    NOT_HOME = "not_home"
    CANCELLED = "cancelled"


class FollowUp(StrEnum):
    """What a visitor found that someone must act on; ``priority`` (1 urgent … 3 routine) and
    ``within_days`` make the follow-up task's priority and due day."""

    FELL_RECENTLY = "fell_recently"  # 近期跌倒
    UNWELL = "unwell"  # 身体不适
    NO_FOOD = "no_food"  # 缺少食物
    DEVICE_NOT_WORN = "device_not_worn"  # 未佩戴呼叫设备
    SAFETY_HAZARD = "safety_hazard"  # 居家安全隐患
    LOW_MOOD = "low_mood"  # 情绪低落
    NEEDS_HELP = "needs_help"  # 生活需要帮助
    NOT_REACHED = "not_reached"  # two attempts, nobody at home: call the contacts

    @property
    def priority(self) -> int:
        return _PRIORITY[self]

    @property
    def within_days(self) -> int:
        return {1: 1, 2: 3, 3: 7}[self.priority]


_PRIORITY = {FollowUp.FELL_RECENTLY: 1, FollowUp.UNWELL: 1, FollowUp.NO_FOOD: 1,
             FollowUp.NOT_REACHED: 1, FollowUp.DEVICE_NOT_WORN: 2, FollowUp.SAFETY_HAZARD: 2,
             FollowUp.LOW_MOOD: 2, FollowUp.NEEDS_HELP: 3}


class VisitIn(Input):
    """A visit as the visitor records it at the door."""

    resident_id: Id
    task_id: Id | None = None
    visitor_kind: VisitorKind = VisitorKind.GRID_WORKER
    arrived_at: datetime | None = None  # default: now
    at_home: bool
    met: Text = Field(default="", max_length=200)
    health: Text = Field(default="", max_length=TEXT)
    living: Text = Field(default="", max_length=TEXT)
    mood: Text = Field(default="", max_length=TEXT)
    safety: Text = Field(default="", max_length=TEXT)
    needs: Text = Field(default="", max_length=TEXT)
    follow_up: FollowUp | None = None
    follow_up_note: Text = Field(default="", max_length=TEXT)
    photo_url: Text | None = Field(default=None, max_length=500)


class AssignIn(Input):
    user_id: Id | None  # None: unassign


@dataclass(frozen=True, slots=True)
class VisitTask:
    id: int
    resident_id: int
    resident: str
    address: str
    grid: str
    care_tags: list[str]
    kind: str
    month: date
    due_on: date
    priority: int
    reason: str
    note: str
    assignee_id: int | None
    assignee: str | None
    status: str
    parent_id: int | None
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Visit:
    id: int
    task_id: int | None
    resident_id: int
    visitor: str
    visitor_kind: str
    arrived_at: datetime
    at_home: bool
    met: str
    health: str
    living: str
    mood: str
    safety: str
    needs: str
    follow_up: str | None
    follow_up_note: str
    photo_url: str | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Recorded:
    """A recorded visit and the tasks it made."""

    visit_id: int
    follow_up_task: int | None = None
    second_attempt_task: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"visit_id": self.visit_id, "follow_up_task": self.follow_up_task,
                "second_attempt_task": self.second_attempt_task}
