"""Where a wearable is worn: the one placement vocabulary of the whole project.

The catalogue gives each wearable model one (``None`` for a device that is not worn), the fall
detector has parameters per placement (``analytics/params/fall_<placement>.json``, whose strings
are these values), the simulator moves a body part by it and the gateway and server pick the
detector by it. A ``StrEnum``: a member equals its string, so JSON and TOML carry it as is.
"""

from __future__ import annotations

from enum import StrEnum


class Placement(StrEnum):
    """Where a wearable is worn (fall detection differs between waist and wrist)."""

    WAIST = "waist"
    WRIST = "wrist"
