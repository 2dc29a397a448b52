"""The care categories of the community's elder-care registry: the one vocabulary.

Residents carry them (``residents.care_tags``); the directory service accepts only these, the
alert context raises priorities by them (``server.alerts.context``), and the console lists them
from ``GET /api/directory/vocabulary`` (its labels: ``tag.<value>`` in its dictionaries). To add
a category: a member here, and its English label in the console's dictionary.
"""

from __future__ import annotations

from enum import StrEnum


class CareTag(StrEnum):
    AGED = "高龄"  # 80 and over
    ALONE = "独居"  # lives alone
    EMPTY_NEST = "空巢"  # children live elsewhere
    DISABLED = "失能"  # cannot manage daily living alone
    LOW_INCOME = "经济困难"
    FAMILY_PLANNING = "计划生育特殊家庭"  # lost or disabled only child
    SEVERE_DISABILITY = "重残"


CARE_TAGS = frozenset(CareTag)
"""Every tag, as the strings stored."""
