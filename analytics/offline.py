"""Per-trial offline entry point: the streaming detector run over a recording from its first
sample, exactly as on a live stream (evaluation and fitting both use this)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.events import FallEvent, SensorFault
from analytics.fall import Candidate, FallDetector
from analytics.params import FallParams
from kernel.placement import Placement

MAX_BLOCK_S = 20.0


@dataclass(frozen=True, slots=True)
class TrialRun:
    alerts: tuple[FallEvent, ...]
    faults: tuple[SensorFault, ...]
    candidates: tuple[Candidate, ...]


def run_trial(
    acc: npt.ArrayLike,
    fs: float,
    placement: Placement,
    params: FallParams | None = None,
    t0: float = 0.0,
    keep_candidates: bool = False,
) -> TrialRun:
    """Run one recording ``acc`` (n, 3) in g at ``fs`` Hz through a fresh one-row detector."""
    det = FallDetector(
        placement, fs, 1, params, max_block_s=MAX_BLOCK_S, keep_candidates=keep_candidates
    )
    a = np.asarray(acc, dtype=np.float64)
    events = det.process(a[None], t0) if len(a) else []
    return TrialRun(
        tuple(e for e in events if isinstance(e, FallEvent)),
        tuple(e for e in events if isinstance(e, SensorFault)),
        tuple(det.candidates),
    )
