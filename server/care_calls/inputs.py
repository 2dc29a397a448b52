"""What a caller and a supervisor send: a call's record, a campaign (API input models)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from server.api.types import Id, Text
from server.care_calls.model import CampaignReason, Outcome
from server.directory.care_tags import CareTag
from server.directory.records import Input


class CallIn(Input):
    resident_id: Id
    task_id: Id | None = None
    outcome: Outcome
    notes: Text = Field(default="", max_length=2000)
    concern: Text = Field(default="", max_length=1000)
    next_on: date | None = None  # the next call, if the caller agreed one


class CampaignIn(Input):
    name: Text = Field(min_length=1, max_length=100)
    reason: CampaignReason
    region_id: Id | None = None  # None: every region of the caller
    tags: list[CareTag] = Field(default_factory=list, max_length=4)
    due_on: date | None = None  # default: today
