"""主动关爱 care calls: the schedule from the care rules and hospital stays, campaigns, the
caller's list, and what a call's outcome starts (``model``, ``inputs``,
``schedule``, ``service``)."""

from __future__ import annotations

from server.care_calls.inputs import CallIn, CampaignIn
from server.care_calls.model import Call, Called, CallKind, CallTask, CampaignReason, Outcome
from server.care_calls.schedule import make_schedule
from server.care_calls.service import (
    Missed,
    call_list,
    record_call,
    resident_calls,
    start_campaign,
)

__all__ = [
    "Call",
    "CallIn",
    "CallKind",
    "CallTask",
    "Called",
    "CampaignIn",
    "CampaignReason",
    "Missed",
    "Outcome",
    "call_list",
    "make_schedule",
    "record_call",
    "resident_calls",
    "start_campaign",
]
