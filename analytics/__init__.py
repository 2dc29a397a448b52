"""Detectors for 平安铃: arrays in, events out (fall, inactivity, vital signs).

Public entry points (see ``analytics/README.md``)::

    FallDetector, FallBank, DeviceBlock        streaming, batched fall detection
    FallEvent, FallResolved, SensorFault       what it emits
    run_trial                                  one recording from its first sample (evaluation)
    ActivityCounter, minute_activity           per-minute activity counts for the activity store
    InactivityRules, fit_learned, evaluate_rules, evaluate_learned, Minutes
    VitalLimits, evaluate_vitals, limits_table
"""

from analytics.activity import ActivityCounter, minute_activity
from analytics.bank import DeviceBlock, FallBank
from analytics.errors import AnalyticsError, DatasetError, InputError, ParamsError
from analytics.events import FallEvent, FallResolved, FaultKind, SensorFault
from analytics.fall import FallDetector
from analytics.inactivity import (
    InactivityEvent,
    InactivityRules,
    LearnedLimits,
    Minutes,
    Outcome,
    Rule,
    SensorLevels,
    Window,
    evaluate_learned,
    evaluate_rules,
    fit_learned,
)
from analytics.offline import run_trial
from analytics.params import FallParams, FaultParams, load_params
from analytics.vitals import VitalEvent, VitalKind, VitalLimits, evaluate_vitals, limits_table

__all__ = [
    "ActivityCounter", "AnalyticsError", "DatasetError", "DeviceBlock", "FallBank",
    "FallDetector", "FallEvent", "FallParams", "FallResolved", "FaultKind", "FaultParams",
    "InactivityEvent", "InactivityRules", "InputError", "LearnedLimits", "Minutes", "Outcome",
    "ParamsError", "Rule", "SensorFault", "SensorLevels", "VitalEvent", "VitalKind",
    "VitalLimits", "Window", "evaluate_learned", "evaluate_rules", "evaluate_vitals",
    "fit_learned", "limits_table", "load_params", "minute_activity", "run_trial",
]
