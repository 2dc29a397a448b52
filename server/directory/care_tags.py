"""The care categories of the community's elder-care registry: the one vocabulary.

Residents carry them (``residents.care_tags``); the directory service accepts only these, the
alert context raises priorities by them (``server.alerts.context``), and the console lists them
from ``GET /api/directory/vocabulary`` (its labels: ``tag.<value>`` in its dictionaries). What a
tag means for visits, care calls and alert priority is the admins' rule table
(``server.directory.care_rules``). To add a category: a member here, its English label in the
console's dictionary, and a rule if it should plan anything.
"""

from __future__ import annotations

from enum import StrEnum


class CareTag(StrEnum):
    AGED = "高龄"  # 80 and over
    ALONE = "独居"  # lives alone
    EMPTY_NEST = "空巢"  # children live elsewhere
    LEFT_BEHIND = "留守"  # children work away from the village or town
    DISABLED = "失能"  # cannot manage daily living alone
    DEMENTIA = "失智"
    LOW_INCOME = "经济困难"  # including 低保 (minimum living allowance) households
    FAMILY_PLANNING = "计划生育特殊家庭"  # lost or disabled only child
    SEVERE_DISABILITY = "重残"
    ENTITLED = "优抚对象"  # veterans, martyrs' families and others the state cares for


CARE_TAGS = frozenset(CareTag)
"""Every tag, as the strings stored."""
