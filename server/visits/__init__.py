"""探访 visits: the monthly plan from the care rules, tasks assigned by grid to visitors, the
visit recorded at the door (with second attempts and follow-ups), and compliance with the
100 % monthly visit target (``model``, ``tasks``, ``records``, ``compliance``)."""

from __future__ import annotations

from server.visits.compliance import Compliance, compliance
from server.visits.inputs import AssignIn, VisitIn
from server.visits.model import (
    FollowUp,
    Recorded,
    TaskKind,
    TaskStatus,
    Visit,
    VisitorKind,
    VisitTask,
)
from server.visits.records import record_visit, resident_visits
from server.visits.tasks import (
    Visitor,
    assign,
    list_tasks,
    make_plan,
    resident_tasks,
    visitors,
)

__all__ = [
    "AssignIn",
    "Compliance",
    "FollowUp",
    "Recorded",
    "TaskKind",
    "TaskStatus",
    "Visit",
    "VisitIn",
    "VisitTask",
    "Visitor",
    "VisitorKind",
    "assign",
    "compliance",
    "list_tasks",
    "make_plan",
    "record_visit",
    "resident_tasks",
    "resident_visits",
    "visitors",
]
