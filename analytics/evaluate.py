"""Evaluate the fall detector on a directory of datasets (format: ``shared/datasets/README.md``).

    python -m analytics.evaluate DIR [--json] [--days] [degradation options]
    python -m analytics.evaluate DIR --robustness        # every degradation of ROBUSTNESS

Each trial runs through the streaming detector from its first sample. A fall counts as detected
when an alert is decided within [onset - 1 s, onset + 10 s] (any alert, for a fall without an
onset); any alert on an ADL trial is a false positive. Figures are per dataset and placement.
Degradation options (``--rate``, ``--range``, ``--bits``, ``--drop``, ``--repeat``, ``--flip``,
``--rotate``, ``--gain``) make the input look as if another device had recorded it
(:mod:`analytics.degrade`); ``--days`` adds false alarms per wearer-day (:mod:`analytics.days`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from analytics.augment import rng_for
from analytics.datasets import Subject, Trial, iter_subjects
from analytics.days import WearerStream, format_days, join, summarise_days
from analytics.degrade import Degradation
from analytics.errors import AnalyticsError
from analytics.offline import run_trial
from analytics.params import FallParams, load_params
from kernel.placement import Placement

WINDOW_BEFORE_S = 1.0
WINDOW_AFTER_S = 10.0
SEED = 11  # degradations draw their chance from (SEED, trial name)
NONE = Degradation()

ROBUSTNESS: tuple[Degradation, ...] = (
    NONE,
    Degradation(fs=20.0),
    Degradation(fs=100.0),
    Degradation(range_g=2.0),
    Degradation(range_g=8.0),
    Degradation(bits=10),
    Degradation(p_drop=0.05),
    Degradation(p_repeat=0.05),
    Degradation(flip="x"),
    Degradation(rotate_deg=15.0),
    Degradation(gain=0.1),
    Degradation(fs=20.0, range_g=8.0, bits=12, p_drop=0.02, p_repeat=0.02, flip="x"),
)
"""One effect at a time, then the other lab's watch (20 Hz, ±8 g, drops / repeats, other
wrist). ``bits=10`` spans ±16 g: 1/32 g steps."""


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    dataset: str
    placement: Placement
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
    placement: Placement
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


def degraded(trial: Trial, how: Degradation, seed: int = SEED) -> Trial:
    """``trial`` as the device ``how`` would have delivered it (onset moved to match)."""
    if how.is_identity:
        return trial
    acc, fs, onset = how.apply(trial.acc, trial.fs, trial.onset, rng_for(trial.name, 0, seed))
    return replace(trial, acc=acc, fs=fs, onset=onset)


def run_outcome(trial: Trial, params: FallParams | None = None,
                how: Degradation = NONE) -> TrialOutcome:
    """Run one trial (degraded by ``how``) and keep what the protocol needs."""
    trial = degraded(trial, how)
    run = run_trial(trial.acc, trial.fs, trial.placement,
                    params or load_params(trial.placement))
    onset = trial.onset / trial.fs if trial.is_fall and trial.onset >= 0 else None
    return TrialOutcome(trial.dataset, trial.placement, trial.subject, trial.name,
                        trial.is_fall, onset,
                        trial.duration_s, tuple(a.t_decision for a in run.alerts))


def wearer_stream(subject: Subject, params: FallParams | None = None,
                  how: Degradation = NONE) -> WearerStream | None:
    """The subject's ADL trials joined into one stream (then degraded by ``how``) and run."""
    adls = [t for t in subject.trials if not t.is_fall]
    if not adls:
        return None
    placement = subject.placement
    fs = adls[0].fs
    joined = replace(adls[0], name=f"{subject.subject}-adl-day", onset=-1,
                     acc=join([t.acc for t in adls], fs))
    day = degraded(joined, how)
    run = run_trial(day.acc, day.fs, placement, params or load_params(placement))
    return WearerStream(subject.dataset, placement, subject.subject,
                        day.duration_s / 3600.0, len(run.alerts))


def evaluate_days(
    subjects: Iterable[Subject], params: Callable[[Placement], FallParams] = load_params,
    how: Degradation = NONE,
) -> list[WearerStream]:
    out = []
    for s in subjects:
        w = wearer_stream(s, params(s.placement), how)
        if w is not None:
            out.append(w)
    return out


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
    groups: dict[tuple[str, Placement], list[TrialOutcome]] = {}
    for o in outs:
        groups.setdefault((o.dataset, o.placement), []).append(o)
    return [summarise_group(groups[k]) for k in sorted(groups)]


def evaluate_subjects(
    subjects: Iterable[Subject], params: Callable[[Placement], FallParams] = load_params,
    how: Degradation = NONE,
) -> list[TrialOutcome]:
    out: list[TrialOutcome] = []
    for s in subjects:
        p = params(s.placement)
        out += [run_outcome(t, p, how) for t in s.trials]
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


def add_degrade_args(ap: argparse.ArgumentParser) -> None:
    """The degradation options shared by ``evaluate`` and ``tune``."""
    g = ap.add_argument_group("degrade the input (as another device would deliver it)")
    g.add_argument("--rate", type=float, help="resample to this rate, Hz (e.g. 20)")
    g.add_argument("--range", type=float, dest="range_g", help="clip each axis at ± this, g")
    g.add_argument("--bits", type=int, help="quantise to this many bits over ±range (±16 g)")
    g.add_argument("--drop", type=float, default=0.0, help="chance a sample is lost")
    g.add_argument("--repeat", type=float, default=0.0, help="chance a sample comes twice")
    g.add_argument("--flip", default="", help="negate these axes, e.g. x or xy")
    g.add_argument("--rotate", type=float, default=0.0, help="mounting error, degrees")
    g.add_argument("--gain", type=float, default=0.0, help="per-axis gain error bound (0.05)")
    g.add_argument("--robustness", action="store_true",
                   help="every degradation of analytics.evaluate.ROBUSTNESS, one table each")


def degradations_from(args: argparse.Namespace) -> list[Degradation]:
    """The conditions the options ask for (as recorded when none)."""
    if args.robustness:
        return list(ROBUSTNESS)
    return [Degradation(fs=args.rate, range_g=args.range_g, bits=args.bits, p_drop=args.drop,
                        p_repeat=args.repeat, flip=args.flip, rotate_deg=args.rotate,
                        gain=args.gain)]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analytics.evaluate", description=__doc__.split(
        "\n")[0])
    ap.add_argument("root", type=Path, help="directory searched recursively for .npz files")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--days", action="store_true",
                    help="also false alarms per wearer-day (each subject's ADLs joined)")
    add_degrade_args(ap)
    args = ap.parse_args(argv)
    report: dict[str, object] = {}
    try:
        subjects = list(iter_subjects(args.root))
        conditions = degradations_from(args)
        rows = []
        for how in conditions:
            results = summarise(evaluate_subjects(subjects, how=how))
            days = summarise_days(evaluate_days(subjects, how=how)) if args.days else []
            if len(conditions) > 1 or not how.is_identity:
                print(f"input: {how.label}")
            print(format_table(results))
            if days:
                print(format_days(days))
            rows.append({"degradation": asdict(how), "label": how.label,
                         "results": [asdict(r) for r in results],
                         "days": [asdict(d) for d in days]})
    except AnalyticsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = {"results": rows[0]["results"], "days": rows[0]["days"], "conditions": rows}
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
