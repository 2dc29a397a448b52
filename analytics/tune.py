"""Fit the fall model and choose its alert threshold with subject-wise cross-validation.

    python -m analytics.tune --cv [--root DIR] [--placement waist|wrist] [--json] [--days]
    python -m analytics.tune --cv --robustness  # CV figures under every degradation as well
    python -m analytics.tune --write            # refit on the tuning subjects, write params/*.json
    python -m analytics.tune --holdout          # once, at the end: the own held-out subjects

Candidates come from the real streaming detector (run with a placeholder model), so training
sees exactly what the detector computes; with ``copies`` > 0 each training recording is also
seen through random other devices (:mod:`analytics.augment`). ``--cv`` reports figures of the
*real detector* run on held-out subjects of each fold, with that fold's model and a threshold
chosen by an inner cross-validation inside the training subjects only; degradation options
(as for ``analytics.evaluate``) degrade the held-out subjects' input. ``--write`` fits on every
tuning subject and takes the threshold from the out-of-fold scores; the file records the CV
figures it was shipped with. Subjects in a config's ``holdout`` are never used by ``--cv`` or
``--write``; ``--holdout`` fits as ``--write`` does and reports the held-out subjects.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from analytics import boost
from analytics.augment import DeviceMix, random_device, rng_for
from analytics.datasets import Subject, Trial, default_root, iter_subjects
from analytics.days import DayResult, WearerStream, format_days, summarise_days
from analytics.degrade import Degradation
from analytics.evaluate import (
    NONE,
    Result,
    TrialOutcome,
    add_degrade_args,
    degradations_from,
    evaluate_days,
    evaluate_subjects,
    format_table,
    summarise,
)
from analytics.features import FEATURE_NAMES, WRIST_NAMES
from analytics.offline import run_trial
from analytics.params import FallParams, FitInfo, ForestSpec, params_path
from kernel.placement import Placement

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

LABEL_BEFORE_S = 0.5  # a fall trial's candidates with impact in [onset - this, onset + after]
LABEL_AFTER_S = 3.0  # are positives; its other candidates are left out of training
SEED = 20240607


@dataclass(frozen=True, slots=True)
class TuneConfig:
    """Choices made by cross-validation on the developer split (see README)."""

    candidate_g: float
    post_s: float
    spec_target: float  # trial-level ADL specificity the threshold aims at (inner CV)
    folds: int = 5
    boost: boost.BoostConfig = field(default_factory=boost.BoostConfig)
    features: tuple[str, ...] = FEATURE_NAMES
    copies: int = 0  # augmented copies of each training recording (random other devices)
    mix: DeviceMix = field(default_factory=DeviceMix)
    holdout: tuple[str, ...] = ()  # subjects never used for tuning (see --holdout)


CONFIGS: dict[Placement, TuneConfig] = {
    Placement.WAIST: TuneConfig(candidate_g=1.5, post_s=2.0, spec_target=0.993),
    Placement.WRIST: TuneConfig(candidate_g=2.5, post_s=2.5, spec_target=0.98, features=WRIST_NAMES,
                        copies=3, holdout=("U07", "U26")),
}


@dataclass(frozen=True, slots=True)
class Candidates:
    """Every candidate of every trial, with labels (1 fall, 0 ADL, -1 not used)."""

    x: F64
    label: I64
    trial: I64  # index into ``trials``
    subject: list[str]  # per trial (a recording or one augmented copy of it)
    is_fall: list[bool]  # per trial


def placeholder(placement: Placement, cfg: TuneConfig) -> FallParams:
    """Parameters with the chosen windows and a model that never alerts."""
    spec = ForestSpec(base=0.0, feature=[[-1]], threshold=[[0.0]], value=[[0.0]])
    return FallParams(placement=placement, candidate_g=cfg.candidate_g, post_s=cfg.post_s,
                      features=cfg.features, model=spec, alert_threshold=float("inf"))


def copies_of(t: Trial, copies: int, mix: DeviceMix) -> list[tuple[F64, float, int]]:
    """The recording as recorded, then ``copies`` times through random other devices."""
    out = [(t.acc, t.fs, t.onset)]
    for c in range(1, copies + 1):
        rng = rng_for(t.name, c, SEED)
        out.append(random_device(rng, mix).apply(t.acc, t.fs, t.onset, rng))
    return out


def collect(subjects: Sequence[Subject], params: FallParams, copies: int = 0,
            mix: DeviceMix | None = None) -> Candidates:
    xs: list[F64] = []
    labels: list[int] = []
    trial_ix: list[int] = []
    subj: list[str] = []
    falls: list[bool] = []
    for s in subjects:
        for t in s.trials:
            for acc, fs, onset_i in copies_of(t, copies, mix or DeviceMix()):
                run = run_trial(acc, fs, params.placement, params, keep_candidates=True)
                onset = onset_i / fs if t.is_fall and onset_i >= 0 else None
                for c in run.candidates:
                    xs.append(c.features)
                    trial_ix.append(len(subj))
                    labels.append(_label(t.is_fall, onset, c.t_impact))
                subj.append(s.subject)
                falls.append(t.is_fall)
    x = np.array(xs) if xs else np.zeros((0, len(params.features)))
    return Candidates(x, np.array(labels, dtype=np.int64), np.array(trial_ix, dtype=np.int64),
                      subj, falls)


def _label(is_fall: bool, onset: float | None, t_impact: float) -> int:
    if not is_fall:
        return 0
    if onset is not None and -LABEL_BEFORE_S <= t_impact - onset <= LABEL_AFTER_S:
        return 1
    return -1


def assign_folds(subjects: Sequence[Subject], k: int) -> dict[str, int]:
    """Subject-wise folds, stratified: subjects with falls and without are dealt separately."""
    rng = np.random.default_rng(SEED)
    names = sorted({s.subject for s in subjects})
    with_falls = sorted({s.subject for s in subjects if any(t.is_fall for t in s.trials)})
    out: dict[str, int] = {}
    start = 0
    for group in (with_falls, [n for n in names if n not in with_falls]):
        for i, name in enumerate(rng.permutation(group).tolist()):
            out[name] = (start + i) % k
        start += len(group)
    return out


def _subject_mask(c: Candidates, keep: set[str]) -> npt.NDArray[np.bool_]:
    per_trial = np.array([s in keep for s in c.subject], dtype=bool)
    return per_trial[c.trial] if len(c.trial) else np.zeros(0, dtype=bool)


def fit(c: Candidates, rows: npt.NDArray[np.bool_], cfg: TuneConfig) -> boost.Forest:
    use = rows & (c.label >= 0)
    return boost.fit(c.x[use], c.label[use].astype(np.float64), cfg.boost)


def out_of_fold(c: Candidates, subjects: set[str], folds: dict[str, int],
                cfg: TuneConfig) -> F64:
    """Scores of the candidates of ``subjects``, each from a model that did not see it."""
    score = np.full(len(c.label), np.nan)
    for k in sorted({folds[s] for s in subjects}):
        test = {s for s in subjects if folds[s] == k}
        model = fit(c, _subject_mask(c, subjects - test), cfg)
        rows = _subject_mask(c, test)
        score[rows] = model.decision(c.x[rows])
    return score


def choose_threshold(c: Candidates, score: F64, spec_target: float) -> float:
    """Lowest threshold keeping the trial-level ADL specificity of ``score`` at the target."""
    ok = np.isfinite(score)
    adl_trials = [i for i, f in enumerate(c.is_fall) if not f]
    best = np.full(len(c.is_fall), -np.inf)
    np.maximum.at(best, c.trial[ok], score[ok])
    adl = np.sort(best[adl_trials])[::-1]
    allowed = int(np.floor((1.0 - spec_target) * len(adl) + 1e-9))
    if allowed >= len(adl):
        return float(adl[-1]) if len(adl) else 0.0
    return float(np.nextafter(adl[allowed], np.inf)) if np.isfinite(adl[allowed]) else -1e9


def with_model(base: FallParams, model: boost.Forest, threshold: float, fit: FitInfo) -> FallParams:
    return base.model_copy(update={"model": ForestSpec.of(model), "alert_threshold": threshold,
                                   "fit": fit})


@dataclass(frozen=True, slots=True)
class Condition:
    """Figures under one input degradation: per trial, and per wearer-day (if asked)."""

    how: Degradation
    results: list[Result]
    days: list[DayResult]


def tuning_subjects(subjects: Sequence[Subject], cfg: TuneConfig) -> list[Subject]:
    return [s for s in subjects if s.subject not in cfg.holdout]


def held_out(subjects: Sequence[Subject], cfg: TuneConfig) -> list[Subject]:
    return [s for s in subjects if s.subject in cfg.holdout]


def cross_validate(subjects: Sequence[Subject], placement: Placement, cfg: TuneConfig,
                   conditions: Sequence[Degradation] = (NONE,),
                   days: bool = False) -> list[Condition]:
    """Outer subject-wise CV; figures from the real detector on each held-out fold, once per
    input condition (each fold's model is fitted once and tested under every condition)."""
    base = placeholder(placement, cfg)
    cands = collect(subjects, base, cfg.copies, cfg.mix)
    folds = assign_folds(subjects, cfg.folds)
    outcomes: list[list[TrialOutcome]] = [[] for _ in conditions]
    streams: list[list[WearerStream]] = [[] for _ in conditions]
    for k in range(cfg.folds):
        train = {s for s, f in folds.items() if f != k}
        inner = assign_folds([s for s in subjects if s.subject in train], cfg.folds - 1)
        score = out_of_fold(cands, train, inner, cfg)
        threshold = choose_threshold(cands, score, cfg.spec_target)
        model = fit(cands, _subject_mask(cands, train), cfg)
        params = with_model(base, model, threshold, FitInfo())
        test = [s for s in subjects if folds[s.subject] == k]
        for i, how in enumerate(conditions):
            outcomes[i] += evaluate_subjects(test, _fixed(params), how)
            if days:
                streams[i] += evaluate_days(test, _fixed(params), how)
    return [Condition(how, summarise(o), summarise_days(d))
            for how, o, d in zip(conditions, outcomes, streams, strict=True)]


def evaluate_holdout(subjects: Sequence[Subject], params: FallParams,
                     conditions: Sequence[Degradation] = (NONE,),
                     days: bool = False) -> list[Condition]:
    """The fitted model on subjects it never saw (the config's ``holdout``)."""
    return [Condition(how, summarise(evaluate_subjects(subjects, _fixed(params), how)),
                      summarise_days(evaluate_days(subjects, _fixed(params), how))
                      if days else [])
            for how in conditions]


def _fixed(params: FallParams) -> Callable[[Placement], FallParams]:
    def get(_placement: Placement) -> FallParams:
        return params

    return get


def final_params(subjects: Sequence[Subject], placement: Placement, cfg: TuneConfig,
                 cv: Sequence[Result]) -> FallParams:
    """Fit on every subject; threshold from out-of-fold scores over all of them."""
    base = placeholder(placement, cfg)
    cands = collect(subjects, base, cfg.copies, cfg.mix)
    folds = assign_folds(subjects, cfg.folds)
    score = out_of_fold(cands, set(folds), folds, cfg)
    threshold = choose_threshold(cands, score, cfg.spec_target)
    model = fit(cands, np.ones(len(cands.label), dtype=bool), cfg)
    falls = sum(r.falls for r in cv)
    adls = sum(r.adls for r in cv)
    info = FitInfo(
        data=", ".join(sorted({s.dataset for s in subjects})), subjects=len(folds),
        folds=cfg.folds, spec_target=cfg.spec_target,
        cv_sensitivity=round(sum(r.detected for r in cv) / max(falls, 1), 4),
        cv_specificity=round(1 - sum(r.false_positive_trials for r in cv) / max(adls, 1), 4),
    )
    return with_model(base, model, threshold, info)


def _print_conditions(title: str, conds: Sequence[Condition]) -> None:
    print(title)
    for c in conds:
        if len(conds) > 1 or not c.how.is_identity:
            print(f"input: {c.how.label}")
        print(format_table(c.results))
        if c.days:
            print(format_days(c.days))


def _json(conds: Sequence[Condition]) -> list[dict[str, object]]:
    return [{"degradation": asdict(c.how), "label": c.how.label,
             "results": [asdict(r) for r in c.results], "days": [asdict(d) for d in c.days]}
            for c in conds]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analytics.tune", description=__doc__.split(
        "\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="default: $PINGANLING_DATASETS")
    ap.add_argument("--placement", choices=[*Placement, "all"], default="all")
    ap.add_argument("--cv", action="store_true", help="print cross-validated figures")
    ap.add_argument("--write", action="store_true",
                    help="refit on the tuning subjects, write params")
    ap.add_argument("--holdout", action="store_true",
                    help="fit as --write does, report the held-out subjects (run once, at the end)")
    ap.add_argument("--days", action="store_true", help="also false alarms per wearer-day")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    add_degrade_args(ap)
    args = ap.parse_args(argv)
    root = args.root or default_root()
    subjects = list(iter_subjects(root))
    placements = tuple(Placement) if args.placement == "all" else (Placement(args.placement),)
    conditions = degradations_from(args)
    cv_all: list[Condition] = []
    hold_all: list[Condition] = []
    for placement in placements:
        group = [s for s in subjects if s.placement == placement]
        if not group:
            continue
        cfg = CONFIGS[placement]
        tuning = tuning_subjects(group, cfg)
        cv: list[Condition] = []
        if args.cv or args.write:
            cv = cross_validate(tuning, placement, cfg, conditions, args.days)
            cv_all += cv
        if args.write or args.holdout:
            clean = next((c.results for c in cv if c.how.is_identity), [])
            p = final_params(tuning, placement, cfg, clean)
            if args.write:
                params_path(placement).write_text(p.to_json())
                print(f"wrote {params_path(placement)} (threshold {p.alert_threshold:.3f})")
            if args.holdout and cfg.holdout:
                hold_all += evaluate_holdout(held_out(group, cfg), p, conditions, args.days)
    if cv_all:
        _print_conditions("subject-wise cross-validated figures (held-out subjects of each "
                          "fold):", _merge(cv_all))
    if hold_all:
        _print_conditions("own held-out subjects (never used for tuning):", _merge(hold_all))
    if args.json:
        merged = _merge(cv_all)
        print(json.dumps({"cv": bool(cv_all),
                          "results": [asdict(r) for r in merged[0].results] if merged else [],
                          "days": [asdict(d) for d in merged[0].days] if merged else [],
                          "conditions": _json(merged), "holdout": _json(_merge(hold_all))}))
    return 0


def _merge(conds: Sequence[Condition]) -> list[Condition]:
    """One Condition per degradation, placements together (in the order first seen)."""
    out: dict[Degradation, Condition] = {}
    for c in conds:
        if c.how in out:
            prev = out[c.how]
            out[c.how] = Condition(c.how, prev.results + c.results, prev.days + c.days)
        else:
            out[c.how] = c
    return list(out.values())


if __name__ == "__main__":
    sys.exit(main())
