"""Typed detector parameters and the small JSON files that ship them.

``params/fall_<placement>.json`` is written by ``python -m analytics.tune --write`` and read here;
nothing else in the package writes files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analytics.boost import Forest
from analytics.errors import ParamsError
from analytics.features import ALL_NAMES, FEATURE_NAMES
from kernel.placement import Placement

COMMON_FS = 50.0


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForestSpec(_Frozen):
    """A :class:`~analytics.boost.Forest` in JSON form."""

    base: float
    feature: list[list[int]]
    threshold: list[list[float]]
    value: list[list[float]]

    @classmethod
    def of(cls, forest: Forest) -> ForestSpec:
        return cls(
            base=forest.base,
            feature=forest.feature.tolist(),
            threshold=np.round(forest.threshold, 6).tolist(),
            value=np.round(forest.value, 6).tolist(),
        )

    def build(self) -> Forest:
        return Forest(
            self.base,
            np.asarray(self.feature, dtype=np.int64),
            np.asarray(self.threshold, dtype=np.float64),
            np.asarray(self.value, dtype=np.float64),
        )


class FitInfo(_Frozen):
    """Where the parameters came from and what cross-validation said about them."""

    script: str = "python -m analytics.tune --write"
    data: str = ""
    subjects: int = 0
    folds: int = 0
    cv_sensitivity: float = 0.0
    cv_specificity: float = 0.0
    spec_target: float = 0.0


class FallParams(_Frozen):
    """Everything the fall detector needs for one placement (times in seconds, rates in Hz).

    candidate_g: |a| a local peak must reach to be judged; half_window_s: a candidate is the
    largest |a| within ± this; pre_s / post_s: data before / after the impact the features use
    (the decision waits post_s); features: the model's inputs by name, in order (among
    :data:`analytics.features.ALL_NAMES`); alert_threshold: model log-odds needed to alert;
    refractory_s: no second alert this soon after one; cancel_window_s: time allowed to get up;
    got_up_active_s: activity that counts as up; got_up_tilt_deg: max tilt from the pre-fall
    posture to count as up (None: not checked); active_g: ||a| - 1 g| above this is activity.
    """

    placement: Placement
    fs: float = COMMON_FS
    candidate_g: float = Field(gt=1.0)
    half_window_s: float = Field(default=1.0, gt=0)
    pre_s: float = Field(default=3.0, ge=1.5)
    post_s: float = Field(default=2.0, ge=1.2)
    features: tuple[str, ...] = FEATURE_NAMES
    model: ForestSpec
    alert_threshold: float
    refractory_s: float = Field(default=60.0, ge=0)
    cancel_window_s: float = Field(default=60.0, gt=0)
    got_up_active_s: float = Field(default=4.0, gt=0)
    got_up_tilt_deg: float | None = 45.0
    active_g: float = Field(default=0.15, gt=0)
    fit: FitInfo = FitInfo()

    @model_validator(mode="after")
    def _check(self) -> FallParams:
        unknown = [n for n in self.features if n not in ALL_NAMES]
        if unknown or len(set(self.features)) != len(self.features):
            raise ValueError(f"features {self.features}: unknown {unknown} or repeated "
                             f"(this code computes {ALL_NAMES})")
        if self.half_window_s > self.post_s:
            raise ValueError("half_window_s must not exceed post_s")
        if self.refractory_s < self.cancel_window_s:
            raise ValueError("refractory_s must cover cancel_window_s (one fall at a time)")
        return self

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":")) + "\n"


@dataclass(frozen=True, slots=True)
class FaultParams:
    """When a stream counts as faulty."""

    full_scale_g: float = 16.0  # a component at >= 99.5 % of this is at the rail
    clip_run_s: float = 1.0  # that long at the rail is a clipping fault (one impact is not)
    flatline_s: float = 5.0  # bit-identical samples for this long (real data: < 0.6 s)
    gap_tolerance_s: float = 0.5  # a block this far from where the last one ended restarts


def params_path(placement: Placement) -> Path:
    return Path(str(resources.files("analytics") / "params" / f"fall_{placement}.json"))


def parse_params(text: str) -> FallParams:
    try:
        return FallParams.model_validate_json(text)
    except ValidationError as exc:
        raise ParamsError(f"fall parameters: {exc.error_count()} error(s): {exc}") from None


@cache
def load_params(placement: Placement) -> FallParams:
    """The shipped parameters for ``placement``."""
    path = params_path(placement)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ParamsError(f"no fall parameters for {placement!r} at {path}: {exc}") from None
    params = parse_params(text)
    if params.placement != placement:
        raise ParamsError(f"{path} holds {params.placement!r} parameters")
    return params
