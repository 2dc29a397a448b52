"""Evaluate the fall detector on a directory of datasets (format: ``shared/datasets/README.md``).

    python -m analytics.evaluate DIR [--json]

Each trial runs through the streaming detector from its first sample. A fall counts as detected
when an alert is decided within [onset - 1 s, onset + 10 s] (any alert, for a fall without an
onset); any alert on an ADL trial is a false positive. Figures are per dataset and placement.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from analytics.datasets import Subject, Trial, iter_subjects
from analytics.errors import AnalyticsError
from analytics.events import Placement
from analytics.fall import PLACEMENTS
from analytics.offline import run_trial
from analytics.params import FallParams, load_params

WINDOW_BEFORE_S = 1.0
WINDOW_AFTER_S = 10.0


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    dataset: str
    placement: str
    subject: str
    name: str
    is_fall: bool
    onset_s: float | None
    duration_s: float
    decisions: tuple[float, ...]  # alert decision times from the trial's first sample

    @property
    def hit_delay(self) -> float | None:
        """Delay of the first alert in the detection window (falls only), else None."""
        if not self.is_fall:
            return None
        if self.onset_s is None:
            return float("nan") if self.decisions else None
        ok = [d - self.onset_s for d in self.decisions
              if -WINDOW_BEFORE_S <= d - self.onset_s <= WINDOW_AFTER_S]
        return ok[0] if ok else None


@dataclass(frozen=True, slots=True)
class Result:
    dataset: str
    placement: str
    sensitivity: float | None
    specificity: float | None
    false_alarms_per_hour: float | None
    median_delay_s: float | None
    p90_delay_s: float | None
    falls: int
    adls: int
    detected: int
    false_positive_trials: int
    adl_alerts: int
    adl_hours: float
    other_alerts_in_falls: int
    subjects: int


def run_outcome(trial: Trial, params: FallParams | None = None) -> TrialOutcome:
    """Run one trial and keep what the protocol needs."""
    placement = _placement(trial.placement)
    run = run_trial(trial.acc, trial.fs, placement, params or load_params(placement))
    onset = trial.onset / trial.fs if trial.is_fall and trial.onset >= 0 else None
    return TrialOutcome(trial.dataset, placement, trial.subject, trial.name, trial.is_fall, onset,
                        trial.duration_s, tuple(a.t_decision for a in run.alerts))


def _placement(name: str) -> Placement:
    for p in PLACEMENTS:
        if p == name:
            return p
    raise AnalyticsError(f"unknown placement {name!r}; known: {PLACEMENTS}")


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def summarise_group(outs: Sequence[TrialOutcome]) -> Result:
    falls = [o for o in outs if o.is_fall]
    adls = [o for o in outs if not o.is_fall]
    delays = [o.hit_delay for o in falls]
    hits = [d for d in delays if d is not None]
    timed = np.array([d for d in hits if not np.isnan(d)])
    other = sum(len(o.decisions) - (1 if d is not None else 0) for o, d in zip(falls, delays,
                strict=True))
    fp = sum(1 for o in adls if o.decisions)
    alerts = sum(len(o.decisions) for o in adls)
    hours = sum(o.duration_s for o in adls) / 3600.0
    return Result(
        dataset=outs[0].dataset,
        placement=outs[0].placement,
        sensitivity=_ratio(len(hits), len(falls)),
        specificity=_ratio(len(adls) - fp, len(adls)),
        false_alarms_per_hour=alerts / hours if hours > 0 else None,
        median_delay_s=float(np.median(timed)) if len(timed) else None,
        p90_delay_s=float(np.percentile(timed, 90)) if len(timed) else None,
        falls=len(falls),
        adls=len(adls),
        detected=len(hits),
        false_positive_trials=fp,
        adl_alerts=alerts,
        adl_hours=round(hours, 4),
        other_alerts_in_falls=other,
        subjects=len({o.subject for o in outs}),
    )


def summarise(outs: Iterable[TrialOutcome]) -> list[Result]:
    groups: dict[tuple[str, str], list[TrialOutcome]] = {}
    for o in outs:
        groups.setdefault((o.dataset, o.placement), []).append(o)
    return [summarise_group(groups[k]) for k in sorted(groups)]


def evaluate_subjects(
    subjects: Iterable[Subject], params: Callable[[Placement], FallParams] = load_params
) -> list[TrialOutcome]:
    out: list[TrialOutcome] = []
    for s in subjects:
        p = params(_placement(s.placement))
        out += [run_outcome(t, p) for t in s.trials]
    return out


def format_table(results: Sequence[Result]) -> str:
    def pct(v: float | None) -> str:
        return "   -  " if v is None else f"{100 * v:6.2f}"

    def num(v: float | None) -> str:
        return "  -  " if v is None else f"{v:5.2f}"

    head = "dataset     placement  sens %  spec %  FA/h   med_s  p90_s  falls  ADLs  subj"
    lines = [head]
    for r in results:
        lines.append(
            f"{r.dataset:<11} {r.placement:<9} {pct(r.sensitivity)}  {pct(r.specificity)} "
            f"{num(r.false_alarms_per_hour)}  {num(r.median_delay_s)}  {num(r.p90_delay_s)} "
            f"{r.falls:6d} {r.adls:5d} {r.subjects:5d}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analytics.evaluate", description=__doc__.split(
        "\n")[0])
    ap.add_argument("root", type=Path, help="directory searched recursively for .npz files")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    try:
        results = summarise(evaluate_subjects(iter_subjects(args.root)))
    except AnalyticsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(results))
    if args.json:
        print(json.dumps({"results": [asdict(r) for r in results]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
