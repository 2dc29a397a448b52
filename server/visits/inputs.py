"""What a visitor and a supervisor send: a visit as recorded at the door, an assignment (API
input models; the runtime's plan job needs none of them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from server.api.types import Id, Text
from server.directory.records import Input
from server.visits.model import FollowUp, VisitorKind

TEXT = 1000


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
