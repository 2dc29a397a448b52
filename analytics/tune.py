"""Fit the fall model and choose its alert threshold with subject-wise cross-validation.

    python -m analytics.tune --cv [--root DIR] [--placement waist|wrist] [--json]
    python -m analytics.tune --write            # refit on all subjects, write params/*.json

Candidates come from the real streaming detector (run with a placeholder model), so training
sees exactly what the detector computes. ``--cv`` reports figures of the *real detector* run on
held-out subjects of each fold, with that fold's model and a threshold chosen by an inner
cross-validation inside the training subjects only. ``--write`` fits on every subject and takes
the threshold from the out-of-fold scores; the file records the CV figures it was shipped with.
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
from analytics.datasets import Subject, default_root, iter_subjects
from analytics.evaluate import Result, evaluate_subjects, format_table, summarise
from analytics.events import Placement
from analytics.fall import PLACEMENTS
from analytics.offline import run_trial
from analytics.params import FallParams, FitInfo, ForestSpec, params_path

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


CONFIGS: dict[str, TuneConfig] = {
    "waist": TuneConfig(candidate_g=1.5, post_s=2.0, spec_target=0.993),
    "wrist": TuneConfig(candidate_g=2.5, post_s=2.5, spec_target=0.98),
}


@dataclass(frozen=True, slots=True)
class Candidates:
    """Every candidate of every trial, with labels (1 fall, 0 ADL, -1 not used)."""

    x: F64
    label: I64
    trial: I64  # index into ``trials``
    subject: list[str]  # per trial
    is_fall: list[bool]  # per trial


def placeholder(placement: Placement, cfg: TuneConfig) -> FallParams:
    """Parameters with the chosen windows and a model that never alerts."""
    spec = ForestSpec(base=0.0, feature=[[-1]], threshold=[[0.0]], value=[[0.0]])
    return FallParams(placement=placement, candidate_g=cfg.candidate_g, post_s=cfg.post_s,
                      model=spec, alert_threshold=float("inf"))


def collect(subjects: Sequence[Subject], params: FallParams) -> Candidates:
    xs: list[F64] = []
    labels: list[int] = []
    trial_ix: list[int] = []
    subj: list[str] = []
    falls: list[bool] = []
    for s in subjects:
        for t in s.trials:
            run = run_trial(t.acc, t.fs, params.placement, params, keep_candidates=True)
            onset = t.onset / t.fs if t.is_fall and t.onset >= 0 else None
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


def cross_validate(subjects: Sequence[Subject], placement: Placement,
                   cfg: TuneConfig) -> list[Result]:
    """Outer subject-wise CV; figures from the real detector on each held-out fold."""
    base = placeholder(placement, cfg)
    cands = collect(subjects, base)
    folds = assign_folds(subjects, cfg.folds)
    outcomes = []
    for k in range(cfg.folds):
        train = {s for s, f in folds.items() if f != k}
        inner = assign_folds([s for s in subjects if s.subject in train], cfg.folds - 1)
        score = out_of_fold(cands, train, inner, cfg)
        threshold = choose_threshold(cands, score, cfg.spec_target)
        model = fit(cands, _subject_mask(cands, train), cfg)
        params = with_model(base, model, threshold, FitInfo())
        test = [s for s in subjects if folds[s.subject] == k]
        outcomes += evaluate_subjects(test, _fixed(params))
    return summarise(outcomes)


def _fixed(params: FallParams) -> Callable[[Placement], FallParams]:
    def get(_placement: Placement) -> FallParams:
        return params

    return get


def final_params(subjects: Sequence[Subject], placement: Placement, cfg: TuneConfig,
                 cv: Sequence[Result]) -> FallParams:
    """Fit on every subject; threshold from out-of-fold scores over all of them."""
    base = placeholder(placement, cfg)
    cands = collect(subjects, base)
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


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m analytics.tune", description=__doc__.split(
        "\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="default: $PINGANLING_DATASETS")
    ap.add_argument("--placement", choices=[*PLACEMENTS, "all"], default="all")
    ap.add_argument("--cv", action="store_true", help="print cross-validated figures")
    ap.add_argument("--write", action="store_true", help="refit on all data and write params")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args(argv)
    root = args.root or default_root()
    subjects = list(iter_subjects(root))
    placements = PLACEMENTS if args.placement == "all" else (args.placement,)
    table: list[Result] = []
    for placement in placements:
        group = [s for s in subjects if s.placement == placement]
        if not group:
            continue
        cfg = CONFIGS[placement]
        cv = cross_validate(group, placement, cfg)
        table += cv
        if args.write:
            p = final_params(group, placement, cfg, cv)
            params_path(placement).write_text(p.to_json())
            print(f"wrote {params_path(placement)} (threshold {p.alert_threshold:.3f})")
    print("subject-wise cross-validated figures (held-out subjects of each fold):")
    print(format_table(table))
    if args.json:
        print(json.dumps({"cv": True, "results": [asdict(r) for r in table]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
